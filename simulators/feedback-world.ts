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
  const { items: I, slateSize: L, theta } = world;
  if (marginals.length !== L * I) throw new RangeError(`marginals must be L x I = ${L} x ${I} = ${L * I} numbers, got ${marginals.length}`);
  const rho = relevanceInto(world, user, relevanceScratch ?? new Float64Array(I));
  let v = 0;
  for (let k = 0; k < L; k++) {
    let s = 0;
    const row = k * I;
    for (let i = 0; i < I; i++) s += marginals[row + i] * rho[i];
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

/** V*(u) for every user u into out[0..U-1]; returns out. O(U I d). */
export function oracleValuesInto(world: FeedbackWorld, out: Float64Array): Float64Array {
  if (out.length < world.users) throw new RangeError(`out must hold ${world.users} users, got length ${out.length}`);
  const rho = new Float64Array(world.items);
  const slate = new Int32Array(world.slateSize);
  for (let u = 0; u < world.users; u++) out[u] = oracleValue(world, u, rho, slate);
  return out;
}
