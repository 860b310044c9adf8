import { type Estimator, labelOf, meanOf } from './estimator.js';
import { subGaussianWeightedReward } from './row-statistics.js';

/**
 * Subgaussian IPS with power-mean (harmonic) weight correction:
 * V = (1/n) sum_i w_i / ((1 - l) + l w_i) r_i (Metelli, Russo & Restelli 2021, NeurIPS,
 * "Subgaussian and differentiable importance sampling for off-policy evaluation and learning",
 * eq. 6; OBP's SubGaussianIPS). l = 0 is IPS; the corrected weight never exceeds 1 / l.
 */
export function subGaussianIps(params: { lambda: number }): Estimator {
  const { lambda } = params;
  return {
    name: 'sg-ips',
    params: { lambda },
    label: labelOf('sg-ips', { lambda }),
    stats: [subGaussianWeightedReward(lambda)],
    ...meanOf(0),
  };
}
