/**
 * Exploration wrappers of the feedback-loop simulator (issue 6): randomized ranking policies that
 * turn one user's score vector s (n items, from a two-tower model or a baseline) into a slate of L
 * distinct items, with exact logged propensities in the slate contract of DESIGN.md §2.
 *
 * - `top-k`: the L highest scores, ties to the lower item index. Deterministic: every propensity of
 *   its own slate is 1, of any other slate 0; as a target its action_dist rows are one-hot.
 * - `epsilon-greedy`: slot by slot, with probability 1 - epsilon the best-scored remaining item, with
 *   probability epsilon an item uniform over the n - k remaining ones (the best one included). All
 *   propensities are exact and closed form (see GreedyExploration for the marginals' recursion).
 * - `softmax`: Plackett-Luce sampling without replacement over s / T. Joint and cascade exact in
 *   closed form; item-position marginals exact on the prefix lattice when it is small (the slate
 *   generator's PlackettLucePolicy and PrefixLattice, reused as they are), otherwise the generator's
 *   Rao-Blackwellized Monte Carlo estimator with a stated sample count and Hoeffding bound
 *   (slate-config.ts), reimplemented for O(L log n) draws and the L items of a logged slate. The
 *   logged item's own entry P(slate[k] at k) (the row's propensity_item_position) has its own
 *   importance-sampling estimator, positive where the Rao-Blackwellized one can be 0
 *   (SoftmaxExploration, ownMarginalsInto).
 *   Sampling and the closed forms are reimplemented too: the generator's are O(L n) per slate (fine
 *   at K = 10, not at n = 10,000) and compute W - (prefix weight), which loses digits on sharp policies.
 *
 * "Given the logged prefix": every wrapper is a sequential policy (slot k's item is drawn given the
 * items of slots 0..k-1), so for any slate, also one another policy logged, the wrapper has a
 * distribution of slot k given that slate's prefix: the `action_dist` row of that slot when the
 * wrapper is the target. For top-k that is the one-hot on the best remaining item (the top-k ranking
 * of the items left), which equals its own top-k slate when the prefix is its own.
 *
 * Scores are Float32Array or Float64Array of length n, finite. A wrapper holds scratch state, so it is
 * not reentrant: one instance per thread. Methods take the scores on every call; a wrapper keeps a
 * copy and redoes its O(n) preparation (top-L selection; exp, cumulative weights) only when the
 * content changed, so sample, followSlate and the marginals on one user's scores cost one
 * preparation and two comparison passes. Mutating the array between calls is safe.
 */
import type { RandomStream } from './random-streams.js';
import { hoeffdingBound, MARGINAL_CONFIDENCE, MAX_LATTICE_ENTRIES, prefixSetCount } from './slate-config.js';
import { PrefixLattice } from './slate-lattice.js';
import { PlackettLucePolicy } from './slate-plackett-luce.js';
import { sampleAction } from './bandit-policies.js';
import { remainingDistributionInto, type LinearScores } from './slate-policy.js';
import { newRewardModel, type SlateRewardModel } from './slate-rewards.js';

export type Scores = Float32Array | Float64Array;

export type ExplorationKind = 'top-k' | 'epsilon-greedy' | 'softmax';

export type ExplorationSpec =
  | { readonly kind: 'top-k'; readonly name?: string }
  | { readonly kind: 'epsilon-greedy'; readonly epsilon: number; readonly name?: string }
  | {
      readonly kind: 'softmax';
      /** T > 0: P(b next) proportional to exp(s_b / T) among the remaining items. */
      readonly temperature: number;
      /** 'auto' (default): exact on the prefix lattice when it has at most exactPrefixLimit sets. */
      readonly marginals?: 'auto' | 'exact' | 'monte-carlo';
      /** Monte Carlo slates per user and call (default DEFAULT_MARGINAL_SAMPLES, at least 2). */
      readonly samples?: number;
      /** Monte Carlo prefixes per own entry of ownMarginalsInto (default DEFAULT_OWN_MARGINAL_SAMPLES, at least 2). */
      readonly ownSamples?: number;
      /** Default 20,000 sets, as the slate generator. */
      readonly exactPrefixLimit?: number;
      readonly name?: string;
    };

/**
 * Monte Carlo slates per user and call for softmax marginals when the lattice is too large: about
 * 60 to 120 us per user and policy at n = 1,000, L = 10 (the generator's default is 1000 slates).
 * Its Hoeffding bound for one entry is 0.136 times the entry's range u; at n = 1,000 most items have
 * u of order 0.01, and the Rao-Blackwellized terms vary much less than the bound allows.
 */
export const DEFAULT_MARGINAL_SAMPLES = 100;

/**
 * Monte Carlo prefixes per entry for the own entries P(slate[k] at k), k >= 1, of Monte Carlo softmax
 * (ownMarginalsInto: importance sampling with the logged item removed, SoftmaxExploration). Each
 * entry draws its own prefixes of k items, so a slate costs 32 L (L - 1) / 2 draws (1,440 at L = 10,
 * against 900 for the 100 Rao-Blackwellized slates). Measured against the exact lattice
 * (test/exploration.test.ts; n = 8, and n = 40 with heavy items, L = 4, forced to Monte Carlo): relative
 * errors 5% on average and 21% in the worst of 144 entries; a heavy item at the last slot (where the
 * Rao-Blackwellized estimate is 0 and the prefix floor 6e4 times too small) within 4%. Hoeffding
 * for one entry: 0.24 u at 95% (terms in [0, u], u from itemRangesInto; tighter on the term range
 * [lo, hi] of the test's ownTermRange).
 */
export const DEFAULT_OWN_MARGINAL_SAMPLES = 32;

/** How a wrapper's item-position marginals are computed, in the form truth.json can carry. */
export interface ExplorationMarginals {
  readonly method: 'closed-form' | 'lattice' | 'monte-carlo';
  readonly exact: boolean;
  /** Monte Carlo slates per user and call; 0 when exact. */
  readonly samples: number;
  /** Monte Carlo prefixes per own entry (ownMarginalsInto, slots >= 1); 0 when exact. */
  readonly own_samples: number;
  /** Prefix sets of the exact lattice (softmax, exact); 0 otherwise. */
  readonly prefix_sets: number;
  readonly confidence: number;
  /**
   * Hoeffding (1963) for one marginal on its own, terms in [0, 1], at `confidence`; 0 when exact.
   * Each entry's terms are in [0, u] with u from itemRangesInto, so its own bound is this times u; for a
   * bound over many entries at once use slate-config.ts hoeffdingBound(samples, entries, confidence).
   * It covers the entries of marginalsInto / itemMarginalsInto; the own entries of ownMarginalsInto
   * have terms in the same [0, u] and the bound hoeffdingBound(own_samples, 1, confidence) u.
   */
  readonly per_entry_error_bound: number;
  readonly bound: string;
}

/** A randomized ranking policy over n items and L slots. */
export interface ExplorationPolicy {
  readonly kind: ExplorationKind;
  /** For file names: `top-k`, `eps-<epsilon>`, `softmax-<T>`, or the spec's name. */
  readonly name: string;
  readonly n: number;
  readonly L: number;
  /** True for top-k: propensities are 0 or 1 and action_dist rows one-hot. */
  readonly deterministic: boolean;
  /** Uniforms `sample` draws from rng per slate, always the same count: 0 (top-k), 2L (epsilon-greedy), L (softmax). */
  readonly uniformsPerSlate: number;
  readonly marginals: ExplorationMarginals;
  /** Draws a slate of L distinct items into slateOut[slateOff .. slateOff + L). */
  sample(scores: Scores, rng: RandomStream, slateOut: Int32Array, slateOff?: number): void;
  /**
   * Walks a given slate (any L distinct items): cascadeOut[cascadeOff + k] = P(slate[0..k]), so the
   * last entry is the joint, bit for bit. With slotDistOut, row k (n entries from slotDistOff + k n)
   * is the distribution of slot k given slate[0..k-1]: the `action_dist` rows of this policy as a
   * target on that slate.
   */
  followSlate(scores: Scores, slate: Int32Array, cascadeOut: Float64Array, slotDistOut?: Float64Array | null, slateOff?: number, cascadeOff?: number, slotDistOff?: number): void;
  /**
   * out[k n + b] = P(item b at slot k), L x n row-major from 0. rng is needed (and used) only for
   * Monte Carlo marginals.
   */
  marginalsInto(scores: Scores, out: Float64Array, rng?: RandomStream | null): void;
  /**
   * The marginals of `count` given items only: out[outOff + i L + j] = P(items[itemsOff + i] at slot j)
   * (item-major, the layout of `propensity_item_positions`). Cheaper than marginalsInto (no O(L n)
   * passes); the same numbers, bit for bit (Monte Carlo ones given the same rng state).
   */
  itemMarginalsInto(scores: Scores, items: Int32Array, itemsOff: number, count: number, out: Float64Array, outOff: number, rng?: RandomStream | null): void;
  /**
   * Each slot's own entry: out[outOff + k] = P(slate[slateOff + k] at slot k), k = 0..L-1 (the
   * item-position propensity of a logged row). Exact policies (and slot 0 always) write the
   * itemMarginalsInto numbers bit for bit. Monte Carlo softmax writes, for k >= 1, an unbiased
   * importance-sampling estimate that is > 0 whenever the item's weight has not underflowed (the
   * Rao-Blackwellized itemMarginalsInto entry is 0 for an item that is in every sampled prefix);
   * it draws from rng a variable number of uniforms, a deterministic function of the stream.
   */
  ownMarginalsInto(scores: Scores, slate: Int32Array, out: Float64Array, rng?: RandomStream | null, slateOff?: number, outOff?: number): void;
  /**
   * Monte Carlo ranges of the entries itemMarginalsInto writes, same layout: the largest value one
   * Monte Carlo term can take (<= 1), 0 where exact. O(n log n) for Monte Carlo softmax.
   */
  itemRangesInto(scores: Scores, items: Int32Array, itemsOff: number, count: number, out: Float64Array, outOff: number): void;
}

export function explorationName(spec: ExplorationSpec): string {
  if (spec.name !== undefined) return spec.name;
  switch (spec.kind) {
    case 'top-k':
      return 'top-k';
    case 'epsilon-greedy':
      return `eps-${spec.epsilon}`;
    case 'softmax':
      return `softmax-${spec.temperature}`;
  }
}

/** Throws RangeError on a bad spec or size. */
export function makeExploration(spec: ExplorationSpec, n: number, L: number): ExplorationPolicy {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`exploration: n (items) must be a positive integer, got ${n}`);
  if (!(Number.isInteger(L) && L >= 1 && L <= n)) throw new RangeError(`exploration: L (slots) must be an integer in 1..n = ${n}, got ${L}`);
  const name = explorationName(spec);
  switch (spec.kind) {
    case 'top-k':
      return new GreedyExploration('top-k', name, n, L, 0);
    case 'epsilon-greedy':
      if (!(spec.epsilon >= 0 && spec.epsilon <= 1)) throw new RangeError(`exploration '${name}': epsilon must be in [0, 1], got ${spec.epsilon}`);
      return new GreedyExploration('epsilon-greedy', name, n, L, spec.epsilon);
    case 'softmax':
      return new SoftmaxExploration(spec, name, n, L);
    default:
      throw new RangeError(`exploration: unknown kind '${String((spec as { kind: unknown }).kind)}'`);
  }
}

function requireScores(scores: Scores, n: number): void {
  if (scores.length !== n) throw new RangeError(`exploration: scores have length ${scores.length}, expected n = ${n}`);
}

function nonFinite(i: number, v: number): RangeError {
  return new RangeError(`exploration: score of item ${i} is ${v}; scores must be finite`);
}

/** Throws unless slate[off .. off + L) are L distinct items in 0..n-1; `seen` is all zero before and after. */
function checkSlate(slate: Int32Array, off: number, L: number, n: number, seen: Uint8Array): void {
  if (off < 0 || off + L > slate.length) throw new RangeError(`exploration: slate[${off}..${off + L}) is out of the array (length ${slate.length})`);
  let bad = -1;
  let k = 0;
  for (; k < L; k++) {
    const a = slate[off + k];
    if (!(a >= 0 && a < n) || seen[a] === 1) {
      bad = k;
      break;
    }
    seen[a] = 1;
  }
  for (let j = 0; j < k; j++) seen[slate[off + j]] = 0;
  if (bad >= 0) {
    const a = slate[off + bad];
    throw new RangeError(a >= 0 && a < n ? `exploration: item ${a} appears twice in the slate (slot ${bad})` : `exploration: slot ${bad} holds item ${a}, outside 0..${n - 1}`);
  }
}

/**
 * top-k and epsilon-greedy. Notation: g_0, g_1, ... the items by decreasing score (ties to the lower
 * index), S_k the items of slots 0..k-1, top(S) the first g_i not in S. Slot k (n - k items remain):
 *   P(b at k | S_k) = (1 - eps) 1[b = top(S_k)] + eps / (n - k)   for b not in S_k, 0 for b in S_k,
 * so the cascade and the joint are products of these, and the action_dist row of slot k is this
 * distribution (one-hot at top(S_k) when eps = 0). top(S) for |S| <= L - 1 is among g_0..g_{L-1},
 * so only the top L are ever sorted: O(n) per user.
 *
 * Item-position marginals, exact in O(L^3) once per (n, L, eps) plus O(n) per user. The state after k
 * slots is summarized by the frontier j = the number of leading greedy items g_0..g_{j-1} all taken
 * (so top(S_k) = g_j) and X = S_k minus {g_0..g_{j-1}}: the x = k - j items taken out of order, all by
 * exploration, all in the tail T_j = items minus {g_0..g_j} (|T_j| = N_j = n - j - 1).
 *   Claim: given j, X is uniform over the x-subsets of T_j. By induction on k: a tail pick adds a
 *   uniform new element of T_j minus X (uniform subset + uniform extra element = uniform subset);
 *   taking g_j moves the frontier over the r items g_{j+1}..g_{j+r} of X with g_{j+r+1} not in X, and
 *   given that event the rest of X is a uniform (x - r)-subset of T_{j+1+r}. A mixture of uniform
 *   laws on one support is uniform.
 * So the law of j, P_k(j) (j = 0..k), carries everything. From state j at slot k, with
 *   a_k = (1 - eps) + eps / (n - k)        (slot k takes g_j: greedy, or exploration hitting g_j),
 *   t_k = eps (n - k - 1) / (n - k)        (slot k takes one of the n - k - 1 remaining tail items),
 * the next frontier is j (tail pick) or j + 1 + r (g_j taken), with the run length r of X after g_j:
 *   P(R >= r) = C(N_j - r, x - r) / C(N_j, x) = prod_{h<r} (x - h) / (N_j - h),
 *   P(R = r) = P(R >= r) (N_j - x) / (N_j - r) for r < x,  P(R = x) = P(R >= x).
 * A tail item b is outside X with probability (N_j - x) / N_j = (n - k - 1) / (n - j - 1), and then
 * explored to with probability eps / (n - k), whence the marginals
 *   P(g_i at k) = P_k(i) a_k + sum_{j < i} tau_k(j),   tau_k(j) = P_k(j) eps (n - k - 1) / ((n - k) (n - j - 1)),
 * which for i > k (never reachable as the frontier item) is the same c_k = sum_{j <= k} tau_k(j) for
 * every such item, all of the n - k - 1 lower-ranked ones included. Rows sum to
 * sum_j P_k(j) (a_k + t_k) = 1. eps = 0 gives top-k (P_k(k) = 1), eps = 1 gives 1/n everywhere.
 */
class GreedyExploration implements ExplorationPolicy {
  readonly deterministic: boolean;
  readonly uniformsPerSlate: number;
  readonly marginals: ExplorationMarginals;
  /** marginalTable[k L + i] = P(g_i at k) for i <= k; tail[k] = c_k for every item of rank > k. */
  private readonly marginalTable: Float64Array;
  private readonly tail: Float64Array;
  /** g_0..g_{L-1} of the last scores (values in `orderValue`). */
  private readonly order: Int32Array;
  private readonly orderValue: Float64Array;
  /** rank[b] = i when b = g_i, i < L; -1 otherwise (kept so between calls). */
  private readonly rank: Int32Array;
  private readonly taken: Uint8Array;
  private readonly sortedTaken: Int32Array;
  private readonly cache: ScoreCache;

  constructor(
    readonly kind: 'top-k' | 'epsilon-greedy',
    readonly name: string,
    readonly n: number,
    readonly L: number,
    readonly epsilon: number,
  ) {
    this.deterministic = epsilon === 0;
    this.uniformsPerSlate = kind === 'top-k' ? 0 : 2 * L;
    this.marginals = {
      method: 'closed-form',
      exact: true,
      samples: 0,
      own_samples: 0,
      prefix_sets: 0,
      confidence: 1,
      per_entry_error_bound: 0,
      bound: 'exact: recursion over the greedy frontier (exploration.ts)',
    };
    this.order = new Int32Array(L);
    this.orderValue = new Float64Array(L);
    this.rank = new Int32Array(n).fill(-1);
    this.taken = new Uint8Array(n);
    this.sortedTaken = new Int32Array(L);
    this.cache = new ScoreCache(n);
    this.marginalTable = new Float64Array(L * L);
    this.tail = new Float64Array(L);
    this.buildTable();
  }

  /** The recursion in the class comment: P_k(j) forward over k, O(L^3) in all. */
  private buildTable(): void {
    const { n, L, epsilon: eps, marginalTable, tail } = this;
    let cur = new Float64Array(L + 1);
    let next = new Float64Array(L + 1);
    cur[0] = 1;
    for (let k = 0; k < L; k++) {
      const rem = n - k;
      const a = 1 - eps + eps / rem;
      const t = (eps * (rem - 1)) / rem;
      let running = 0;
      for (let i = 0; i <= k; i++) {
        marginalTable[k * L + i] = cur[i] * a + running;
        // The tail term is 0 at the last possible slot (rem = 1: nothing but g_j is left).
        if (rem > 1) running += (cur[i] * eps * (rem - 1)) / (rem * (n - i - 1));
      }
      tail[k] = running;
      if (k === L - 1) break;
      next.fill(0);
      for (let j = 0; j <= k; j++) {
        const p = cur[j];
        if (p === 0) continue;
        next[j] += p * t;
        const x = k - j;
        const N = n - j - 1;
        const adv = p * a;
        let atLeast = 1;
        for (let r = 0; r < x; r++) {
          next[j + 1 + r] += (adv * atLeast * (N - x)) / (N - r);
          atLeast *= (x - r) / (N - r);
        }
        next[j + 1 + x] += adv * atLeast;
      }
      const swap = cur;
      cur = next;
      next = swap;
    }
  }

  /** g_0..g_{L-1} when the scores changed. */
  private prepare(scores: Scores): void {
    if (!this.cache.update(scores)) return;
    const { n, L, order, rank } = this;
    for (let i = 0; i < L; i++) rank[order[i]] = -1;
    selectTopInto(this.cache.values, n, L, order, this.orderValue);
    for (let i = 0; i < L; i++) rank[order[i]] = i;
  }

  sample(scores: Scores, rng: RandomStream, slateOut: Int32Array, slateOff = 0): void {
    this.prepare(scores);
    const { n, L, order, taken, sortedTaken, epsilon } = this;
    const draws = this.kind === 'epsilon-greedy';
    let frontier = 0;
    for (let k = 0; k < L; k++) {
      while (taken[order[frontier]] === 1) frontier++;
      let a = order[frontier];
      if (draws) {
        const coin = rng.uniform();
        const pick = rng.uniform();
        if (coin < epsilon) {
          // The pick-th untaken item in index order: step over the taken ones at or below it.
          a = Math.floor(pick * (n - k));
          for (let i = 0; i < k && sortedTaken[i] <= a; i++) a++;
        }
      }
      slateOut[slateOff + k] = a;
      taken[a] = 1;
      let p = k;
      while (p > 0 && sortedTaken[p - 1] > a) {
        sortedTaken[p] = sortedTaken[p - 1];
        p--;
      }
      sortedTaken[p] = a;
    }
    for (let k = 0; k < L; k++) taken[slateOut[slateOff + k]] = 0;
  }

  followSlate(scores: Scores, slate: Int32Array, cascadeOut: Float64Array, slotDistOut: Float64Array | null = null, slateOff = 0, cascadeOff = 0, slotDistOff = 0): void {
    const { n, L, order, taken, epsilon: eps } = this;
    checkSlate(slate, slateOff, L, n, taken);
    this.prepare(scores);
    let frontier = 0;
    let p = 1;
    for (let k = 0; k < L; k++) {
      while (taken[order[frontier]] === 1) frontier++;
      const top = order[frontier];
      const explore = eps / (n - k);
      const greedy = 1 - eps + explore;
      if (slotDistOut !== null) {
        const row = slotDistOff + k * n;
        slotDistOut.fill(explore, row, row + n);
        for (let j = 0; j < k; j++) slotDistOut[row + slate[slateOff + j]] = 0;
        slotDistOut[row + top] = greedy;
      }
      const a = slate[slateOff + k];
      p *= a === top ? greedy : explore;
      cascadeOut[cascadeOff + k] = p;
      taken[a] = 1;
    }
    for (let k = 0; k < L; k++) taken[slate[slateOff + k]] = 0;
  }

  marginalsInto(scores: Scores, out: Float64Array): void {
    this.prepare(scores);
    const { n, L, order, marginalTable, tail } = this;
    for (let k = 0; k < L; k++) {
      const row = k * n;
      out.fill(tail[k], row, row + n);
      for (let i = 0; i <= k; i++) out[row + order[i]] = marginalTable[k * L + i];
    }
  }

  itemMarginalsInto(scores: Scores, items: Int32Array, itemsOff: number, count: number, out: Float64Array, outOff: number): void {
    this.prepare(scores);
    const { n, L, rank, marginalTable, tail } = this;
    for (let c = 0; c < count; c++) {
      const b = items[itemsOff + c];
      if (!(b >= 0 && b < n)) throw new RangeError(`exploration: item ${b} outside 0..${n - 1}`);
      const i = rank[b];
      for (let k = 0; k < L; k++) out[outOff + c * L + k] = i >= 0 && i <= k ? marginalTable[k * L + i] : tail[k];
    }
  }

  itemRangesInto(_scores: Scores, _items: Int32Array, _itemsOff: number, count: number, out: Float64Array, outOff: number): void {
    out.fill(0, outOff, outOff + count * this.L);
  }

  ownMarginalsInto(scores: Scores, slate: Int32Array, out: Float64Array, _rng: RandomStream | null = null, slateOff = 0, outOff = 0): void {
    this.prepare(scores);
    const { n, L, rank, marginalTable, tail } = this;
    for (let k = 0; k < L; k++) {
      const b = slate[slateOff + k];
      if (!(b >= 0 && b < n)) throw new RangeError(`exploration: item ${b} outside 0..${n - 1}`);
      const i = rank[b];
      // The itemMarginalsInto entry (c = k, slot k), the same table reads.
      out[outOff + k] = i >= 0 && i <= k ? marginalTable[k * L + i] : tail[k];
    }
  }
}

/** Lattices depend on (n, L) only: one per size, shared by all softmax wrappers (logger and targets). */
const lattices = new Map<string, PrefixLattice>();

function latticeFor(n: number, L: number): PrefixLattice {
  const key = `${n}:${L}`;
  let lattice = lattices.get(key);
  if (lattice === undefined) {
    lattice = new PrefixLattice(n, L);
    lattices.set(key, lattice);
  }
  return lattice;
}

/** Below this remaining weight (every remaining item underflowed) a step is done by remainingDistributionInto, from the logits. */
const TINY = 1e-200;
/** Monte Carlo draws by rejection from all items while at least 1/8 of the weight is left (as the generator). */
const REJECTION_SHARE = 8;

/**
 * Plackett-Luce over s / T. With z = s / T and e_b = exp(z_b - max z) (the best item weighs 1), slot
 * k takes b outside the prefix S with probability e_b / R(S), R(S) = sum_{c not in S} e_c: the
 * cascade and the joint are the products of these (closed form).
 *
 * R(S) without cancellation, in O(L) per slot: with G the L best items and H the others,
 *   R(S) = sum_{b in G minus S} e_b + (sum_{b in H} e_b - sum_{a in S and H} e_a).
 * The first sum has positive terms only. In the second, each subtracted weight is at most the
 * smallest weight of G, of which at least one item is outside S (|S| < L), so the subtracted total
 * is below L R(S) and the rounding error stays a small multiple of L 2^-53 relative to R(S). (W - the
 * prefix's weight would lose digits whenever the prefix holds most of the weight: a sharp policy.)
 *
 * Sampling draws exactly one uniform u per slot, t = u R(S): the first untaken item of G (by
 * weight) at which the running weight exceeds t, else a binary search on the cumulative weights of
 * H minus the taken H weights below the probe (O(L log n) per slot instead of O(n)). followSlate
 * uses the same R for the cascade and the action_dist rows, so the logged cascade is the product of
 * the rows' entries, bit for bit.
 *
 * Item-position marginals: slot 0 is exact (e_b / W). Later slots, when the prefix lattice is small,
 * exactly by the lattice recursion of slate-plackett-luce.ts (the scores are given to it as linear
 * scores with d = 1, theta = s, bias = 0 and x = [1], so its logits are exactly s / T). Otherwise the
 * Rao-Blackwellized Monte Carlo of the generator (slate-plackett-luce.ts evaluateMonteCarlo): from
 * m slates drawn with the caller's rng, P(b at k) ~ (1/m) sum_samples 1[b not in the sample's
 * prefix] e_b / R_k, kept as e_b (A_k - B_k(b)) / m with A_k = sum 1/R_k and B_k(b) the same sum over
 * samples whose prefix holds b; each term is in [0, u_b,k], u_b,k = e_b / (e_b + the n - k - 1
 * smallest other weights), so Hoeffding's bound applies. It is reimplemented here (same estimator,
 * same bound) to cost O(m L^2 + m L log n) for the L items of a logged slate, without the O(L n)
 * passes: B is kept for the requested items only. Draws are by rejection from all items while at
 * least 1/8 of the weight is left (a variable number of uniforms, fixed given the stream), else as
 * in sampling.
 *
 * The own entry P(b at k) of a logged row (ownMarginalsInto), k >= 1, by importance sampling. The
 * Rao-Blackwellized estimate averages 1[b not in prefix] e_b / R_k, which is 0 on every sample when
 * b is heavy and k late (b is in almost every prefix), while P(b at k) can be far above the prefix
 * floor; the row's weight 1 / propensity_item_position then explodes. Instead, draw the prefix from
 * Plackett-Luce (Luce 1959; Plackett 1975) over the catalog without b. For a sequence
 * S = (s_0, .., s_{k-1}) of distinct items other than b, with R'_j = the weight of the items other
 * than b and s_0..s_{j-1} (b excluded),
 *   P(S then b at k) = prod_{j<k} e_{s_j} / (R'_j + e_b) * e_b / (R'_k + e_b)   (b available),
 *   Q(S)             = prod_{j<k} e_{s_j} / R'_j                                (PL without b),
 * so P(S then b at k) = Q(S) w(S) with the likelihood ratio
 *   w(S) = prod_{j<k} R'_j / (R'_j + e_b) * e_b / (R'_k + e_b),
 * and summing over all S (Q(S) > 0 wherever P(S then b) > 0: the standard importance-sampling
 * identity, e.g. Owen 2013, "Monte Carlo theory, methods and examples", ch. 9)
 *   P(b at k) = E_{S ~ Q} [ w(S) ],
 * estimated by the mean of w over m = ownSamples independent prefixes. Every factor is in (0, 1]
 * when e_b > 0, so every term, and the estimate, is > 0; a term is at most
 * e_b / (R'_k + e_b) <= u_b,k (R'_k is the weight of n - k - 1 other items), so the terms lie in the
 * same [0, u] as the Rao-Blackwellized ones and Hoeffding's bound applies with m samples. The
 * relative variance is moderate where the old estimate failed: a heavy b makes every factor
 * R'_j / (R'_j + e_b) small, but they vary only through which other heavy items the prefix holds.
 * One run of k draws gives slot k's term (and every earlier slot's on the way; each logged slot has
 * its own b, so each slot k >= 1 takes m runs of k draws). Draws are the Monte Carlo ones with b
 * marked taken (and held in the walked prefix, so the binary search subtracts its weight): rejection
 * from all items while R' >= W / 8, else the O(L log n) search, the O(n) exact step only when both
 * miss. Where the weights underflow (R'_j + e_b < TINY) a factor is taken from the logits, as
 * remainingDistributionInto does: P(b next | prefix) with b available, or 1 minus it.
 */
class SoftmaxExploration implements ExplorationPolicy {
  readonly kind = 'softmax' as const;
  readonly deterministic = false;
  readonly uniformsPerSlate: number;
  readonly marginals: ExplorationMarginals;
  readonly temperature: number;
  private readonly samples: number;
  private readonly ownSamples: number;
  private readonly cache: ScoreCache;
  /** z = s / T, e = exp(z - max z), C the inclusive cumulative sums of e (for rejection draws). */
  private readonly z: Float64Array;
  private readonly e: Float64Array;
  private readonly C: Float64Array;
  /** G (the L best items, by decreasing weight) and membership; CH the inclusive cumulative sums of e over H. */
  private readonly top: Int32Array;
  private readonly topValue: Float64Array;
  private readonly isTop: Uint8Array;
  private readonly CH: Float64Array;
  private tailWeight = 0;
  /** R(empty set). */
  private W = 0;
  /** The lattice path (exact marginals), else null. */
  private readonly exactPolicy: PlackettLucePolicy | null;
  private exactPolicyReady = false;
  /** The lattice's L x n marginals of the current scores are in `scratch` (exact path only). */
  private exactMarginalsReady = false;
  /** Zero clicks: PlackettLucePolicy.evaluate computes a value we do not use. */
  private readonly model: SlateRewardModel;
  /** Sorted e and its prefix sums, for the Monte Carlo ranges (computed when first asked for). */
  private readonly sorted: Float64Array;
  private readonly sortedSums: Float64Array;
  private sortedReady = false;
  private readonly taken: Uint8Array;
  /** The walked or drawn prefix: items of slots 0..k-1. */
  private readonly prefix: Int32Array;
  private readonly dist: Float64Array;
  /** Monte Carlo accumulators, L per requested item, and the item -> requested index map (-1: not requested). */
  private readonly sumInverse: Float64Array;
  private B: Float64Array;
  private D: Float64Array;
  private readonly requested: Int32Array;
  private readonly held: Int32Array;
  private readonly everyItem: Int32Array;
  private guide: Int32Array | null = null;
  private guideReady = false;
  private scratch: Float64Array | null = null;

  constructor(
    spec: Extract<ExplorationSpec, { kind: 'softmax' }>,
    readonly name: string,
    readonly n: number,
    readonly L: number,
  ) {
    const T = spec.temperature;
    if (!(Number.isFinite(T) && T > 0)) throw new RangeError(`exploration '${name}': temperature must be a positive number, got ${T}`);
    const choice = spec.marginals ?? 'auto';
    if (choice !== 'auto' && choice !== 'exact' && choice !== 'monte-carlo') {
      throw new RangeError(`exploration '${name}': marginals must be 'auto', 'exact' or 'monte-carlo', got '${String(choice)}'`);
    }
    const samples = spec.samples ?? DEFAULT_MARGINAL_SAMPLES;
    if (!(Number.isInteger(samples) && samples >= 2)) throw new RangeError(`exploration '${name}': samples must be an integer >= 2, got ${samples}`);
    const ownSamples = spec.ownSamples ?? DEFAULT_OWN_MARGINAL_SAMPLES;
    if (!(Number.isInteger(ownSamples) && ownSamples >= 2)) throw new RangeError(`exploration '${name}': ownSamples must be an integer >= 2, got ${ownSamples}`);
    const limit = spec.exactPrefixLimit ?? 20_000;
    const sets = prefixSetCount(n, L);
    const fits = sets * (n + 1) <= MAX_LATTICE_ENTRIES;
    if (choice === 'exact' && !fits) {
      throw new RangeError(`exploration '${name}': exact softmax marginals for n=${n}, L=${L} need ${sets} prefix sets, too many; use 'monte-carlo'`);
    }
    const exact = L === 1 || choice === 'exact' || (choice === 'auto' && fits && sets <= limit);
    this.temperature = T;
    this.samples = exact ? 0 : samples;
    this.ownSamples = exact ? 0 : ownSamples;
    this.uniformsPerSlate = L;
    this.marginals = exact
      ? {
          method: L === 1 ? 'closed-form' : 'lattice',
          exact: true,
          samples: 0,
          own_samples: 0,
          prefix_sets: L === 1 ? 0 : sets,
          confidence: 1,
          per_entry_error_bound: 0,
          bound: L === 1 ? 'exact: one slot, a softmax' : 'exact: dynamic programme over unordered prefixes (slate-lattice.ts)',
        }
      : {
          method: 'monte-carlo',
          exact: false,
          samples,
          own_samples: ownSamples,
          prefix_sets: 0,
          confidence: MARGINAL_CONFIDENCE,
          per_entry_error_bound: hoeffdingBound(samples, 1, MARGINAL_CONFIDENCE),
          bound:
            'Hoeffding (1963) for one entry; Rao-Blackwellized estimator with terms in [0, u], u <= 1 per entry (itemRangesInto), ' +
            'slot 0 exact; own entries (ownMarginalsInto) by importance sampling without the item, own_samples terms in the same [0, u]; ' +
            'draws from the rng the caller passes',
        };
    this.cache = new ScoreCache(n);
    this.z = new Float64Array(n);
    this.e = new Float64Array(n);
    this.C = new Float64Array(n);
    this.top = new Int32Array(L);
    this.topValue = new Float64Array(L);
    this.isTop = new Uint8Array(n);
    this.CH = new Float64Array(n);
    const scores: LinearScores = { K: n, d: 1, theta: this.cache.values, bias: new Float64Array(n) };
    this.exactPolicy = exact && L > 1 ? new PlackettLucePolicy(scores, L, T, latticeFor(n, L)) : null;
    this.model = newRewardModel('independent', n, L, 1);
    this.sorted = new Float64Array(exact ? 0 : n);
    this.sortedSums = new Float64Array(exact ? 0 : n + 1);
    this.taken = new Uint8Array(n);
    this.prefix = new Int32Array(L);
    this.dist = new Float64Array(n);
    this.sumInverse = new Float64Array(L);
    this.B = new Float64Array(L * L);
    this.D = new Float64Array(L * L);
    this.requested = new Int32Array(exact ? 0 : n).fill(-1);
    this.held = new Int32Array(L);
    this.everyItem = exact ? new Int32Array(0) : Int32Array.from({ length: n }, (_, i) => i);
  }

  /** Recomputes z, e, C, G, CH and W when the scores changed. */
  private prepare(scores: Scores): void {
    if (!this.cache.update(scores)) return;
    const { n, L, z, e, C, top, isTop, CH } = this;
    const s = this.cache.values;
    // G by the scores (z = s / T orders the items alike), so one pass computes z, e and the sums.
    for (let i = 0; i < L; i++) isTop[top[i]] = 0;
    selectTopInto(s, n, L, top, this.topValue);
    for (let i = 0; i < L; i++) isTop[top[i]] = 1;
    const inverseTemperature = 1 / this.temperature;
    const max = s[top[0]] * inverseTemperature;
    let all = 0;
    let tail = 0;
    for (let b = 0; b < n; b++) {
      const v = s[b] * inverseTemperature;
      z[b] = v;
      const w = Math.exp(v - max);
      e[b] = w;
      all += w;
      C[b] = all;
      if (isTop[b] === 0) tail += w;
      CH[b] = tail;
    }
    this.tailWeight = tail;
    this.W = this.remainingWeight(0);
    this.exactPolicyReady = false;
    this.exactMarginalsReady = false;
    this.sortedReady = false;
    this.guideReady = false;
  }

  /** R(prefix[0..k)), the prefix items marked in `taken` (class comment). */
  private remainingWeight(k: number): number {
    const { e, top, taken, isTop, prefix } = this;
    let best = 0;
    for (let i = 0; i < this.L; i++) {
      const b = top[i];
      if (taken[b] === 0) best += e[b];
    }
    let rest = this.tailWeight;
    for (let i = 0; i < k; i++) {
      const a = prefix[i];
      if (isTop[a] === 0) rest -= e[a];
    }
    return best + (rest > 0 ? rest : 0);
  }

  /**
   * The item at which the running untaken weight first exceeds u R (R = R(prefix[0..k))): G by
   * decreasing weight, then H by a binary search. -1 when rounding lands on a taken, weightless or
   * G item (the caller then draws exactly).
   */
  private draw(u: number, R: number, k: number): number {
    const { e, top, taken, isTop, prefix, CH } = this;
    let t = u * R;
    for (let i = 0; i < this.L; i++) {
      const b = top[i];
      if (taken[b] === 1) continue;
      if (t < e[b]) return b;
      t -= e[b];
    }
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      let f = CH[mid];
      for (let i = 0; i < k; i++) {
        const a = prefix[i];
        if (a <= mid && isTop[a] === 0) f -= e[a];
      }
      if (f > t) hi = mid;
      else lo = mid + 1;
    }
    return taken[lo] === 0 && isTop[lo] === 0 && e[lo] > 0 ? lo : -1;
  }

  /** Exact step in O(n): the conditional into `dist`, then inverse CDF with u. */
  private exactDraw(u: number): number {
    remainingDistributionInto(this.e, this.z, this.taken, this.n, this.dist, 0);
    return sampleAction(this.dist, 0, this.n, u);
  }

  sample(scores: Scores, rng: RandomStream, slateOut: Int32Array, slateOff = 0): void {
    this.prepare(scores);
    const { L, taken, prefix } = this;
    for (let k = 0; k < L; k++) {
      const u = rng.uniform();
      const R = this.remainingWeight(k);
      let a = R >= TINY ? this.draw(u, R, k) : -1;
      if (a < 0) a = this.exactDraw(u);
      slateOut[slateOff + k] = a;
      prefix[k] = a;
      taken[a] = 1;
    }
    for (let k = 0; k < L; k++) taken[prefix[k]] = 0;
  }

  followSlate(scores: Scores, slate: Int32Array, cascadeOut: Float64Array, slotDistOut: Float64Array | null = null, slateOff = 0, cascadeOff = 0, slotDistOff = 0): void {
    const { n, L, e, taken, prefix } = this;
    checkSlate(slate, slateOff, L, n, taken);
    this.prepare(scores);
    let p = 1;
    for (let k = 0; k < L; k++) {
      const a = slate[slateOff + k];
      const R = this.remainingWeight(k);
      let q: number;
      if (R >= TINY) {
        const inv = 1 / R;
        q = e[a] * inv;
        if (slotDistOut !== null) {
          const row = slotDistOff + k * n;
          for (let b = 0; b < n; b++) slotDistOut[row + b] = taken[b] === 0 ? e[b] * inv : 0;
        }
      } else {
        const out = slotDistOut ?? this.dist;
        const row = slotDistOut === null ? 0 : slotDistOff + k * n;
        remainingDistributionInto(e, this.z, taken, n, out, row);
        q = out[row + a];
      }
      // Multiplying left to right, the joint is bit-identical to the last cascade entry.
      p *= q;
      cascadeOut[cascadeOff + k] = p;
      prefix[k] = a;
      taken[a] = 1;
    }
    for (let k = 0; k < L; k++) taken[slate[slateOff + k]] = 0;
  }

  marginalsInto(scores: Scores, out: Float64Array, rng: RandomStream | null = null): void {
    const { n, L } = this;
    if (out.length < L * n) throw new RangeError(`exploration: marginals need L x n = ${L * n} entries, got ${out.length}`);
    this.prepare(scores);
    if (this.exactPolicy !== null) {
      this.readyExactPolicy().evaluate(this.model, out, null, 0);
      return;
    }
    if (L === 1) {
      const inv = 1 / this.W;
      for (let b = 0; b < n; b++) out[b] = this.e[b] * inv;
      return;
    }
    const scratch = this.scratchMarginals();
    this.monteCarlo(this.everyItem, 0, n, scratch, 0, rng);
    for (let b = 0; b < n; b++) for (let k = 0; k < L; k++) out[k * n + b] = scratch[b * L + k];
  }

  itemMarginalsInto(scores: Scores, items: Int32Array, itemsOff: number, count: number, out: Float64Array, outOff: number, rng: RandomStream | null = null): void {
    const { n, L } = this;
    this.prepare(scores);
    for (let c = 0; c < count; c++) {
      const b = items[itemsOff + c];
      if (!(b >= 0 && b < n)) throw new RangeError(`exploration: item ${b} outside 0..${n - 1}`);
    }
    if (this.exactPolicy !== null) {
      const full = this.exactMarginals();
      for (let c = 0; c < count; c++) for (let k = 0; k < L; k++) out[outOff + c * L + k] = full[k * n + items[itemsOff + c]];
      return;
    }
    if (L === 1) {
      const inv = 1 / this.W;
      for (let c = 0; c < count; c++) out[outOff + c] = this.e[items[itemsOff + c]] * inv;
      return;
    }
    this.monteCarlo(items, itemsOff, count, out, outOff, rng);
  }

  itemRangesInto(scores: Scores, items: Int32Array, itemsOff: number, count: number, out: Float64Array, outOff: number): void {
    const { n, L } = this;
    out.fill(0, outOff, outOff + count * L);
    if (this.marginals.exact) return;
    this.prepare(scores);
    const { e, sorted, sortedSums } = this;
    if (!this.sortedReady) {
      sorted.set(e);
      sorted.sort();
      sortedSums[0] = 0;
      for (let i = 0; i < n; i++) sortedSums[i + 1] = sortedSums[i] + sorted[i];
      this.sortedReady = true;
    }
    for (let c = 0; c < count; c++) {
      const b = items[itemsOff + c];
      if (!(b >= 0 && b < n)) throw new RangeError(`exploration: item ${b} outside 0..${n - 1}`);
      const eb = e[b];
      for (let k = 1; k < L; k++) {
        // e_b / (e_b + the n - k - 1 smallest other weights): drop one copy of e_b from the n - k smallest if it is there.
        const m = n - k - 1;
        const others = m === 0 ? 0 : eb <= sorted[m - 1] ? sortedSums[m + 1] - eb : sortedSums[m];
        const floor = eb + others;
        // Underflowed steps go through remainingDistributionInto, whose terms are only known to be in [0, 1].
        out[outOff + c * L + k] = eb > 0 && floor >= 1e-200 ? Math.min(1, eb / floor) : 1;
      }
    }
  }

  ownMarginalsInto(scores: Scores, slate: Int32Array, out: Float64Array, rng: RandomStream | null = null, slateOff = 0, outOff = 0): void {
    const { n, L } = this;
    this.prepare(scores);
    for (let k = 0; k < L; k++) {
      const b = slate[slateOff + k];
      if (!(b >= 0 && b < n)) throw new RangeError(`exploration: item ${b} outside 0..${n - 1}`);
    }
    if (this.exactPolicy !== null) {
      const full = this.exactMarginals();
      for (let k = 0; k < L; k++) out[outOff + k] = full[k * n + slate[slateOff + k]];
      return;
    }
    // Slot 0 (and L = 1): e_b / W as itemMarginalsInto writes it.
    const inverseW = 1 / this.W;
    out[outOff] = this.e[slate[slateOff]] * inverseW;
    if (L === 1) return;
    if (rng === null) throw new Error(`exploration '${this.name}': Monte Carlo marginals need a random stream`);
    for (let k = 1; k < L; k++) out[outOff + k] = this.ownEstimate(slate[slateOff + k], k, rng);
  }

  /** The lattice marginals (L x n) of the current scores in `scratch`, evaluated once per score vector. */
  private exactMarginals(): Float64Array {
    const full = this.scratchMarginals();
    if (!this.exactMarginalsReady) {
      this.readyExactPolicy().evaluate(this.model, full, null, 0);
      this.exactMarginalsReady = true;
    }
    return full;
  }

  /**
   * The importance-sampling estimate of P(b at k), k >= 1 (class comment): the mean over ownSamples
   * prefixes drawn from Plackett-Luce without b of prod_{j<k} R'_j / (R'_j + e_b) * e_b / (R'_k + e_b).
   * b sits in prefix[0] and is marked taken; the drawn items go to prefix[1..k].
   */
  private ownEstimate(b: number, k: number, rng: RandomStream): number {
    const { n, L, e, z, top, isTop, taken, prefix, dist, ownSamples, tailWeight } = this;
    const guide = this.readyGuide();
    const eb = e[b];
    taken[b] = 1;
    prefix[0] = b;
    // R' kept as in monteCarlo, with b taken: the untaken G weights (re-summed when a G item is
    // taken) plus the H weight minus the taken H items (b first when it is in H).
    let best0 = 0;
    for (let i = 0; i < L; i++) {
      const c = top[i];
      if (c !== b) best0 += e[c];
    }
    const rest0 = isTop[b] === 1 ? tailWeight : tailWeight - eb;
    let sum = 0;
    for (let s = 0; s < ownSamples; s++) {
      let best = best0;
      let rest = rest0;
      let term = 1;
      for (let j = 0; ; j++) {
        const R = best + (rest > 0 ? rest : 0);
        const Rb = R + eb;
        if (Rb >= TINY) {
          if (j === k) {
            term *= eb / Rb;
            break;
          }
          term *= R / Rb;
        } else {
          // Underflow: P(b next | prefix) from the logits, b available.
          taken[b] = 0;
          remainingDistributionInto(e, z, taken, n, dist, 0);
          taken[b] = 1;
          const pb = dist[b];
          if (j === k) {
            term *= pb;
            break;
          }
          term *= 1 - pb;
        }
        // Slot j's item from Plackett-Luce without b (n - 1 - j >= 1 items are left).
        const a = this.monteCarloDraw(rng, R, j + 1, guide);
        prefix[j + 1] = a;
        taken[a] = 1;
        if (isTop[a] === 1) best = this.untakenTopWeight();
        else rest -= e[a];
      }
      for (let i = 1; i <= k; i++) taken[prefix[i]] = 0;
      sum += term;
    }
    taken[b] = 0;
    return sum / ownSamples;
  }

  /**
   * The next item of a Monte Carlo prefix (R = the untaken weight, k = the slot): by rejection from
   * all items while at least 1/8 of the weight is left, else (or after 32 rejections) by the
   * conditional draw, which keeps the law exact conditionally on the rejections.
   */
  private monteCarloDraw(rng: RandomStream, R: number, k: number, guide: Int32Array): number {
    const { n, e, C, W, taken } = this;
    const G = guide.length;
    const total = C[n - 1];
    let a = -1;
    if (R * REJECTION_SHARE >= W) {
      for (let tries = 0; tries < 32 && a < 0; tries++) {
        const u = rng.uniform();
        const t = u * total;
        let i = guide[Math.floor(u * G)];
        while (i < n - 1 && C[i] <= t) i++;
        if (taken[i] === 0 && e[i] > 0) a = i;
      }
    }
    if (a < 0) {
      const u = rng.uniform();
      if (R >= TINY) a = this.draw(u, R, k);
      if (a < 0) a = this.exactDraw(u);
    }
    return a;
  }

  /** The weight of the untaken items among the L best, re-summed (after one of them is taken). */
  private untakenTopWeight(): number {
    const { e, top, taken } = this;
    let best = 0;
    for (let i = 0; i < this.L; i++) if (taken[top[i]] === 0) best += e[top[i]];
    return best;
  }

  private readyExactPolicy(): PlackettLucePolicy {
    const policy = this.exactPolicy as PlackettLucePolicy;
    if (!this.exactPolicyReady) {
      policy.setContext(ONE, 0);
      this.exactPolicyReady = true;
    }
    return policy;
  }

  private scratchMarginals(): Float64Array {
    this.scratch ??= new Float64Array(this.L * this.n);
    return this.scratch;
  }

  /**
   * Guide table for the rejection draws (Chen & Asau 1974): guide[g] = the first item whose
   * cumulative weight exceeds (g / G) C[n - 1], G a power of two >= n. For u in [0, 1),
   * g = floor(u G) gives g / G <= u exactly, so the search from guide[g] never starts past the item.
   */
  private readyGuide(): Int32Array {
    const { n, C } = this;
    let guide = this.guide;
    if (guide === null) {
      let G = 1;
      while (G < n) G *= 2;
      guide = new Int32Array(G);
      this.guide = guide;
    }
    if (!this.guideReady) {
      const G = guide.length;
      const total = C[n - 1];
      let i = 0;
      for (let g = 0; g < G; g++) {
        const threshold = (g / G) * total;
        while (i < n - 1 && C[i] <= threshold) i++;
        guide[g] = i;
      }
      this.guideReady = true;
    }
    return guide;
  }

  /** The Rao-Blackwellized estimate of the class comment; out item-major (count x L). Items are checked by the caller. */
  private monteCarlo(items: Int32Array, itemsOff: number, count: number, out: Float64Array, outOff: number, rng: RandomStream | null): void {
    if (rng === null) throw new Error(`exploration '${this.name}': Monte Carlo marginals need a random stream`);
    const { n, L, e, W, top, isTop, taken, prefix, dist, sumInverse, requested, samples, tailWeight } = this;
    const guide = this.readyGuide();
    if (this.B.length < count * L) {
      this.B = new Float64Array(count * L);
      this.D = new Float64Array(count * L);
    }
    const { B, D, held } = this;
    B.fill(0, 0, count * L);
    sumInverse.fill(0);
    let anyDirect = false;
    for (let c = 0; c < count; c++) requested[items[itemsOff + c]] = c;
    let best0 = 0;
    for (let i = 0; i < L; i++) best0 += e[top[i]];
    for (let s = 0; s < samples; s++) {
      // R(prefix) kept as in remainingWeight: the untaken G weights, re-summed when a G item is
      // taken, plus the H weight minus the taken H items, subtracted in prefix order.
      let best = best0;
      let rest = tailWeight;
      // Requested items in the prefix (their requested indices).
      let heldCount = 0;
      for (let k = 0; k < L; k++) {
        const R = k === 0 ? W : best + (rest > 0 ? rest : 0);
        // Slot k's term given the sample's prefix[0..k) (slot 0's is exact and not estimated).
        if (k > 0) {
          if (R >= TINY) {
            const inv = 1 / R;
            sumInverse[k] += inv;
            for (let i = 0; i < heldCount; i++) B[held[i] * L + k] += inv;
          } else {
            if (!anyDirect) {
              D.fill(0, 0, count * L);
              anyDirect = true;
            }
            remainingDistributionInto(e, this.z, taken, n, dist, 0);
            for (let c = 0; c < count; c++) D[c * L + k] += dist[items[itemsOff + c]];
          }
        }
        if (k === L - 1) break;
        // Draw slot k's item.
        const a = this.monteCarloDraw(rng, R, k, guide);
        prefix[k] = a;
        taken[a] = 1;
        if (isTop[a] === 1) best = this.untakenTopWeight();
        else rest -= e[a];
        const c = requested[a];
        if (c >= 0) held[heldCount++] = c;
      }
      for (let i = 0; i < L - 1; i++) taken[prefix[i]] = 0;
    }
    const inverseSamples = 1 / samples;
    const inverseW = 1 / W;
    for (let c = 0; c < count; c++) {
      const b = items[itemsOff + c];
      requested[b] = -1;
      const o = outOff + c * L;
      out[o] = e[b] * inverseW;
      for (let k = 1; k < L; k++) {
        // max(0, .): the difference can round below zero for an item that was always in the prefix.
        const m = e[b] * Math.max(0, sumInverse[k] - B[c * L + k]) + (anyDirect ? D[c * L + k] : 0);
        out[o + k] = m * inverseSamples;
      }
    }
  }
}

/**
 * The L largest values into order / orderValue, by decreasing value, ties to the lower index: one
 * pass with insertion into the sorted buffer of L.
 */
function selectTopInto(values: Float64Array, n: number, L: number, order: Int32Array, orderValue: Float64Array): void {
  let count = 0;
  for (let b = 0; b < n; b++) {
    const v = values[b];
    // Strictly better than the current L-th: an equal value at a higher index ranks lower.
    if (count === L && !(v > orderValue[L - 1])) continue;
    let p = count < L ? count++ : L - 1;
    while (p > 0 && v > orderValue[p - 1]) {
      order[p] = order[p - 1];
      orderValue[p] = orderValue[p - 1];
      p--;
    }
    order[p] = b;
    orderValue[p] = v;
  }
}

/** The context of the lattice path's linear scores: s(x, b) = 1 * theta_b + 0. */
const ONE = new Float64Array([1]);

/** A copy of the last scores: wrappers redo their O(n) preparation only when the content changes. */
class ScoreCache {
  readonly values: Float64Array;
  private valid = false;

  constructor(readonly n: number) {
    this.values = new Float64Array(n);
  }

  /** Copies the scores when they differ from the cached ones, checking the new values are finite; true when they changed. */
  update(scores: Scores): boolean {
    const { n, values } = this;
    requireScores(scores, n);
    let b = 0;
    if (this.valid) {
      while (b < n && values[b] === scores[b]) b++;
      if (b === n) return false;
    }
    this.valid = false;
    for (; b < n; b++) {
      const v = scores[b];
      if (!(v - v === 0)) throw nonFinite(b, v);
      values[b] = v;
    }
    this.valid = true;
    return true;
  }
}

/** One target's columns, aligned with the log's rows (the content of `policy-<name>.<ext>`). */
export interface ExplorationTargetColumns {
  readonly name: string;
  /** Per row: the target's joint probability of the logged slate (0 when it never serves it). */
  readonly targetPropensity: Float64Array;
  /** Per row: the target's P(logged item at this position). */
  readonly targetPropensityItemPosition: Float64Array;
  /** Per row: the target's probability of the logged prefix through this slot. */
  readonly targetPropensityCascade: Float64Array;
  /** Rows x L: the target's P(logged item at position j); entry `position` is targetPropensityItemPosition. */
  readonly targetPropensityItemPositions: Float64Array;
  /** Rows x n: the target's distribution of this slot given the logged prefix; null when not asked for. */
  readonly actionDist: Float64Array | null;
  /**
   * Per row, not for the files: Monte Carlo range u of targetPropensityItemPosition (0 when exact):
   * its own_samples importance-sampling terms lie in [0, u]; null when not asked for.
   */
  readonly itemPositionRange: Float64Array | null;
}

/** Slate-contract rows of `slates` served slates, one row per (slate, position), slate s in rows s L .. s L + L - 1. */
export interface ExplorationSlateRows {
  readonly slates: number;
  readonly rows: number;
  readonly n: number;
  readonly L: number;
  readonly slateId: Int32Array;
  readonly position: Int32Array;
  readonly action: Int32Array;
  readonly reward: Float64Array;
  /** The logger's joint probability of the slate, on each of its rows. */
  readonly propensity: Float64Array;
  readonly propensityItemPosition: Float64Array;
  readonly propensityCascade: Float64Array;
  /** Rows x L: the logger's P(this row's item at position j); entry `position` is propensityItemPosition. */
  readonly propensityItemPositions: Float64Array;
  /** As in ExplorationTargetColumns. */
  readonly itemPositionRange: Float64Array | null;
  readonly targets: readonly ExplorationTargetColumns[];
}

export interface ExplorationRowsOptions {
  /**
   * Write action_dist (rows x n doubles per target: 80 MB per 1,000 slates at n = 1,000, L = 10;
   * ten times that at n = 10,000). Default true. Without it, give the estimators the scalar
   * q_hat_target = sum_a action_dist(a) q_hat(a) instead (README, the log contract).
   */
  readonly actionDist?: boolean;
  /** Keep the Monte Carlo ranges of the item-position propensities (default false; O(n log n) per Monte Carlo policy and slate). */
  readonly ranges?: boolean;
}

/**
 * The item-position propensity of the row's own position: the marginal, raised to the prefix
 * probability when below it. P(b at k) >= P(slate prefix through k) exactly, so this never moves a
 * Monte Carlo estimate away from the exact value and keeps it > 0 (as the slate generator does); on
 * exact marginals it only absorbs rounding. The own entries come from ownMarginalsInto, whose
 * Monte Carlo estimate is already > 0; this stays as the last guard (underflowed weights).
 */
function itemPositionPropensity(marginal: number, cascade: number): number {
  return marginal > cascade ? marginal : cascade;
}

/**
 * Turns served slates into slate-contract rows for one logger and its targets (the next round's
 * policy, candidates). Holds scratch: one instance per thread.
 */
export class SlateRowBuilder {
  readonly n: number;
  readonly L: number;
  private readonly cascade: Float64Array;
  /** item-major L x L: P(slate[k] at j) at [k L + j], the logger's and the current target's. */
  private readonly loggerMarginals: Float64Array;
  private readonly loggerRanges: Float64Array;
  private readonly targetMarginals: Float64Array;
  private readonly targetRanges: Float64Array;
  /** P(slate[k] at k) from ownMarginalsInto, the logger's and the current target's. */
  private readonly loggerOwn: Float64Array;
  private readonly targetOwn: Float64Array;

  constructor(
    readonly logger: ExplorationPolicy,
    readonly targets: readonly ExplorationPolicy[],
  ) {
    this.n = logger.n;
    this.L = logger.L;
    for (const t of targets) {
      if (t.n !== this.n || t.L !== this.L) throw new RangeError(`target '${t.name}' has n=${t.n}, L=${t.L}; the logger has n=${this.n}, L=${this.L}`);
    }
    const names = new Set(targets.map((t) => t.name));
    if (names.size !== targets.length) throw new RangeError('two targets have the same name; give them different names');
    this.cascade = new Float64Array(this.L);
    this.loggerMarginals = new Float64Array(this.L * this.L);
    this.loggerRanges = new Float64Array(this.L * this.L);
    this.targetMarginals = new Float64Array(this.L * this.L);
    this.targetRanges = new Float64Array(this.L * this.L);
    this.loggerOwn = new Float64Array(this.L);
    this.targetOwn = new Float64Array(this.L);
  }

  newRows(slates: number, options: ExplorationRowsOptions = {}): ExplorationSlateRows {
    const { n, L } = this;
    const rows = slates * L;
    const withDist = options.actionDist ?? true;
    const withRanges = options.ranges ?? false;
    return {
      slates,
      rows,
      n,
      L,
      slateId: new Int32Array(rows),
      position: new Int32Array(rows),
      action: new Int32Array(rows),
      reward: new Float64Array(rows),
      propensity: new Float64Array(rows),
      propensityItemPosition: new Float64Array(rows),
      propensityCascade: new Float64Array(rows),
      propensityItemPositions: new Float64Array(rows * L),
      itemPositionRange: withRanges ? new Float64Array(rows) : null,
      targets: this.targets.map((t) => ({
        name: t.name,
        targetPropensity: new Float64Array(rows),
        targetPropensityItemPosition: new Float64Array(rows),
        targetPropensityCascade: new Float64Array(rows),
        targetPropensityItemPositions: new Float64Array(rows * L),
        actionDist: withDist ? new Float64Array(rows * n) : null,
        itemPositionRange: withRanges ? new Float64Array(rows) : null,
      })),
    };
  }

  /**
   * Writes slate number `slateIndex` of `out` (rows slateIndex L ..): the slate served to one user
   * under loggerScores (any L distinct items with positive logger probability; normally one the
   * logger sampled), its per-slot rewards, and for target t its propensities under targetScores[t]
   * and its action_dist rows. Monte Carlo marginals draw from marginalRng, the logger's first, then
   * each target's in order (none for exact policies); for each policy the Rao-Blackwellized entries
   * (itemMarginalsInto) first, then the own entries (ownMarginalsInto). propensity_item_position and
   * the diagonal of propensity_item_positions are the own entries; the other entries of
   * propensity_item_positions are itemMarginalsInto's. A target that is the logger object, given the
   * very same scores array, gets the logger's numbers bit for bit without a second computation.
   */
  write(
    out: ExplorationSlateRows,
    slateIndex: number,
    slateId: number,
    slate: Int32Array,
    reward: ArrayLike<number>,
    loggerScores: Scores,
    targetScores: readonly Scores[],
    marginalRng: RandomStream | null = null,
  ): void {
    if (targetScores.length !== this.targets.length) throw new RangeError(`${targetScores.length} target score vectors for ${this.targets.length} targets`);
    this.writeLogger(out, slateIndex, slateId, slate, reward, loggerScores, marginalRng);
    this.targets.forEach((target, ti) => {
      const same = target === this.logger && targetScores[ti] === loggerScores;
      // A target that is the logger reuses the logger's marginals (also Monte Carlo ones) and ranges.
      this.writeTargetWith(out, slateIndex, ti, slate, targetScores[ti], marginalRng, same);
    });
  }

  /**
   * The logger half of `write`: slate id, positions, actions, rewards and the logger's
   * propensities. With writeTarget afterwards (even much later, e.g. once the target exists) the
   * rows are complete; the Monte Carlo marginals then draw from whichever stream each call is given.
   */
  writeLogger(out: ExplorationSlateRows, slateIndex: number, slateId: number, slate: Int32Array, reward: ArrayLike<number>, loggerScores: Scores, marginalRng: RandomStream | null = null): void {
    const { L, logger, cascade, loggerMarginals, loggerRanges, loggerOwn } = this;
    this.checkRows(out, slateIndex);
    if (reward.length < L) throw new RangeError(`${reward.length} rewards for a slate of ${L}`);
    const row0 = slateIndex * L;

    logger.followSlate(loggerScores, slate, cascade);
    const joint = cascade[L - 1];
    if (!(joint > 0)) throw new RangeError(`the slate [${Array.from(slate.subarray(0, L)).join(', ')}] has probability 0 under the logger '${logger.name}'`);
    logger.itemMarginalsInto(loggerScores, slate, 0, L, loggerMarginals, 0, marginalRng);
    logger.ownMarginalsInto(loggerScores, slate, loggerOwn, marginalRng);
    const wantRanges = out.itemPositionRange !== null;
    if (wantRanges) logger.itemRangesInto(loggerScores, slate, 0, L, loggerRanges, 0);
    for (let k = 0; k < L; k++) {
      const r = row0 + k;
      out.slateId[r] = slateId;
      out.position[r] = k;
      out.action[r] = slate[k];
      out.reward[r] = reward[k];
      out.propensity[r] = joint;
      out.propensityCascade[r] = cascade[k];
      const own = itemPositionPropensity(loggerOwn[k], cascade[k]);
      out.propensityItemPosition[r] = own;
      for (let j = 0; j < L; j++) out.propensityItemPositions[r * L + j] = j === k ? own : loggerMarginals[k * L + j];
      if (out.itemPositionRange !== null) out.itemPositionRange[r] = loggerRanges[k * L + k];
    }
  }

  /** The target half of `write` for target `targetIndex` on the slate at slateIndex (the same slate writeLogger was given). */
  writeTarget(out: ExplorationSlateRows, slateIndex: number, targetIndex: number, slate: Int32Array, targetScores: Scores, marginalRng: RandomStream | null = null): void {
    this.checkRows(out, slateIndex);
    if (!(Number.isInteger(targetIndex) && targetIndex >= 0 && targetIndex < this.targets.length)) throw new RangeError(`target index ${targetIndex} outside 0..${this.targets.length - 1}`);
    this.writeTargetWith(out, slateIndex, targetIndex, slate, targetScores, marginalRng, false);
  }

  private checkRows(out: ExplorationSlateRows, slateIndex: number): void {
    if (out.n !== this.n || out.L !== this.L || out.targets.length !== this.targets.length) throw new RangeError('rows were not made by this builder');
    if (!(Number.isInteger(slateIndex) && slateIndex >= 0 && slateIndex < out.slates)) throw new RangeError(`slate index ${slateIndex} outside 0..${out.slates - 1}`);
  }

  /** sameAsLogger: the logger's marginals and ranges of the last writeLogger call are the target's. */
  private writeTargetWith(out: ExplorationSlateRows, slateIndex: number, ti: number, slate: Int32Array, scores: Scores, marginalRng: RandomStream | null, sameAsLogger: boolean): void {
    const { n, L, cascade } = this;
    const target = this.targets[ti];
    const t = out.targets[ti];
    const row0 = slateIndex * L;
    const marginals = sameAsLogger ? this.loggerMarginals : this.targetMarginals;
    const ranges = sameAsLogger ? this.loggerRanges : this.targetRanges;
    const ownEntries = sameAsLogger ? this.loggerOwn : this.targetOwn;
    target.followSlate(scores, slate, cascade, t.actionDist, 0, 0, row0 * n);
    if (!sameAsLogger) {
      target.itemMarginalsInto(scores, slate, 0, L, marginals, 0, marginalRng);
      target.ownMarginalsInto(scores, slate, ownEntries, marginalRng);
      if (t.itemPositionRange !== null) target.itemRangesInto(scores, slate, 0, L, ranges, 0);
    }
    const tJoint = cascade[L - 1];
    for (let k = 0; k < L; k++) {
      const r = row0 + k;
      t.targetPropensity[r] = tJoint;
      t.targetPropensityCascade[r] = cascade[k];
      const own = itemPositionPropensity(ownEntries[k], cascade[k]);
      t.targetPropensityItemPosition[r] = own;
      for (let j = 0; j < L; j++) t.targetPropensityItemPositions[r * L + j] = j === k ? own : marginals[k * L + j];
      if (t.itemPositionRange !== null) t.itemPositionRange[r] = ranges[k * L + k];
    }
  }
}
