import { type Estimator, ratioOf } from './estimator.js';
import { weight, weightedReward } from './row-statistics.js';

/**
 * Self-normalized IPS: V = sum_i w_i r_i / sum_i w_i (Swaminathan & Joachims 2015, NeurIPS,
 * "The self-normalized estimator for counterfactual learning", eq. 2). Biased, consistent, and
 * bounded by the reward range. Every bootstrap replicate re-normalizes by its own sum of weights.
 */
export function selfNormalizedIps(): Estimator {
  return {
    name: 'snips',
    params: {},
    label: 'snips',
    stats: [weightedReward, weight],
    ...ratioOf(0, 1),
  };
}
