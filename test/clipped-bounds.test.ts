import { describe, expect, it } from 'vitest';
import { CLIP_GRID, ClippedMoments, clippedValueInterval } from '../src/stats/clipped-bounds.js';

/** The same interval computed straight from the rows, term by term (independent of the moment algebra). */
function direct(w: number[], r: number[], a: number, b: number, wMax: number, alpha: number): { lower: number; upper: number } {
  const n = w.length;
  const levels = [];
  for (const L of CLIP_GRID) {
    levels.push(L);
    if (L >= wMax) break;
  }
  const delta = alpha / (2 * levels.length);
  const lb = (xs: number[], range: number) => {
    const m = xs.reduce((s, v) => s + v, 0) / n;
    const v = xs.reduce((s, x) => s + (x - m) ** 2, 0) / (n - 1);
    const l = Math.log(2 / delta);
    return m - Math.sqrt((2 * v * l) / n) - (7 * range * l) / (3 * (n - 1));
  };
  let lo = 0;
  let hi = 1;
  for (const L of levels) {
    const m = w.map((x) => Math.min(x, L));
    const rp = r.map((x) => (x - a) / (b - a));
    lo = Math.max(lo, lb(m.map((x, i) => x * rp[i]), Math.min(L, wMax)));
    hi = Math.min(hi, 1 - lb(m.map((x, i) => x * (1 - rp[i])), Math.min(L, wMax)));
  }
  return { lower: a + (b - a) * lo, upper: a + (b - a) * Math.max(hi, lo) };
}

describe('finite-sample value interval (clipped empirical Bernstein, union bound over clip levels)', () => {
  it('equals a direct term-by-term computation', () => {
    let s = 17;
    const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
    const n = 5000;
    const w = Array.from({ length: n }, () => (rand() < 0.02 ? 40 * rand() : 0.98 * rand() * 2));
    const r = Array.from({ length: n }, () => 2 + 3 * rand()); // rewards in [2, 5]
    const mom = new ClippedMoments();
    mom.addBlock(Float64Array.from(w), Float64Array.from(r), n);
    const got = clippedValueInterval(mom.result(), n, 2, 5, 50, 0.05);
    const want = direct(w, r, 2, 5, 50, 0.05);
    expect(got.lower).toBeCloseTo(want.lower, 10);
    expect(got.upper).toBeCloseTo(want.upper, 10);
    expect(got.lower).toBeGreaterThan(2);
    expect(got.upper).toBeLessThan(5);
  });

  it('never leaves the reward range and is the whole range for n < 2', () => {
    const mom = new ClippedMoments();
    mom.addBlock(Float64Array.of(3), Float64Array.of(1), 1);
    expect(clippedValueInterval(mom.result(), 1, 0, 1, 10, 0.05)).toMatchObject({ lower: 0, upper: 1 });
  });
});
