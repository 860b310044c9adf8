import { TreeSum } from './tree-sum.js';

/**
 * A finite-sample confidence interval for a policy's value V = E[w r] that stays informative when
 * a few rows carry most of the weight (where the plain empirical-Bernstein bound on IPS, whose
 * range is the largest possible weight, becomes vacuous).
 *
 * With rewards rescaled to r' = (r - a) / (b - a) in [0, 1] and any clip level L, for the
 * supported target (E[w] = 1):
 *   lower:  V' >= E[min(w, L) r']                                      (Thomas et al. 2015, HCOPE)
 *   upper:  V' = E[min(w,L) r'] + E[(w - L)+ r'] <= 1 - E[min(w, L) (1 - r')]
 * Both right-hand sides are means of terms in [0, min(L, W)], so the one-sided empirical-Bernstein
 * bound (Maurer & Pontil 2009, Thm 4) applies to each. Taking the best of a fixed grid of L with a
 * union bound (delta = alpha / (2 G) for each of the 2 G bounds) keeps the joint guarantee
 * P(V in [lower, upper]) >= 1 - alpha, in finite samples, for independent rows.
 *
 * The grid is fixed in advance (not chosen from the data): L = 4^k for k = 0..CLIP_LEVELS-2, and
 * L = infinity (min(w, L) = w, plain IPS), so that choosing the best L costs only the union bound.
 */
export const CLIP_GRID: readonly number[] = [1, 4, 16, 64, 256, 1024, Infinity];

/** Per clip level: sum m r, sum m, sum m^2 r^2, sum m^2 r, sum m^2, with m = min(w, L). */
const PER_LEVEL = 5;

export class ClippedMoments {
  private readonly tree = new TreeSum(CLIP_GRID.length * PER_LEVEL);
  private readonly block = new Float64Array(CLIP_GRID.length * PER_LEVEL);

  /** Adds one canonical block (rows summed in row order). */
  addBlock(w: Float64Array, r: Float64Array, n: number): void {
    const s = this.block;
    s.fill(0);
    for (let g = 0; g < CLIP_GRID.length; g++) {
      const L = CLIP_GRID[g];
      let smr = 0;
      let sm = 0;
      let sm2r2 = 0;
      let sm2r = 0;
      let sm2 = 0;
      for (let i = 0; i < n; i++) {
        const m = w[i] < L ? w[i] : L;
        const mr = m * r[i];
        smr += mr;
        sm += m;
        sm2r2 += mr * mr;
        sm2r += mr * m;
        sm2 += m * m;
      }
      const o = g * PER_LEVEL;
      s[o] = smr;
      s[o + 1] = sm;
      s[o + 2] = sm2r2;
      s[o + 3] = sm2r;
      s[o + 4] = sm2;
    }
    this.tree.addBlock(s);
  }

  result(): Float64Array {
    return this.tree.result();
  }
}

/** One-sided empirical-Bernstein lower bound on E[Z] for Z in [0, range] (Maurer & Pontil 2009, Thm 4). */
function bernsteinLower(mean: number, variance: number, n: number, range: number, delta: number): number {
  const l = Math.log(2 / delta);
  return mean - Math.sqrt((2 * Math.max(0, variance) * l) / n) - (7 * range * l) / (3 * (n - 1));
}

/**
 * The interval for V from the sums of ClippedMoments, reward range [a, b], a priori largest weight
 * wMax. Returns the reward range itself when n < 2.
 */
export function clippedValueInterval(sums: Float64Array, n: number, a: number, b: number, wMax: number, alpha: number): { lower: number; upper: number; bestLower: number; bestUpper: number } {
  const span = b - a;
  if (n < 2 || !(span > 0)) return { lower: a, upper: b, bestLower: NaN, bestUpper: NaN };
  // Only levels up to the first one at or above wMax matter; above it min(w, L) = w for every row.
  const levels: number[] = [];
  for (let g = 0; g < CLIP_GRID.length; g++) {
    levels.push(g);
    if (CLIP_GRID[g] >= wMax) break;
  }
  const delta = alpha / (2 * levels.length);
  let lo = 0;
  let hi = 1;
  let bestLower = NaN;
  let bestUpper = NaN;
  for (const g of levels) {
    const o = g * PER_LEVEL;
    const [smr, sm, sm2r2, sm2r, sm2] = [sums[o], sums[o + 1], sums[o + 2], sums[o + 3], sums[o + 4]];
    const range = Math.min(CLIP_GRID[g], wMax);
    // Z = m (r - a) / span: sums of Z and Z^2 from the raw moments.
    const sz = (smr - a * sm) / span;
    const sz2 = (sm2r2 - 2 * a * sm2r + a * a * sm2) / (span * span);
    // Y = m (1 - r') = m (b - r) / span.
    const sy = (b * sm - smr) / span;
    const sy2 = (b * b * sm2 - 2 * b * sm2r + sm2r2) / (span * span);
    const mz = sz / n;
    const my = sy / n;
    const vz = (sz2 - n * mz * mz) / (n - 1);
    const vy = (sy2 - n * my * my) / (n - 1);
    const lower = bernsteinLower(mz, vz, n, range, delta);
    const upper = 1 - bernsteinLower(my, vy, n, range, delta);
    if (lower > lo) {
      lo = lower;
      bestLower = CLIP_GRID[g];
    }
    if (upper < hi) {
      hi = upper;
      bestUpper = CLIP_GRID[g];
    }
  }
  return { lower: a + span * lo, upper: a + span * Math.max(hi, lo), bestLower, bestUpper };
}
