import { type Estimator, ratioOf } from './estimator.js';
import { cascadeWeightedReward, cascadeWeights, slateStart } from './slate-statistics.js';

/**
 * Reward-interaction IPS: V = (1/S) sum_s sum_k [pi(a_s1..a_sk) / mu(a_s1..a_sk)] r_sk, with the
 * probabilities of the logged prefix through slot k (McInerney et al. 2020, "Counterfactual
 * evaluation of slate recommendations with sequential reward interactions", KDD, eq. 5; OBP's RIPS).
 * Unbiased when the reward of a slot depends on the items above it, as in a cascade.
 */
export function rewardInteractionIps(): Estimator {
  return {
    name: 'rips',
    params: {},
    label: 'rips',
    stats: [cascadeWeightedReward, slateStart],
    ...ratioOf(0, 1),
    weights: cascadeWeights,
  };
}
