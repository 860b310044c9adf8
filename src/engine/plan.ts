import type { Estimator, RowStatistic, WeightDiagnostic } from '../../estimators/estimator.js';
import { squaredWeight, weight } from '../../estimators/row-statistics.js';
import { jointSlateWeights, slateStart } from '../../estimators/slate-statistics.js';

/**
 * The columns of one evaluation: every (policy, per-row statistic) pair that any requested
 * estimator or diagnostic needs, each once (statistics are deduplicated by key within a policy).
 * The bootstrap runs over `bootstrapColumns` only, all policies at once, so paired comparisons
 * (candidate minus baseline) see the same weights.
 */
export interface PlannedColumn {
  readonly policy: number;
  readonly stat: RowStatistic;
  readonly bootstrap: boolean;
}

export interface EstimatorSlot {
  readonly policy: number;
  readonly estimator: Estimator;
  /** Global column index of each of the estimator's statistics. */
  readonly columns: readonly number[];
  /** Global column index of each of its mean diagnostics. */
  readonly diagnosticColumns: readonly number[];
  /** Columns of its weight diagnostic (slate estimators). */
  readonly weightColumns?: WeightColumns;
}

/** Columns of a WeightDiagnostic: sum of unit weights, of their squares, and the unit count. */
export interface WeightColumns {
  readonly sum: number;
  readonly sumSquares: number;
  readonly units: number;
}

export interface EvaluationPlan {
  readonly policies: readonly string[];
  readonly columns: readonly PlannedColumn[];
  readonly slots: readonly EstimatorSlot[];
  /** Per policy: column of w and of w^2. */
  readonly weightColumn: readonly number[];
  readonly squaredWeightColumn: readonly number[];
  /** Global indices of bootstrapped columns, and the inverse map (column -> position or -1). */
  readonly bootstrapColumns: readonly number[];
  readonly bootstrapIndex: Int32Array;
  /** (j, k) pairs of columns whose cross-moments the delta method needs, flattened. */
  readonly pairs: Int32Array;
  readonly needsRewardModel: readonly boolean[];
  /** Slate logs (some estimator counts slates): per policy, the joint slate weights' columns. */
  readonly slateWeightColumns?: readonly WeightColumns[];
  /** Paired differences asked for, as (candidate, baseline) policy indices; their cross-moments are in `pairs`. */
  readonly contrasts: readonly (readonly [number, number])[];
}

/** Estimators that divide by the number of slates read slate logs. */
export function isSlatePlan(estimators: readonly Estimator[]): boolean {
  return estimators.some((e) => e.stats.some((s) => s.key === slateStart.key));
}

export function planEvaluation(policies: readonly string[], estimators: readonly Estimator[], contrasts: readonly (readonly [number, number])[] = []): EvaluationPlan {
  const columns: PlannedColumn[] = [];
  const byKey = new Map<string, number>();
  const columnFor = (policy: number, stat: RowStatistic, bootstrap: boolean): number => {
    const k = `${policy}\u0000${stat.key}`;
    const existing = byKey.get(k);
    if (existing !== undefined) {
      if (bootstrap && !columns[existing].bootstrap) columns[existing] = { ...columns[existing], bootstrap: true };
      return existing;
    }
    columns.push({ policy, stat, bootstrap });
    byKey.set(k, columns.length - 1);
    return columns.length - 1;
  };
  const slots: EstimatorSlot[] = [];
  const weightColumn: number[] = [];
  const squaredWeightColumn: number[] = [];
  const needsRewardModel: boolean[] = [];
  const weightColumnsOf = (p: number, d: WeightDiagnostic): WeightColumns => ({
    sum: columnFor(p, d.sum, false),
    sumSquares: columnFor(p, d.sumSquares, false),
    units: columnFor(p, d.units, false),
  });
  const slate = isSlatePlan(estimators);
  const slateWeightColumns: WeightColumns[] = [];
  for (let p = 0; p < policies.length; p++) {
    if (slate) slateWeightColumns.push(weightColumnsOf(p, jointSlateWeights));
    // The mean-weight interval (a support diagnostic) uses the bootstrap only when an estimator
    // (snips, sndr) bootstraps w anyway; otherwise the delta method, which saves a bootstrap column.
    weightColumn.push(columnFor(p, weight, false));
    squaredWeightColumn.push(columnFor(p, squaredWeight, false));
    let needsQ = false;
    for (const e of estimators) {
      const cols = e.stats.map((s) => columnFor(p, s, true));
      const diag = (e.diagnostics ?? []).map((d) => columnFor(p, d.stat, false));
      const weightColumns = e.weights !== undefined ? weightColumnsOf(p, e.weights) : undefined;
      slots.push({ policy: p, estimator: e, columns: cols, diagnosticColumns: diag, weightColumns });
      needsQ ||= e.stats.some((s) => s.needsRewardModel);
    }
    needsRewardModel.push(needsQ);
  }
  const bootstrapColumns = columns.map((c, j) => (c.bootstrap ? j : -1)).filter((j) => j >= 0);
  const bootstrapIndex = new Int32Array(columns.length).fill(-1);
  bootstrapColumns.forEach((j, pos) => (bootstrapIndex[j] = pos));
  const pairSet = new Map<string, [number, number]>();
  const addPairs = (cols: readonly number[]) => {
    for (const a of cols) for (const b of cols) if (a <= b) pairSet.set(`${a},${b}`, [a, b]);
  };
  for (const s of slots) addPairs(s.columns);
  weightColumn.forEach((w) => addPairs([w]));
  // A paired difference's delta method needs the cross-moments of the two policies' columns.
  for (const [c, b] of contrasts) {
    for (const sc of slots) {
      if (sc.policy !== c) continue;
      const sb = slots.find((x) => x.policy === b && x.estimator.label === sc.estimator.label);
      if (sb !== undefined) addPairs([...sc.columns, ...sb.columns]);
    }
  }
  const pairs = new Int32Array([...pairSet.values()].flat());
  return {
    policies,
    columns,
    slots,
    weightColumn,
    squaredWeightColumn,
    bootstrapColumns,
    bootstrapIndex,
    pairs,
    needsRewardModel,
    slateWeightColumns: slate ? slateWeightColumns : undefined,
    contrasts,
  };
}
