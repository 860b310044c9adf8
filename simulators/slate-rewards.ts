/**
 * Per-slot rewards of the synthetic slate world, for one context at a time. c(x, a) is the click
 * probability of item a, sigmoid of its true score. Given a slate a_1..a_L:
 * - independent: E[r_k] = c(a_k), slots independent;
 * - cascade (Craswell et al. 2008, "An experimental comparison of click position-bias models"):
 *   the user scans top-down and stops at the first click, E[r_k] = c(a_k) prod_{j<k} (1 - c(a_j)),
 *   so the reward of slot k depends on its prefix (the reward-interaction assumption of RIPS,
 *   McInerney et al. 2020, and of Cascade-DR, Kiyohara et al. 2022);
 * - additive, position-based model (Craswell et al. 2008; Li et al. 2018, arXiv 1804.10488):
 *   E[r_k] = theta_k c(a_k) with examination probabilities theta_k = 1 / (k + 1)^eta (k = 0 is the
 *   top; eta = 1 is the 1/rank decay of Joachims et al. 2017).
 * Rewards are in {0, 1}, so a slate's reward is in [0, L].
 */
import type { RandomStream } from './random-streams.js';
import type { SlateRewardStructure } from './slate-config.js';

export function examinationProbabilities(L: number, eta: number): Float64Array {
  const theta = new Float64Array(L);
  for (let k = 0; k < L; k++) theta[k] = 1 / (k + 1) ** eta;
  return theta;
}

/** One context's reward model; `click` is refilled for every context. */
export interface SlateRewardModel {
  readonly structure: SlateRewardStructure;
  readonly K: number;
  readonly L: number;
  /** c(x, a) for the current context. */
  readonly click: Float64Array;
  /** theta_k for additive rewards, 1 otherwise: outside the cascade E[r_k | a_k = a] = positionWeight[k] c(a). */
  readonly positionWeight: Float64Array;
}

export function newRewardModel(structure: SlateRewardStructure, K: number, L: number, eta: number): SlateRewardModel {
  return {
    structure,
    K,
    L,
    click: new Float64Array(K),
    positionWeight: structure === 'additive' ? examinationProbabilities(L, eta) : new Float64Array(L).fill(1),
  };
}

/** E[r_k | x, a_1..a_k] for k = 0..L-1. */
export function expectedSlotRewardsInto(model: SlateRewardModel, slate: Int32Array, off: number, out: Float64Array, outOff: number): void {
  const { click, positionWeight, L } = model;
  if (model.structure === 'cascade') {
    let unclicked = 1;
    for (let k = 0; k < L; k++) {
      const c = click[slate[off + k]];
      out[outOff + k] = unclicked * c;
      unclicked *= 1 - c;
    }
    return;
  }
  for (let k = 0; k < L; k++) out[outOff + k] = positionWeight[k] * click[slate[off + k]];
}

/**
 * Q_k(x, a_1..a_{k-1}, a) = E[r_k | x, a_1..a_{k-1}, a_k = a] for every candidate a: the immediate
 * reward of slot k given the logged prefix (what `q_hat` models, before noise).
 */
export function slotRewardModelInto(model: SlateRewardModel, slate: Int32Array, off: number, k: number, out: Float64Array, outOff: number): void {
  const { click, K } = model;
  let scale = model.positionWeight[k];
  if (model.structure === 'cascade') {
    scale = 1;
    for (let j = 0; j < k; j++) scale *= 1 - click[slate[off + j]];
  }
  for (let a = 0; a < K; a++) out[outOff + a] = scale * click[a];
}

/**
 * Draws r_1..r_L, always L uniforms whatever the structure (so the stream stays aligned): under the
 * cascade, slots after the first click are 0 although their uniforms are drawn.
 */
export function sampleSlotRewardsInto(model: SlateRewardModel, slate: Int32Array, off: number, rng: RandomStream, out: Float64Array, outOff: number): void {
  const { click, positionWeight, L } = model;
  const cascade = model.structure === 'cascade';
  let clicked = false;
  for (let k = 0; k < L; k++) {
    const u = rng.uniform();
    const c = click[slate[off + k]];
    if (cascade) {
      const r: boolean = !clicked && u < c;
      out[outOff + k] = r ? 1 : 0;
      clicked ||= r;
    } else {
      out[outOff + k] = u < positionWeight[k] * c ? 1 : 0;
    }
  }
}

/**
 * E_{slate ~ pi}[sum_k r_k] from pi's item-position marginals M (L x K) when rewards do not
 * interact: sum_k theta_k sum_a M_k(a) c(a). Under the cascade the value depends on the joint law
 * (1 - E[prod_k (1 - c(a_k))]), which the policies compute themselves.
 */
export function valueFromMarginals(model: SlateRewardModel, marginals: Float64Array): number {
  const { click, positionWeight, K, L } = model;
  let v = 0;
  for (let k = 0; k < L; k++) {
    let s = 0;
    for (let a = 0; a < K; a++) s += marginals[k * K + a] * click[a];
    v += positionWeight[k] * s;
  }
  return v;
}
