/**
 * Factorized ranking policy: slot k draws its item independently from its own distribution
 *   p_k(a | x) = softmax_a((s(x, a) + o_{k,a}) / T)
 * over all K items (items may repeat across slots), o_{k,a} a fixed per-slot item affinity of the
 * world. This is the logging assumption of the pseudo-inverse estimator (Swaminathan et al. 2017,
 * "Off-policy evaluation for slate recommendation", NeurIPS): the joint is prod_k p_k(a_k | x), the
 * cascade probability is the prefix product, and the item-position marginal is p_k(a | x) itself, so
 * every propensity and the value are exact in closed form.
 */
import { sampleAction, softmaxInto } from './bandit-policies.js';
import type { RandomStream } from './random-streams.js';
import { linearScoresInto, type LinearScores, type SlatePolicy, type SlateValue } from './slate-policy.js';
import { valueFromMarginals, type SlateRewardModel } from './slate-rewards.js';

export class FactorizedPolicy implements SlatePolicy {
  readonly K: number;
  readonly L: number;
  /** p_k(. | x) of the current context, L x K row-major. */
  private readonly p: Float64Array;
  private readonly s: Float64Array;
  private readonly logits: Float64Array;
  private readonly scratchMarginals: Float64Array;

  /** slotOffset: L x K row-major o_{k,a}. */
  constructor(
    private readonly scores: LinearScores,
    L: number,
    private readonly temperature: number,
    private readonly slotOffset: Float64Array,
  ) {
    this.K = scores.K;
    this.L = L;
    if (slotOffset.length !== L * this.K) throw new RangeError('slotOffset must be L x K');
    this.p = new Float64Array(L * this.K);
    this.s = new Float64Array(this.K);
    this.logits = new Float64Array(this.K);
    this.scratchMarginals = new Float64Array(L * this.K);
  }

  setContext(x: Float64Array, xOff: number): void {
    const { K, L, s, logits } = this;
    linearScoresInto(this.scores, x, xOff, s, 0);
    for (let k = 0; k < L; k++) {
      for (let a = 0; a < K; a++) logits[a] = s[a] + this.slotOffset[k * K + a];
      softmaxInto(logits, 0, K, this.temperature, this.p, k * K);
    }
  }

  sampleInto(rng: RandomStream, slate: Int32Array, off: number): void {
    for (let k = 0; k < this.L; k++) slate[off + k] = sampleAction(this.p, k * this.K, this.K, rng.uniform());
  }

  followSlate(slate: Int32Array, off: number, cascade: Float64Array, cascadeOff: number, slotDist: Float64Array | null, slotDistOff: number): void {
    const { K, p } = this;
    let joint = 1;
    for (let k = 0; k < this.L; k++) {
      // Slots are independent, so the distribution given the prefix is the slot's own.
      if (slotDist !== null) slotDist.set(p.subarray(k * K, (k + 1) * K), slotDistOff + k * K);
      joint *= p[k * K + slate[off + k]];
      cascade[cascadeOff + k] = joint;
    }
  }

  /** Every marginal is exact. */
  monteCarloRangesInto(out: Float64Array): void {
    out.fill(0, 0, this.L * this.K);
  }

  /** Exact, and cheap. */
  valueEstimate(model: SlateRewardModel): number {
    return this.evaluate(model, this.scratchMarginals).value;
  }

  /** Exact: marginals are p_k; under the cascade E[prod_k (1 - c(a_k))] = prod_k sum_a p_k(a) (1 - c(a)). */
  evaluate(model: SlateRewardModel, marginals: Float64Array): SlateValue {
    const { K, L, p } = this;
    marginals.set(p.subarray(0, L * K));
    if (model.structure !== 'cascade') return { value: valueFromMarginals(model, marginals), variance: 0 };
    let noClick = 1;
    for (let k = 0; k < L; k++) {
      let s = 0;
      for (let a = 0; a < K; a++) s += p[k * K + a] * (1 - model.click[a]);
      noClick *= s;
    }
    return { value: 1 - noClick, variance: 0 };
  }
}
