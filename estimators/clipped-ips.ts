import { type Estimator, labelOf, meanOf } from './estimator.js';
import { clippedWeightedReward, weightAbove } from './row-statistics.js';

/**
 * Clipped (truncated) IPS: V = (1/n) sum_i min(w_i, L) r_i (Ionides 2008, "Truncated importance
 * sampling", eq. 2.3; Bottou et al. 2013, JMLR, §4.2). Trades bias for variance; OBP's
 * `IPS(lambda_=L)`. Reports the share of rows whose weight was clipped.
 */
export function clippedIps(params: { clip: number }): Estimator {
  const { clip } = params;
  return {
    name: 'clipped-ips',
    params: { clip },
    label: labelOf('clipped-ips', { clip }),
    stats: [clippedWeightedReward(clip)],
    ...meanOf(0),
    diagnostics: [{ name: 'clipped_share', stat: weightAbove(clip) }],
  };
}
