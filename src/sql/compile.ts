import { sqlNumber, type SqlColumns } from '../../estimators/estimator.js';
import { CLIP_GRID } from '../stats/clipped-bounds.js';
import type { EvaluationPlan } from '../engine/plan.js';
import { POISSON1_THRESHOLDS } from '../stats/hash.js';
import { clusterHashSql, clusterKeySql, poisson1Sql, mix32Sql, replicateTableSql, DUCKDB } from './hash.js';

/**
 * Compiles an evaluation plan over a bandit log with inline target columns into SQL (DESIGN.md §5,
 * issue 10 item 3): every per-row statistic t_j is the column expression its RowStatistic.sql
 * gives; the point query returns n, the sums and sums of squares of every column, the
 * cluster cross-moments the delta method needs (plan.pairs) and the diagnostics' aggregates; the
 * replicate query returns, for b < B, sum_i W_ib and sum_i W_ib t_ij of the bootstrapped columns,
 * with W_ib the toolkit's Poisson(1) hash weight computed in BIGINT arithmetic (src/sql/hash.ts).
 *
 * Input columns (the O(n) contract, DESIGN.md §2): reward, propensity (or pscore),
 * target_propensity, and for dm and the DR family q_hat_logged and q_hat_target; request_id (or
 * slate_id) when present.
 */
export interface BanditSource {
  /** A FROM-clause table expression that yields the log's rows and a `file_row_number` column. */
  readonly from: string;
  readonly propensity: string;
  /** The request id column and how its values are keyed (cluster-key.ts), or undefined: rows are clusters. */
  readonly requestId?: { readonly name: string; readonly type: 'integer' | 'string' };
  /** q_hat_logged and q_hat_target are present. */
  readonly rewardModel: boolean;
}

export interface CompiledQueries {
  readonly point: string;
  /**
   * Present when B > 0. Rows ordered by b: b, N_b, then one weighted sum per bootstrapped column; a
   * replicate in which every unit drew weight 0 has no row (its sums are 0).
   */
  readonly replicates?: string;
  /** Column names of the point query's single row, in the order `readPoint` expects. */
  readonly layout: PointLayout;
}

export interface PointLayout {
  readonly M: number;
  readonly pairs: number;
  readonly clipLevels: number;
}

/** "name" quoted as a SQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string as a SQL literal. */
export function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** read_parquet over one file (or a glob), with the row's ordinal within its file. */
export function isGlob(path: string): boolean {
  return /[*?[]/.test(path);
}

export function parquetSource(path: string): string {
  return `read_parquet(${literal(path)}, file_row_number = true)`;
}

const COLS: SqlColumns = { w: 'w', r: 'r', q: 'q', qpi: 'qpi' };

/**
 * Rows of the log with w, r, q, qpi, mu, the cluster key ck, the cluster group g and every planned
 * column t0 .. t{M-1}. The cluster key is the request id's 32-bit key (cluster-key.ts) or, without
 * ids, the row's global ordinal mod 2^32 (file_row_number: the row's position in the file, which
 * read_parquet reports deterministically, unlike row_number() OVER ()).
 */
function rowsCte(plan: EvaluationPlan, src: BanditSource): string {
  const q = src.rewardModel ? `CAST(${ident('q_hat_logged')} AS DOUBLE)` : 'NULL::DOUBLE';
  const qpi = src.rewardModel ? `CAST(${ident('q_hat_target')} AS DOUBLE)` : 'NULL::DOUBLE';
  const id = src.requestId;
  const ck = id !== undefined ? clusterKeySql(ident(id.name), id.type, 'file_row_number') : '(file_row_number & 4294967295)';
  // Rows of one request form one cluster; a row without an id is a cluster of its own.
  const g = id !== undefined ? `${ident(id.name)} AS g_id, CASE WHEN ${ident(id.name)} IS NULL THEN file_row_number END AS g_row` : 'file_row_number AS g_id, NULL AS g_row';
  const stats = plan.columns.map((c, j) => {
    const sql = c.stat.sql;
    if (sql === undefined) throw new Error(`statistic '${c.stat.key}' has no SQL form`);
    return `${sql(COLS)} AS t${j}`;
  });
  return [
    `base AS (`,
    `  SELECT CAST(${ident('reward')} AS DOUBLE) AS r, CAST(${ident(src.propensity)} AS DOUBLE) AS mu,`,
    `    CAST(${ident('target_propensity')} AS DOUBLE) AS pi, ${q} AS q, ${qpi} AS qpi,`,
    `    ${ck} AS ck, ${g}`,
    `  FROM ${src.from}`,
    `), wrows AS (`,
    `  SELECT *, pi / mu AS w FROM base`,
    `), rows AS (`,
    `  SELECT *, ${stats.join(', ')} FROM wrows`,
    `)`,
  ].join('\n');
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The point query: one row, columns as `readPoint` in evaluate-duckdb.ts reads them. */
function pointQuery(plan: EvaluationPlan, src: BanditSource): string {
  const M = plan.columns.length;
  const P = plan.pairs.length / 2;
  const perRow: string[] = ['count(*) AS n'];
  for (const j of range(M)) perRow.push(`sum(t${j}) AS s${j}`);
  for (const j of range(M)) perRow.push(`sum(t${j} * t${j}) AS ss${j}`);
  perRow.push('max(w) AS max_w', 'count(*) FILTER (WHERE w > 1000) AS above1000', 'min(mu) AS min_mu', 'min(r) AS min_r', 'max(r) AS max_r');
  // ClippedMoments: per clip level, sum m r, sum m, sum (m r)^2, sum (m r) m, sum m^2 with m = min(w, L).
  CLIP_GRID.forEach((L, g) => {
    const m = L === Infinity ? 'w' : `(CASE WHEN w < ${sqlNumber(L)} THEN w ELSE ${sqlNumber(L)} END)`;
    perRow.push(`sum(${m} * r) AS c${g}_0`, `sum(${m}) AS c${g}_1`, `sum((${m} * r) * (${m} * r)) AS c${g}_2`, `sum((${m} * r) * ${m}) AS c${g}_3`, `sum(${m} * ${m}) AS c${g}_4`);
  });
  // Rows the contract rejects (the in-process readers would stop on them): counted, reported as an error.
  perRow.push(
    `count(*) FILTER (WHERE mu IS NULL OR NOT (mu > 0 AND mu <= 1)) AS bad_propensity`,
    `count(*) FILTER (WHERE pi IS NULL OR NOT (pi >= 0 AND pi <= 1 + 1e-6)) AS bad_target`,
    `count(*) FILTER (WHERE r IS NULL OR isnan(r) OR isinf(r)) AS bad_reward`,
    src.rewardModel ? `count(*) FILTER (WHERE q IS NULL OR qpi IS NULL OR NOT isfinite(q) OR NOT isfinite(qpi)) AS bad_q` : '0 AS bad_q',
    // Rows keyed by their ordinal (no id column, or a missing id): on a glob of files the ordinal restarts per file.
    src.requestId !== undefined ? 'count(*) FILTER (WHERE g_id IS NULL) AS ordinal_keyed' : 'count(*) AS ordinal_keyed',
  );
  // Cluster moments: sum_c T_cj T_ck over the plan's pairs, sum_c n_c T_cj, sum_c n_c^2, clusters.
  const unitCols = range(M).map((j) => `sum(t${j}) AS T${j}`);
  const moments: string[] = [];
  for (let p = 0; p < P; p++) moments.push(`sum(T${plan.pairs[2 * p]} * T${plan.pairs[2 * p + 1]}) AS pp${p}`);
  for (const j of range(M)) moments.push(`sum(n_c * T${j}) AS nw${j}`);
  moments.push('sum(n_c * n_c) AS nn', 'count(*) AS clusters');
  const units =
    src.requestId !== undefined
      ? `SELECT count(*) AS n_c, ${unitCols.join(', ')} FROM rows GROUP BY g_id, g_row`
      : `SELECT 1 AS n_c, ${range(M)
          .map((j) => `t${j} AS T${j}`)
          .join(', ')} FROM rows`;
  return [
    `WITH ${rowsCte(plan, src)},`,
    `per_row AS (SELECT ${perRow.join(', ')} FROM rows),`,
    `units AS (${units}),`,
    `per_cluster AS (SELECT ${moments.join(', ')} FROM units)`,
    `SELECT * FROM per_row, per_cluster`,
  ].join('\n');
}

/**
 * The replicate query: units (clusters of one cluster key, or rows) with their totals, the
 * cluster hash per unit, a cross join with the replicate table, the weight W = poisson1(u) and the
 * B x (1 + Mb) sums grouped by replicate.
 */
function replicateQuery(plan: EvaluationPlan, src: BanditSource, B: number, seed: number, groupUnits: boolean): string {
  const boot = plan.bootstrapColumns;
  const T = boot.map((_, k) => `T${k}`);
  const units =
    src.requestId !== undefined && groupUnits
      ? `SELECT ck, count(*) AS n_c, ${boot.map((j, k) => `sum(t${j}) AS T${k}`).join(', ')} FROM rows GROUP BY ck`
      : `SELECT ck, 1 AS n_c, ${boot.map((j, k) => `t${j} AS T${k}`).join(', ')} FROM rows`;
  return [
    `WITH ${rowsCte(plan, src)},`,
    `units AS (${units}),`,
    `hashed AS (SELECT ${clusterHashSql('ck', seed)} AS ch, n_c, ${T.join(', ')} FROM units),`,
    `reps AS (${replicateTableSql(B)}),`,
    `drawn AS (SELECT reps.b, ${mix32Sql(DUCKDB.xor('hashed.ch', 'reps.rk'))} AS u, n_c, ${T.join(', ')} FROM hashed CROSS JOIN reps),`,
    // Weight 0 (u below the first threshold, 37% of draws) adds nothing: skipped before the sums.
    `weighted AS (SELECT b, ${poisson1Sql('u')} AS wt, n_c, ${T.join(', ')} FROM drawn WHERE u >= ${POISSON1_THRESHOLDS[0]})`,
    `SELECT b, sum(wt * n_c) AS nb, ${T.map((t, k) => `sum(wt * ${t}) AS rs${k}`).join(', ')} FROM weighted GROUP BY b ORDER BY b`,
  ].join('\n');
}

/**
 * `groupUnits`: sum the rows of one cluster key before the replicate join (B x clusters instead of
 * B x rows hashes and sums). It pays only when requests span several rows; with one row per request
 * the GROUP BY costs more than it saves. Either way the weights, and so the sums, are the same.
 */
export function compileBanditQueries(plan: EvaluationPlan, src: BanditSource, B: number, seed: number, groupUnits = true): CompiledQueries {
  return {
    point: pointQuery(plan, src),
    replicates: B > 0 ? replicateQuery(plan, src, B, seed, groupUnits) : undefined,
    layout: { M: plan.columns.length, pairs: plan.pairs.length / 2, clipLevels: CLIP_GRID.length },
  };
}
