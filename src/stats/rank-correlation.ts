/*
 * Correlations between paired samples, as pure functions (issue 9: does the offline delta of a
 * release predict its online delta?). Every function takes two arrays of the same length and
 * returns NaN when the statistic is undefined (fewer than 2 pairs, or a constant side for the
 * correlations), never throws on data.
 */

function checkPaired(x: ArrayLike<number>, y: ArrayLike<number>, what: string): void {
  if (x.length !== y.length) throw new RangeError(`${what}: x has ${x.length} values and y has ${y.length}`);
}

/**
 * Ranks from 1 to n, ties given the mean of the ranks they span (mid-ranks, "average" in scipy and
 * pandas): [10, 20, 20, 30] -> [1, 2.5, 2.5, 4]. Sorting is stable, NaN is not expected (callers
 * check their data first) and would rank last.
 */
export function midRanks(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => {
    const xa = x[a];
    const xb = x[b];
    if (xa < xb) return -1;
    if (xa > xb) return 1;
    if (Number.isNaN(xa) !== Number.isNaN(xb)) return Number.isNaN(xa) ? 1 : -1;
    return a - b;
  });
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && x[order[j]] === x[order[i]]) j++;
    // Positions i..j-1 (0-based) tie: ranks i+1..j, whose mean is (i + 1 + j) / 2.
    const r = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) ranks[order[k]] = r;
    i = j;
  }
  return ranks;
}

/**
 * Pearson's product-moment correlation, two-pass (means first) for accuracy; clamped to [-1, 1]
 * against rounding. NaN when n < 2 or either side is constant.
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPaired(x, y, 'pearson');
  const n = x.length;
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (!(sxx > 0) || !(syy > 0)) return NaN;
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.max(-1, Math.min(1, r));
}

/**
 * Spearman's rank correlation with ties handled the standard way: Pearson's correlation of the
 * mid-ranks (not the 1 - 6 sum d^2 / (n (n^2 - 1)) shortcut, which is only exact without ties).
 * NaN when n < 2 or either side is constant.
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPaired(x, y, 'spearman');
  return pearson(midRanks(x), midRanks(y));
}

/**
 * Share of pairs with sign(x) = sign(y), with sign in {-1, 0, +1}: a zero agrees only with a zero.
 * An offline delta of exactly 0 predicted "no change", so it is right only when the online delta is
 * exactly 0 too, and an online 0 confirms no nonzero offline call. Every pair counts (n is the
 * same as for the correlations). NaN when n = 0.
 */
export function signAgreement(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPaired(x, y, 'signAgreement');
  const n = x.length;
  if (n === 0) return NaN;
  let agree = 0;
  for (let i = 0; i < n; i++) if (Math.sign(x[i]) === Math.sign(y[i])) agree++;
  return agree / n;
}
