import { bcaInterval, jackknifeAcceleration, normalInterval, percentileInterval, type Interval, type IntervalMethod } from '../stats/intervals.js';
import { sampleSd } from '../stats/quantile.js';
import type { EvaluationPlan } from './plan.js';
import type { PassTotals } from './evaluate.js';
import type { DifferenceResult, EstimateResult, EvaluationResult, KnownBounds, PolicyDiagnostics } from './results.js';
import { clippedValueInterval } from '../stats/clipped-bounds.js';
import { jointSlateWeights } from '../../estimators/slate-statistics.js';
import type { WeightColumns } from './plan.js';

export interface SummaryOptions {
  readonly replicates: number;
  readonly kind: 'poisson' | 'multinomial';
  readonly seed: number;
  readonly ci: IntervalMethod;
  readonly alpha: number;
  readonly bounds?: KnownBounds & { source: string };
}

/**
 * When the bootstrap is not to be trusted. Bootstrap intervals of importance-weighted means
 * under-cover when a few rows carry much of the weight (the replicates rarely see the rare heavy
 * rows, so their spread understates the variance). Thresholds from the coverage study in the
 * README (bench/coverage.ts): below them the percentile interval covered at >= 90%.
 */
export const HEAVY_WEIGHT = { essShare: 0.1, maxWeightShare: 0.01 } as const;

/** Issue 4: the standard slate weight is degenerate when its ESS is under 1% of the slates. */
export const DEGENERATE_SLATE_ESS_SHARE = 0.01;

const SLATE_ALTERNATIVES = 'use iips (rewards independent across slots), rips or cascade-dr (cascade: a slot depends on the items above it), or pi (factorized logger, additive rewards)';

/** ESS, share of units, heaviest weight and its share of the weight sum, from a WeightColumns' sums. */
function weightSummary(t: PassTotals, c: WeightColumns, max: number): { ess: number; essShare: number; units: number; maxWeight: number; maxWeightShare: number } {
  const sum = t.sums[c.sum];
  const sum2 = t.sums[c.sumSquares];
  const units = t.sums[c.units];
  const ess = sum2 > 0 ? (sum * sum) / sum2 : 0;
  return { ess, essShare: units > 0 ? ess / units : 0, units, maxWeight: max, maxWeightShare: sum > 0 ? max / sum : 0 };
}

/** Turns the pass's sums into estimates, standard errors, intervals and diagnostics. */
export function summarize(plan: EvaluationPlan, t: PassTotals, o: SummaryOptions): EvaluationResult {
  const M = plan.columns.length;
  const n = t.n;
  const means = new Float64Array(M);
  for (let j = 0; j < M; j++) means[j] = t.sums[j] / n;
  const B = t.replicateSums !== undefined ? t.replicateSums.length / (plan.bootstrapColumns.length + 1) : 0;

  const policies: PolicyDiagnostics[] = plan.policies.map((name, p) => policyDiagnostics(plan, t, o, means, B, name, p));

  const estimates: EstimateResult[] = plan.slots.map((slot, k) => {
    const e = slot.estimator;
    const m = slot.columns.map((j) => means[j]);
    const value = e.combine(m);
    const g = e.gradient(m);
    const deltaSe = deltaMethodSe(plan, t, slot.columns, g, means, n);
    const intervals: Partial<Record<IntervalMethod, Interval>> = {};
    let se = deltaSe;
    let seMethod: 'bootstrap' | 'delta' = 'delta';
    let sorted: Float64Array | undefined;
    let dropped = 0;
    if (B >= 2 && t.replicateSums !== undefined) {
      sorted = replicateEstimates(plan, t.replicateSums, B, slot.columns, (mm) => e.combine(mm));
      dropped = B - sorted.length;
      se = sampleSd(sorted);
      seMethod = 'bootstrap';
      sorted.sort();
      intervals.percentile = percentileInterval(sorted, o.alpha);
      if (t.moments.stored !== undefined) {
        const a = jackknifeAcceleration(leaveOneOut(t, M, slot.columns, (mm) => e.combine(mm)));
        intervals.bca = bcaInterval(sorted, value, a, o.alpha);
      }
    }
    intervals.normal = normalInterval(value, deltaSe, o.alpha);
    const finite = policies[slot.policy].valueInterval;
    if (finite !== undefined) intervals.bernstein = finite;
    const diagnostics: Record<string, number> = {};
    (e.diagnostics ?? []).forEach((d, j) => (diagnostics[d.name] = means[slot.diagnosticColumns[j]]));
    let own: ReturnType<typeof weightSummary> | undefined;
    if (slot.weightColumns !== undefined) {
      own = weightSummary(t, slot.weightColumns, t.unitWeightMax[k] ?? NaN);
      diagnostics.weight_ess = own.ess;
      diagnostics.weight_ess_share = own.essShare;
      diagnostics.max_weight = own.maxWeight;
      diagnostics.max_weight_share = own.maxWeightShare;
    }
    const warnings = estimateWarnings(policies[slot.policy], own, intervals, o);
    if (own !== undefined && e.weights === jointSlateWeights && own.essShare < DEGENERATE_SLATE_ESS_SHARE) {
      warnings.push(
        `DEGENERATE: the joint slate weights have an ESS of ${fmt(own.ess)} slates (${fmt(100 * own.essShare)}% of ${Math.round(own.units)}); slate-ips cannot be trusted here — ${SLATE_ALTERNATIVES}`,
      );
    }
    if (dropped > 0) warnings.push(`${dropped} of ${B} bootstrap replicates had no estimate (no rows drawn, or a zero normalizer) and were left out`);
    const chosen = intervals[o.ci] ?? unavailable(o.ci, o.alpha);
    return {
      policy: plan.policies[slot.policy],
      estimator: e.name,
      label: e.label,
      params: e.params,
      value,
      se,
      seMethod,
      ci: chosen,
      intervals,
      diagnostics,
      warnings,
    };
  });

  const differences = plan.contrasts.length > 0 ? pairedDifferences(plan, t, o, means, B) : undefined;
  const warnings: string[] = [];
  if (!t.clustered) warnings.push('no request_id: the bootstrap resamples rows; if rows of one request share a context, give request_id so whole requests are resampled');
  return {
    n,
    seed: o.seed,
    bootstrap: { replicates: o.replicates, kind: o.kind, clustered: t.clustered },
    alpha: o.alpha,
    ciMethod: o.ci,
    bounds: o.bounds !== undefined ? { rewardMin: o.bounds.rewardMin, rewardMax: o.bounds.rewardMax, maxWeight: o.bounds.maxWeight, source: o.bounds.source } : undefined,
    estimates,
    policies,
    differences,
    warnings,
  };
}

/**
 * candidate - baseline for every contrast and every estimator both policies have: the function
 * f_c(m_c) - f_b(m_b) of the union of their columns, so the delta method (with the cross-moments the
 * plan added), the replicates (the same W_ib for both) and the jackknife apply unchanged.
 */
function pairedDifferences(plan: EvaluationPlan, t: PassTotals, o: SummaryOptions, means: Float64Array, B: number): DifferenceResult[] {
  const out: DifferenceResult[] = [];
  const M = plan.columns.length;
  for (const [c, b] of plan.contrasts) {
    for (const sc of plan.slots) {
      if (sc.policy !== c) continue;
      const sb = plan.slots.find((x) => x.policy === b && x.estimator.label === sc.estimator.label);
      if (sb === undefined) continue;
      const columns = [...sc.columns, ...sb.columns];
      const nc = sc.columns.length;
      const f = (mm: ArrayLike<number>): number => sc.estimator.combine(Array.prototype.slice.call(mm, 0, nc)) - sb.estimator.combine(Array.prototype.slice.call(mm, nc));
      const m = columns.map((j) => means[j]);
      const value = f(m);
      const g = [...sc.estimator.gradient(m.slice(0, nc)), ...sb.estimator.gradient(m.slice(nc)).map((x) => -x)];
      const deltaSe = deltaMethodSe(plan, t, columns, g, means, t.n);
      const intervals: Partial<Record<IntervalMethod, Interval>> = { normal: normalInterval(value, deltaSe, o.alpha) };
      let se = deltaSe;
      let seMethod: 'bootstrap' | 'delta' = 'delta';
      let replicates: Float64Array | undefined;
      if (B >= 2 && t.replicateSums !== undefined) {
        replicates = replicateValues(plan, t.replicateSums, B, columns, f);
        const sorted = replicates.filter((v) => Number.isFinite(v));
        se = sampleSd(sorted);
        seMethod = 'bootstrap';
        sorted.sort();
        intervals.percentile = percentileInterval(sorted, o.alpha);
        if (t.moments.stored !== undefined) intervals.bca = bcaInterval(sorted, value, jackknifeAcceleration(leaveOneOut(t, M, columns, f)), o.alpha);
      }
      out.push({
        candidate: plan.policies[c],
        baseline: plan.policies[b],
        estimator: sc.estimator.name,
        label: sc.estimator.label,
        value,
        se,
        seMethod,
        ci: intervals[o.ci] ?? intervals.normal ?? unavailable(o.ci, o.alpha),
        intervals,
        replicates,
      });
    }
  }
  return out;
}

function unavailable(method: IntervalMethod, alpha: number): Interval {
  return { method, alpha, lower: NaN, upper: NaN };
}

/**
 * theta_b = f(S_b / N_b) for every replicate, for the columns of one estimator. A replicate that
 * drew no rows (N_b = 0, likely only for tiny logs) or whose normalizer is 0 has no estimate and
 * is dropped; the caller reports how many.
 */
function replicateEstimates(plan: EvaluationPlan, sums: Float64Array, B: number, columns: readonly number[], f: (m: ArrayLike<number>) => number): Float64Array {
  return replicateValues(plan, sums, B, columns, f).filter((v) => Number.isFinite(v));
}

/** theta_b for b = 0..B-1 in replicate order, NaN where replicate b has no estimate. */
function replicateValues(plan: EvaluationPlan, sums: Float64Array, B: number, columns: readonly number[], f: (m: ArrayLike<number>) => number): Float64Array {
  const stride = plan.bootstrapColumns.length + 1;
  const pos = columns.map((j) => plan.bootstrapIndex[j]);
  const out = new Float64Array(B);
  const m = new Float64Array(columns.length);
  for (let b = 0; b < B; b++) {
    const o = b * stride;
    const N = sums[o];
    for (let k = 0; k < pos.length; k++) m[k] = sums[o + 1 + pos[k]] / N;
    const v = N > 0 ? f(m) : NaN;
    out[b] = Number.isFinite(v) ? v : NaN;
  }
  return out;
}

/** Exact cluster jackknife theta_(-c) = f((S - T_c) / (N - n_c)) (DESIGN.md §1). */
function leaveOneOut(t: PassTotals, M: number, columns: readonly number[], f: (m: ArrayLike<number>) => number): Float64Array {
  const store = t.moments.stored;
  if (store === undefined) return new Float64Array(0);
  const out = new Float64Array(store.count);
  const m = new Float64Array(columns.length);
  for (let c = 0; c < store.count; c++) {
    const N = t.n - store.sizes[c];
    for (let k = 0; k < columns.length; k++) m[k] = (t.sums[columns[k]] - store.totals[c * M + columns[k]]) / N;
    out[c] = f(m);
  }
  return out;
}

/**
 * Delta method over clusters: Var = (1/N^2) sum_c (g . (T_c - n_c mu))^2, expanded into the
 * streamed moments sum_c T_cj T_ck, sum_c n_c T_cj and sum_c n_c^2.
 */
function deltaMethodSe(plan: EvaluationPlan, t: PassTotals, columns: readonly number[], g: readonly number[], means: Float64Array, n: number): number {
  const pairIndex = new Map<string, number>();
  for (let p = 0; p < plan.pairs.length / 2; p++) pairIndex.set(`${plan.pairs[2 * p]},${plan.pairs[2 * p + 1]}`, p);
  const { pairProducts, sizeWeighted, sizeSquares } = t.moments;
  let v = 0;
  for (let a = 0; a < columns.length; a++) {
    for (let b = 0; b < columns.length; b++) {
      if (g[a] === 0 || g[b] === 0) continue;
      const j = columns[a];
      const k = columns[b];
      const p = pairIndex.get(j <= k ? `${j},${k}` : `${k},${j}`);
      if (p === undefined) throw new Error(`missing cross-moment for columns ${j}, ${k}`);
      const cov = pairProducts[p] - means[k] * sizeWeighted[j] - means[j] * sizeWeighted[k] + means[j] * means[k] * sizeSquares;
      v += g[a] * g[b] * cov;
    }
  }
  return Math.sqrt(Math.max(0, v)) / n;
}

function policyDiagnostics(plan: EvaluationPlan, t: PassTotals, o: SummaryOptions, means: Float64Array, B: number, name: string, p: number): PolicyDiagnostics {
  const n = t.n;
  const wj = plan.weightColumn[p];
  const sumW = t.sums[wj];
  const sumW2 = t.sums[plan.squaredWeightColumn[p]];
  const ess = sumW2 > 0 ? (sumW * sumW) / sumW2 : 0;
  const meanWeight = means[wj];
  let meanWeightCi: Interval;
  const deltaSe = deltaMethodSe(plan, t, [wj], [1], means, n);
  if (B >= 2 && t.replicateSums !== undefined && plan.bootstrapIndex[wj] >= 0) {
    const reps = replicateEstimates(plan, t.replicateSums, B, [wj], (m) => m[0]);
    reps.sort();
    meanWeightCi = o.ci === 'normal' ? normalInterval(meanWeight, deltaSe, o.alpha) : percentileInterval(reps, o.alpha);
  } else {
    meanWeightCi = normalInterval(meanWeight, deltaSe, o.alpha);
  }
  const maxWeight = t.maxWeight[p];
  const maxWeightShare = sumW > 0 ? maxWeight / sumW : 0;
  const warnings: string[] = [];
  const essShare = ess / n;
  const slateColumns = plan.slateWeightColumns?.[p];
  const slate = slateColumns !== undefined ? weightSummary(t, slateColumns, maxWeight) : undefined;
  if (slate !== undefined) {
    // On a slate log w is the joint slate weight, which only slate-ips applies: say so in its terms.
    if (slate.essShare < DEGENERATE_SLATE_ESS_SHARE) {
      warnings.push(
        `DEGENERATE SLATE WEIGHTS: the joint slate weights pi(slate)/mu(slate) have an ESS of ${fmt(slate.ess)} slates (${fmt(100 * slate.essShare)}% of ${Math.round(slate.units)}), the heaviest slate carries ${fmt(100 * slate.maxWeightShare)}% of the weight; slate-ips is unusable — ${SLATE_ALTERNATIVES}`,
      );
    } else if (slate.essShare < HEAVY_WEIGHT.essShare || slate.maxWeightShare > HEAVY_WEIGHT.maxWeightShare) {
      warnings.push(
        `HEAVY SLATE WEIGHTS: the joint slate weights have an ESS of ${fmt(slate.ess)} slates (${fmt(100 * slate.essShare)}% of ${Math.round(slate.units)}) and the heaviest slate carries ${fmt(100 * slate.maxWeightShare)}% of the weight; slate-ips intervals are likely too narrow`,
      );
    }
  } else if (essShare < HEAVY_WEIGHT.essShare || maxWeightShare > HEAVY_WEIGHT.maxWeightShare) {
    warnings.push(
      `HEAVY WEIGHTS: effective sample size ${fmt(ess)} is ${fmt(100 * essShare)}% of n and one row carries ${fmt(100 * maxWeightShare)}% of the total weight; bootstrap and normal intervals are likely too narrow here` +
        (o.bounds !== undefined
          ? ' — use the empirical-Bernstein interval (--ci bernstein), which holds in finite samples'
          : ' — give --reward-range to get an empirical-Bernstein interval that holds in finite samples'),
    );
  }
  if (!(meanWeightCi.lower <= 1 && 1 <= meanWeightCi.upper)) {
    warnings.push(
      `mean weight ${fmt(meanWeight)} with interval [${fmt(meanWeightCi.lower)}, ${fmt(meanWeightCi.upper)}] excludes 1: the target puts mass where the logger rarely or never acts, or the propensities are wrong; every IPS-family estimate is suspect`,
    );
  }
  const unsupported = t.unsupportedMass[p];
  if (unsupported !== undefined && unsupported > 0) {
    warnings.push(`the target puts ${fmt(100 * unsupported)}% of its mass on actions the logger never took in this log: no estimator can see their rewards except through the reward model`);
  }
  if (t.rowsWeightAbove1000[p] > 0) warnings.push(`${t.rowsWeightAbove1000[p]} rows have weights above 1000`);
  // The clipped bound is for a per-row value; a slate's value sums its slots (not built yet for slates).
  const valueInterval =
    o.bounds === undefined || slate !== undefined
      ? undefined
      : { method: 'bernstein' as const, alpha: o.alpha, ...pick(clippedValueInterval(t.clippedSums[p], n, o.bounds.rewardMin, o.bounds.rewardMax, o.bounds.maxWeight, o.alpha)) };
  return {
    policy: name,
    n,
    valueInterval,
    requests: t.moments.clusters,
    ess,
    essShare,
    meanWeight,
    meanWeightCi,
    maxWeight,
    maxWeightShare,
    rowsWeightAbove1000: t.rowsWeightAbove1000[p],
    unsupportedMass: unsupported,
    slate: slate === undefined ? undefined : { slates: slate.units, ess: slate.ess, essShare: slate.essShare, maxWeight: slate.maxWeight, maxWeightShare: slate.maxWeightShare },
    warnings,
  };
}

/** Heavy weights: judged on the estimator's own weights when it reports them (slate estimators), else the policy's. */
function estimateWarnings(policy: PolicyDiagnostics, own: { essShare: number; maxWeightShare: number } | undefined, intervals: Partial<Record<IntervalMethod, Interval>>, o: SummaryOptions): string[] {
  const out: string[] = [];
  const w = own ?? policy;
  const heavy = w.essShare < HEAVY_WEIGHT.essShare || w.maxWeightShare > HEAVY_WEIGHT.maxWeightShare;
  if (heavy && o.ci !== 'bernstein') {
    out.push(
      intervals.bernstein !== undefined
        ? `interval likely too narrow (heavy weights); finite-sample interval [${fmt(intervals.bernstein.lower)}, ${fmt(intervals.bernstein.upper)}]`
        : 'interval likely too narrow (heavy weights)',
    );
  }
  return out;
}

function pick(i: { lower: number; upper: number }): { lower: number; upper: number } {
  return { lower: i.lower, upper: i.upper };
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toPrecision(4).replace(/\.?0+$/, '');
}
