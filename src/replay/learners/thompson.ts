import { RandomStream } from '../../../simulators/random-streams.js';
import { argmax, oneHot, type ReplayPolicyFactory } from '../policy.js';
import { PerActionRidge } from './linear-algebra.js';

/**
 * Thompson sampling with a linear-Gaussian model per action (Agrawal & Goyal 2013, "Thompson
 * sampling for contextual bandits with linear payoffs", disjoint form): rewards r = z . theta_a +
 * N(0, v^2), prior theta_a ~ N(0, (v^2 / lambda) I), z = (x, 1). The posterior is
 * N(theta_hat_a, v^2 B_a^-1) with B_a = lambda I + sum z z^T, theta_hat_a = B_a^-1 sum r z.
 * At each act the policy draws from every action's posterior and plays the best draw. Only
 * z . theta_a matters and the actions' posteriors are independent, so it draws the scalar
 * z . theta_a ~ N(z . theta_hat_a, v^2 z^T B_a^-1 z) directly: O(K d^2), no Cholesky.
 * `act` returns the one-hot vector of the sampled action (its own seeded draw, independent of the
 * replay's acceptance uniforms).
 */
export function thompsonLinear(v: number, lambda: number): ReplayPolicyFactory {
  return (K, d, seed) => {
    const model = new PerActionRidge(K, d, lambda);
    const rng = new RandomStream(`ts:${seed}`);
    const scores = new Float64Array(K);
    const dist = new Float64Array(K);
    return {
      name: `ts:v=${v},lambda=${lambda}`,
      act(x) {
        model.features(x);
        for (let a = 0; a < K; a++) {
          const [mean, q] = model.meanAndVariance(a);
          scores[a] = mean + v * Math.sqrt(Math.max(0, q)) * rng.normal();
        }
        return oneHot(dist, argmax(scores, K));
      },
      update(x, a, r) {
        model.update(x, a, r);
      },
    };
  };
}
