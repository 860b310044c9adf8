import { describe, expect, it } from 'vitest';
import { mix32, poisson1, poissonWeight, POISSON1_THRESHOLDS } from '../src/stats/hash.js';
import { evaluateStream, type EvaluateOptions } from '../src/engine/evaluate.js';
import { parseEstimatorList } from '../estimators/registry.js';
import { logBatchFromArrays, policyBatchFromArrays } from '../src/data/from-arrays.js';
import type { AlignedBatch } from '../src/engine/reblock.js';
import { normalCdf, normalQuantile } from '../src/stats/normal.js';
import { bernsteinInterval } from '../src/stats/intervals.js';
import { randomAligned, tinyAligned } from './helpers/tiny-log.js';

/** Splits one log into batches of the given sizes (cycled), policies aligned. */
function split(n: number, K: number, seed: number, sizes: number[], requestSize = 1): AlignedBatch[] {
  const { log, dist } = randomAligned(n, K, seed, requestSize);
  const out: AlignedBatch[] = [];
  let start = 0;
  let k = 0;
  while (start < n) {
    const end = Math.min(n, start + sizes[k++ % sizes.length]);
    const sl = (a: number[] | undefined) => a?.slice(start, end);
    out.push({
      log: logBatchFromArrays(
        { action: sl(log.action)!, reward: sl(log.reward)!, propensity: sl(log.propensity)!, qHat: log.qHat?.slice(start, end), requestId: sl(log.requestId) },
        'split',
        start,
      ),
      policies: [policyBatchFromArrays({ actionDist: dist.slice(start, end) })],
    });
    start = end;
  }
  return out;
}

const opts = (o: Partial<EvaluateOptions> = {}): EvaluateOptions => ({ estimators: parseEstimatorList('all'), policyNames: ['t'], replicates: 100, seed: 99, ...o });

describe('counter-based Poisson weights (the spec in src/stats/hash.ts)', () => {
  it('mix32 and the thresholds match an independent Python implementation', () => {
    expect([0, 1, 12345, 4294967295].map(mix32)).toEqual([0, 3368570345, 2206393267, 2087792675]);
    expect(POISSON1_THRESHOLDS).toEqual([1580030168, 3160060337, 3950075421, 4213413783, 4279248373, 4292415291, 4294609777, 4294923276, 4294962463, 4294966817, 4294967252, 4294967292, 4294967296]);
    const w: number[] = [];
    for (let c = 0; c < 4; c++) for (let b = 0; b < 5; b++) w.push(poissonWeight(12345, c, b));
    expect(w).toEqual([0, 1, 2, 0, 0, 1, 1, 0, 0, 2, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
  });

  it('the lookup table equals the inverse CDF at and around every threshold', () => {
    const slow = (u: number) => {
      let k = 0;
      while (u >= POISSON1_THRESHOLDS[k]) k++;
      return k;
    };
    for (const t of POISSON1_THRESHOLDS.slice(0, -1)) for (const u of [t - 1, t, t + 1]) expect(poisson1(u)).toBe(slow(u));
    for (let i = 0; i < 100000; i++) {
      const u = mix32(i);
      expect(poisson1(u)).toBe(slow(u));
    }
  });

  it('weights have the Poisson(1) mean and variance (4-sigma tolerances)', () => {
    const N = 200000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < N; i++) {
      const w = poissonWeight(3, i % 2000, Math.floor(i / 2000));
      s += w;
      s2 += w * w;
    }
    const mean = s / N;
    const variance = s2 / N - mean * mean;
    // sd of the mean of Poisson(1) is 1/sqrt(N); of the sample variance about sqrt(3/N) (4th central moment 4).
    expect(Math.abs(mean - 1)).toBeLessThan(4 / Math.sqrt(N));
    expect(Math.abs(variance - 1)).toBeLessThan(4 * Math.sqrt(3 / N));
  });
});

describe('bootstrap', () => {
  it('is bit-identical whatever the batch sizes', async () => {
    const n = 20000; // spans several canonical blocks
    const a = await evaluateStream(split(n, 4, 5, [n]), opts());
    const b = await evaluateStream(split(n, 4, 5, [777, 13, 8192, 5000]), opts());
    const c = await evaluateStream(split(n, 4, 5, [1, 2, 3]), opts());
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('is bit-identical whatever the number of worker threads', async () => {
    const n = 300_000; // more than two canonical chunks, so workers really split the work
    const batches = split(n, 3, 6, [50_000, 70_001], 2);
    const base = await evaluateStream(batches, opts({ estimators: parseEstimatorList('ips,snips,dr'), replicates: 40 }));
    for (const threads of [2, 3]) {
      const r = await evaluateStream(batches, opts({ estimators: parseEstimatorList('ips,snips,dr'), replicates: 40, threads }));
      expect(r).toEqual(base);
    }
  });

  it('is bit-identical across batch sizes with request clusters, multinomial and BCa too', async () => {
    const n = 9000;
    for (const o of [opts({ bootstrapKind: 'multinomial' }), opts({ ci: 'bca' })]) {
      const a = await evaluateStream(split(n, 3, 8, [n], 3), o);
      const b = await evaluateStream(split(n, 3, 8, [100, 4321], 3), o);
      expect(b).toEqual(a);
    }
  });

  it('replicates equal a naive recomputation with the same weights (IPS and SNIPS, clustered)', async () => {
    const n = 600;
    const B = 50;
    const seed = 4242;
    const data = randomAligned(n, 3, 11, 4);
    const batches = split(n, 3, 11, [n], 4);
    const r = await evaluateStream(batches, opts({ estimators: parseEstimatorList('ips,snips'), replicates: B, seed }));
    const w = data.log.action.map((a: number, i: number) => data.dist[i][a] / data.log.propensity[i]);
    const ipsReps: number[] = [];
    const snipsReps: number[] = [];
    for (let b = 0; b < B; b++) {
      let sw = 0;
      let swr = 0;
      let count = 0;
      for (let i = 0; i < n; i++) {
        const W = poissonWeight(seed, data.log.requestId![i], b);
        count += W;
        sw += W * w[i];
        swr += W * w[i] * data.log.reward[i];
      }
      ipsReps.push(swr / count);
      snipsReps.push(swr / sw);
    }
    const q = (xs: number[], p: number) => {
      const s = [...xs].sort((x, y) => x - y);
      const h = (s.length - 1) * p;
      const lo = Math.floor(h);
      return s[lo] + (h - lo) * (s[Math.min(lo + 1, s.length - 1)] - s[lo]);
    };
    const sd = (xs: number[]) => {
      const m = xs.reduce((s, v) => s + v, 0) / xs.length;
      return Math.sqrt(xs.reduce((s, v) => s + (v - m) ** 2, 0) / (xs.length - 1));
    };
    const ips = r.estimates.find((e) => e.label === 'ips')!;
    const snips = r.estimates.find((e) => e.label === 'snips')!;
    expect(ips.ci.lower).toBeCloseTo(q(ipsReps, 0.025), 12);
    expect(ips.ci.upper).toBeCloseTo(q(ipsReps, 0.975), 12);
    expect(ips.se).toBeCloseTo(sd(ipsReps), 12);
    expect(snips.ci.lower).toBeCloseTo(q(snipsReps, 0.025), 12);
    expect(snips.ci.upper).toBeCloseTo(q(snipsReps, 0.975), 12);
    expect(r.policies[0].requests).toBe(n / 4);
  });

  it('different seeds give different replicates; the reported value is the point estimate', async () => {
    const batches = split(2000, 3, 1, [2000]);
    const a = await evaluateStream(batches, opts({ seed: 1 }));
    const b = await evaluateStream(batches, opts({ seed: 2 }));
    expect(a.estimates[1].value).toBe(b.estimates[1].value);
    expect(a.estimates[1].ci.lower).not.toBe(b.estimates[1].ci.lower);
  });
});

describe('analytic intervals', () => {
  it('delta-method se: SNIPS sqrt(sum w^2 (r - V)^2) / sum w and IPS sqrt(sum (w r - V)^2) / n', async () => {
    const r = await evaluateStream(tinyAligned(), opts({ estimators: parseEstimatorList('ips,snips'), replicates: 0, ci: 'normal' }));
    // Values from the formulas evaluated in Python on the tiny log.
    expect(r.estimates[0].se).toBeCloseTo(0.7794228634059946, 12);
    expect(r.estimates[1].se).toBeCloseTo(0.2858200879580912, 12);
    expect(r.estimates[1].ci.lower).toBeCloseTo(0.6417910447761194 - 1.959963984540054 * 0.2858200879580912, 9);
  });

  it('normal quantile and CDF to 1e-12', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 12);
    expect(normalCdf(1)).toBeCloseTo(0.8413447460685429, 12);
    expect(normalCdf(-3)).toBeCloseTo(0.0013498980316301, 14);
  });

  it('empirical Bernstein half-width from Maurer & Pontil Thm 4', () => {
    // n = 100, V = 0.04, range [0, 2], alpha = 0.05: sqrt(2*0.04*ln(80)/100) + 7*2*ln(80)/(3*99)
    const i = bernsteinInterval(0.5, 0.04, 100, [0, 2], 0.05);
    const half = Math.sqrt((2 * 0.04 * Math.log(80)) / 100) + (14 * Math.log(80)) / 297;
    expect(i.upper).toBeCloseTo(0.5 + half, 14);
    expect(i.lower).toBeCloseTo(0.5 - half, 14);
  });

  it('BCa equals an independent computation (naive jackknife, z0, acceleration)', async () => {
    const n = 300;
    const B = 400;
    const seed = 7;
    const data = randomAligned(n, 3, 21);
    const r = await evaluateStream(split(n, 3, 21, [n]), opts({ estimators: parseEstimatorList('snips'), replicates: B, seed, ci: 'bca' }));
    const w = data.log.action.map((a: number, i: number) => data.dist[i][a] / data.log.propensity[i]);
    const rew = data.log.reward;
    const snips = (idx: number[]) => idx.reduce((s, i) => s + w[i] * rew[i], 0) / idx.reduce((s, i) => s + w[i], 0);
    const all = [...Array(n).keys()];
    const theta = snips(all);
    const reps: number[] = [];
    for (let b = 0; b < B; b++) {
      let num = 0;
      let den = 0;
      for (let i = 0; i < n; i++) {
        const W = poissonWeight(seed, i, b);
        num += W * w[i] * rew[i];
        den += W * w[i];
      }
      reps.push(num / den);
    }
    reps.sort((x, y) => x - y);
    const jack = all.map((i) => snips(all.filter((j) => j !== i)));
    const jm = jack.reduce((s, v) => s + v, 0) / n;
    const a = jack.reduce((s, v) => s + (jm - v) ** 3, 0) / (6 * Math.pow(jack.reduce((s, v) => s + (jm - v) ** 2, 0), 1.5));
    const below = reps.filter((v) => v < theta).length + 0.5 * reps.filter((v) => v === theta).length;
    const z0 = normalQuantile(below / B);
    const adj = (p: number) => normalCdf(z0 + (z0 + normalQuantile(p)) / (1 - a * (z0 + normalQuantile(p))));
    const q = (p: number) => {
      const h = (B - 1) * p;
      const lo = Math.floor(h);
      return reps[lo] + (h - lo) * (reps[lo + 1] - reps[lo]);
    };
    expect(r.estimates[0].value).toBeCloseTo(theta, 12);
    expect(r.estimates[0].ci.lower).toBeCloseTo(q(adj(0.025)), 10);
    expect(r.estimates[0].ci.upper).toBeCloseTo(q(adj(0.975)), 10);
  });
});
