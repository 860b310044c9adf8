/**
 * What the slate generator asks of a ranking policy, whichever its family. A policy holds one
 * context at a time (setContext) and answers about it without allocating: the generator calls it
 * for every slate of a run.
 */
import type { RandomStream } from './random-streams.js';
import type { SlateRewardModel } from './slate-rewards.js';

export interface SlateValue {
  /** E_{slate ~ pi}[sum_k E r_k | x]: exact, or a Monte Carlo estimate. */
  readonly value: number;
  /** Variance of `value` as an estimate of the exact one (0 when exact). */
  readonly variance: number;
}

export interface SlatePolicy {
  readonly K: number;
  readonly L: number;
  /** Scores the items for context x[xOff .. xOff + d). */
  setContext(x: Float64Array, xOff: number): void;
  /** Draws a slate into slate[off .. off + L), using exactly L uniforms of rng. */
  sampleInto(rng: RandomStream, slate: Int32Array, off: number): void;
  /**
   * Walks a given slate: cascade[cascadeOff + k] = P(a_1..a_{k+1}) (the prefix through slot k, so
   * the last entry is the joint probability), and when slotDist is given, slotDist row k (K entries
   * from slotDistOff + k K) = the distribution of the item at slot k given a_1..a_k-1.
   */
  followSlate(slate: Int32Array, off: number, cascade: Float64Array, cascadeOff: number, slotDist: Float64Array | null, slotDistOff: number): void;
  /**
   * Item-position marginals P(a at slot k | x) into marginals (L x K, row-major) and the value of
   * the policy at this context under `model`. Exact where the policy can be; otherwise a Monte
   * Carlo estimate from `samples` slates drawn with rng (which is then required).
   */
  evaluate(model: SlateRewardModel, marginals: Float64Array, rng: RandomStream | null, samples: number): SlateValue;
  /**
   * An unbiased estimate of the value at this context, as cheap as the policy allows (for the
   * population truth, where the context's variance dominates): exact when that is cheap, else
   * from one sampled slate.
   */
  valueEstimate(model: SlateRewardModel, rng: RandomStream): number;
  /**
   * For Monte Carlo marginals: out[k K + b] = the largest value one Monte Carlo term of P(b at k)
   * can take at this context (<= 1), so Hoeffding's bound for that marginal scales by it; 0 where
   * the marginal is exact.
   */
  monteCarloRangesInto(out: Float64Array): void;
}

/** Scores and parameters: s(x, a) = x . theta_a + b_a (theta row-major K x d). */
export interface LinearScores {
  readonly K: number;
  readonly d: number;
  readonly theta: Float64Array;
  readonly bias: Float64Array;
}

export function linearScoresInto(p: LinearScores, x: Float64Array, xOff: number, out: Float64Array, outOff: number): void {
  const { K, d, theta, bias } = p;
  for (let a = 0; a < K; a++) {
    let z = bias[a];
    for (let j = 0; j < d; j++) z += x[xOff + j] * theta[a * d + j];
    out[outOff + a] = z;
  }
}

/**
 * Below this the sum of the remaining items' weights (shifted so the best item weighs 1) may have
 * lost its digits to underflow, so the conditional is recomputed from the logits.
 */
const TINY = 1e-200;

/**
 * Plackett-Luce step: P(b | taken) = e_b / sum_{c not taken} e_c, 0 for taken items, with
 * e = exp(z - max z). When every remaining weight is tiny (a very sharp policy whose favourites are
 * taken), the ratio is recomputed shifted by the remaining maximum, so it stays a distribution.
 */
export function remainingDistributionInto(e: Float64Array, z: Float64Array, taken: Uint8Array, K: number, out: Float64Array, outOff: number): void {
  let R = 0;
  for (let b = 0; b < K; b++) if (taken[b] === 0) R += e[b];
  if (R >= TINY) {
    const inv = 1 / R;
    for (let b = 0; b < K; b++) out[outOff + b] = taken[b] === 0 ? e[b] * inv : 0;
    return;
  }
  let max = -Infinity;
  for (let b = 0; b < K; b++) if (taken[b] === 0 && z[b] > max) max = z[b];
  let total = 0;
  for (let b = 0; b < K; b++) {
    const v = taken[b] === 0 ? Math.exp(z[b] - max) : 0;
    out[outOff + b] = v;
    total += v;
  }
  const inv = 1 / total;
  for (let b = 0; b < K; b++) out[outOff + b] *= inv;
}
