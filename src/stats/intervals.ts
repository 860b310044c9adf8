import { normalCdf, normalQuantile } from './normal.js';
import { quantileSorted } from './quantile.js';

export type IntervalMethod = 'percentile' | 'bca' | 'normal' | 'bernstein';
export const INTERVAL_METHODS: readonly IntervalMethod[] = ['percentile', 'bca', 'normal', 'bernstein'];

export interface Interval {
  readonly method: IntervalMethod;
  readonly alpha: number;
  readonly lower: number;
  readonly upper: number;
}

/** Percentile bootstrap interval: type-7 quantiles alpha/2 and 1 - alpha/2 of the replicates. */
export function percentileInterval(sortedReplicates: Float64Array, alpha: number): Interval {
  return {
    method: 'percentile',
    alpha,
    lower: quantileSorted(sortedReplicates, alpha / 2),
    upper: quantileSorted(sortedReplicates, 1 - alpha / 2),
  };
}

/**
 * BCa (Efron 1987, JASA 82, eq. 2.3-2.8; Efron & Tibshirani 1993, §14.3): bias correction
 * z0 = Phi^-1(share of replicates below the estimate, ties counted half) and acceleration
 * a = sum d^3 / (6 (sum d^2)^1.5) with d = mean(theta_(-c)) - theta_(-c) over the jackknife.
 */
export function bcaInterval(sortedReplicates: Float64Array, estimate: number, acceleration: number, alpha: number): Interval {
  const B = sortedReplicates.length;
  let below = 0;
  let ties = 0;
  for (let b = 0; b < B; b++) {
    if (sortedReplicates[b] < estimate) below++;
    else if (sortedReplicates[b] === estimate) ties++;
  }
  const z0 = normalQuantile((below + 0.5 * ties) / B);
  const adjust = (p: number): number => {
    const z = normalQuantile(p);
    return normalCdf(z0 + (z0 + z) / (1 - acceleration * (z0 + z)));
  };
  if (!Number.isFinite(z0)) {
    // Every replicate on one side of the estimate: BCa is undefined; fall back to percentile.
    const p = percentileInterval(sortedReplicates, alpha);
    return { ...p, method: 'bca' };
  }
  return {
    method: 'bca',
    alpha,
    lower: quantileSorted(sortedReplicates, adjust(alpha / 2)),
    upper: quantileSorted(sortedReplicates, adjust(1 - alpha / 2)),
  };
}

/** Acceleration from jackknife values theta_(-c) (Efron & Tibshirani 1993, eq. 14.15). */
export function jackknifeAcceleration(leaveOneOut: Float64Array): number {
  const G = leaveOneOut.length;
  let mean = 0;
  for (let c = 0; c < G; c++) mean += leaveOneOut[c];
  mean /= G;
  let s2 = 0;
  let s3 = 0;
  for (let c = 0; c < G; c++) {
    const d = mean - leaveOneOut[c];
    s2 += d * d;
    s3 += d * d * d;
  }
  return s2 > 0 ? s3 / (6 * Math.pow(s2, 1.5)) : 0;
}

/** Normal interval estimate +- z se (se from the delta method). */
export function normalInterval(estimate: number, se: number, alpha: number): Interval {
  const z = normalQuantile(1 - alpha / 2);
  return { method: 'normal', alpha, lower: estimate - z * se, upper: estimate + z * se };
}

/**
 * Empirical Bernstein interval for the mean of n i.i.d. terms known a priori to lie in [lo, hi]
 * (Maurer & Pontil 2009, "Empirical Bernstein bounds and sample variance penalization", Thm 4):
 * with probability >= 1 - delta, |mean - E| <= sqrt(2 V ln(2/delta) / n) + 7 (hi - lo) ln(2/delta) / (3 (n - 1)),
 * V the unbiased sample variance. Each side at delta = alpha / 2 (union bound), so the two-sided
 * interval holds with probability >= 1 - alpha in finite samples. Clipped to [lo, hi].
 */
export function bernsteinInterval(mean: number, sampleVariance: number, n: number, range: readonly [number, number], alpha: number): Interval {
  const [lo, hi] = range;
  if (n < 2 || !Number.isFinite(hi - lo)) return { method: 'bernstein', alpha, lower: -Infinity, upper: Infinity };
  const logTerm = Math.log(2 / (alpha / 2));
  const half = Math.sqrt((2 * Math.max(0, sampleVariance) * logTerm) / n) + (7 * (hi - lo) * logTerm) / (3 * (n - 1));
  return { method: 'bernstein', alpha, lower: Math.max(lo, mean - half), upper: Math.min(hi, mean + half) };
}
