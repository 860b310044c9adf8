import type { BanditColumns } from '../src/data/bandit-columns.js';

/**
 * Every estimator is "per-row statistics + a combine function of their means" (DESIGN.md §1).
 * The engine sums each statistic over rows (or under bootstrap weights), divides by the row count
 * (or the sum of bootstrap weights) and calls `combine`. Statistics are identified by `key`: two
 * estimators that need the same per-row value (say w*r) share one column, one sum, one bootstrap.
 */
interface StatisticBase {
  /** Same key = same per-row value, everywhere. Also the column name in `--json` and SQL. */
  readonly key: string;
  /** True when the statistic reads q / qpi (needs a reward model). */
  readonly needsRewardModel: boolean;
  /** What the inputs lack for this statistic, in words for the user (undefined: nothing). */
  missing?(cols: BanditColumns): string | undefined;
  /**
   * The same per-row value as a SQL expression of the row's columns (DESIGN.md §5), for the SQL
   * engines (src/sql). Defined beside `compute` (or `start`) so the two cannot drift; a slate
   * prefix scan reads the earlier rows of its slate through the window helpers of SqlColumns.
   * Absent when not compiled yet.
   */
  readonly sql?: (c: SqlColumns) => string;
}

/**
 * SQL expressions (DOUBLE, parenthesized) of one row's bandit columns, as in BanditColumns:
 * w = pi(a|x) / mu, r, q = q_hat(x, a), qpi = sum_a pi(a|x) q_hat(x, a); and `num`, a number as
 * the engine's DOUBLE literal (the type's name differs by SQL dialect, src/sql/hash.ts).
 */
export interface SqlColumns {
  readonly w: string;
  readonly r: string;
  readonly q: string;
  readonly qpi: string;
  num(x: number): string;
  /**
   * Slate logs (BanditColumns' slate fields): the position (BIGINT), the item-position weight
   * target_propensity_item_position / propensity_item_position and the prefix (cascade) weight
   * target_propensity_cascade / propensity_cascade.
   */
  readonly position: string;
  readonly wItemPosition: string;
  readonly wCascade: string;
  /** Entry j (0-based) of propensity_item_positions ('logged') or target_propensity_item_positions ('target'), as DOUBLE. */
  itemPositionAt(list: 'logged' | 'target', j: number): string;
  /**
   * A window sum of x over the row's slate in position order: through this row ('through') or over
   * the rows before it ('before', 0 on the slate's first row), as a prefix scan carries it.
   */
  slateSum(x: string, rows: 'through' | 'before'): string;
  /** x on the slate's previous row, `first` on its first row. */
  previous(x: string, first: string): string;
  /** A boolean expression: the row is the last of its slate. */
  lastInSlate(): string;
}

/** A statistic of one row: out[i] = t(row i), for i < cols.n. */
export interface RowwiseStatistic extends StatisticBase {
  compute(cols: BanditColumns, out: Float64Array): void;
  readonly start?: undefined;
}

/** Writes one block's per-row values; called on the blocks in log order. */
export type RowScan = (cols: BanditColumns, out: Float64Array) => void;

/**
 * A statistic whose value on a row depends on that row and the rows before it in the same slate
 * (a prefix, as a SQL window `PARTITION BY slate_id ORDER BY position ROWS UNBOUNDED PRECEDING`
 * computes it): pi's (sum_k w_k - L + 1) sum_k r_k, cascade-DR's w_1:k-1. `start` returns a fresh
 * scan carrying the slate's running state across blocks; the value still lands on the rows of its
 * own slate, so the bootstrap resamples it with its slate.
 */
export interface SlateScanStatistic extends StatisticBase {
  start(): RowScan;
  readonly compute?: undefined;
}

export type RowStatistic = RowwiseStatistic | SlateScanStatistic;

/** The engine's view of any statistic: a scan (stateless statistics ignore the order). */
export function startScan(s: RowStatistic): RowScan {
  if (s.start !== undefined) return s.start();
  const rowwise = s;
  return (cols, out) => rowwise.compute(cols, out);
}

/**
 * The weights an estimator puts on rewards, for its effective sample size and heaviest weight
 * (issue 4 item 4): `sum` and `sumSquares` sum the unit weights W_u and W_u^2 over the rows (one
 * row per unit carries them, or every row is a unit), `units` counts the units, and `max` tracks
 * the largest W_u over the pass.
 */
export interface WeightDiagnostic {
  /** What the weights are, for the report: 'joint slate weight', 'item-position weight', ... */
  readonly describe: string;
  /** 'slate' when a unit is a whole slate, 'slot' when each row (slot) is one. */
  readonly unit: 'slate' | 'slot';
  readonly sum: RowStatistic;
  readonly sumSquares: RowStatistic;
  readonly units: RowStatistic;
  max(): MaxTracker;
  /**
   * `max()` for the SQL engines: a per-row expression whose maximum over the rows is the largest
   * unit weight (NULL on rows that carry no unit's weight).
   */
  readonly maxSql?: (c: SqlColumns) => string;
}

/** Running maximum of unit weights over blocks in log order. */
export interface MaxTracker {
  add(cols: BanditColumns): void;
  /** The largest unit weight seen (after the last block). */
  value(): number;
}

/** A diagnostic reported as the mean of a per-row statistic (e.g. share of rows clipped). */
export interface MeanDiagnostic {
  readonly name: string;
  readonly stat: RowStatistic;
}

export interface Estimator {
  /** CLI name, e.g. 'switch-dr'. */
  readonly name: string;
  readonly params: Readonly<Record<string, number>>;
  /** Name with parameters, e.g. 'switch-dr:tau=5'. */
  readonly label: string;
  readonly stats: readonly RowStatistic[];
  /** Estimate from the means m_j = sum_i t_ij / n of `stats` (bootstrap: weighted sums / sum of weights). */
  combine(m: ArrayLike<number>): number;
  /** Gradient of `combine` at m, for the delta-method standard error. */
  gradient(m: ArrayLike<number>): number[];
  readonly diagnostics?: readonly MeanDiagnostic[];
  /** Slate estimators: the weights they apply, for the ESS / max-weight diagnostics and warnings. */
  readonly weights?: WeightDiagnostic;
}

/** Combine helpers: the three shapes every estimator in DESIGN.md §3 takes. */
export function meanOf(j: number): Pick<Estimator, 'combine' | 'gradient'> {
  return {
    combine: (m) => m[j],
    gradient: (m) => unit(m.length, j, 1),
  };
}

/** m[a] / m[b], e.g. SNIPS = sum(w r) / sum(w). */
export function ratioOf(a: number, b: number): Pick<Estimator, 'combine' | 'gradient'> {
  return {
    combine: (m) => m[a] / m[b],
    gradient: (m) => {
      const g = new Array<number>(m.length).fill(0);
      g[a] = 1 / m[b];
      g[b] = -m[a] / (m[b] * m[b]);
      return g;
    },
  };
}

/** m[c] + m[a] / m[b], e.g. SNDR = mean(qpi) + sum(w (r - q)) / sum(w). */
export function meanPlusRatioOf(c: number, a: number, b: number): Pick<Estimator, 'combine' | 'gradient'> {
  return {
    combine: (m) => m[c] + m[a] / m[b],
    gradient: (m) => {
      const g = new Array<number>(m.length).fill(0);
      g[c] = 1;
      g[a] = 1 / m[b];
      g[b] = -m[a] / (m[b] * m[b]);
      return g;
    },
  };
}

function unit(len: number, j: number, v: number): number[] {
  const g = new Array<number>(len).fill(0);
  g[j] = v;
  return g;
}

/** 'switch-dr' + {tau: 5} -> 'switch-dr:tau=5' */
export function labelOf(name: string, params: Readonly<Record<string, number>>): string {
  const keys = Object.keys(params);
  if (keys.length === 0) return name;
  return name + ':' + keys.map((k) => `${k}=${params[k]}`).join(',');
}
