import { argmax, oneHot, type ReplayPolicyFactory } from '../policy.js';
import { PerActionRidge } from './linear-algebra.js';

/**
 * LinUCB with disjoint linear models (Li, Chu, Langford & Schapire 2010, Algorithm 1): per action
 * a, A_a = I + sum z z^T and b_a = sum r z over the events credited to a, z = (x, 1);
 * score_a = z . theta_a + alpha sqrt(z^T A_a^-1 z) with theta_a = A_a^-1 b_a; play the argmax
 * (ties to the lowest index). A_a^-1 is kept and updated by Sherman-Morrison, so act is O(K d^2)
 * and update O(d^2).
 */
export function linUcb(alpha: number): ReplayPolicyFactory {
  return (K, d) => {
    const model = new PerActionRidge(K, d, 1);
    const scores = new Float64Array(K);
    const dist = new Float64Array(K);
    return {
      name: `linucb:alpha=${alpha}`,
      act(x) {
        model.features(x);
        for (let a = 0; a < K; a++) {
          const [mean, q] = model.meanAndVariance(a);
          scores[a] = mean + alpha * Math.sqrt(Math.max(0, q));
        }
        return oneHot(dist, argmax(scores, K));
      },
      update(x, a, r) {
        model.update(x, a, r);
      },
    };
  };
}
