import { type Estimator, ratioOf } from './estimator.js';
import { weightedReward } from './row-statistics.js';
import { jointSlateWeights, slateStart } from './slate-statistics.js';

/**
 * Standard slate IPS: V = (1/S) sum_s w_s sum_k r_sk, w_s = pi(slate s) / mu(slate s), the joint
 * probabilities of the whole logged slate (the `propensity` and `target_propensity` columns of a
 * slate log). Unbiased for any reward structure, but its weights multiply across positions, so its
 * variance grows exponentially with the slate length (Swaminathan et al. 2017, §3). Per row the
 * term is w_s r_sk; dividing by the number of slates (rows at position 0) gives the slate mean.
 */
export function slateIps(): Estimator {
  return {
    name: 'slate-ips',
    params: {},
    label: 'slate-ips',
    stats: [weightedReward, slateStart],
    ...ratioOf(0, 1),
    weights: jointSlateWeights,
  };
}
