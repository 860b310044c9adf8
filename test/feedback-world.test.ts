import { describe, expect, it } from 'vitest';
import { FEEDBACK_WORLD_DEFAULTS, resolveFeedbackWorldConfig, type FeedbackWorldConfig } from '../simulators/feedback-config.js';
import {
  arrivals,
  clickProbability,
  clicksInto,
  clickUniform,
  driftUsers,
  examination,
  makeFeedbackWorld,
  oracleSlateInto,
  oracleValue,
  oracleValuesInto,
  oracleValuesOf,
  policyValueFromMarginals,
  relevance,
  relevanceInto,
  relevanceLogitsInto,
  relevanceRowsInto,
  slateValue,
  valueFromMarginals,
  type FeedbackWorld,
} from '../simulators/feedback-world.js';
import { blockStream } from '../simulators/random-streams.js';

const world = (cfg: FeedbackWorldConfig = {}): FeedbackWorld => makeFeedbackWorld(resolveFeedbackWorldConfig(cfg));

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Index of the first difference (-1 if none); comparing 1e5 numbers with toEqual is slow. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

/** Least-squares slope of y on x. */
function slope(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i] / n;
    my += y[i] / n;
  }
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  return sxy / sxx;
}

function correlation(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i] / n;
    my += y[i] / n;
  }
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

describe('resolveFeedbackWorldConfig', () => {
  it('fills in the documented defaults; usersPerRound defaults to users', () => {
    expect(resolveFeedbackWorldConfig()).toEqual({ ...FEEDBACK_WORLD_DEFAULTS, usersPerRound: 1000 });
    expect(FEEDBACK_WORLD_DEFAULTS).toMatchObject({ users: 1000, items: 1000, dim: 32, slateSize: 10, examinationDecay: 1, popularityExponent: 1, preferenceDrift: 0 });
    expect(resolveFeedbackWorldConfig({ users: 7 }).usersPerRound).toBe(7);
    expect(resolveFeedbackWorldConfig({ users: 7, usersPerRound: 30 }).usersPerRound).toBe(30);
  });

  it.each<[FeedbackWorldConfig, RegExp]>([
    [{ users: 0 }, /^users must be an integer/],
    [{ items: 2.5 }, /^items must be an integer/],
    [{ dim: 0 }, /^dim must be an integer/],
    [{ users: 1_000_000, dim: 1000 }, /^users x dim must be at most/],
    [{ items: 1_000_000, dim: 1000 }, /^items x dim must be at most/],
    [{ items: 5, slateSize: 6 }, /^slateSize must be an integer in \[1, 5\], got 6/],
    [{ examinationDecay: -0.1 }, /^examinationDecay must be a finite number >= 0/],
    [{ popularityExponent: NaN }, /^popularityExponent must be a finite number >= 0/],
    [{ affinityWeight: -1 }, /^affinityWeight must be a finite number >= 0/],
    [{ qualityWeight: Infinity }, /^qualityWeight must be a finite number >= 0/],
    [{ popularityWeight: Infinity }, /^popularityWeight must be a finite number/],
    [{ clickBias: NaN }, /^clickBias must be a finite number/],
    [{ preferenceDrift: 1.5 }, /^preferenceDrift must be a number in \[0, 1\], got 1.5/],
    [{ usersPerRound: 0 }, /^usersPerRound must be an integer/],
    [{ slateSize: 10, usersPerRound: 2 ** 31 - 1 }, /^usersPerRound must be an integer in \[1, 429496729\]/],
    [{ seed: 0.5 }, /^seed must be an integer/],
  ])('rejects %o with a RangeError naming the field', (cfg, message) => {
    expect(() => resolveFeedbackWorldConfig(cfg)).toThrow(RangeError);
    expect(() => resolveFeedbackWorldConfig(cfg)).toThrow(message);
  });

  it('accepts a negative popularity weight and the edges of the ranges', () => {
    expect(() => resolveFeedbackWorldConfig({ popularityWeight: -1, preferenceDrift: 1, examinationDecay: 0, popularityExponent: 0, items: 3, slateSize: 3, users: 1 })).not.toThrow();
  });
});

describe('the generative model', () => {
  const w = world({
    users: 50,
    items: 103,
    dim: 8,
    slateSize: 4,
    examinationDecay: 0.7,
    popularityExponent: 1.3,
    affinityWeight: 1.2,
    qualityWeight: 0.4,
    popularityWeight: 0.6,
    clickBias: -1.5,
    seed: 3,
  });

  it('relevance = sigmoid(a u.v + b q + c l + bias) with l the centred log Zipf weight', () => {
    const { users: U, items: I, dim: d } = w;
    let meanLogRank = 0;
    for (let r = 1; r <= I; r++) meanLogRank += Math.log(r) / I;
    for (const [u, i] of [
      [0, 0],
      [7, 55],
      [49, 102],
      [23, 3],
    ]) {
      expect(u).toBeLessThan(U);
      let dot = 0;
      for (let k = 0; k < d; k++) dot += w.userVectors[u * d + k] * w.itemVectors[i * d + k];
      const l = -1.3 * (Math.log(w.popularityRank[i]) - meanLogRank);
      expect(w.logPopularity[i]).toBeCloseTo(l, 12);
      expect(relevance(w, u, i)).toBeCloseTo(sigmoid(1.2 * dot + 0.4 * w.quality[i] + 0.6 * l - 1.5), 14);
      expect(clickProbability(w, u, i, 2)).toBeCloseTo(relevance(w, u, i) / 3 ** 0.7, 14);
    }
  });

  it('relevanceInto gives every item bit-identical values to relevance (I = 103 exercises the remainder loop)', () => {
    const out = new Float64Array(w.items);
    for (const u of [0, 13, 49]) {
      relevanceInto(w, u, out);
      const expected = Float64Array.from({ length: w.items }, (_, i) => relevance(w, u, i));
      expect(firstDifference(out, expected)).toBe(-1);
    }
    expect(() => relevanceInto(w, 50, out)).toThrow(/user must be an integer in \[0, 49\], got 50/);
    expect(() => relevanceInto(w, 0, new Float64Array(10))).toThrow(RangeError);
  });

  it('examination theta_k = 1 / (k + 1)^eta, returned as a copy', () => {
    const theta = examination(w);
    expect(Array.from(theta)).toEqual([1, 1 / 2 ** 0.7, 1 / 3 ** 0.7, 1 / 4 ** 0.7]);
    theta[0] = 99;
    expect(examination(w)[0]).toBe(1);
  });

  it('vectors have the stated spread: E[v_ik^2] = d^-1/2 and mean (u . v)^2 = 1 over all pairs', () => {
    const big = world({ users: 1000, items: 1000, dim: 32, seed: 11 });
    const d = 32;
    // Mean square of 32,000 N(0, s^2) draws: relative sd sqrt(2 / 32000) = 0.0079; 5 sd = 0.04.
    let msUser = 0;
    for (const x of big.userVectors) msUser += (x * x) / big.userVectors.length;
    let msItem = 0;
    for (const x of big.itemVectors) msItem += (x * x) / big.itemVectors.length;
    expect(Math.abs(msUser / d ** -0.5 - 1)).toBeLessThan(0.04);
    expect(Math.abs(msItem / d ** -0.5 - 1)).toBeLessThan(0.04);
    // mean over pairs of (u . v)^2 = tr(S_u S_v) with S the second-moment matrices (each s^2 I + noise).
    // The diagonal terms dominate its spread: sd = sqrt(d (2/U + 2/I)) / d = 0.011, off-diagonal terms
    // add ~0.0014; 5 sd = 0.06.
    const Su = new Float64Array(d * d);
    const Sv = new Float64Array(d * d);
    for (const [S, M, n] of [
      [Su, big.userVectors, big.users],
      [Sv, big.itemVectors, big.items],
    ] as const) {
      for (let r = 0; r < n; r++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) S[a * d + b] += (M[r * d + a] * M[r * d + b]) / n;
    }
    let trace = 0;
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) trace += Su[a * d + b] * Sv[b * d + a];
    expect(Math.abs(trace - 1)).toBeLessThan(0.06);
  });

  it('popularity: a Zipf power law over a random permutation of ranks, log-log slope exactly -alpha', () => {
    for (const alpha of [0, 0.5, 1, 1.7]) {
      const z = world({ items: 1000, popularityExponent: alpha, seed: 5 });
      const ranks = Array.from(z.popularityRank).sort((a, b) => a - b);
      expect(ranks).toEqual(Array.from({ length: 1000 }, (_, r) => r + 1));
      let total = 0;
      for (const p of z.popularity) total += p;
      expect(total).toBeCloseTo(1, 13);
      const sorted = Float64Array.from(z.popularity).sort().reverse();
      const logRank = Float64Array.from({ length: 1000 }, (_, r) => Math.log(r + 1));
      const logWeight = sorted.map(Math.log);
      // The weights are rank^-alpha / H exactly, so the fitted slope differs from -alpha by rounding
      // only (~1e-15 relative per log); 1e-9 leaves room.
      if (alpha === 0) expect(new Set(sorted).size).toBe(1);
      else expect(Math.abs(slope(logRank, logWeight) + alpha)).toBeLessThan(1e-9);
      expect(sorted[0] / sorted[9]).toBeCloseTo(10 ** alpha, 9);
    }
  });

  it('popularity ranks are independent of quality: |corr(log rank, q)| within 5 / sqrt(I)', () => {
    // Under independence the sample correlation of I = 2000 pairs is ~N(0, 1 / (I - 1)): 5 sd = 0.112.
    const z = world({ items: 2000, seed: 8 });
    const logRank = Float64Array.from(z.popularityRank, Math.log);
    expect(Math.abs(correlation(logRank, z.quality))).toBeLessThan(5 / Math.sqrt(1999));
  });

  it('the most popular items are clicked more, by exp(c alpha ln r) in odds at equal affinity and quality', () => {
    const z = world({ items: 200, affinityWeight: 0, qualityWeight: 0, popularityWeight: 0.5, clickBias: -2, popularityExponent: 1 });
    const top = z.popularityRank.indexOf(1);
    const tenth = z.popularityRank.indexOf(10);
    const odds = (p: number): number => p / (1 - p);
    expect(odds(relevance(z, 0, top)) / odds(relevance(z, 0, tenth))).toBeCloseTo(Math.exp(0.5 * Math.log(10)), 10);
  });
});

describe('determinism and common random numbers', () => {
  const cfg: FeedbackWorldConfig = { users: 200, items: 150, dim: 6, slateSize: 5, seed: 42 };

  it('two independent constructions with one seed are identical; another seed differs', () => {
    const a = world(cfg);
    const b = world(cfg);
    const c = world({ ...cfg, seed: 43 });
    for (const key of ['userVectors', 'itemVectors', 'quality', 'popularityRank', 'popularity', 'itemLogit'] as const) {
      expect(firstDifference(a[key], b[key])).toBe(-1);
      expect(firstDifference(a[key], c[key])).not.toBe(-1);
    }
    expect(a.clickKey).toBe(b.clickKey);
    expect(a.clickKey).not.toBe(c.clickKey);
  });

  it('arrivals and click uniforms depend on (seed, round) only: the same for scenarios that differ in anything else', () => {
    const a = world(cfg);
    // Another scenario of the same run: other weights, drift, examination; same users and seed.
    const b = world({ ...cfg, affinityWeight: 3, popularityWeight: -1, preferenceDrift: 0.5, examinationDecay: 2, qualityWeight: 0 });
    for (let round = 0; round < 4; round++) {
      expect(firstDifference(arrivals(a, round), arrivals(b, round))).toBe(-1);
      for (let j = 0; j < 200; j += 7) for (let k = 0; k < 5; k++) expect(clickUniform(a, round, j, k)).toBe(clickUniform(b, round, j, k));
    }
    expect(firstDifference(arrivals(a, 0), arrivals(a, 1))).not.toBe(-1);
    expect(clickUniform(a, 0, 3, 1)).not.toBe(clickUniform(a, 1, 3, 1));
    expect(clickUniform(a, 0, 3, 1)).not.toBe(clickUniform(world({ ...cfg, seed: 42 + 2 ** 32 }), 0, 3, 1));
  });

  it('the first m users and all items do not depend on the number of users', () => {
    const a = world(cfg);
    const b = world({ ...cfg, users: 80 });
    expect(firstDifference(a.userVectors.subarray(0, 80 * 6), b.userVectors)).toBe(-1);
    expect(firstDifference(a.itemVectors, b.itemVectors)).toBe(-1);
    expect(firstDifference(a.popularityRank, b.popularityRank)).toBe(-1);
  });

  it('by default every user arrives once per round, in random order', () => {
    const a = world(cfg);
    const order = arrivals(a, 0);
    expect(order.length).toBe(200);
    expect(Array.from(order).sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, u) => u));
    expect(
      firstDifference(
        order,
        Int32Array.from({ length: 200 }, (_, u) => u),
      ),
    ).not.toBe(-1);
  });

  it('more arrivals than users: passes of random permutations; fewer: distinct users', () => {
    const many = arrivals(world({ ...cfg, usersPerRound: 500 }), 2);
    const seen = new Int32Array(200);
    for (let p = 0; p < 2; p++) {
      const pass = Array.from(many.subarray(p * 200, (p + 1) * 200)).sort((x, y) => x - y);
      expect(pass).toEqual(Array.from({ length: 200 }, (_, u) => u));
    }
    expect(new Set(many.subarray(400)).size).toBe(100);
    for (const u of many) seen[u]++;
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...seen)).toBeLessThanOrEqual(3);
    const few = arrivals(world({ ...cfg, usersPerRound: 60 }), 2);
    expect(new Set(few).size).toBe(60);
    expect(() => arrivals(world(cfg), -1)).toThrow(RangeError);
  });

  it('click uniforms look uniform and independent: mean, 100-bin chi-square, serial correlations; distinct within a round', () => {
    const w = world({ users: 10, items: 20, slateSize: 10, usersPerRound: 100_000, seed: 9 });
    const n = 100_000;
    const L = 10;
    const u = new Float64Array(n * L);
    for (let j = 0; j < n; j++) for (let k = 0; k < L; k++) u[j * L + k] = clickUniform(w, 3, j, k);
    // Mean of 1e6 uniforms: sd sqrt(1/12 / 1e6) = 2.9e-4; 5 sd.
    let mean = 0;
    for (const x of u) mean += x / u.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / u.length));
    // Chi-square with 99 degrees of freedom below its 99.99% quantile (Wilson-Hilferty, z = 3.719).
    const bins = new Float64Array(100);
    for (const x of u) bins[Math.floor(x * 100)]++;
    let chi2 = 0;
    for (const b of bins) chi2 += (b - u.length / 100) ** 2 / (u.length / 100);
    const df = 99;
    const q = df * (1 - 2 / (9 * df) + 3.719 * Math.sqrt(2 / (9 * df))) ** 3;
    expect(chi2).toBeLessThan(q);
    // Correlation of neighbouring positions (same arrival) and neighbouring arrivals (same position):
    // ~N(0, 1/m) under independence; 5 / sqrt(m).
    const m = n * (L - 1);
    const x1 = new Float64Array(m);
    const y1 = new Float64Array(m);
    for (let j = 0, t = 0; j < n; j++) for (let k = 0; k + 1 < L; k++, t++) [x1[t], y1[t]] = [u[j * L + k], u[j * L + k + 1]];
    expect(Math.abs(correlation(x1, y1))).toBeLessThan(5 / Math.sqrt(m));
    const x2 = u.subarray(0, (n - 1) * L);
    const y2 = u.subarray(L);
    expect(Math.abs(correlation(x2, y2))).toBeLessThan(5 / Math.sqrt(x2.length));
    // c -> U is a bijection of 32-bit integers within a round: no two slots share a draw.
    expect(new Set(u).size).toBe(u.length);
  });

  it('two scenarios that show the same item at the same slot to the same arrival see the same click', () => {
    const w = world({ users: 100, items: 300, slateSize: 4, usersPerRound: 3000, clickBias: 0, seed: 4 });
    const order = arrivals(w, 1);
    const rng = blockStream(4, 'test-slates', 0);
    const a = new Int32Array(4);
    const b = new Int32Array(4);
    const clicksA = new Uint8Array(4);
    const clicksB = new Uint8Array(4);
    let shared = 0;
    let sharedClicks = 0;
    let otherDiffer = 0;
    for (let j = 0; j < 3000; j++) {
      for (let k = 0; k < 4; k++) {
        a[k] = Math.floor(rng.uniform() * 300);
        b[k] = k === 2 ? a[k] : Math.floor(rng.uniform() * 300);
      }
      clicksInto(w, 1, j, order[j], a, 0, clicksA, 0);
      clicksInto(w, 1, j, order[j], b, 0, clicksB, 0);
      expect(clicksA[2]).toBe(clicksB[2]);
      shared++;
      sharedClicks += clicksA[2];
      for (const k of [0, 1, 3]) if (clicksA[k] !== clicksB[k]) otherDiffer++;
    }
    expect(shared).toBe(3000);
    expect(sharedClicks).toBeGreaterThan(50);
    expect(otherDiffer).toBeGreaterThan(50);
  });
});

describe('preference drift', () => {
  it('delta = 0 shares the user matrix and only advances the round; the round is checked', () => {
    const w = world({ users: 30, items: 10, dim: 4, slateSize: 2 });
    const next = driftUsers(w, 0);
    expect(next.round).toBe(1);
    expect(next.userVectors).toBe(w.userVectors);
    expect(w.round).toBe(0);
    expect(() => driftUsers(next, 0)).toThrow(/round must be the world's round 1, got 0/);
  });

  it('AR(1) step: pure, deterministic, common to scenarios, correlation sqrt(1 - delta^2), spread preserved', () => {
    const delta = 0.3;
    const w = world({ users: 1000, items: 10, dim: 32, slateSize: 2, preferenceDrift: delta, seed: 21 });
    const before = w.userVectors.slice();
    const next = driftUsers(w, 0);
    expect(firstDifference(w.userVectors, before)).toBe(-1);
    expect(next.itemVectors).toBe(w.itemVectors);
    expect(firstDifference(driftUsers(w, 0).userVectors, next.userVectors)).toBe(-1);
    const other = world({ users: 1000, items: 10, dim: 32, slateSize: 2, preferenceDrift: delta, seed: 21, affinityWeight: 4 });
    expect(firstDifference(driftUsers(other, 0).userVectors, next.userVectors)).toBe(-1);
    // n = 32,000 coordinates: the sample correlation has sd (1 - rho^2) / sqrt(n) = delta^2 / sqrt(n) = 5e-4.
    const n = before.length;
    expect(Math.abs(correlation(before, next.userVectors) - Math.sqrt(1 - delta * delta))).toBeLessThan((5 * (delta * delta)) / Math.sqrt(n));
    // Mean square stays s^2 = d^-1/2: relative sd sqrt(2 / n) = 0.0079 (correlated with round 0's, so at most 2x that).
    let ms = 0;
    for (const x of next.userVectors) ms += (x * x) / n;
    expect(Math.abs(ms / 32 ** -0.5 - 1)).toBeLessThan(0.08);
    // Round 1 -> 2 uses a fresh stream.
    const next2 = driftUsers(next, 1);
    expect(next2.round).toBe(2);
    expect(Math.abs(correlation(next.userVectors, next2.userVectors) - Math.sqrt(1 - delta * delta))).toBeLessThan((5 * (delta * delta)) / Math.sqrt(n));
  });
});

describe('true values', () => {
  const w = world({ users: 40, items: 60, dim: 5, slateSize: 6, examinationDecay: 1.2, seed: 17 });
  const I = 60;
  const L = 6;

  it('slateValue = sum_k theta_k rho(u, a_k) = policyValueFromMarginals with one-hot marginals', () => {
    const slate = Int32Array.from([5, 0, 59, 17, 33, 2]);
    let expected = 0;
    for (let k = 0; k < L; k++) expected += relevance(w, 7, slate[k]) / (k + 1) ** 1.2;
    expect(slateValue(w, 7, slate)).toBeCloseTo(expected, 14);
    const padded = new Int32Array(L + 3);
    padded.set(slate, 3);
    expect(slateValue(w, 7, padded, 3)).toBe(slateValue(w, 7, slate));
    const oneHot = new Float64Array(L * I);
    for (let k = 0; k < L; k++) oneHot[k * I + slate[k]] = 1;
    expect(policyValueFromMarginals(w, 7, oneHot)).toBeCloseTo(expected, 14);
  });

  it('uniform marginals 1/I give sum_k theta_k times the mean relevance', () => {
    const uniform = new Float64Array(L * I).fill(1 / I);
    const rho = relevanceInto(w, 3, new Float64Array(I));
    let meanRho = 0;
    for (const r of rho) meanRho += r / I;
    let sumTheta = 0;
    for (const t of w.theta) sumTheta += t;
    expect(policyValueFromMarginals(w, 3, uniform, new Float64Array(I))).toBeCloseTo(sumTheta * meanRho, 14);
    expect(() => policyValueFromMarginals(w, 3, new Float64Array(I))).toThrow(/marginals must be L x I = 6 x 60 = 360 numbers, got 60/);
  });

  it('the oracle slate is the top L by relevance, ties to the smaller id, and beats every sampled slate', () => {
    const tiny = world({ users: 1, items: 6, slateSize: 3 });
    const out = oracleSlateInto(tiny, Float64Array.from([0.5, 0.9, 0.5, 0.9, 0.1, 0.5]), new Int32Array(3));
    expect(Array.from(out)).toEqual([1, 3, 0]);
    const withOffset = oracleSlateInto(tiny, Float64Array.from([0.2, 0.1, 0.3, 0.05, 0.4, 0.6]), new Int32Array(5), 2);
    expect(Array.from(withOffset.subarray(2))).toEqual([5, 4, 2]);

    const rng = blockStream(17, 'test-oracle', 0);
    const values = oracleValuesInto(w, new Float64Array(w.users));
    const slate = new Int32Array(L);
    const perm = Int32Array.from({ length: I }, (_, i) => i);
    for (let u = 0; u < w.users; u++) {
      expect(values[u]).toBe(oracleValue(w, u));
      const rho = relevanceInto(w, u, new Float64Array(I));
      const best = Array.from(rho).sort((x, y) => y - x);
      let expected = 0;
      for (let k = 0; k < L; k++) expected += w.theta[k] * best[k];
      expect(values[u]).toBeCloseTo(expected, 14);
      for (let s = 0; s < 50; s++) {
        // Slates of distinct items (partial Fisher-Yates on a persistent permutation).
        for (let k = 0; k < L; k++) {
          const r = k + Math.floor(rng.uniform() * (I - k));
          [perm[k], perm[r]] = [perm[r], perm[k]];
          slate[k] = perm[k];
        }
        expect(slateValue(w, u, slate)).toBeLessThanOrEqual(values[u] + 1e-15);
      }
    }
  });

  it("issue 6 check: the world's true value of a randomized policy matches the empirical mean clicks of its log at n = 1e5 (99.9%)", () => {
    // Uniformly random slates without replacement: every item-position marginal is exactly 1/I.
    const n = 100_000;
    const w = world({ usersPerRound: n, seed: 2024 });
    const { items: I, slateSize: L, theta } = w;
    const order = arrivals(w, 0);

    // Truth: V(u) from the marginals for every user, averaged over the arriving users.
    const marginals = new Float64Array(L * I).fill(1 / I);
    const scratch = new Float64Array(I);
    const valueOf = new Float64Array(w.users);
    const meanRho = new Float64Array(w.users);
    let sumTheta = 0;
    for (const t of theta) sumTheta += t;
    for (let u = 0; u < w.users; u++) {
      valueOf[u] = policyValueFromMarginals(w, u, marginals, scratch);
      meanRho[u] = valueOf[u] / sumTheta;
    }

    const rng = blockStream(2024, 'test-uniform-policy', 0);
    const perm = Int32Array.from({ length: I }, (_, i) => i);
    const slate = new Int32Array(L);
    const clicks = new Uint8Array(L);
    let totalClicks = 0;
    let truth = 0;
    // Variance bound of the total: slots are Bernoulli(theta_k mean rho(u)) given the user, and the
    // without-replacement draws only make them negatively correlated, so sum p (1 - p) bounds the variance.
    let variance = 0;
    const clicksAt = new Float64Array(L);
    const truthAt = new Float64Array(L);
    const varianceAt = new Float64Array(L);
    for (let j = 0; j < n; j++) {
      const u = order[j];
      for (let k = 0; k < L; k++) {
        // Partial Fisher-Yates on a persistent permutation: a uniform ordered sample without replacement.
        const r = k + Math.floor(rng.uniform() * (I - k));
        const t = perm[k];
        perm[k] = perm[r];
        perm[r] = t;
        slate[k] = perm[k];
      }
      totalClicks += clicksInto(w, 0, j, u, slate, 0, clicks, 0);
      truth += valueOf[u];
      for (let k = 0; k < L; k++) {
        const p = theta[k] * meanRho[u];
        variance += p * (1 - p);
        clicksAt[k] += clicks[k];
        truthAt[k] += p;
        varianceAt[k] += p * (1 - p);
      }
    }
    const mean = totalClicks / n;
    const trueValue = truth / n;
    const halfWidth = (3.2905267 * Math.sqrt(variance)) / n; // z_0.9995
    expect(halfWidth).toBeLessThan(0.01);
    expect(trueValue).toBeGreaterThan(0.2);
    expect(Math.abs(mean - trueValue)).toBeLessThan(halfWidth);
    // Each position's CTR against its binomial interval, Bonferroni over L: z_(1 - 0.001 / (2 L)) = 3.8906.
    for (let k = 0; k < L; k++) {
      expect(Math.abs(clicksAt[k] - truthAt[k])).toBeLessThan(3.8905919 * Math.sqrt(varianceAt[k]));
    }
  });
});

describe('feedback world: batched relevance and oracle (the metrics of large rounds)', () => {
  // I = 103 leaves a remainder after the blocks of four items; 7 users (one repeated) leave an odd last user.
  const users = Int32Array.from([4, 0, 39, 4, 17, 22, 38]);

  it('relevanceRowsInto gives every (user, item) bit-identical values to relevanceInto, and the logits are theirs', () => {
    // the second world's users have drifted: its own user vectors are used, not round 0's
    for (const w of [world({ users: 40, items: 103, dim: 5 }), driftUsers(world({ users: 40, items: 8, dim: 32, slateSize: 3, preferenceDrift: 0.3 }), 0)]) {
      const I = w.items;
      const rows = relevanceRowsInto(w, users, new Float64Array(users.length * I));
      const logits = relevanceLogitsInto(w, users, new Float64Array(users.length * I));
      const one = new Float64Array(I);
      for (let j = 0; j < users.length; j++) {
        relevanceInto(w, users[j], one);
        expect(firstDifference(rows.subarray(j * I, (j + 1) * I), one)).toBe(-1);
        expect(firstDifference(logits.subarray(j * I, (j + 1) * I).map(sigmoid), one)).toBe(-1);
      }
      // a single user and an even count agree with the odd one
      expect(firstDifference(relevanceRowsInto(w, users.subarray(2, 3), new Float64Array(I)), rows.subarray(2 * I, 3 * I))).toBe(-1);
      expect(firstDifference(relevanceRowsInto(w, users.subarray(0, 4), new Float64Array(4 * I)), rows.subarray(0, 4 * I))).toBe(-1);
    }
    const w = world({ users: 40, items: 103, dim: 5 });
    expect(() => relevanceLogitsInto(w, Int32Array.from([40]), new Float64Array(103))).toThrow(/user must be an integer in \[0, 39\], got 40/);
    expect(() => relevanceLogitsInto(w, users, new Float64Array(103))).toThrow(RangeError);
  });

  it('oracleValuesOf, with or without a float32 screen, equals oracleValue bit for bit, also where relevances tie (saturated sigmoids, equal items)', () => {
    const cases: FeedbackWorldConfig[] = [
      { users: 40, items: 103, dim: 5, slateSize: 4 },
      // logits above ~37 all round to relevance 1: many ties among different logits
      { users: 40, items: 60, dim: 4, slateSize: 6, affinityWeight: 60, clickBias: 30 },
    ];
    for (const cfg of cases) {
      const w = world(cfg);
      const got = oracleValuesOf(w, users, new Float64Array(users.length));
      for (let j = 0; j < users.length; j++) expect(Object.is(got[j], oracleValue(w, users[j]))).toBe(true);
    }
    // screened by float32 dot products (summed backwards, as another kernel might): the same values
    const screen = (w: FeedbackWorld, us: Int32Array): Float32Array => {
      const d = w.dim;
      const dots = new Float32Array(us.length * w.items);
      for (let j = 0; j < us.length; j++)
        for (let i = 0; i < w.items; i++) {
          let s = 0;
          for (let k = d - 1; k >= 0; k--) s = Math.fround(s + Math.fround(Math.fround(w.userVectors[us[j] * d + k]) * Math.fround(w.itemVectors[i * d + k])));
          dots[j * w.items + i] = s;
        }
      return dots;
    };
    for (const cfg of [...cases, { users: 40, items: 500, dim: 32, slateSize: 10 }]) {
      const w = world(cfg);
      const got = oracleValuesOf(w, users, new Float64Array(users.length), screen);
      for (let j = 0; j < users.length; j++) expect(Object.is(got[j], oracleValue(w, users[j]))).toBe(true);
    }
    expect(() => oracleValuesOf(world(cases[0]), users, new Float64Array(7), () => new Float32Array(3))).toThrow(/screen returned 3 dot products for 7 users x 103 items/);
    // identical items (equal logits): ties to either item give the same value
    const base = world({ users: 5, items: 20, dim: 3, slateSize: 5 });
    const twins = { ...base, itemVectors: base.itemVectors.map((_, x) => base.itemVectors[x % 6]), itemLogit: base.itemLogit.map((_, i) => base.itemLogit[i % 2]) };
    const all = Int32Array.from([0, 1, 2, 3, 4]);
    const got = oracleValuesOf(twins, all, new Float64Array(5));
    const screened = oracleValuesOf(twins, all, new Float64Array(5), screen);
    for (let u = 0; u < 5; u++) expect(Object.is(got[u], oracleValue(twins, u)) && Object.is(screened[u], got[u])).toBe(true);
  });

  it('valueFromMarginals on precomputed relevances equals the slot-by-slot sum and policyValueFromMarginals bit for bit', () => {
    // L = 6: one block of four slots and two slots after it
    const w = world({ users: 40, items: 103, dim: 5, slateSize: 6 });
    const I = w.items;
    const rng = blockStream(3, 'test-value-from-marginals', 0);
    const marginals = Float64Array.from({ length: 6 * I }, () => rng.uniform() / I);
    const rows = relevanceRowsInto(w, users, new Float64Array(users.length * I));
    for (let j = 0; j < users.length; j++) {
      let naive = 0;
      for (let k = 0; k < 6; k++) {
        let s = 0;
        for (let i = 0; i < I; i++) s += marginals[k * I + i] * rows[j * I + i];
        naive += w.theta[k] * s;
      }
      expect(Object.is(valueFromMarginals(w, marginals, rows, j * I), naive)).toBe(true);
      expect(Object.is(policyValueFromMarginals(w, users[j], marginals), naive)).toBe(true);
    }
    expect(() => valueFromMarginals(w, marginals, rows, rows.length - I + 1)).toThrow(RangeError);
    expect(() => valueFromMarginals(w, marginals.subarray(1), rows)).toThrow(/marginals must be L x I/);
  });
});
