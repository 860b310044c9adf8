import { type Estimator, meanPlusRatioOf } from './estimator.js';
import { targetRewardModel, weight, weightedResidual } from './row-statistics.js';

/**
 * Self-normalized doubly robust: V = mean_i qpi_i + sum_i w_i (r_i - q_i) / sum_i w_i
 * (Kallus & Uehara 2019, NeurIPS, "Intrinsically efficient, stable, and bounded off-policy
 * evaluation"; the form OBP implements as SelfNormalizedDR). Each bootstrap replicate
 * re-normalizes by its own sum of weights.
 */
export function selfNormalizedDoublyRobust(): Estimator {
  return {
    name: 'sndr',
    params: {},
    label: 'sndr',
    stats: [targetRewardModel, weightedResidual, weight],
    ...meanPlusRatioOf(0, 1, 2),
  };
}
