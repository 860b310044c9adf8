import { describe, expect, it } from 'vitest';
import { DEFAULT_MARGINAL_SAMPLES, DEFAULT_OWN_MARGINAL_SAMPLES, makeExploration, SlateRowBuilder, type ExplorationPolicy, type ExplorationSpec, type Scores } from '../simulators/exploration.js';
import { blockStream } from '../simulators/random-streams.js';
import { hoeffdingBound } from '../simulators/slate-config.js';

/** Every ordered slate of L distinct items out of n. */
function allSlates(n: number, L: number): number[][] {
  const out: number[][] = [];
  const cur: number[] = [];
  const used = new Array<boolean>(n).fill(false);
  const rec = (): void => {
    if (cur.length === L) {
      out.push(cur.slice());
      return;
    }
    for (let b = 0; b < n; b++) {
      if (used[b]) continue;
      used[b] = true;
      cur.push(b);
      rec();
      cur.pop();
      used[b] = false;
    }
  };
  rec();
  return out;
}

/** Items by decreasing score, ties to the lower index. */
function greedyOrder(s: ArrayLike<number>): number[] {
  return Array.from({ length: s.length }, (_, i) => i).sort((a, b) => s[b] - s[a] || a - b);
}

/** Reference conditionals, written from the definitions and independent of the module. */
function referenceConditional(spec: ExplorationSpec, s: ArrayLike<number>, prefix: readonly number[], b: number): number {
  const n = s.length;
  if (prefix.includes(b)) return 0;
  if (spec.kind === 'softmax') {
    let R = 0;
    for (let c = 0; c < n; c++) if (!prefix.includes(c)) R += Math.exp(s[c] / spec.temperature);
    return Math.exp(s[b] / spec.temperature) / R;
  }
  const eps = spec.kind === 'top-k' ? 0 : spec.epsilon;
  const top = greedyOrder(s).find((c) => !prefix.includes(c));
  return (b === top ? 1 - eps : 0) + eps / (n - prefix.length);
}

function referenceJoint(spec: ExplorationSpec, s: ArrayLike<number>, slate: readonly number[]): number {
  let p = 1;
  for (let k = 0; k < slate.length; k++) p *= referenceConditional(spec, s, slate.slice(0, k), slate[k]);
  return p;
}

/** Marginals L x n and P(item in slate) by summing the reference joint over all slates. */
function enumerated(spec: ExplorationSpec, s: ArrayLike<number>, L: number): { marginals: Float64Array; inSlate: Float64Array; total: number } {
  const n = s.length;
  const marginals = new Float64Array(L * n);
  const inSlate = new Float64Array(n);
  let total = 0;
  for (const slate of allSlates(n, L)) {
    const p = referenceJoint(spec, s, slate);
    total += p;
    slate.forEach((b, k) => {
      marginals[k * n + b] += p;
      inSlate[b] += p;
    });
  }
  return { marginals, inSlate, total };
}

function scoresOf(n: number, seed: number): Float64Array {
  const rng = blockStream(seed, 'scores', 0);
  return Float64Array.from({ length: n }, () => rng.normal());
}

const SPECS: readonly ExplorationSpec[] = [
  { kind: 'top-k' },
  { kind: 'epsilon-greedy', epsilon: 0 },
  { kind: 'epsilon-greedy', epsilon: 0.1 },
  { kind: 'epsilon-greedy', epsilon: 0.5 },
  { kind: 'epsilon-greedy', epsilon: 1 },
  { kind: 'softmax', temperature: 0.5 },
  { kind: 'softmax', temperature: 2 },
  // Sharp: the prefix holds nearly all the weight, where W - (prefix weight) would lose digits.
  { kind: 'softmax', temperature: 0.05 },
];

describe('exploration wrappers: exact propensities', () => {
  // (n, L): small, L = n (the last slot has one item left), and a larger case; scores with ties.
  const cases: readonly { n: number; L: number; s: Float64Array }[] = [
    { n: 5, L: 3, s: scoresOf(5, 1) },
    { n: 4, L: 4, s: Float64Array.from([0.3, -1, 0.3, 2]) },
    { n: 7, L: 4, s: Float64Array.from([1, 0.5, 1, -0.2, 0.5, 3, 1]) },
    { n: 9, L: 3, s: scoresOf(9, 2) },
  ];

  for (const spec of SPECS) {
    for (const { n, L, s } of cases) {
      it(`${JSON.stringify(spec)}, n=${n}, L=${L}: cascade, joint and marginals equal enumeration`, () => {
        const policy = makeExploration(spec, n, L);
        const ref = enumerated(spec, s, L);
        expect(Math.abs(ref.total - 1)).toBeLessThan(1e-12);

        // Cascade of every slate (its last entry is the logged joint) and the action_dist rows.
        const cascade = new Float64Array(L);
        const dist = new Float64Array(L * n);
        let total = 0;
        let cascadeError = 0;
        let distError = 0;
        let rowSumError = 0;
        for (const sl of allSlates(n, L)) {
          const slate = Int32Array.from(sl);
          policy.followSlate(s, slate, cascade, dist);
          let product = 1;
          for (let k = 0; k < L; k++) {
            const prefix = referenceJoint(spec, s, sl.slice(0, k + 1));
            cascadeError = Math.max(cascadeError, Math.abs(cascade[k] - prefix) / Math.max(prefix, 1e-300));
            // action_dist row k: the distribution of slot k given the logged prefix, summing to 1,
            // whose entries at the logged items multiply to the cascade, bit for bit.
            let rowSum = 0;
            for (let b = 0; b < n; b++) {
              rowSum += dist[k * n + b];
              distError = Math.max(distError, Math.abs(dist[k * n + b] - referenceConditional(spec, s, sl.slice(0, k), b)));
            }
            rowSumError = Math.max(rowSumError, Math.abs(rowSum - 1));
            product *= dist[k * n + sl[k]];
            expect(cascade[k]).toBe(product);
          }
          total += cascade[L - 1];
        }
        expect(cascadeError).toBeLessThan(1e-13);
        expect(distError).toBeLessThan(1e-13);
        expect(rowSumError).toBeLessThan(1e-12);
        expect(Math.abs(total - 1)).toBeLessThan(1e-12);

        const m = new Float64Array(L * n);
        policy.marginalsInto(s, m);
        for (let i = 0; i < L * n; i++) expect(Math.abs(m[i] - ref.marginals[i])).toBeLessThan(1e-12);
        for (let k = 0; k < L; k++) {
          let rowSum = 0;
          for (let b = 0; b < n; b++) rowSum += m[k * n + b];
          expect(Math.abs(rowSum - 1)).toBeLessThan(1e-12);
        }
        for (let b = 0; b < n; b++) {
          let colSum = 0;
          for (let k = 0; k < L; k++) colSum += m[k * n + b];
          expect(Math.abs(colSum - ref.inSlate[b])).toBeLessThan(1e-12);
          expect(colSum).toBeLessThanOrEqual(1 + 1e-12);
        }

        // The item-restricted marginals are the same numbers, item-major.
        const items = Int32Array.from([n - 1, 0, Math.floor(n / 2)]);
        const im = new Float64Array(items.length * L);
        policy.itemMarginalsInto(s, items, 0, items.length, im, 0);
        for (let c = 0; c < items.length; c++) for (let k = 0; k < L; k++) expect(im[c * L + k]).toBe(m[k * n + items[c]]);
        expect(policy.marginals.exact).toBe(true);
      });
    }
  }

  it('top-k takes the L best scores, ties to the lower index; deterministic 0/1 propensities and one-hot action_dist', () => {
    const s = Float32Array.from([0.5, 2, 0.5, 2, -1, 0.5]);
    const policy = makeExploration({ kind: 'top-k' }, 6, 4);
    expect(policy.deterministic).toBe(true);
    expect(policy.uniformsPerSlate).toBe(0);
    const slate = new Int32Array(4);
    policy.sample(s, blockStream(1, 'x', 0), slate);
    expect(Array.from(slate)).toEqual([1, 3, 0, 2]);
    const cascade = new Float64Array(4);
    const dist = new Float64Array(4 * 6);
    policy.followSlate(s, slate, cascade, dist);
    expect(Array.from(cascade)).toEqual([1, 1, 1, 1]);
    // Another policy's slate: 0 from the first slot that differs; action_dist one-hot at the best remaining item.
    const other = Int32Array.from([3, 1, 5, 0]);
    policy.followSlate(s, other, cascade, dist);
    expect(Array.from(cascade)).toEqual([0, 0, 0, 0]);
    const argmax = [1, 1, 0, 0];
    for (let k = 0; k < 4; k++) {
      for (let b = 0; b < 6; b++) expect(dist[k * 6 + b]).toBe(b === argmax[k] ? 1 : 0);
    }
  });

  it('epsilon = 0 is top-k and epsilon = 1 is uniform sampling without replacement', () => {
    const n = 12;
    const L = 5;
    const s = scoresOf(n, 3);
    const top = makeExploration({ kind: 'top-k' }, n, L);
    const eps0 = makeExploration({ kind: 'epsilon-greedy', epsilon: 0 }, n, L);
    const eps1 = makeExploration({ kind: 'epsilon-greedy', epsilon: 1 }, n, L);
    const a = new Int32Array(L);
    const b = new Int32Array(L);
    const rng = blockStream(4, 'eps', 0);
    top.sample(s, rng, a);
    for (let i = 0; i < 50; i++) {
      eps0.sample(s, rng, b);
      expect(Array.from(b)).toEqual(Array.from(a));
    }
    const m0 = new Float64Array(L * n);
    const mt = new Float64Array(L * n);
    eps0.marginalsInto(s, m0);
    top.marginalsInto(s, mt);
    expect(Array.from(m0)).toEqual(Array.from(mt));
    const order = greedyOrder(s);
    for (let k = 0; k < L; k++) for (let i = 0; i < n; i++) expect(mt[k * n + i]).toBe(order[k] === i ? 1 : 0);

    const m1 = new Float64Array(L * n);
    eps1.marginalsInto(s, m1);
    for (const v of m1) expect(Math.abs(v - 1 / n)).toBeLessThan(1e-15);
    const cascade = new Float64Array(L);
    eps1.followSlate(s, Int32Array.from([7, 0, 3, 11, 2]), cascade);
    expect(Math.abs(cascade[L - 1] - 1 / (12 * 11 * 10 * 9 * 8))).toBeLessThan(1e-20);
  });

  it('softmax tends to top-k as the temperature goes to 0 (exact lattice and Monte Carlo marginals)', () => {
    const n = 6;
    const L = 3;
    const s = Float64Array.from([0.1, 0.9, 0.5, 0.3, 0.7, 0.0]);
    const top = makeExploration({ kind: 'top-k' }, n, L);
    const mt = new Float64Array(L * n);
    top.marginalsInto(s, mt);
    const slate = new Int32Array(L);
    top.sample(s, blockStream(0, 'x', 0), slate);
    for (const marginals of ['exact', 'monte-carlo'] as const) {
      const errors: number[] = [];
      for (const T of [1, 0.1, 0.01, 0.001]) {
        const sharp = makeExploration({ kind: 'softmax', temperature: T, marginals, samples: 50 }, n, L);
        const m = new Float64Array(L * n);
        sharp.marginalsInto(s, m, blockStream(1, 'mc', 0));
        errors.push(Math.max(...m.map((v, i) => Math.abs(v - mt[i]))));
        const cascade = new Float64Array(L);
        sharp.followSlate(s, slate, cascade);
        if (T === 0.001) {
          expect(1 - cascade[L - 1]).toBeLessThan(1e-30);
          const drawn = new Int32Array(L);
          sharp.sample(s, blockStream(2, 'x', 0), drawn);
          expect(Array.from(drawn)).toEqual(Array.from(slate));
        }
      }
      for (let i = 1; i < errors.length; i++) expect(errors[i]).toBeLessThan(errors[i - 1]);
      // exp(-0.1 / T) = exp(-100) at T = 0.001: only rounding is left.
      expect(errors[errors.length - 1]).toBeLessThan(1e-14);
    }
  });
});

describe('exploration wrappers: sampling matches the logged propensities (chi-square, fixed seed)', () => {
  const n = 5;
  const L = 3;
  const s = Float64Array.from([0.8, -0.3, 0.1, 1.2, -0.9]);
  const draws = 60_000;
  for (const spec of [
    { kind: 'softmax', temperature: 1 },
    { kind: 'epsilon-greedy', epsilon: 0.5 },
  ] as const) {
    it(`${spec.kind}: slate frequencies (59 df) and item-position frequencies (4 df per slot)`, () => {
      const policy = makeExploration(spec, n, L);
      const rng = blockStream(7, `chi2-${spec.kind}`, 0);
      const slate = new Int32Array(L);
      const counts = new Map<string, number>();
      const itemCounts = new Float64Array(L * n);
      for (let i = 0; i < draws; i++) {
        policy.sample(s, rng, slate);
        const key = slate.join(',');
        counts.set(key, (counts.get(key) ?? 0) + 1);
        for (let k = 0; k < L; k++) itemCounts[k * n + slate[k]]++;
      }
      // Against the propensities the wrapper logs (followSlate's joint, marginalsInto).
      const cascade = new Float64Array(L);
      let chi2 = 0;
      for (const sl of allSlates(n, L)) {
        policy.followSlate(s, Int32Array.from(sl), cascade);
        const expected = draws * cascade[L - 1];
        expect(expected).toBeGreaterThan(5);
        chi2 += ((counts.get(sl.join(',')) ?? 0) - expected) ** 2 / expected;
      }
      expect(counts.size).toBe(60);
      // 59 degrees of freedom: the 0.999 quantile is about 99.6.
      expect(chi2).toBeLessThan(99.6);
      const m = new Float64Array(L * n);
      policy.marginalsInto(s, m);
      for (let k = 0; k < L; k++) {
        let chi2k = 0;
        for (let b = 0; b < n; b++) {
          const expected = draws * m[k * n + b];
          chi2k += (itemCounts[k * n + b] - expected) ** 2 / expected;
        }
        // 4 degrees of freedom: the 0.999 quantile is 18.47.
        expect(chi2k).toBeLessThan(18.47);
      }
    });
  }

  it('draws a fixed number of uniforms per slate, so the stream stays aligned', () => {
    for (const [spec, per] of [
      [{ kind: 'softmax', temperature: 1 }, L],
      [{ kind: 'epsilon-greedy', epsilon: 0.3 }, 2 * L],
      [{ kind: 'top-k' }, 0],
    ] as const) {
      const policy = makeExploration(spec, n, L);
      expect(policy.uniformsPerSlate).toBe(per);
      const a = blockStream(3, 'align', 0);
      const b = blockStream(3, 'align', 0);
      const slate = new Int32Array(L);
      for (let i = 0; i < 20; i++) policy.sample(s, a, slate);
      for (let i = 0; i < 20 * per; i++) b.uniform();
      expect(a.uniform()).toBe(b.uniform());
    }
  });
});

describe('softmax Monte Carlo marginals', () => {
  it('states its method and bound, and stays within the Hoeffding bound of the exact lattice', () => {
    const n = 8;
    const L = 4;
    const samples = 400;
    const exact = makeExploration({ kind: 'softmax', temperature: 0.7 }, n, L);
    const mc = makeExploration({ kind: 'softmax', temperature: 0.7, marginals: 'monte-carlo', samples }, n, L);
    expect(exact.marginals.method).toBe('lattice');
    expect(mc.marginals).toMatchObject({ method: 'monte-carlo', exact: false, samples, confidence: 0.95 });
    expect(mc.marginals.per_entry_error_bound).toBeCloseTo(hoeffdingBound(samples, 1, 0.95), 15);
    // 1,000 items, 10 slots: the lattice is far too large, so 'auto' means Monte Carlo.
    expect(makeExploration({ kind: 'softmax', temperature: 1 }, 1000, 10).marginals.samples).toBe(DEFAULT_MARGINAL_SAMPLES);
    expect(() => makeExploration({ kind: 'softmax', temperature: 1, marginals: 'exact' }, 1000, 10)).toThrow(/prefix sets/);

    const users = 20;
    const entries = users * (L - 1) * n;
    const bound = hoeffdingBound(samples, entries, 0.95);
    let worst = 0;
    const m1 = new Float64Array(L * n);
    const m2 = new Float64Array(L * n);
    const ranges = new Float64Array(L * n);
    const items = Int32Array.from({ length: n }, (_, i) => i);
    for (let u = 0; u < users; u++) {
      const s = scoresOf(n, 100 + u);
      exact.marginalsInto(s, m1);
      expect(() => mc.marginalsInto(s, m2)).toThrow(/random stream/);
      mc.marginalsInto(s, m2, blockStream(9, 'mc', u));
      mc.itemRangesInto(s, items, 0, n, ranges, 0);
      for (let b = 0; b < n; b++) {
        // Slot 0 is exact; the others within the bound scaled by their range u.
        expect(Math.abs(m2[b] - m1[b])).toBeLessThan(1e-15);
        for (let k = 1; k < L; k++) {
          const err = Math.abs(m2[k * n + b] - m1[k * n + b]);
          expect(ranges[b * L + k]).toBeGreaterThan(0);
          expect(ranges[b * L + k]).toBeLessThanOrEqual(1);
          worst = Math.max(worst, err / ranges[b * L + k]);
        }
      }
      for (let k = 0; k < L; k++) expect(Math.abs(m2.subarray(k * n, (k + 1) * n).reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-12);
    }
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(bound);
  });

  it('stays within the bound on sharp and underflowing policies (rejection, search and exact steps)', () => {
    const n = 8;
    const L = 4;
    const samples = 300;
    for (const T of [0.05, 0.002]) {
      const exact = makeExploration({ kind: 'softmax', temperature: T }, n, L);
      const mc = makeExploration({ kind: 'softmax', temperature: T, marginals: 'monte-carlo', samples }, n, L);
      const bound = hoeffdingBound(samples, 10 * (L - 1) * n, 0.95);
      for (let u = 0; u < 10; u++) {
        const s = scoresOf(n, 200 + u);
        const m1 = new Float64Array(L * n);
        const m2 = new Float64Array(L * n);
        exact.marginalsInto(s, m1);
        mc.marginalsInto(s, m2, blockStream(10, 'sharp', u));
        for (let i = 0; i < L * n; i++) expect(Math.abs(m2[i] - m1[i])).toBeLessThanOrEqual(bound);
        for (let k = 0; k < L; k++) expect(Math.abs(m2.subarray(k * n, (k + 1) * n).reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-12);
        // The cascade stays exact where the weights underflow: sum over all slates is 1.
        const cascade = new Float64Array(L);
        const slate = new Int32Array(L);
        mc.sample(s, blockStream(11, 'sharp', u), slate);
        mc.followSlate(s, slate, cascade);
        expect(cascade[L - 1]).toBeGreaterThan(0);
      }
    }
  });

  it('at n = 200: Monte Carlo and sampling agree with the exact lattice; full and per-item marginals are the same numbers', () => {
    const n = 200;
    const L = 3;
    const rngScores = blockStream(12, 'scores', 0);
    const s = Float64Array.from({ length: n }, () => 2 * rngScores.normal());
    const exact = makeExploration({ kind: 'softmax', temperature: 0.5, marginals: 'exact' }, n, L);
    const mc = makeExploration({ kind: 'softmax', temperature: 0.5, samples: 2000 }, n, L);
    expect(mc.marginals.method).toBe('monte-carlo');
    const m1 = new Float64Array(L * n);
    const m2 = new Float64Array(L * n);
    exact.marginalsInto(s, m1);
    mc.marginalsInto(s, m2, blockStream(13, 'mc', 0));
    const items = Int32Array.from({ length: n }, (_, i) => n - 1 - i);
    const per = new Float64Array(n * L);
    mc.itemMarginalsInto(s, items, 0, n, per, 0, blockStream(13, 'mc', 0));
    const ranges = new Float64Array(n * L);
    mc.itemRangesInto(s, items, 0, n, ranges, 0);
    const bound = hoeffdingBound(2000, (L - 1) * n, 0.95);
    for (let c = 0; c < n; c++) {
      const b = items[c];
      for (let k = 0; k < L; k++) {
        expect(per[c * L + k]).toBe(m2[k * n + b]);
        expect(Math.abs(m2[k * n + b] - m1[k * n + b])).toBeLessThanOrEqual(bound * ranges[c * L + k] + 1e-15);
      }
    }
    // Sampling: item-position frequencies against the exact marginals, per slot, items with an
    // expected count of at least 20 and the rest pooled in one bin.
    const draws = 40_000;
    const counts = new Float64Array(L * n);
    const slate = new Int32Array(L);
    const rng = blockStream(14, 'sample', 0);
    for (let i = 0; i < draws; i++) {
      mc.sample(s, rng, slate);
      for (let k = 0; k < L; k++) counts[k * n + slate[k]]++;
    }
    for (let k = 0; k < L; k++) {
      let chi2 = 0;
      let bins = 0;
      let restObserved = 0;
      let restExpected = 0;
      for (let b = 0; b < n; b++) {
        const expected = draws * m1[k * n + b];
        if (expected >= 20) {
          chi2 += (counts[k * n + b] - expected) ** 2 / expected;
          bins++;
        } else {
          restObserved += counts[k * n + b];
          restExpected += expected;
        }
      }
      if (restExpected >= 20) {
        chi2 += (restObserved - restExpected) ** 2 / restExpected;
        bins++;
      }
      // Wilson-Hilferty 0.999 quantile of chi-square with bins - 1 degrees of freedom.
      const df = bins - 1;
      const quantile = df * (1 - 2 / (9 * df) + 3.09 * Math.sqrt(2 / (9 * df))) ** 3;
      expect(df).toBeGreaterThan(5);
      expect(chi2).toBeLessThan(quantile);
    }
  });
});

/**
 * Deterministic range [lo, hi] of one importance-sampling term of P(b at k) (exploration.ts,
 * SoftmaxExploration): w = prod_{j<k} R'_j / (R'_j + e_b) * e_b / (R'_k + e_b), with R'_j the weight
 * of the n - 1 - j other items left after j draws, so R'_j lies between the n - 1 - j smallest and
 * (all others minus the j smallest); x / (x + e_b) increases and e_b / (x + e_b) decreases in x.
 */
function ownTermRange(s: ArrayLike<number>, T: number, b: number, k: number): { lo: number; hi: number } {
  const n = s.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, s[i] / T);
  const eb = Math.exp(s[b] / T - max);
  const others = Array.from({ length: n }, (_, i) => i)
    .filter((i) => i !== b)
    .map((i) => Math.exp(s[i] / T - max))
    .sort((x, y) => x - y);
  const all = others.reduce((x, y) => x + y, 0);
  const smallest = (count: number): number => others.slice(0, count).reduce((x, y) => x + y, 0);
  let lo = 1;
  let hi = 1;
  for (let j = 0; j < k; j++) {
    const least = smallest(n - 1 - j);
    const most = all - smallest(j);
    lo *= least / (least + eb);
    hi *= most / (most + eb);
  }
  lo *= eb / (all - smallest(k) + eb);
  hi *= eb / (smallest(n - 1 - k) + eb);
  return { lo, hi };
}

describe('softmax own entries (ownMarginalsInto): importance sampling without the logged item', () => {
  it('exact policies: the itemMarginalsInto diagonal, bit for bit', () => {
    const n = 7;
    const L = 4;
    const s = scoresOf(n, 40);
    const slate = Int32Array.from([5, 0, 3, 6]);
    for (const spec of [...SPECS, { kind: 'softmax', temperature: 1, marginals: 'exact' } as const]) {
      const policy = makeExploration(spec, n, L);
      expect(policy.marginals.own_samples).toBe(0);
      const full = new Float64Array(L * L);
      policy.itemMarginalsInto(s, slate, 0, L, full, 0);
      const own = new Float64Array(L + 2);
      policy.ownMarginalsInto(s, Int32Array.from([9, 9, ...slate]), own, null, 2, 1);
      for (let k = 0; k < L; k++) expect(own[1 + k]).toBe(full[k * L + k]);
    }
    // L = 1 (a softmax) and slot 0 of Monte Carlo: e_b / W, as itemMarginalsInto writes it.
    const one = makeExploration({ kind: 'softmax', temperature: 0.5 }, n, 1);
    const mc = makeExploration({ kind: 'softmax', temperature: 0.5, marginals: 'monte-carlo' }, n, L);
    const a = new Float64Array(L * L);
    const b = new Float64Array(L);
    one.itemMarginalsInto(s, slate, 0, 1, a, 0);
    one.ownMarginalsInto(s, slate, b);
    expect(b[0]).toBe(a[0]);
    mc.itemMarginalsInto(s, slate, 0, L, a, 0, blockStream(1, 'mc', 0));
    mc.ownMarginalsInto(s, slate, b, blockStream(1, 'own', 0));
    expect(b[0]).toBe(a[0]);
    expect(() => mc.ownMarginalsInto(s, slate, b)).toThrow(/random stream/);
    expect(() => mc.ownMarginalsInto(s, Int32Array.from([0, 1, 2, 7]), b, blockStream(1, 'own', 0))).toThrow(/outside/);
    expect(mc.marginals.own_samples).toBe(DEFAULT_OWN_MARGINAL_SAMPLES);
    expect(() => makeExploration({ kind: 'softmax', temperature: 1, ownSamples: 1 }, 1000, 10)).toThrow(/ownSamples/);
  });

  it('Monte Carlo (forced, exact lattice as reference): every item at every slot within Hoeffding on its term range; unbiased', () => {
    // Two catalogs: n = 8 (all items) and n = 40 with three heavy items (scores + 5, + 4, + 3).
    // Each single estimate (DEFAULT_OWN_MARGINAL_SAMPLES terms in [lo, hi], ownTermRange) is
    // within hoeffdingBound(m, entries, 0.95) (hi - lo) of the exact value, with a union bound over
    // all entries checked; and the mean of 200 independent estimates is within 4 standard errors.
    const T = 0.7;
    const L = 4;
    const cases = [
      { n: 8, s: scoresOf(8, 41) },
      { n: 40, s: scoresOf(40, 42).map((v, i) => (i < 3 ? v + 5 - i : v)) },
    ];
    const entries = cases.reduce((x, c) => x + c.n * (L - 1), 0);
    const m = DEFAULT_OWN_MARGINAL_SAMPLES;
    const bound = hoeffdingBound(m, entries, 0.95);
    let worstHoeffding = 0;
    let worstRelative = 0;
    let sumRelative = 0;
    let counted = 0;
    let worstZ = 0;
    for (const { n, s } of cases) {
      const exact = makeExploration({ kind: 'softmax', temperature: T }, n, L);
      const mc = makeExploration({ kind: 'softmax', temperature: T, marginals: 'monte-carlo' }, n, L);
      expect(exact.marginals.method).toBe('lattice');
      expect(mc.marginals.method).toBe('monte-carlo');
      const ref = new Float64Array(L * n);
      exact.marginalsInto(s, ref);
      const own = new Float64Array(L);
      for (let b = 0; b < n; b++) {
        // b at every slot: the other slots hold any items (only slate[k] matters for slot k).
        const slate = Int32Array.from({ length: L }, () => b);
        mc.ownMarginalsInto(s, slate, own, blockStream(43, `own-${n}`, b));
        for (let k = 1; k < L; k++) {
          const p = ref[k * n + b];
          const { lo, hi } = ownTermRange(s, T, b, k);
          expect(lo).toBeLessThanOrEqual(p * (1 + 1e-12));
          expect(hi).toBeGreaterThanOrEqual(p * (1 - 1e-12));
          expect(own[k]).toBeGreaterThan(0);
          const err = Math.abs(own[k] - p);
          worstHoeffding = Math.max(worstHoeffding, err / (hi - lo));
          worstRelative = Math.max(worstRelative, err / p);
          sumRelative += err / p;
          counted++;
        }
        // Unbiased: 200 estimates (independent streams), their mean against the exact value.
        if (b % 7 === 0) {
          const reps = 200;
          const sum = new Float64Array(L);
          const sq = new Float64Array(L);
          for (let r = 0; r < reps; r++) {
            mc.ownMarginalsInto(s, slate, own, blockStream(44, `own-${n}-${b}`, r));
            for (let k = 1; k < L; k++) {
              sum[k] += own[k];
              sq[k] += own[k] * own[k];
            }
          }
          for (let k = 1; k < L; k++) {
            const mean = sum[k] / reps;
            const sd = Math.sqrt(Math.max(0, sq[k] / reps - mean * mean));
            const z = Math.abs(mean - ref[k * n + b]) / (sd / Math.sqrt(reps));
            worstZ = Math.max(worstZ, z);
            expect(z).toBeLessThan(4);
          }
        }
      }
    }
    expect(worstHoeffding).toBeLessThanOrEqual(bound);
    // Measured at m = 32 (quoted at DEFAULT_OWN_MARGINAL_SAMPLES): worst 0.17 of the Hoeffding
    // width (bound 0.37), relative errors 5.1% on average and 21% at worst over 144 entries, |z| <= 2.1.
    expect(worstZ).toBeGreaterThan(0);
    expect(worstRelative).toBeLessThan(0.3);
    expect(sumRelative / counted).toBeLessThan(0.08);
  });

  it('a heavy item at the last slot: > 0 and within a factor 2 of the exact value, where the Rao-Blackwellized estimate is 0', () => {
    // Item 0 outweighs the 39 others together about 50 times, so it is in almost every sampled
    // prefix of 3 items and the Rao-Blackwellized estimate of P(0 at 3) is 0; the floor (the logged
    // prefix's probability) is far below the exact value.
    const n = 40;
    const L = 4;
    const T = 1;
    const s = scoresOf(n, 45).map((v, i) => (i === 0 ? 8 : v));
    const exact = makeExploration({ kind: 'softmax', temperature: T }, n, L);
    const mc = makeExploration({ kind: 'softmax', temperature: T, marginals: 'monte-carlo' }, n, L);
    const ref = new Float64Array(L * n);
    exact.marginalsInto(s, ref);
    const p = ref[3 * n + 0];
    expect(p).toBeGreaterThan(0);
    const slate = Int32Array.from([1, 2, 3, 0]);
    const full = new Float64Array(L * L);
    mc.itemMarginalsInto(s, slate, 0, L, full, 0, blockStream(46, 'rb', 0));
    expect(full[3 * L + 3]).toBe(0);
    const cascade = new Float64Array(L);
    mc.followSlate(s, slate, cascade);
    expect(cascade[3]).toBeLessThan(p / 100);
    const own = new Float64Array(L);
    const { lo, hi } = ownTermRange(s, T, 0, 3);
    // Hoeffding on the term range alone guarantees 13% here (measured: within 4%); factor 2 is loose.
    for (let r = 0; r < 20; r++) {
      mc.ownMarginalsInto(s, slate, own, blockStream(46, 'own', r));
      expect(own[3]).toBeGreaterThan(p / 2);
      expect(own[3]).toBeLessThan(p * 2);
      expect(Math.abs(own[3] - p)).toBeLessThanOrEqual(hoeffdingBound(DEFAULT_OWN_MARGINAL_SAMPLES, 20, 0.95) * (hi - lo));
    }
    // The rows: propensity_item_position and the diagonal are the own estimate; the other entries
    // are itemMarginalsInto's; the same stream order (Rao-Blackwellized first, then own).
    const builder = new SlateRowBuilder(mc, []);
    const rows = builder.newRows(1);
    builder.write(rows, 0, 0, slate, [0, 0, 0, 0], s, [], blockStream(47, 'rows', 0));
    const rng = blockStream(47, 'rows', 0);
    mc.itemMarginalsInto(s, slate, 0, L, full, 0, rng);
    mc.ownMarginalsInto(s, slate, own, rng);
    for (let k = 0; k < L; k++) {
      expect(rows.propensityItemPosition[k]).toBe(Math.max(own[k], rows.propensityCascade[k]));
      for (let j = 0; j < L; j++) expect(rows.propensityItemPositions[k * L + j]).toBe(j === k ? rows.propensityItemPosition[k] : full[k * L + j]);
    }
    expect(rows.propensityItemPosition[3]).toBe(own[3]);
    expect(rows.propensityItemPosition[3]).toBeGreaterThan(p / 2);
  });
});

describe('SlateRowBuilder', () => {
  const n = 6;
  const L = 3;

  it('writes the slate contract columns of the logger and of each target', () => {
    const logger = makeExploration({ kind: 'softmax', temperature: 1 }, n, L);
    const eps = makeExploration({ kind: 'epsilon-greedy', epsilon: 0.2 }, n, L);
    const top = makeExploration({ kind: 'top-k' }, n, L);
    const builder = new SlateRowBuilder(logger, [eps, top, logger]);
    const rows = builder.newRows(4, { ranges: true });
    const sLog = scoresOf(n, 20);
    const sTarget = new Float32Array(scoresOf(n, 21));
    const rng = blockStream(5, 'rows', 0);
    const slate = new Int32Array(L);
    const slates: Int32Array[] = [];
    for (let i = 0; i < 4; i++) {
      logger.sample(sLog, rng, slate);
      slates.push(slate.slice());
      builder.write(rows, i, 100 + i, slate, [1, 0, i % 2], sLog, [sTarget, sTarget, sLog]);
    }
    const specs: ExplorationSpec[] = [{ kind: 'epsilon-greedy', epsilon: 0.2 }, { kind: 'top-k' }, { kind: 'softmax', temperature: 1 }];
    const refLog = enumerated({ kind: 'softmax', temperature: 1 }, sLog, L).marginals;
    const refTargets = specs.map((spec, t) => enumerated(spec, t === 2 ? sLog : sTarget, L).marginals);
    for (let i = 0; i < 4; i++) {
      const sl = Array.from(slates[i]);
      for (let k = 0; k < L; k++) {
        const r = i * L + k;
        expect([rows.slateId[r], rows.position[r], rows.action[r], rows.reward[r]]).toEqual([100 + i, k, sl[k], k === 0 ? 1 : k === 1 ? 0 : i % 2]);
        const joint = referenceJoint({ kind: 'softmax', temperature: 1 }, sLog, sl);
        expect(Math.abs(rows.propensity[r] - joint)).toBeLessThan(1e-15);
        expect(Math.abs(rows.propensityCascade[r] - referenceJoint({ kind: 'softmax', temperature: 1 }, sLog, sl.slice(0, k + 1)))).toBeLessThan(1e-15);
        expect(rows.propensityItemPosition[r]).toBe(rows.propensityItemPositions[r * L + k]);
        expect(rows.propensityItemPosition[r]).toBeGreaterThanOrEqual(rows.propensityCascade[r]);
        for (let j = 0; j < L; j++) expect(Math.abs(rows.propensityItemPositions[r * L + j] - refLog[j * n + sl[k]])).toBeLessThan(1e-12);
        expect(rows.itemPositionRange?.[r]).toBe(0);
        rows.targets.forEach((t, ti) => {
          const scores = ti === 2 ? sLog : sTarget;
          expect(Math.abs(t.targetPropensity[r] - referenceJoint(specs[ti], scores, sl))).toBeLessThan(1e-15);
          expect(Math.abs(t.targetPropensityCascade[r] - referenceJoint(specs[ti], scores, sl.slice(0, k + 1)))).toBeLessThan(1e-15);
          expect(t.targetPropensityItemPosition[r]).toBe(t.targetPropensityItemPositions[r * L + k]);
          for (let j = 0; j < L; j++) expect(Math.abs(t.targetPropensityItemPositions[r * L + j] - refTargets[ti][j * n + sl[k]])).toBeLessThan(1e-12);
          const dist = t.actionDist as Float64Array;
          for (let b = 0; b < n; b++) expect(Math.abs(dist[r * n + b] - referenceConditional(specs[ti], scores, sl.slice(0, k), b))).toBeLessThan(1e-15);
          if (ti === 1) for (let b = 0; b < n; b++) expect([0, 1]).toContain(dist[r * n + b]);
        });
      }
    }
    // The joint on every row of a slate is its last cascade entry, bit for bit.
    for (let r = 0; r < rows.rows; r++) {
      const last = r - (r % L) + L - 1;
      expect(rows.propensity[r]).toBe(rows.propensityCascade[last]);
      for (const t of rows.targets) expect(t.targetPropensity[r]).toBe(t.targetPropensityCascade[last]);
    }
    // The target that is the logger with the logger's scores: the logger's numbers, bit for bit.
    const same = rows.targets[2];
    expect(Array.from(same.targetPropensity)).toEqual(Array.from(rows.propensity));
    expect(Array.from(same.targetPropensityCascade)).toEqual(Array.from(rows.propensityCascade));
    expect(Array.from(same.targetPropensityItemPositions)).toEqual(Array.from(rows.propensityItemPositions));
  });

  it('gives unbiased item-position and cascade weights (IIPS and RIPS of a known reward)', () => {
    // Slot reward r_k = c(a_k) (independent) or c(a_k) prod_{j<k} (1 - c(a_j)) (cascade): with the
    // rows' weights the means over logged slates match the target's exact values.
    const logger = makeExploration({ kind: 'epsilon-greedy', epsilon: 0.6 }, n, L);
    const target = makeExploration({ kind: 'softmax', temperature: 0.8 }, n, L);
    const builder = new SlateRowBuilder(logger, [target]);
    const slates = 20_000;
    const rows = builder.newRows(slates, { actionDist: false });
    const sLog = scoresOf(n, 30);
    const sTarget = scoresOf(n, 31);
    const c = Float64Array.from([0.9, 0.1, 0.5, 0.3, 0.7, 0.2]);
    const rng = blockStream(6, 'ips', 0);
    const slate = new Int32Array(L);
    const reward = new Float64Array(L);
    for (let i = 0; i < slates; i++) {
      logger.sample(sLog, rng, slate);
      for (let k = 0; k < L; k++) reward[k] = c[slate[k]];
      builder.write(rows, i, i, slate, reward, sLog, [sTarget]);
    }
    expect(rows.targets[0].actionDist).toBeNull();
    let iips = 0;
    let rips = 0;
    for (let r = 0; r < rows.rows; r++) {
      const t = rows.targets[0];
      iips += (t.targetPropensityItemPosition[r] / rows.propensityItemPosition[r]) * rows.reward[r];
      // Cascade reward of the row from the logged prefix.
      const k = rows.position[r];
      let cascadeReward = rows.reward[r];
      for (let j = 1; j <= k; j++) cascadeReward *= 1 - rows.reward[r - j];
      rips += (t.targetPropensityCascade[r] / rows.propensityCascade[r]) * cascadeReward;
    }
    iips /= slates;
    rips /= slates;
    let trueIndependent = 0;
    let trueCascade = 0;
    for (const sl of allSlates(n, L)) {
      const p = referenceJoint({ kind: 'softmax', temperature: 0.8 }, sTarget, sl);
      let unclicked = 1;
      for (const b of sl) {
        trueIndependent += p * c[b];
        trueCascade += p * unclicked * c[b];
        unclicked *= 1 - c[b];
      }
    }
    expect(Math.abs(iips - trueIndependent)).toBeLessThan(0.03);
    expect(Math.abs(rips - trueCascade)).toBeLessThan(0.03);
  });

  it('rejects bad input with errors that say what is wrong', () => {
    const s = scoresOf(n, 1);
    expect(() => makeExploration({ kind: 'top-k' }, 3, 4)).toThrow(/L \(slots\)/);
    expect(() => makeExploration({ kind: 'epsilon-greedy', epsilon: 1.5 }, n, L)).toThrow(/epsilon/);
    expect(() => makeExploration({ kind: 'softmax', temperature: 0 }, n, L)).toThrow(/temperature/);
    const policy: ExplorationPolicy = makeExploration({ kind: 'softmax', temperature: 1 }, n, L);
    const cascade = new Float64Array(L);
    expect(() => policy.followSlate(s, Int32Array.from([1, 2, 1]), cascade)).toThrow(/twice/);
    expect(() => policy.followSlate(s, Int32Array.from([1, 2, 6]), cascade)).toThrow(/outside/);
    const bad: Scores = Float64Array.from([0, 1, Number.NaN, 0, 0, 0]);
    expect(() => policy.followSlate(bad, Int32Array.from([1, 2, 3]), cascade)).toThrow(/item 2 is NaN/);
    expect(() => makeExploration({ kind: 'top-k' }, n, L).marginalsInto(new Float32Array(5), new Float64Array(L * n))).toThrow(/length 5/);
    // After a rejected vector the next good one is used in full.
    policy.followSlate(s, Int32Array.from([1, 2, 3]), cascade);
    expect(Math.abs(cascade[L - 1] - referenceJoint({ kind: 'softmax', temperature: 1 }, s, [1, 2, 3]))).toBeLessThan(1e-15);
    const builder = new SlateRowBuilder(makeExploration({ kind: 'top-k' }, n, L), []);
    const rows = builder.newRows(1);
    expect(() => builder.write(rows, 0, 0, Int32Array.from([5, 4, 3]), [0, 0, 0], s, [])).toThrow(/probability 0 under the logger/);
  });
});
