import { type Estimator, ratioOf } from './estimator.js';
import { pseudoInverseTerm, pseudoInverseWeights, slateStart } from './slate-statistics.js';

/**
 * Pseudo-inverse estimator: V = (1/S) sum_s (sum_k w_sk - L + 1) sum_k r_sk, with item-position
 * weights w_sk = pi(a_sk at k) / mu(a_sk at k) (Swaminathan, Krishnamurthy, Agarwal, Dudik,
 * Langford, Jose & Zitouni 2017, "Off-policy evaluation for slate recommendation", NeurIPS; for
 * a factorized logger, where each slot is drawn independently, the pseudo-inverse of the marginal
 * matrix reduces to this closed form). Unbiased when the slate reward is additive
 * over (item, position) pairs and the logger is factorized; its weights are sums, not products, so
 * its variance grows polynomially in L rather than exponentially as slate-ips' does.
 */
export function pseudoInverse(): Estimator {
  return {
    name: 'pi',
    params: {},
    label: 'pi',
    stats: [pseudoInverseTerm, slateStart],
    ...ratioOf(0, 1),
    weights: pseudoInverseWeights,
  };
}
