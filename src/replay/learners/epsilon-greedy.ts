import type { ReplayPolicyFactory } from '../policy.js';

/**
 * Epsilon-greedy on per-action mean rewards (no context): with probability epsilon a uniform
 * action, else the action with the highest mean reward so far. An action never played counts as
 * the best (each is tried once before the means decide); ties go to the lowest index. `act`
 * returns the exact distribution: epsilon/K everywhere plus 1 - epsilon on the greedy action.
 */
export function epsilonGreedy(epsilon: number): ReplayPolicyFactory {
  return (K) => {
    const sum = new Float64Array(K);
    const count = new Float64Array(K);
    const dist = new Float64Array(K);
    return {
      name: `eps:epsilon=${epsilon}`,
      act() {
        let best = 0;
        let bestMean = -Infinity;
        for (let a = 0; a < K; a++) {
          const m = count[a] === 0 ? Infinity : sum[a] / count[a];
          if (m > bestMean) {
            bestMean = m;
            best = a;
          }
        }
        dist.fill(epsilon / K);
        dist[best] += 1 - epsilon;
        return dist;
      },
      update(_x, a, r) {
        sum[a] += r;
        count[a] += 1;
      },
    };
  };
}
