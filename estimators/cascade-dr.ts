import { type Estimator, ratioOf } from './estimator.js';
import { cascadeDoublyRobustTerm, cascadeWeights, slateStart } from './slate-statistics.js';

/**
 * Cascade doubly robust: V = (1/S) sum_s sum_k [ w_1:k (r_sk - Q_k(a_1:k)) + w_1:k-1 sum_a
 * pi(a | a_1:k-1) Q_k(a_1:k-1, a) ], w_1:0 = 1, with prefix weights w_1:k = pi(a_1..a_k) /
 * mu(a_1..a_k) (Kiyohara, Saito, Matsuhiro, Narita, Shimizu & Yamamoto 2022, "Doubly robust
 * off-policy evaluation for ranking policies under the cascade behavior model", WSDM).
 * Unbiased under the cascade behavior model (a slot's reward depends on the items above it) like
 * rips, with lower variance when the reward model Q_k is good; equals the model's value when the
 * rewards equal its predictions. Inputs: q_hat (Q_k(a_1:k-1, a) for every item a at the row's slot,
 * given the logged prefix) and the target's action_dist at that slot given the logged prefix.
 */
export function cascadeDoublyRobust(): Estimator {
  return {
    name: 'cascade-dr',
    params: {},
    label: 'cascade-dr',
    stats: [cascadeDoublyRobustTerm, slateStart],
    ...ratioOf(0, 1),
    weights: cascadeWeights,
  };
}
