/**
 * The policy interface of `ope replay` (issue 8): an adaptive policy that acts on a context and
 * learns from the reward of the action it took. Replay (src/replay/engine.ts) evaluates the
 * *learning algorithm*: it asks `act` at every logged event, and calls `update` only on the events
 * it accepts, as if the policy had been serving those users online.
 *
 * Contract:
 * - `act(context, row)` returns a probability distribution over the K actions (length K, entries
 *   >= 0, summing to 1). A deterministic policy returns a one-hot vector. A policy that randomizes
 *   internally (Thompson sampling) may return the one-hot vector of its own sampled action: the
 *   replay stays unbiased because that draw is independent of the replay's acceptance uniforms.
 *   The returned array may be reused by the next call; the engine reads it before calling again.
 *   `row` is the log's global row index; only a policy tied to the log's rows (a fixed policy
 *   file) needs it.
 * - `update(context, action, reward)` is called once per accepted event, with the action the policy
 *   was credited for and its observed reward.
 * - All randomness must come from the `seed` the factory receives (e.g. `new RandomStream(...)`),
 *   so a replay is reproducible.
 *
 * Example, a user's own algorithm (a softmax over per-action running means):
 *
 * ```ts
 * import type { ReplayPolicyFactory } from 'ope-toolkit';
 *
 * export const softmaxMeans = (temperature: number): ReplayPolicyFactory => (K) => {
 *   const sum = new Float64Array(K), count = new Float64Array(K), p = new Float64Array(K);
 *   return {
 *     name: `softmax-means:t=${temperature}`,
 *     act() {
 *       let z = 0;
 *       for (let a = 0; a < K; a++) z += p[a] = Math.exp((count[a] > 0 ? sum[a] / count[a] : 0) / temperature);
 *       for (let a = 0; a < K; a++) p[a] /= z;
 *       return p;
 *     },
 *     update(_x, a, r) {
 *       sum[a] += r;
 *       count[a] += 1;
 *     },
 *   };
 * };
 * // await replayLog(openLog('log.arrow'), { policies: [{ label: 'mine', factory: softmaxMeans(0.1) }], replays: 20, seed: 1 });
 * // a policy needing randomness draws it from the seed, e.g. new RandomStream(`mine:${seed}`).
 * ```
 */
export interface ReplayPolicy {
  readonly name: string;
  /** pi(. | x): a distribution over the K actions (may be a reused buffer). */
  act(context: Float64Array, row: number): Float64Array;
  /** Learn from an accepted event. */
  update(context: Float64Array, action: number, reward: number): void;
}

/**
 * Builds a fresh policy for one replay: K actions, d context features (0 when the log has no
 * `context`), and a seed for the policy's own randomness (different for every replay).
 */
export type ReplayPolicyFactory = (K: number, d: number, seed: number) => ReplayPolicy;

/** A policy to replay: its label in tables, CSV and the report, and its factory. */
export interface ReplayPolicySpec {
  readonly label: string;
  readonly factory: ReplayPolicyFactory;
  /** True when `act` only knows pi(a_logged | x) (a fixed policy given by target_propensity). */
  readonly loggedActionOnly?: boolean;
}

/** Index of the largest score; ties go to the lowest index (deterministic). */
export function argmax(scores: Float64Array, K: number): number {
  let best = 0;
  for (let a = 1; a < K; a++) if (scores[a] > scores[best]) best = a;
  return best;
}

/** One-hot distribution on `a`, written into `out`. */
export function oneHot(out: Float64Array, a: number): Float64Array {
  out.fill(0);
  out[a] = 1;
  return out;
}
