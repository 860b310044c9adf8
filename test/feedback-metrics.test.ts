import { describe, expect, it } from 'vitest';
import {
  averageRecommendationPopularity,
  catalogCoverage,
  countItems,
  giniIndex,
  headMembership,
  homogenization,
  longTailShare,
  popularityLift,
  regret,
  shannonEntropy,
} from '../simulators/feedback-metrics.js';
import { blockStream } from '../simulators/random-streams.js';

const f64 = (xs: number[]): Float64Array => Float64Array.from(xs);
const i32 = (xs: number[]): Int32Array => Int32Array.from(xs);

/** Gini as the mean absolute difference over ordered pairs divided by twice the mean (the definition). */
function giniByPairs(x: ArrayLike<number>): number {
  const n = x.length;
  let diff = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += x[i];
    for (let j = 0; j < n; j++) diff += Math.abs(x[i] - x[j]);
  }
  return diff / (2 * n * total);
}

describe('countItems', () => {
  it('counts item ids, rejects ids outside the catalog', () => {
    expect(Array.from(countItems(i32([0, 2, 2, 3]), 4))).toEqual([1, 0, 2, 1]);
    expect(Array.from(countItems(i32([]), 2))).toEqual([0, 0]);
    expect(() => countItems(i32([0, 4]), 4)).toThrow(/slates\[1\] = 4 is not an item id in \[0, 3\]/);
    expect(() => countItems(i32([-1]), 4)).toThrow(RangeError);
  });
});

describe('catalogCoverage', () => {
  it('is the share of items shown at least once', () => {
    expect(catalogCoverage(f64([0, 0, 0, 10]))).toBe(0.25);
    expect(catalogCoverage(f64([1, 1, 1, 1]))).toBe(1);
    expect(catalogCoverage(f64([0, 3, 0.5, 0, 0]))).toBe(0.4);
    expect(catalogCoverage(f64([0, 0, 0]))).toBe(0);
  });

  it('lies in [0, 1]; coverage@K of ten shared items in a catalog of 1000 is 0.01', () => {
    const rng = blockStream(1, 'test-coverage', 0);
    for (let t = 0; t < 20; t++) {
      const counts = Float64Array.from({ length: 50 }, () => (rng.uniform() < 0.3 ? 0 : Math.floor(rng.uniform() * 5)));
      const c = catalogCoverage(counts);
      expect(c).toBeGreaterThanOrEqual(0);
      expect(c).toBeLessThanOrEqual(1);
    }
    const slates = new Int32Array(1000 * 10);
    for (let j = 0; j < 1000; j++) for (let k = 0; k < 10; k++) slates[j * 10 + k] = 100 + k;
    expect(catalogCoverage(countItems(slates, 1000))).toBe(0.01);
  });

  it('rejects an empty catalog and negative or non-finite counts', () => {
    expect(() => catalogCoverage(f64([]))).toThrow(/catalogCoverage: the catalog is empty/);
    expect(() => catalogCoverage(f64([1, -1]))).toThrow(/counts must be finite and >= 0, got -1 for item 1/);
    expect(() => catalogCoverage(f64([NaN]))).toThrow(RangeError);
    expect(() => catalogCoverage(f64([Infinity]))).toThrow(RangeError);
  });
});

describe('giniIndex', () => {
  it('closed forms: one item takes all of 4 -> 3/4; equal exposure -> 0; [1, 2, 3, 4] -> 1/4', () => {
    expect(giniIndex(f64([0, 0, 0, 10]))).toBeCloseTo(0.75, 15);
    expect(giniIndex(f64([5, 5, 5, 5]))).toBe(0);
    // sum (2r - n - 1) x_(r) = -3 - 2 + 3 + 12 = 10, over n sum x = 40.
    expect(giniIndex(f64([4, 1, 3, 2]))).toBeCloseTo(0.25, 15);
    expect(giniIndex(f64([7]))).toBe(0);
  });

  it('k of I items sharing all exposure equally: (I - k) / I (ten shared items of 1000: 0.99)', () => {
    const counts = new Float64Array(1000);
    for (let k = 0; k < 10; k++) counts[100 + k] = 1000;
    expect(giniIndex(counts)).toBeCloseTo(0.99, 13);
  });

  it('matches the pairwise definition, is invariant to order and scale, and leaves its input alone', () => {
    const rng = blockStream(2, 'test-gini', 0);
    for (let t = 0; t < 10; t++) {
      const x = Float64Array.from({ length: 37 }, () => Math.floor(rng.uniform() * 20) * (rng.uniform() < 0.4 ? 0 : 1));
      if (x.every((v) => v === 0)) x[0] = 1;
      const copy = x.slice();
      const g = giniIndex(x);
      expect(Array.from(x)).toEqual(Array.from(copy));
      expect(g).toBeCloseTo(giniByPairs(x), 12);
      expect(giniIndex(x.map((v) => v * 3.5))).toBeCloseTo(g, 12);
      expect(giniIndex(x.slice().reverse())).toBeCloseTo(g, 15);
      expect(g).toBeGreaterThanOrEqual(0);
      expect(g).toBeLessThanOrEqual((x.length - 1) / x.length + 1e-15);
    }
  });

  it('no exposures: NaN; invalid counts: RangeError', () => {
    expect(giniIndex(f64([0, 0, 0]))).toBeNaN();
    expect(() => giniIndex(f64([]))).toThrow(RangeError);
    expect(() => giniIndex(f64([1, -2]))).toThrow(RangeError);
  });
});

describe('shannonEntropy', () => {
  it('closed forms: uniform over n -> ln n; one item -> 0; [1, 1, 2] -> 1.5 ln 2', () => {
    for (const n of [1, 2, 7, 1000]) expect(shannonEntropy(new Float64Array(n).fill(3))).toBeCloseTo(Math.log(n), 12);
    expect(shannonEntropy(f64([0, 0, 0, 10]))).toBe(0);
    expect(shannonEntropy(f64([1, 1, 2]))).toBeCloseTo(1.5 * Math.log(2), 15);
    expect(shannonEntropy(f64([0, 1, 0, 1, 2, 0]))).toBeCloseTo(1.5 * Math.log(2), 15);
    const shared = new Float64Array(1000);
    for (let k = 0; k < 10; k++) shared[100 + k] = 1000;
    expect(shannonEntropy(shared)).toBeCloseTo(Math.log(10), 13);
  });

  it('lies in [0, ln I], is scale invariant; no exposures: NaN', () => {
    const rng = blockStream(3, 'test-entropy', 0);
    const x = Float64Array.from({ length: 40 }, () => Math.floor(rng.uniform() * 9));
    const h = shannonEntropy(x);
    expect(h).toBeGreaterThan(0);
    expect(h).toBeLessThan(Math.log(40));
    expect(shannonEntropy(x.map((v) => v * 11))).toBeCloseTo(h, 13);
    expect(shannonEntropy(f64([0, 0]))).toBeNaN();
  });
});

describe('averageRecommendationPopularity', () => {
  it('is the mean of phi over every recommended entry', () => {
    expect(averageRecommendationPopularity(i32([0, 1, 1, 2]), f64([10, 4, 0]))).toBe(4.5);
    expect(averageRecommendationPopularity(i32([2, 2]), f64([10, 4, 0]))).toBe(0);
    // Per user first (Abdollahpouri et al.): equal slate sizes give the same number.
    const slates = i32([0, 1, 2, 2, 1, 1]);
    const phi = f64([9, 3, 1]);
    const perUser = [(9 + 3 + 1) / 3, (1 + 3 + 3) / 3];
    expect(averageRecommendationPopularity(slates, phi)).toBeCloseTo((perUser[0] + perUser[1]) / 2, 15);
  });

  it('no slates: NaN; an item outside the catalog: RangeError', () => {
    expect(averageRecommendationPopularity(i32([]), f64([1]))).toBeNaN();
    expect(() => averageRecommendationPopularity(i32([0, 3]), f64([1, 2, 3]))).toThrow(/slates\[1\] = 3 is not an item id in \[0, 2\]/);
  });
});

describe('headMembership and longTailShare', () => {
  const phi = f64([50, 40, 30, 20, 10, 0, 0, 0, 0, 0]);

  it('head = the headShare * I most popular items', () => {
    expect(Array.from(headMembership(phi))).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(headMembership(phi, 0.5))).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    // Item order does not matter.
    expect(Array.from(headMembership(f64([0, 30, 50, 0, 40]), 0.4))).toEqual([0, 0, 1, 0, 1]);
  });

  it('tied items at the head edge share the remaining places; a fractional size splits the edge item', () => {
    // I = 5, m = 2: tau = 3, one item above it and three tied at it: each tied item gets (2 - 1) / 3.
    const h = headMembership(f64([5, 3, 3, 3, 1]), 0.4);
    expect(h[0]).toBe(1);
    for (const i of [1, 2, 3]) expect(h[i]).toBeCloseTo(1 / 3, 15);
    expect(h[4]).toBe(0);
    expect(Array.from(headMembership(f64([4, 3, 2, 1, 0]), 0.3))).toEqual([1, 0.5, 0, 0, 0]);
    // No interactions yet: every item is at the edge, so every item is headShare head.
    for (const x of headMembership(new Float64Array(10), 0.2)) expect(x).toBeCloseTo(0.2, 15);
    // The head always has headShare * I places.
    const rng = blockStream(4, 'test-head', 0);
    const counts = Float64Array.from({ length: 97 }, () => Math.floor(rng.uniform() * 4));
    for (const share of [0, 0.05, 0.2, 0.33, 0.9, 1]) {
      let sum = 0;
      for (const x of headMembership(counts, share)) sum += x;
      expect(sum).toBeCloseTo(share * 97, 12);
    }
  });

  it('headShare 0: all tail; 1: all head; outside [0, 1]: RangeError', () => {
    expect(Array.from(headMembership(phi, 0))).toEqual(new Array(10).fill(0));
    expect(Array.from(headMembership(phi, 1))).toEqual(new Array(10).fill(1));
    expect(() => headMembership(phi, 1.2)).toThrow(/headShare must be a number in \[0, 1\], got 1.2/);
    expect(() => longTailShare(i32([0]), phi, -0.1)).toThrow(RangeError);
  });

  it('long-tail share = mean tail membership of the recommended entries', () => {
    expect(longTailShare(i32([0, 1, 5, 9]), phi)).toBe(0.5);
    expect(longTailShare(i32([0, 1, 0, 1]), phi)).toBe(0);
    expect(longTailShare(i32([7, 8]), phi)).toBe(1);
    // Tail membership of item 1 is 2/3 (tied at the edge), of item 4 is 1.
    expect(longTailShare(i32([1, 4]), f64([5, 3, 3, 3, 1]), 0.4)).toBeCloseTo(5 / 6, 15);
    expect(longTailShare(i32([]), phi)).toBeNaN();
    expect(() => longTailShare(i32([10]), phi)).toThrow(RangeError);
  });
});

describe('popularityLift', () => {
  it('(ARP_rec - ARP_profile) / ARP_profile', () => {
    expect(popularityLift(6, 4)).toBe(0.5);
    expect(popularityLift(2, 4)).toBe(-0.5);
    expect(popularityLift(4, 4)).toBe(0);
    // From a log: interactions with items [0, 0, 1, 2] under phi = counts of those interactions.
    const clicked = i32([0, 0, 1, 2]);
    const phi = countItems(clicked, 4); // [2, 1, 1, 0]
    const arpProfile = averageRecommendationPopularity(clicked, phi); // (2 + 2 + 1 + 1) / 4 = 1.5
    const arpRec = averageRecommendationPopularity(i32([0, 0, 0, 3]), phi); // (2 + 2 + 2 + 0) / 4 = 1.5
    expect(arpProfile).toBe(1.5);
    expect(popularityLift(arpRec, arpProfile)).toBe(0);
    expect(popularityLift(averageRecommendationPopularity(i32([0, 0]), phi), arpProfile)).toBeCloseTo(1 / 3, 15);
  });

  it('no popular interactions: NaN; negative input: RangeError', () => {
    expect(popularityLift(3, 0)).toBeNaN();
    expect(popularityLift(NaN, 2)).toBeNaN();
    expect(() => popularityLift(-1, 2)).toThrow(/recommendedARP must be >= 0, got -1/);
    expect(() => popularityLift(1, -2)).toThrow(/interactionARP must be >= 0/);
  });
});

describe('homogenization', () => {
  const rng = (): ReturnType<typeof blockStream> => blockStream(5, 'test-homogenization', 0);

  it('exact over all pairs: {0,1,2}, {1,2,3}, {4,5,6} -> (1/2 + 0 + 0) / 3', () => {
    const slates = i32([0, 1, 2, 1, 2, 3, 4, 5, 6]);
    expect(homogenization(slates, 3, 3, rng())).toBeCloseTo(1 / 6, 15);
    expect(homogenization(slates, 3, 1_000_000, rng())).toBeCloseTo(1 / 6, 15);
  });

  it('identical sets -> 1 (in any order), disjoint sets -> 0, duplicates count once', () => {
    expect(homogenization(i32([3, 1, 2, 2, 3, 1, 1, 2, 3]), 3, 10, rng())).toBe(1);
    expect(homogenization(i32([0, 1, 2, 3, 4, 5]), 2, 10, rng())).toBe(0);
    // {0, 1} and {1, 2}: 1 / 3.
    expect(homogenization(i32([0, 0, 1, 1, 2, 2]), 3, 10, rng())).toBeCloseTo(1 / 3, 15);
    // {5} and {5}: 1.
    expect(homogenization(i32([5, 5, 5, 5]), 2, 1, rng())).toBe(1);
  });

  it('sampled pairs: deterministic for a seeded stream and within 5 standard errors of the exact mean', () => {
    const gen = blockStream(6, 'test-slates', 0);
    const n = 300;
    const L = 10;
    const slates = new Int32Array(n * L);
    const perm = Int32Array.from({ length: 40 }, (_, i) => i);
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < L; k++) {
        const r = k + Math.floor(gen.uniform() * (40 - k));
        [perm[k], perm[r]] = [perm[r], perm[k]];
        slates[j * L + k] = perm[k];
      }
    }
    const pairs = (n * (n - 1)) / 2;
    const exact = homogenization(slates, L, pairs, rng());
    // Two random 10-subsets of 40 items share 10 * 10 / 40 = 2.5 items on average: J is about 2.5 / 17.5.
    expect(exact).toBeGreaterThan(0.1);
    expect(exact).toBeLessThan(0.2);
    const a = homogenization(slates, L, 2000, blockStream(7, 'pairs', 0));
    expect(homogenization(slates, L, 2000, blockStream(7, 'pairs', 0))).toBe(a);
    expect(homogenization(slates, L, 2000, blockStream(8, 'pairs', 0))).not.toBe(a);
    // J of a pair is at most 1, so its sd over pairs is at most 1/2: se <= 0.5 / sqrt(2000).
    expect(Math.abs(a - exact)).toBeLessThan((5 * 0.5) / Math.sqrt(2000));
  });

  it('fewer than two rows: NaN; bad shapes: RangeError', () => {
    expect(homogenization(i32([1, 2, 3]), 3, 10, rng())).toBeNaN();
    expect(() => homogenization(i32([1, 2, 3]), 2, 10, rng())).toThrow(/not a multiple of slateSize 2/);
    expect(() => homogenization(i32([1, 2]), 0, 10, rng())).toThrow(RangeError);
    expect(() => homogenization(i32([1, 2]), 1, 0, rng())).toThrow(RangeError);
    expect(() => homogenization(i32([1, -2]), 1, 1, rng())).toThrow(RangeError);
  });
});

describe('regret', () => {
  it('is the oracle value minus the policy value', () => {
    expect(regret(2.0, 1.5)).toBe(0.5);
    expect(regret(1, 1)).toBe(0);
  });
});

describe('one popular slate for everyone', () => {
  it('coverage L / I, Gini (I - L) / I, entropy ln L, homogenization 1, all head', () => {
    const I = 1000;
    const L = 10;
    const n = 500;
    const slates = new Int32Array(n * L);
    for (let j = 0; j < n; j++) for (let k = 0; k < L; k++) slates[j * L + k] = k;
    const exposure = countItems(slates, I);
    expect(catalogCoverage(exposure)).toBe(L / I);
    expect(giniIndex(exposure)).toBeCloseTo((I - L) / I, 13);
    expect(shannonEntropy(exposure)).toBeCloseTo(Math.log(L), 13);
    expect(homogenization(slates, L, 1000, blockStream(9, 'pairs', 0))).toBe(1);
    const phi = Float64Array.from({ length: I }, (_, i) => I - i);
    expect(longTailShare(slates, phi)).toBe(0);
    expect(averageRecommendationPopularity(slates, phi)).toBe(I - (L - 1) / 2);
  });
});
