/**
 * The ground-truth world of the feedback-loop simulator (issue 6, item 1): users, items, the true
 * click model and the true value of any slate policy. Pure functions over typed arrays; every draw
 * comes from `seed` through streams keyed by purpose (random-streams.ts) or a counter-based hash.
 *
 * Generative model (U users, I items, latent dimension d, slates of L items, s = d^(-1/4)):
 *   user vectors   u_j ~ N(0, s^2 I_d), j = 0..U-1          stream (seed, 'feedback-users', 0), row by row
 *   item vectors   v_i ~ N(0, s^2 I_d), i = 0..I-1          stream (seed, 'feedback-items', 0), row by row
 *     so that Var(u . v) = d s^4 = 1: the affinity weight a is the affinity term's standard deviation;
 *   item quality   q_i ~ N(0, 1)                             stream (seed, 'feedback-quality', 0)
 *   popularity     rank_i = pi(i), pi a uniformly random permutation of 1..I (Fisher-Yates, stream
 *                  (seed, 'feedback-popularity', 0)), independent of v_i and q_i; Zipf weights
 *                  w_i = rank_i^-alpha / sum_{r=1..I} r^-alpha (Zipf 1949), so the sorted weights lie
 *                  exactly on the power law w_(r) proportional to r^-alpha (log-log slope -alpha);
 *                  the centred log popularity l_i = log w_i - mean_j log w_j = -alpha (ln rank_i - mean_r ln r)
 *                  enters the logit (centring moves only the intercept, so clickBias means the logit
 *                  of an item of average log popularity whatever I and alpha);
 *   relevance      rho(u, i) = sigmoid(a u . v_i + b q_i + c l_i + clickBias)
 *   examination    theta_k = 1 / (k + 1)^eta, k = 0 the top slot (eta = 1: the 1/rank decay of
 *                  Joachims et al. 2017)
 *   click          P(click at slot k | user u, item i at k) = theta_k rho(u, i): the position-based
 *                  model (Richardson, Dominowska & Ragno 2007; Craswell, Zoeter, Taylor & Ramsey 2008),
 *                  clicks of different slots independent given the slate.
 * Users and items are drawn row by row from their own streams, so the first m users (items) do not
 * depend on U (I), and changing U leaves the items alone; the popularity ranks depend on I.
 *
 * Value of a slate a_0..a_{L-1} for user u (its utility): the expected number of clicks
 *   V(u, a) = sum_k theta_k rho(u, a_k);  its true CTR is V / L (expected clicks per item shown).
 * Value of a randomized policy pi for u, from its item-position marginals P(i at k):
 *   V(u, pi) = sum_k theta_k sum_i P_pi(i at k | u) rho(u, i)   (linearity of expectation; no joint
 *   slate distribution is needed under the PBM, Li et al. 2018, arXiv 1804.10488).
 * Oracle: with theta non-increasing (eta >= 0) the L most relevant items in decreasing relevance
 * maximise V over all slates of distinct items (rearrangement inequality), hence over all randomized
 * policies over such slates too (V is linear in the marginals).
 *
 * Rounds and common random numbers: the users arriving in round r (a stream keyed by (seed, r)), the
 * drift of preferences between rounds (keyed by (seed, r)) and the click uniform of slot
 * (r, arrival j, position k) (a hash of (seed, r, j L + k)) never depend on what a policy did, so
 * scenarios sharing a seed see the same users and, when they show the same item at the same slot of
 * the same arrival, the same click. A click at slot k is [U_{r,j,k} < theta_k rho(u, a_k)].
 */
import { mix32 } from '../src/stats/hash.js';
import type { ResolvedFeedbackWorldConfig } from './feedback-config.js';
import { blockStream, type RandomStream } from './random-streams.js';

export interface FeedbackWorld {
  readonly config: ResolvedFeedbackWorldConfig;
  /** U */
  readonly users: number;
  /** I */
  readonly items: number;
  /** d */
  readonly dim: number;
  /** L */
  readonly slateSize: number;
  /** The round whose user vectors these are (0 for a fresh world; driftUsers advances it). */
  readonly round: number;
  /** U x d row-major: the users' preferences in this round. */
  readonly userVectors: Float64Array;
  /** I x d row-major. */
  readonly itemVectors: Float64Array;
  /** q_i */
  readonly quality: Float64Array;
  /** rank_i in 1..I: 1 is the most popular item. */
  readonly popularityRank: Int32Array;
  /** Zipf weights w_i, summing to 1. */
  readonly popularity: Float64Array;
  /** l_i = log w_i - mean_j log w_j. */
  readonly logPopularity: Float64Array;
  /** The user-independent part of the relevance logit: b q_i + c l_i + clickBias. */
  readonly itemLogit: Float64Array;
  /** theta_k, k = 0..L-1. */
  readonly theta: Float64Array;
  /** 32-bit key of the click uniforms, from the seed. */
  readonly clickKey: number;
}

const CLICK_SALT = 0x3c6ef372;
const CLICK_ROUND_SALT = 0xa54ff53a;
const TWO_POW_32 = 4294967296;

function normalMatrix(rng: RandomStream, rows: number, cols: number, sd: number): Float64Array {
  const m = new Float64Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = sd * rng.normal();
  return m;
}

/** theta_k = 1 / (k + 1)^eta. */
function examinationProbabilities(L: number, eta: number): Float64Array {
  const theta = new Float64Array(L);
  for (let k = 0; k < L; k++) theta[k] = 1 / (k + 1) ** eta;
  return theta;
}

/** The seed (any safe integer, both 32-bit halves) hashed to the key of the click uniforms. */
function clickKeyOf(seed: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / TWO_POW_32) >>> 0;
  return mix32((mix32((lo ^ CLICK_SALT) >>> 0) ^ hi) >>> 0);
}

/** Builds the world of round 0 from a resolved config (resolveFeedbackWorldConfig). */
export function makeFeedbackWorld(cfg: ResolvedFeedbackWorldConfig): FeedbackWorld {
  const { users: U, items: I, dim: d, slateSize: L, seed } = cfg;
  const sd = d ** -0.25;
  const userVectors = normalMatrix(blockStream(seed, 'feedback-users', 0), U, d, sd);
  const itemVectors = normalMatrix(blockStream(seed, 'feedback-items', 0), I, d, sd);
  const quality = normalMatrix(blockStream(seed, 'feedback-quality', 0), I, 1, 1);

  // Fisher-Yates (Durstenfeld) shuffle of the ranks 1..I.
  const popularityRank = new Int32Array(I);
  for (let i = 0; i < I; i++) popularityRank[i] = i + 1;
  const rankStream = blockStream(seed, 'feedback-popularity', 0);
  for (let i = I - 1; i > 0; i--) {
    const j = Math.floor(rankStream.uniform() * (i + 1));
    const t = popularityRank[i];
    popularityRank[i] = popularityRank[j];
    popularityRank[j] = t;
  }

  const alpha = cfg.popularityExponent;
  // Smallest terms first, for an accurate normalizer.
  let harmonic = 0;
  let sumLogRank = 0;
  for (let r = I; r >= 1; r--) {
    harmonic += r ** -alpha;
    sumLogRank += Math.log(r);
  }
  const meanLogRank = sumLogRank / I;
  const popularity = new Float64Array(I);
  const logPopularity = new Float64Array(I);
  const itemLogit = new Float64Array(I);
  for (let i = 0; i < I; i++) {
    const rank = popularityRank[i];
    popularity[i] = rank ** -alpha / harmonic;
    logPopularity[i] = -alpha * (Math.log(rank) - meanLogRank);
    itemLogit[i] = cfg.qualityWeight * quality[i] + cfg.popularityWeight * logPopularity[i] + cfg.clickBias;
  }

  return {
    config: cfg,
    users: U,
    items: I,
    dim: d,
    slateSize: L,
    round: 0,
    userVectors,
    itemVectors,
    quality,
    popularityRank,
    popularity,
    logPopularity,
    itemLogit,
    theta: examinationProbabilities(L, cfg.examinationDecay),
    clickKey: clickKeyOf(seed),
  };
}

function checkUser(world: FeedbackWorld, user: number): void {
  if (!(Number.isInteger(user) && user >= 0 && user < world.users)) throw new RangeError(`user must be an integer in [0, ${world.users - 1}], got ${user}`);
}

/** rho(u, i) for one pair. */
export function relevance(world: FeedbackWorld, user: number, item: number): number {
  const { dim: d, userVectors: uv, itemVectors: iv } = world;
  const uOff = user * d;
  const iOff = item * d;
  let dot = 0;
  for (let k = 0; k < d; k++) dot += uv[uOff + k] * iv[iOff + k];
  return 1 / (1 + Math.exp(-(world.config.affinityWeight * dot + world.itemLogit[item])));
}

/**
 * rho(u, i) for every item i into out[0..I-1]; returns out. O(I d), no allocation. Four items at a
 * time share the loads of u (about twice as fast in V8); each dot product still sums over k in order,
 * so the values are bit-identical to relevance().
 */
export function relevanceInto(world: FeedbackWorld, user: number, out: Float64Array): Float64Array {
  checkUser(world, user);
  const { items: I, dim: d, userVectors: uv, itemVectors: iv, itemLogit } = world;
  if (out.length < I) throw new RangeError(`out must hold ${I} items, got length ${out.length}`);
  const a = world.config.affinityWeight;
  const uOff = user * d;
  let i = 0;
  for (; i + 3 < I; i += 4) {
    const o0 = i * d;
    const o1 = o0 + d;
    const o2 = o1 + d;
    const o3 = o2 + d;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let k = 0; k < d; k++) {
      const x = uv[uOff + k];
      s0 += x * iv[o0 + k];
      s1 += x * iv[o1 + k];
      s2 += x * iv[o2 + k];
      s3 += x * iv[o3 + k];
    }
    out[i] = 1 / (1 + Math.exp(-(a * s0 + itemLogit[i])));
    out[i + 1] = 1 / (1 + Math.exp(-(a * s1 + itemLogit[i + 1])));
    out[i + 2] = 1 / (1 + Math.exp(-(a * s2 + itemLogit[i + 2])));
    out[i + 3] = 1 / (1 + Math.exp(-(a * s3 + itemLogit[i + 3])));
  }
  for (; i < I; i++) {
    const iOff = i * d;
    let dot = 0;
    for (let k = 0; k < d; k++) dot += uv[uOff + k] * iv[iOff + k];
    out[i] = 1 / (1 + Math.exp(-(a * dot + itemLogit[i])));
  }
  return out;
}

/**
 * The relevance logits z(u, i) = a u . v_i + (b q_i + c l_i + clickBias) of users[0..m-1] against
 * every item, into out (m x I row-major; rho = sigmoid(z)); returns out. O(m I d), no allocation.
 * Register-blocked for many users at once (the metrics of a 100,000 x 10,000 round): two users x four
 * items per inner loop share their loads (eight dot products from six loads per k, against four from
 * five in relevanceInto), about 1.5x faster in V8. Each dot product still sums over k in order from 0
 * and the logit is formed as in relevance(), so sigmoid(z) is bit-identical to relevanceInto.
 */
export function relevanceLogitsInto(world: FeedbackWorld, users: Int32Array, out: Float64Array): Float64Array {
  const { items: I, dim: d, userVectors: uv, itemVectors: iv, itemLogit } = world;
  const m = users.length;
  if (out.length < m * I) throw new RangeError(`out must hold ${m} x ${I} logits, got length ${out.length}`);
  for (let j = 0; j < m; j++) checkUser(world, users[j]);
  const a = world.config.affinityWeight;
  let j = 0;
  for (; j + 1 < m; j += 2) {
    const p0 = users[j] * d;
    const p1 = users[j + 1] * d;
    const r0 = j * I;
    const r1 = r0 + I;
    let i = 0;
    for (; i + 3 < I; i += 4) {
      const o0 = i * d;
      const o1 = o0 + d;
      const o2 = o1 + d;
      const o3 = o2 + d;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      for (let k = 0; k < d; k++) {
        const x = uv[p0 + k];
        const y = uv[p1 + k];
        const w0 = iv[o0 + k];
        const w1 = iv[o1 + k];
        const w2 = iv[o2 + k];
        const w3 = iv[o3 + k];
        a0 += x * w0;
        a1 += x * w1;
        a2 += x * w2;
        a3 += x * w3;
        b0 += y * w0;
        b1 += y * w1;
        b2 += y * w2;
        b3 += y * w3;
      }
      out[r0 + i] = a * a0 + itemLogit[i];
      out[r0 + i + 1] = a * a1 + itemLogit[i + 1];
      out[r0 + i + 2] = a * a2 + itemLogit[i + 2];
      out[r0 + i + 3] = a * a3 + itemLogit[i + 3];
      out[r1 + i] = a * b0 + itemLogit[i];
      out[r1 + i + 1] = a * b1 + itemLogit[i + 1];
      out[r1 + i + 2] = a * b2 + itemLogit[i + 2];
      out[r1 + i + 3] = a * b3 + itemLogit[i + 3];
    }
    for (; i < I; i++) {
      const o = i * d;
      let s0 = 0;
      let s1 = 0;
      for (let k = 0; k < d; k++) {
        s0 += uv[p0 + k] * iv[o + k];
        s1 += uv[p1 + k] * iv[o + k];
      }
      out[r0 + i] = a * s0 + itemLogit[i];
      out[r1 + i] = a * s1 + itemLogit[i];
    }
  }
  // An odd last user: the one-user kernel's dot products, in the same order.
  if (j < m) {
    const row = out.subarray(j * I, (j + 1) * I);
    const p = users[j] * d;
    for (let i = 0; i < I; i++) {
      const o = i * d;
      let s = 0;
      for (let k = 0; k < d; k++) s += uv[p + k] * iv[o + k];
      row[i] = a * s + itemLogit[i];
    }
  }
  return out;
}

/** rho(u, i) of users[0..m-1] against every item into out (m x I row-major); bit-identical to relevanceInto per user. */
export function relevanceRowsInto(world: FeedbackWorld, users: Int32Array, out: Float64Array): Float64Array {
  relevanceLogitsInto(world, users, out);
  const size = users.length * world.items;
  for (let x = 0; x < size; x++) out[x] = 1 / (1 + Math.exp(-out[x]));
  return out;
}

/** The whole U x I relevance matrix (row-major), e.g. to reuse across a round when preferences do not drift. */
export function relevanceMatrix(world: FeedbackWorld): Float64Array {
  const { users: U, items: I } = world;
  const out = new Float64Array(U * I);
  for (let u = 0; u < U; u++) relevanceInto(world, u, out.subarray(u * I, (u + 1) * I));
  return out;
}

/** A fresh copy of the examination probabilities theta_k, k = 0..L-1. */
export function examination(world: FeedbackWorld): Float64Array {
  return world.theta.slice();
}

/** P(click) of item `item` shown to `user` at slot `position`: theta_k rho(u, i). */
export function clickProbability(world: FeedbackWorld, user: number, item: number, position: number): number {
  return world.theta[position] * relevance(world, user, item);
}

/**
 * The users who arrive in `round`, in order: usersPerRound draws made in passes over all users, each
 * pass a uniformly random permutation (so every user arrives once per round by default, and at most
 * ceil(usersPerRound / U) times); the last pass may be cut short (partial Fisher-Yates: a uniformly
 * random ordered sample without replacement). Stream (seed, 'feedback-arrivals', round): the same for
 * every scenario and every policy.
 */
export function arrivals(world: FeedbackWorld, round: number): Int32Array {
  if (!(Number.isInteger(round) && round >= 0)) throw new RangeError(`round must be a non-negative integer, got ${round}`);
  const U = world.users;
  const n = world.config.usersPerRound;
  const rng = blockStream(world.config.seed, 'feedback-arrivals', round);
  const perm = new Int32Array(U);
  for (let u = 0; u < U; u++) perm[u] = u;
  const out = new Int32Array(n);
  let pos = 0;
  while (pos < n) {
    const m = Math.min(U, n - pos);
    for (let k = 0; k < m; k++) {
      const j = k + Math.floor(rng.uniform() * (U - k));
      const t = perm[k];
      perm[k] = perm[j];
      perm[j] = t;
      out[pos++] = perm[k];
    }
  }
  return out;
}

/**
 * The uniform on [0, 1) that decides the click at slot `position` of arrival `arrivalIndex` in
 * `round`. Counter-based, O(1), no state:
 *   k1 = mix32(clickKey ^ round), k2 = mix32(k1 ^ 0xa54ff53a), c = arrivalIndex * L + position,
 *   U  = mix32(mix32(c ^ k1) ^ k2) / 2^32
 * with mix32 the bootstrap's 32-bit mixer (src/stats/hash.ts). For a fixed round, c -> U is a
 * bijection of 32-bit integers, so no two slots of a round share a draw. Resolution 2^-32: a click of
 * probability p happens with probability ceil(p 2^32) / 2^32, within 2.4e-10 of p.
 * Requires arrivalIndex * L + position < 2^32 (resolveFeedbackWorldConfig bounds usersPerRound).
 */
export function clickUniform(world: FeedbackWorld, round: number, arrivalIndex: number, position: number): number {
  const k1 = mix32((world.clickKey ^ round) >>> 0);
  const k2 = mix32((k1 ^ CLICK_ROUND_SALT) >>> 0);
  const c = arrivalIndex * world.slateSize + position;
  return mix32((mix32((c ^ k1) >>> 0) ^ k2) >>> 0) / TWO_POW_32;
}

/**
 * Draws the clicks of one served slate (slate[off..off+L-1], shown to arrival `arrivalIndex` of
 * `round`, who is `user`) with the true click model and the common click uniforms: out[outOff + k] =
 * 1 if clickUniform(round, arrivalIndex, k) < theta_k rho(user, a_k), else 0. Returns the number of clicks.
 */
export function clicksInto(
  world: FeedbackWorld,
  round: number,
  arrivalIndex: number,
  user: number,
  slate: Int32Array,
  off: number,
  out: Float64Array | Uint8Array | Int32Array,
  outOff: number,
): number {
  checkUser(world, user);
  const { slateSize: L, theta } = world;
  let clicks = 0;
  for (let k = 0; k < L; k++) {
    const click = clickUniform(world, round, arrivalIndex, k) < theta[k] * relevance(world, user, slate[off + k]) ? 1 : 0;
    out[outOff + k] = click;
    clicks += click;
  }
  return clicks;
}

/**
 * The world of round + 1. Preferences follow the AR(1) step u' = sqrt(1 - delta^2) u + delta eps,
 * eps ~ N(0, s^2 I_d) (s = d^(-1/4)), which keeps N(0, s^2 I_d) stationary: the correlation of a
 * user's coordinates between consecutive rounds is sqrt(1 - delta^2). eps comes from stream
 * (seed, 'feedback-drift', round), user by user. Pure: `world` is not modified; items are shared.
 * With delta = 0 the user matrix is shared too. `round` must be world.round (a guard against skipping).
 */
export function driftUsers(world: FeedbackWorld, round: number): FeedbackWorld {
  if (round !== world.round) throw new RangeError(`driftUsers: round must be the world's round ${world.round}, got ${round}`);
  const delta = world.config.preferenceDrift;
  if (delta === 0) return { ...world, round: round + 1 };
  const keep = Math.sqrt(1 - delta * delta);
  const step = delta * world.dim ** -0.25;
  const rng = blockStream(world.config.seed, 'feedback-drift', round);
  const prev = world.userVectors;
  const next = new Float64Array(prev.length);
  for (let j = 0; j < prev.length; j++) next[j] = keep * prev[j] + step * rng.normal();
  return { ...world, round: round + 1, userVectors: next };
}

/** V(u, a) = sum_k theta_k rho(u, a_k) for the slate slate[offset..offset+L-1]: its expected clicks. */
export function slateValue(world: FeedbackWorld, user: number, slate: Int32Array, offset = 0): number {
  checkUser(world, user);
  const { slateSize: L, theta } = world;
  let v = 0;
  for (let k = 0; k < L; k++) v += theta[k] * relevance(world, user, slate[offset + k]);
  return v;
}

/**
 * V(u, pi) = sum_k theta_k sum_i P(i at k) rho(u, i) for a (randomized) policy given by its item-
 * position marginals for this user: `marginals` is L x I row-major, row k the distribution of the
 * item at slot k. `relevanceScratch` (length >= I) avoids the allocation in a loop; it receives rho(u, .).
 */
export function policyValueFromMarginals(world: FeedbackWorld, user: number, marginals: Float64Array, relevanceScratch?: Float64Array): number {
  const { items: I, slateSize: L } = world;
  if (marginals.length !== L * I) throw new RangeError(`marginals must be L x I = ${L} x ${I} = ${L * I} numbers, got ${marginals.length}`);
  return valueFromMarginals(world, marginals, relevanceInto(world, user, relevanceScratch ?? new Float64Array(I)));
}

/**
 * V(u, pi) from the policy's item-position marginals (L x I, as policyValueFromMarginals) and the
 * user's relevances already computed, rho[rhoOff..rhoOff+I-1] (e.g. a row of relevanceRowsInto): the
 * same sums in the same order, so bit-identical to policyValueFromMarginals.
 */
export function valueFromMarginals(world: FeedbackWorld, marginals: Float64Array, rho: Float64Array, rhoOff = 0): number {
  const { items: I, slateSize: L, theta } = world;
  if (marginals.length !== L * I) throw new RangeError(`marginals must be L x I = ${L} x ${I} = ${L * I} numbers, got ${marginals.length}`);
  if (rhoOff < 0 || rhoOff + I > rho.length) throw new RangeError(`rho[${rhoOff}..${rhoOff + I}) is out of the array (length ${rho.length})`);
  // Four slots per pass share the loads of rho; each slot's sum still runs over i in order, and the
  // slots are added to v in order, so the value is the slot-by-slot loop's, bit for bit.
  let v = 0;
  let k = 0;
  for (; k + 3 < L; k += 4) {
    const r0 = k * I;
    const r1 = r0 + I;
    const r2 = r1 + I;
    const r3 = r2 + I;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < I; i++) {
      const r = rho[rhoOff + i];
      s0 += marginals[r0 + i] * r;
      s1 += marginals[r1 + i] * r;
      s2 += marginals[r2 + i] * r;
      s3 += marginals[r3 + i] * r;
    }
    v += theta[k] * s0;
    v += theta[k + 1] * s1;
    v += theta[k + 2] * s2;
    v += theta[k + 3] * s3;
  }
  for (; k < L; k++) {
    let s = 0;
    const row = k * I;
    for (let i = 0; i < I; i++) s += marginals[row + i] * rho[rhoOff + i];
    v += theta[k] * s;
  }
  return v;
}

/**
 * The oracle slate for a user whose relevances are rho[0..I-1]: the L most relevant items in
 * decreasing relevance, ties to the smaller item id, into out[outOff..outOff+L-1]. O(I L) worst case,
 * O(I) typically; no allocation.
 */
export function oracleSlateInto(world: FeedbackWorld, rho: Float64Array, out: Int32Array, outOff = 0): Int32Array {
  const { items: I, slateSize: L } = world;
  let count = 0;
  for (let i = 0; i < I; i++) {
    const r = rho[i];
    // Strictly better than the current L-th: equal relevance keeps the earlier (smaller) id.
    if (count === L && !(r > rho[out[outOff + L - 1]])) continue;
    let k = count < L ? count++ : L - 1;
    while (k > 0 && r > rho[out[outOff + k - 1]]) {
      out[outOff + k] = out[outOff + k - 1];
      k--;
    }
    out[outOff + k] = i;
  }
  return out;
}

/** V*(u): the oracle's expected clicks for a user (the maximum of V(u, pi) over all policies). */
export function oracleValue(world: FeedbackWorld, user: number, relevanceScratch?: Float64Array, slateScratch?: Int32Array): number {
  const rho = relevanceInto(world, user, relevanceScratch ?? new Float64Array(world.items));
  const slate = oracleSlateInto(world, rho, slateScratch ?? new Int32Array(world.slateSize));
  let v = 0;
  for (let k = 0; k < world.slateSize; k++) v += world.theta[k] * rho[slate[k]];
  return v;
}

/**
 * Approximate dot products for oracleValuesOf to screen items with: u . v_i of users[0..m-1] (the
 * world's user vectors) against every item, m x I row-major, computed in float32 from the vectors
 * rounded to float32, in any summation order, fused multiply-adds or not (e.g. a TF.js matmul).
 */
export type DotScreen = (world: FeedbackWorld, users: Int32Array) => Float32Array;

/**
 * V*(u) of each of users[0..m-1] into out[0..m-1]; returns out. The same numbers as oracleValue, bit
 * for bit, at a fraction of the cost on large catalogs: only the L largest logits of each user are
 * turned into relevances (L exponentials instead of I), and with a `screen` only the items that can
 * be among them get an exact float64 logit.
 *
 * Why it is the same: sigmoid as computed here is non-decreasing in the logit, so the k-th largest
 * logit has the k-th largest relevance (where two logits round to one relevance, either item gives
 * the same sum), and V* only needs those L values in decreasing order, not which items hold them.
 *
 * Screening: with the float32 dot products of `screen`, z~_i = a (u . v_i)~ + itemLogit_i is within
 * B = a (d + 4) 2^-24 1.01 |u| max_i |v_i| of the float64 logit z_i (input rounding 2u per product,
 * gamma_d for d float32 sums in any order, Cauchy-Schwarz; Higham 2002, section 3.1), plus float64
 * rounding, which B covers twice over (it is doubled). The L-th largest z~ is at most z_(L) + B, so
 * every item of the true top L has z~_i >= z_i - B >= z_(L) - B >= (L-th largest z~) - 2B: the
 * candidates, scored exactly (relevanceLogitsInto's sums) and selected as without a screen. On the
 * default world B is about 1e-5 in logit units: a handful of candidates per user.
 * Memory: one block of about 2^20 logits (8 MB) or 2^21 screened dot products, whatever m.
 */
export function oracleValuesOf(world: FeedbackWorld, users: Int32Array, out: Float64Array, screen?: DotScreen): Float64Array {
  const { items: I, dim: d, slateSize: L, theta, userVectors: uv, itemVectors: iv, itemLogit } = world;
  const m = users.length;
  if (out.length < m) throw new RangeError(`out must hold ${m} users, got length ${out.length}`);
  for (let j = 0; j < m; j++) checkUser(world, users[j]);
  const a = world.config.affinityWeight;
  const top = new Float64Array(L);
  /** Inserts x into top[0..count) (decreasing, length L); returns the new count. */
  const insert = (x: number, count: number): number => {
    if (count === L && !(x > top[L - 1])) return count;
    let k = count < L ? count++ : L - 1;
    while (k > 0 && x > top[k - 1]) {
      top[k] = top[k - 1];
      k--;
    }
    top[k] = x;
    return count;
  };
  const valueOfTop = (): number => {
    let v = 0;
    for (let k = 0; k < L; k++) v += theta[k] * (1 / (1 + Math.exp(-top[k])));
    return v;
  };
  if (screen === undefined) {
    const block = Math.max(1, Math.floor(ORACLE_BLOCK_FLOATS / I));
    const z = new Float64Array(Math.min(block, m) * I);
    for (let from = 0; from < m; from += block) {
      const to = Math.min(m, from + block);
      relevanceLogitsInto(world, users.subarray(from, to), z);
      for (let j = from; j < to; j++) {
        const off = (j - from) * I;
        let count = 0;
        for (let i = 0; i < I; i++) if (count < L || z[off + i] > top[L - 1]) count = insert(z[off + i], count);
        out[j] = valueOfTop();
      }
    }
    return out;
  }
  let maxItemNorm = 0;
  let maxLogit = 0;
  for (let i = 0; i < I; i++) {
    let q = 0;
    for (let k = 0; k < d; k++) q += iv[i * d + k] * iv[i * d + k];
    maxItemNorm = Math.max(maxItemNorm, Math.sqrt(q));
    maxLogit = Math.max(maxLogit, Math.abs(itemLogit[i]));
  }
  const block = Math.max(1, Math.floor(SCREEN_BLOCK_FLOATS / I));
  const approx = new Float64Array(I);
  for (let from = 0; from < m; from += block) {
    const to = Math.min(m, from + block);
    const dots = screen(world, users.subarray(from, to));
    if (dots.length !== (to - from) * I) throw new RangeError(`screen returned ${dots.length} dot products for ${to - from} users x ${I} items`);
    for (let j = from; j < to; j++) {
      const off = (j - from) * I;
      const p = users[j] * d;
      let q = 0;
      for (let k = 0; k < d; k++) q += uv[p + k] * uv[p + k];
      const scale = a * Math.sqrt(q) * maxItemNorm;
      const bound = 2 * ((d + 4) * 2 ** -24 * 1.01 * scale + 8 * 2 ** -52 * (scale + maxLogit));
      let count = 0;
      for (let i = 0; i < I; i++) {
        const x = a * dots[off + i] + itemLogit[i];
        approx[i] = x;
        // Most items fall below the current L-th: the test inline, the insertion only when it passes.
        if (count < L || x > top[L - 1]) count = insert(x, count);
      }
      const threshold = top[L - 1] - 2 * bound;
      count = 0;
      for (let i = 0; i < I; i++) {
        if (!(approx[i] >= threshold)) continue;
        const o = i * d;
        let s = 0;
        for (let k = 0; k < d; k++) s += uv[p + k] * iv[o + k];
        count = insert(a * s + itemLogit[i], count);
      }
      out[j] = valueOfTop();
    }
  }
  return out;
}

/** Logits per block of oracleValuesOf, and screened dot products per block. */
const ORACLE_BLOCK_FLOATS = 1 << 20;
const SCREEN_BLOCK_FLOATS = 1 << 21;

/** V*(u) for every user u into out[0..U-1]; returns out. O(U I d). */
export function oracleValuesInto(world: FeedbackWorld, out: Float64Array): Float64Array {
  if (out.length < world.users) throw new RangeError(`out must hold ${world.users} users, got length ${out.length}`);
  const rho = new Float64Array(world.items);
  const slate = new Int32Array(world.slateSize);
  for (let u = 0; u < world.users; u++) out[u] = oracleValue(world, u, rho, slate);
  return out;
}
