import type { SqlColumns } from '../../estimators/estimator.js';
import { CLIP_GRID } from '../stats/clipped-bounds.js';
import type { EvaluationPlan } from '../engine/plan.js';
import { POISSON1_THRESHOLDS } from '../stats/hash.js';
import { PROB_TOL } from '../data/bandit-columns.js';
import { castSql, clusterHashSql, clusterKeySql, numberSql, poisson1Sql, mix32Sql, replicateTableSql, DUCKDB, type SqlDialect } from './hash.js';

/**
 * Compiles an evaluation plan over a bandit or slate log with inline target columns into SQL (DESIGN.md §5,
 * issue 10 items 3 and 4): every per-row statistic t_j is the column expression its RowStatistic.sql
 * gives; the point part returns n, the sums and sums of squares of every column, the cluster
 * cross-moments the delta method needs (plan.pairs) and the diagnostics' aggregates; the
 * replicate part returns, for b < B, sum_i W_ib and sum_i W_ib t_ij of the bootstrapped columns,
 * with W_ib the toolkit's Poisson(1) hash weight computed in BIGINT arithmetic (src/sql/hash.ts).
 * Every engine-specific spelling comes from the SqlDialect; the rest is shared by all of them.
 *
 * Input columns (DESIGN.md §2): reward, propensity (or pscore), target_propensity (or action and
 * the action_dist list), and for dm and the DR family q_hat_logged and q_hat_target (or the q_hat
 * list); request_id (or slate_id) when present; for the slate estimators the slate columns
 * (SlateSource), whose prefix terms (pi, cascade-dr) are window functions over a slate's rows.
 */
export interface BanditSource {
  /** A FROM-clause table expression that yields the log's rows. */
  readonly from: string;
  /**
   * A BIGINT expression of the row's ordinal (DuckDB: file_row_number; a warehouse: the --row-id
   * column), or undefined when the source has no stable row order (a warehouse table without one).
   * Rows without a request id are keyed by it.
   */
  readonly ordinal?: string;
  readonly propensity: string;
  /** The request id column and how its values are keyed (cluster-key.ts), or undefined: rows are clusters. */
  readonly requestId?: { readonly name: string; readonly type: 'integer' | 'string' };
  /**
   * Where pi(a_i|x_i) comes from, with the in-process engine's precedence (bandit-columns.ts): the
   * scalar target_propensity, else the action_dist list at the logged action.
   */
  readonly target: 'target_propensity' | 'action_dist';
  /**
   * The reward model, when an estimator needs it: q = q_hat_logged, else the q_hat list at the
   * action; qpi = q_hat_target, else sum_a action_dist[a] q_hat[a].
   */
  readonly rewardModel?: { readonly logged: 'q_hat_logged' | 'q_hat'; readonly target: 'q_hat_target' | 'action_dist.q_hat' };
  /** Slate logs (a plan of slate estimators): the slate columns present; a slate is the rows of one request id. */
  readonly slate?: SlateSource;
}

/**
 * The slate columns of DESIGN.md §2 the source has (bandit-columns.ts derives the same weights):
 * position, and the logger's and target's item-position and prefix (cascade) probabilities and
 * item-at-every-position lists, each pair present or absent together.
 */
export interface SlateSource {
  readonly position: string;
  readonly itemPosition?: { readonly logged: string; readonly target: string };
  readonly cascade?: { readonly logged: string; readonly target: string };
  readonly itemPositions?: { readonly logged: string; readonly target: string };
}

export interface CompiledQueries {
  readonly point: string;
  /**
   * Present when B > 0. Rows ordered by b: b, N_b, then one weighted sum per bootstrapped column; a
   * replicate in which every unit drew weight 0 has no row (its sums are 0).
   */
  readonly replicates?: string;
  readonly layout: PointLayout;
}

export interface PointLayout {
  readonly M: number;
  readonly pairs: number;
  readonly clipLevels: number;
  /** Estimator slots with a weight diagnostic (slate estimators): one unit-weight maximum each. */
  readonly unitMaxima: number;
  /** A slate plan: the point row also counts bad slate inputs and slates out of order. Bandit plans keep their layout. */
  readonly slate: boolean;
}

/** The column names of the point part, in the order `readPoint` (evaluate-duckdb.ts) reads them. */
export function pointColumns(layout: PointLayout): string[] {
  const { M, pairs, clipLevels, unitMaxima, slate } = layout;
  return [
    'n',
    ...range(M).map((j) => `s${j}`),
    ...range(M).map((j) => `ss${j}`),
    'max_w',
    'above1000',
    'min_mu',
    'min_r',
    'max_r',
    ...range(clipLevels).flatMap((g) => range(5).map((k) => `c${g}_${k}`)),
    'bad_propensity',
    'bad_target',
    'bad_reward',
    'bad_q',
    'ordinal_keyed',
    ...range(pairs).map((p) => `pp${p}`),
    ...range(M).map((j) => `nw${j}`),
    'nn',
    'clusters',
    ...range(unitMaxima).map((k) => `uwm${k}`),
    ...(slate ? ['bad_slate', 'bad_order'] : []),
  ];
}

/** The column names of a replicate row after b: nb = sum_i W_ib, rs<k> = sum_i W_ib t_i,boot[k]. */
export function replicateColumns(bootstrapped: number): string[] {
  return ['nb', ...range(bootstrapped).map((k) => `rs${k}`)];
}

export function layoutOf(plan: EvaluationPlan): PointLayout {
  return {
    M: plan.columns.length,
    pairs: plan.pairs.length / 2,
    clipLevels: CLIP_GRID.length,
    unitMaxima: weightedSlots(plan).length,
    slate: plan.slateWeightColumns !== undefined,
  };
}

/** The estimator slots with a weight diagnostic, in slot order (the order of the point row's uwm columns). */
function weightedSlots(plan: EvaluationPlan): EvaluationPlan['slots'] {
  return plan.slots.filter((s) => s.estimator.weights !== undefined);
}

/** A string as a DuckDB SQL literal (file paths). */
export function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * The row columns rowsOf names, and window helpers over the row's slate: its request id's rows
 * (g_id, g_row), in position order and then log order. `windowed` turns true once a helper is
 * used, that is once some expression reads other rows of its slate, which then must be in order.
 */
function columnsFor(d: SqlDialect): { cols: SqlColumns; windowed: () => boolean } {
  let used = false;
  const over = (frame: string) => {
    used = true;
    return `OVER (PARTITION BY g_id, g_row ORDER BY pos, ord${frame === '' ? '' : ` ${frame}`})`;
  };
  const cols: SqlColumns = {
    w: 'w',
    r: 'r',
    q: 'q',
    qpi: 'qpi',
    num: (x) => numberSql(x, d),
    position: 'pos',
    wItemPosition: 'w_ip',
    wCascade: 'w_c',
    itemPositionAt: (list, j) => castSql(d.listAt(list === 'logged' ? 'ip_logged' : 'ip_target', String(j)), 'double', d),
    slateSum: (x, rows) =>
      rows === 'through'
        ? `sum(${x}) ${over('ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW')}`
        : `COALESCE(sum(${x}) ${over('ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING')}, ${numberSql(0, d)})`,
    previous: (x, first) => `lag(${x}, 1, ${first}) ${over('')}`,
    lastInSlate: () => `(lead(pos) ${over('')} IS NULL)`,
  };
  return { cols, windowed: () => used };
}

/**
 * The slate columns of rowsOf's base (pos, ord, the probabilities and lists) and wrows (the
 * weights w_ip, w_c as bandit-columns.ts divides them), for the sources that have them.
 */
function slateColumns(src: BanditSource, ordinal: string, d: SqlDialect): { base: string[]; weights: string[] } {
  const s = src.slate;
  if (s === undefined) return { base: [], weights: [] };
  const double = (x: string) => castSql(d.ident(x), 'double', d);
  const base = [`${castSql(d.ident(s.position), 'bigint', d)} AS pos`, `${ordinal} AS ord`];
  const weights: string[] = [];
  for (const [pair, name] of [
    [s.itemPosition, 'ip'],
    [s.cascade, 'c'],
  ] as const) {
    if (pair === undefined) continue;
    base.push(`${double(pair.logged)} AS mu_${name}`, `${double(pair.target)} AS pi_${name}`);
    weights.push(`CASE WHEN mu_${name} > 0 THEN pi_${name} / mu_${name} END AS w_${name}`);
  }
  if (s.itemPositions !== undefined) base.push(`${d.ident(s.itemPositions.logged)} AS ip_logged`, `${d.ident(s.itemPositions.target)} AS ip_target`);
  return { base, weights };
}

/**
 * Rows of the log with w, r, q, qpi, mu, the cluster key ck, the cluster group g and every planned
 * column t0 .. t{M-1}. The cluster key is the request id's 32-bit key (cluster-key.ts) or, without
 * ids, the row's ordinal mod 2^32 (DuckDB's file_row_number: the row's position in the file, which
 * read_parquet reports deterministically, unlike row_number() OVER ()). For the point part
 * (`forPoint`), slate plans add, per slot with a weight diagnostic, u<k> (the row's candidate for
 * the largest unit weight) and, when some statistic reads other rows of its slate (`windowed`),
 * order_bad: 1 on a row out of place.
 */
function rowsOf(plan: EvaluationPlan, src: BanditSource, d: SqlDialect, forPoint = true): { sql: string; windowed: boolean } {
  const double = (x: string) => castSql(x, 'double', d);
  const action = castSql(d.ident('action'), 'bigint', d);
  // A negative action has no entry (DuckDB would count it from the list's end); past the end is NULL.
  const atAction = (list: string) => double(`CASE WHEN ${action} >= 0 THEN ${d.listAt(d.ident(list), action)} END`);
  const pi = src.target === 'target_propensity' ? double(d.ident('target_propensity')) : atAction('action_dist');
  const model = src.rewardModel;
  const q = model === undefined ? double('NULL') : model.logged === 'q_hat_logged' ? double(d.ident('q_hat_logged')) : atAction('q_hat');
  const qpi = model === undefined ? double('NULL') : model.target === 'q_hat_target' ? double(d.ident('q_hat_target')) : d.listDot(d.ident('action_dist'), d.ident('q_hat'));
  const id = src.requestId;
  // Without an ordinal (a warehouse table without --row-id) a NULL id has no key: the point part
  // counts such rows (ordinal_keyed) and reading the sums refuses them.
  const ordinal = src.ordinal ?? castSql('NULL', 'bigint', d);
  const nullBigint = castSql('NULL', 'bigint', d);
  const ck = id !== undefined ? clusterKeySql(d.ident(id.name), id.type, ordinal, d) : d.and(ordinal, '4294967295');
  // Rows of one request form one cluster; a row without an id is a cluster of its own.
  const g = id !== undefined ? `${d.ident(id.name)} AS g_id, CASE WHEN ${d.ident(id.name)} IS NULL THEN ${ordinal} END AS g_row` : `${ordinal} AS g_id, ${nullBigint} AS g_row`;
  const { cols, windowed } = columnsFor(d);
  const stats = plan.columns.map((c, j) => {
    const sql = c.stat.sql;
    if (sql === undefined) throw new Error(`statistic '${c.stat.key}' has no SQL form`);
    return `${sql(cols)} AS t${j}`;
  });
  // The replicate part reads only t_j: a query of its own leaves out the point part's extra windows.
  if (forPoint)
    weightedSlots(plan).forEach((slot, k) => {
      const max = slot.estimator.weights?.maxSql;
      if (max === undefined) throw new Error(`estimator '${slot.estimator.label}' has no SQL form of its largest weight`);
      stats.push(`${max(cols)} AS u${k}`);
    });
  // The in-process scans read a slate as a run of rows at positions 0, 1, ..., L-1 in log order
  // (SlateCursor) and stop otherwise; here a slate is its request id's rows in position order, so
  // a row is out of place unless it is the slate's (position)-th row and (where rows have an
  // ordinal) sits (position) rows after the slate's first row in the log.
  if (forPoint && windowed()) {
    const ordered = `OVER (PARTITION BY g_id, g_row ORDER BY pos, ord ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`;
    stats.push(`CASE WHEN pos <> row_number() ${ordered} - 1 OR ord - first_value(ord) ${ordered} <> pos THEN 1 ELSE 0 END AS order_bad`);
  }
  const slate = slateColumns(src, ordinal, d);
  const sql = [
    `base AS (`,
    `  SELECT ${double(d.ident('reward'))} AS r, ${double(d.ident(src.propensity))} AS mu,`,
    `    ${pi} AS pi, ${q} AS q, ${qpi} AS qpi,`,
    `    ${[`${ck} AS ck`, g, ...slate.base].join(', ')}`,
    `  FROM ${src.from}`,
    `), wrows AS (`,
    // A propensity <= 0 gives w NULL, not a division error (BigQuery, Spark's ANSI mode): the point part counts it.
    `  SELECT *, ${['CASE WHEN mu > 0 THEN pi / mu END AS w', ...slate.weights].join(', ')} FROM base`,
    `), log_rows AS (`,
    `  SELECT *, ${stats.join(', ')} FROM wrows`,
    `)`,
  ].join('\n');
  return { sql, windowed: windowed() };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The point part's CTEs, the last of them point_row: its one row, in pointColumns order. */
function pointCtes(plan: EvaluationPlan, src: BanditSource, d: SqlDialect, windowed: boolean): string {
  const M = plan.columns.length;
  const layout = layoutOf(plan);
  const P = plan.pairs.length / 2;
  const perRow: string[] = ['count(*) AS n'];
  for (const j of range(M)) perRow.push(`${d.sumFn}(t${j}) AS s${j}`);
  for (const j of range(M)) perRow.push(`${d.sumFn}(t${j} * t${j}) AS ss${j}`);
  perRow.push('max(w) AS max_w', `${d.countIf('w > 1000')} AS above1000`, 'min(mu) AS min_mu', 'min(r) AS min_r', 'max(r) AS max_r');
  // ClippedMoments: per clip level, sum m r, sum m, sum (m r)^2, sum (m r) m, sum m^2 with m = min(w, L).
  CLIP_GRID.forEach((L, g) => {
    const m = L === Infinity ? 'w' : `(CASE WHEN w < ${numberSql(L, d)} THEN w ELSE ${numberSql(L, d)} END)`;
    perRow.push(
      `${d.sumFn}(${m} * r) AS c${g}_0`,
      `${d.sumFn}(${m}) AS c${g}_1`,
      `${d.sumFn}((${m} * r) * (${m} * r)) AS c${g}_2`,
      `${d.sumFn}((${m} * r) * ${m}) AS c${g}_3`,
      `${d.sumFn}(${m} * ${m}) AS c${g}_4`,
    );
  });
  // Rows the contract rejects (the in-process readers would stop on them): counted, reported as an error.
  perRow.push(
    `${d.countIf('mu IS NULL OR NOT (mu > 0 AND mu <= 1)')} AS bad_propensity`,
    `${d.countIf('pi IS NULL OR NOT (pi >= 0 AND pi <= 1 + 1e-6)')} AS bad_target`,
    `${d.countIf(`r IS NULL OR ${d.notFinite('r')}`)} AS bad_reward`,
    src.rewardModel !== undefined ? `${d.countIf(`q IS NULL OR qpi IS NULL OR ${d.notFinite('q')} OR ${d.notFinite('qpi')}`)} AS bad_q` : '0 AS bad_q',
    // Rows keyed by their ordinal (no id column, or a missing id), which not every source defines.
    src.requestId !== undefined ? `${d.countIf('g_id IS NULL')} AS ordinal_keyed` : 'count(*) AS ordinal_keyed',
  );
  perRow.push(...range(layout.unitMaxima).map((k) => `max(u${k}) AS uwm${k}`));
  if (layout.slate) perRow.push(`${d.countIf(badSlateRow(plan, src, d))} AS bad_slate`, windowed ? 'sum(order_bad) AS bad_order' : '0 AS bad_order');
  // Cluster moments: sum_c T_cj T_ck over the plan's pairs, sum_c n_c T_cj, sum_c n_c^2, clusters.
  const moments = (T: (j: number) => string, nc: string, clusters: string): string[] => [
    ...range(P).map((p) => `${d.sumFn}(${T(plan.pairs[2 * p])} * ${T(plan.pairs[2 * p + 1])}) AS pp${p}`),
    ...range(M).map((j) => `${d.sumFn}(${nc}${T(j)}) AS nw${j}`),
    `${d.sumFn}(${nc === '' ? '1' : 'n_c * n_c'}) AS nn`,
    `${clusters} AS clusters`,
  ];
  if (src.requestId === undefined) {
    // Each row is its own cluster: the moments are row sums, taken in the same pass. A second
    // reference to log_rows would make DuckDB materialize it, holding every row in memory.
    return `point_row AS (SELECT ${pointColumns(layout).join(', ')} FROM (SELECT ${[...perRow, ...moments((j) => `t${j}`, '', 'count(*)')].join(', ')} FROM log_rows) AS point_sums)`;
  }
  const units = `SELECT count(*) AS n_c, ${range(M)
    .map((j) => `${d.sumFn}(t${j}) AS T${j}`)
    .join(', ')} FROM log_rows GROUP BY g_id, g_row`;
  return [
    `per_row AS (SELECT ${perRow.join(', ')} FROM log_rows),`,
    `units AS (${units}),`,
    `per_cluster AS (SELECT ${moments((j) => `T${j}`, 'n_c * ', 'count(*)').join(', ')} FROM units),`,
    `point_row AS (SELECT ${pointColumns(layout).join(', ')} FROM per_row, per_cluster)`,
  ].join('\n');
}

/**
 * A row the in-process reader would refuse for the slate columns the plan reads (contract.ts): a
 * position missing or negative, a logger's item-position or prefix probability outside (0, 1], a
 * target's outside [0, 1]; or a statistic that is missing or not finite (a pbm weight from lists
 * that do not have L entries, a zero examination-weighted propensity).
 */
function badSlateRow(plan: EvaluationPlan, src: BanditSource, d: SqlDialect): string {
  const s = src.slate;
  const tol = numberSql(1 + PROB_TOL, d);
  const conds = [`pos IS NULL OR pos < 0`];
  for (const [pair, name] of [
    [s?.itemPosition, 'ip'],
    [s?.cascade, 'c'],
  ] as const) {
    if (pair === undefined) continue;
    conds.push(`mu_${name} IS NULL OR NOT (mu_${name} > 0 AND mu_${name} <= ${tol})`, `pi_${name} IS NULL OR NOT (pi_${name} >= 0 AND pi_${name} <= ${tol})`);
  }
  // A missing w or q is counted as such (bad_propensity, bad_target, bad_q); the slate terms' own inputs here.
  const rowOk = `w IS NOT NULL${src.rewardModel !== undefined ? ' AND q IS NOT NULL AND qpi IS NOT NULL' : ''}`;
  for (const j of range(plan.columns.length)) conds.push(`(${rowOk}) AND (t${j} IS NULL OR ${d.notFinite(`t${j}`)})`);
  return conds.map((c) => `(${c})`).join(' OR ');
}

/**
 * The replicate part's CTEs: units (clusters of one cluster key, or rows) with their totals, the
 * cluster hash per unit, a cross join with the replicate table, the weight W = poisson1(u); and
 * its select, the B x (1 + Mb) sums grouped by replicate (replicateColumns after b).
 */
function replicateParts(plan: EvaluationPlan, src: BanditSource, B: number, seed: number, groupUnits: boolean, d: SqlDialect): { ctes: string; select: string } {
  const boot = plan.bootstrapColumns;
  const T = boot.map((_, k) => `T${k}`);
  const units =
    src.requestId !== undefined && groupUnits
      ? `SELECT ck, count(*) AS n_c, ${boot.map((j, k) => `sum(t${j}) AS T${k}`).join(', ')} FROM log_rows GROUP BY ck`
      : `SELECT ck, 1 AS n_c, ${boot.map((j, k) => `t${j} AS T${k}`).join(', ')} FROM log_rows`;
  const ctes = [
    `rep_units AS (${units}),`,
    `hashed AS (SELECT ${clusterHashSql('ck', seed, d)} AS ch, n_c, ${T.join(', ')} FROM rep_units),`,
    `reps AS (${replicateTableSql(B, d)}),`,
    `drawn AS (SELECT reps.b, ${mix32Sql(d.xor('hashed.ch', 'reps.rk'), d)} AS u, n_c, ${T.join(', ')} FROM hashed CROSS JOIN reps),`,
    // Weight 0 (u below the first threshold, 37% of draws) adds nothing: skipped before the sums.
    `weighted AS (SELECT b, ${poisson1Sql('u')} AS wt, n_c, ${T.join(', ')} FROM drawn WHERE u >= ${POISSON1_THRESHOLDS[0]})`,
  ].join('\n');
  const select = `SELECT b, sum(wt * n_c) AS nb, ${T.map((t, k) => `sum(wt * ${t}) AS rs${k}`).join(', ')} FROM weighted GROUP BY b`;
  return { ctes, select };
}

/**
 * `groupUnits`: sum the rows of one cluster key before the replicate join (B x clusters instead of
 * B x rows hashes and sums). It pays only when requests span several rows; with one row per request
 * the GROUP BY costs more than it saves. Either way the weights, and so the sums, are the same.
 */
export function compileBanditQueries(plan: EvaluationPlan, src: BanditSource, B: number, seed: number, groupUnits = true, d: SqlDialect = DUCKDB): CompiledQueries {
  const rows = rowsOf(plan, src, d);
  const point = [`WITH ${rows.sql},`, pointCtes(plan, src, d, rows.windowed), `SELECT * FROM point_row`].join('\n');
  let replicates: string | undefined;
  if (B > 0) {
    const rep = replicateParts(plan, src, B, seed, groupUnits, d);
    replicates = [`WITH ${rowsOf(plan, src, d, false).sql},`, rep.ctes, `${rep.select} ORDER BY b`].join('\n');
  }
  return { point, replicates, layout: layoutOf(plan) };
}

/**
 * One query whose result is the whole evaluation's sums, self-described, for engines where the
 * user runs the SQL and saves the result (`ope sql`, then `ope evaluate --from-sums FILE`): the
 * columns are part ('point' or 'replicate'), plan (the point row carries `planText`, a JSON
 * document that needs no single quote or backslash), b (the replicate), replicate_rows (on the
 * point row: the number of replicate rows), every point column and then nb, rs0, ...; each row
 * NULL where the other part's columns are. Sums are DOUBLE (counts
 * below 2^53 are exact in it), b is BIGINT.
 */
export function compileSumsQuery(plan: EvaluationPlan, src: BanditSource, B: number, seed: number, planText: string, d: SqlDialect): string {
  if (/['\\]/.test(planText)) throw new Error('the plan text must not hold quotes or backslashes (engines escape them differently)');
  const layout = layoutOf(plan);
  const pc = pointColumns(layout);
  const rc = replicateColumns(plan.bootstrapColumns.length);
  const dbl = (x: string) => castSql(x, 'double', d);
  const nul = dbl('NULL');
  const nullString = castSql('NULL', 'string', d);
  // replicate_rows: how many replicate rows the result holds, so a truncated save is detected.
  const repCount = B > 0 ? dbl('(SELECT count(*) FROM replicate_sums)') : dbl('0');
  const pointRow = [
    `'point' AS part`,
    `'${planText}' AS plan`,
    `${castSql('NULL', 'bigint', d)} AS b`,
    `${repCount} AS replicate_rows`,
    ...pc.map((c) => `${dbl(c)} AS ${c}`),
    ...rc.map((c) => `${nul} AS ${c}`),
  ];
  const rows = rowsOf(plan, src, d);
  const ctes = [rows.sql, pointCtes(plan, src, d, rows.windowed)];
  const selects = [`SELECT ${pointRow.join(', ')} FROM point_row`];
  if (B > 0) {
    const rep = replicateParts(plan, src, B, seed, true, d);
    ctes.push(rep.ctes, `replicate_sums AS (${rep.select})`);
    const repRow = [`'replicate'`, nullString, 'b', nul, ...pc.map(() => nul), ...rc.map((c) => dbl(c))];
    selects.push(`UNION ALL`, `SELECT ${repRow.join(', ')} FROM replicate_sums`);
  }
  const query = [`WITH ${ctes.join(',\n')}`, ...selects, 'ORDER BY b NULLS FIRST'].join('\n');
  return d.preamble === '' ? query : `${d.preamble}\n${query}`;
}
