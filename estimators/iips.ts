import { type Estimator, ratioOf } from './estimator.js';
import { itemPositionWeightedReward, itemPositionWeights, slateStart } from './slate-statistics.js';

/**
 * Independent IPS: V = (1/S) sum_s sum_k [pi(a_sk at k) / mu(a_sk at k)] r_sk, with item-position
 * marginal probabilities (Li, Kim & Zitouni 2018, "Offline evaluation of ranking policies with
 * click models", KDD, eq. 9; OBP's IIPS). Unbiased when the reward of a slot depends only on the
 * item at that slot.
 */
export function independentIps(): Estimator {
  return {
    name: 'iips',
    params: {},
    label: 'iips',
    stats: [itemPositionWeightedReward, slateStart],
    ...ratioOf(0, 1),
    weights: itemPositionWeights,
  };
}
