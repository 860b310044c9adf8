import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Estimator } from '../../estimators/estimator.js';
import { allOfFamily, estimatorNeedsRewardModel, parseEstimatorList, parseEstimatorSpec } from '../../estimators/registry.js';
import { InputError, UsageError } from '../data/errors.js';
import { datasetFiles, isDatasetSpec } from '../data/read-log.js';
import { chooseBounds, resolveBootstrapOptions, type EvaluateOptions, type PassTotals } from '../engine/evaluate.js';
import type { IntervalMethod } from '../stats/intervals.js';
import { planEvaluation, type EvaluationPlan } from '../engine/plan.js';
import type { EvaluationResult } from '../engine/results.js';
import { summarize } from '../engine/summarize.js';
import { compileBanditQueries, literal, replicateColumns, type BanditSource, type CompiledQueries, type PointLayout, type SlateSource } from './compile.js';
import { weightStatistics } from '../../estimators/slate-statistics.js';
import type { BanditColumns } from '../data/bandit-columns.js';

/**
 * `ope evaluate --engine duckdb` (issue 10 item 3): the plan compiled to SQL (compile.ts), run on an
 * embedded DuckDB that reads the Parquet log in place (multi-threaded, out of core), and only the
 * sums come back; `summarize` then turns them into the same EvaluationResult the in-process engine
 * gives. Point estimates agree with it to rounding (sums in another order), bootstrap weights
 * exactly (the same hash).
 *
 * Scope: one Parquet file (or a folder or glob) with the target's columns inline or in one policy
 * file joined by row order (target_propensity or the action_dist list; q_hat_logged and
 * q_hat_target, or the q_hat list, for dm and the DR family; the slate columns for the slate
 * estimators), one target policy, the bandit and slate estimators whose statistics have a SQL
 * form, the Poisson bootstrap, and the percentile / normal / bernstein intervals.
 */
export interface DuckDbEvaluateOptions extends Omit<EvaluateOptions, 'estimators' | 'policyNames' | 'onProgress' | 'contrasts' | 'bootstrapKind'> {
  readonly log: string;
  /** 'ips,snips,dr', estimator objects, or omitted for every supported estimator the log allows. */
  readonly estimators?: string | readonly Estimator[];
  readonly bootstrapKind?: 'poisson' | 'multinomial';
  /**
   * DuckDB's memory_limit (a size such as '2GB'; default DuckDB's own, 80% of RAM). The
   * per-request GROUP BY of the delta method holds one entry per request id, so DuckDB's memory
   * grows with the number of requests; above the limit it spills to a temporary directory (made
   * here, removed afterwards) and gets much slower (bench/README.md, scale).
   */
  readonly memoryLimit?: string;
  /**
   * One target policy file (Parquet) aligned with the log by row order, as the in-process engine
   * aligns it: joined on the log's row ordinal. Default: the log's own target columns.
   */
  readonly policy?: { readonly name: string; readonly file: string };
}

/** A DuckDB size ('512MB', '1.5GB', '2GiB'), or a usage error naming the flag. */
export function checkMemoryLimit(size: string): string {
  if (!/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(size.trim())) throw new UsageError(`--memory-limit must be a size such as 512MB or 2GB, got '${size}'`);
  return size.trim();
}

export interface DuckDbEvaluateResult {
  readonly result: EvaluationResult;
  readonly skipped: readonly string[];
  readonly queries: CompiledQueries;
  /** Wall time of the point and replicate queries, in milliseconds. */
  readonly timings: { readonly point: number; readonly replicates: number };
}

/** The columns of a Parquet log, by name, with DuckDB's type names. */
export async function describeParquet(con: DuckDBConnection, path: string): Promise<Map<string, string>> {
  const reader = await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${literal(path)})`);
  const out = new Map<string, string>();
  for (const row of reader.getRowObjects()) out.set(String(row.column_name), String(row.column_type));
  return out;
}

const INTEGER_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER)$/;

/** Where the rows come from: the FROM expression and the row ordinal (see BanditSource). */
export interface RowsLocation {
  readonly from: string;
  readonly ordinal?: string;
}

/**
 * What the SQL path needs from the log's columns; a usage error naming what is missing otherwise.
 * `who` starts the messages ('--engine duckdb', 'ope sql --dialect trino'), `what` names the
 * table or file. `wantRewardModel`: some chosen estimator needs q_hat_logged / q_hat_target.
 */
export function banditSourceOf(who: string, what: string, columns: ReadonlyMap<string, string>, plan: EvaluationPlan, where: RowsLocation): BanditSource {
  const wantRewardModel = plan.needsRewardModel[0];
  const need = (name: string, why: string) => {
    if (!columns.has(name)) throw new UsageError(`${who}: ${what} has no column '${name}' (${why}); columns: ${[...columns.keys()].join(', ')}`);
  };
  need('reward', 'the observed reward');
  const propensity = columns.has('propensity') ? 'propensity' : columns.has('pscore') ? 'pscore' : undefined;
  if (propensity === undefined) throw new UsageError(`${who}: ${what} has no column 'propensity' (or 'pscore')`);
  const isList = (name: string) => /\[\]$/.test(columns.get(name) ?? '');
  const needAction = (list: string) => {
    if (!isList(list)) throw new UsageError(`${who}: ${what} column '${list}' is ${columns.get(list)}, expected a list of numbers (one entry per action)`);
    need('action', `the logged action, the index into ${list}`);
  };
  let target: BanditSource['target'];
  if (columns.has('target_propensity')) target = 'target_propensity';
  else if (columns.has('action_dist')) {
    needAction('action_dist');
    target = 'action_dist';
  } else throw new UsageError(`${who} needs the target policy: column 'target_propensity' (pi of the logged action) or 'action_dist' (a list over actions), in the log or in a --policy file`);
  let rewardModel: BanditSource['rewardModel'];
  if (wantRewardModel) {
    const logged = columns.has('q_hat_logged') ? 'q_hat_logged' : columns.has('q_hat') ? 'q_hat' : undefined;
    const targetQ = columns.has('q_hat_target') ? 'q_hat_target' : columns.has('q_hat') && columns.has('action_dist') ? 'action_dist.q_hat' : undefined;
    if (logged === undefined || targetQ === undefined) {
      throw new UsageError(
        `${who}: dm and the DR family need the reward model in the log, as the scalar columns q_hat_logged and q_hat_target or the q_hat list (with action_dist); ${what} lacks ${logged === undefined ? 'q_hat_logged (or q_hat)' : 'q_hat_target (or action_dist with q_hat)'}; drop those estimators or use --engine js`,
      );
    }
    if (logged === 'q_hat' || targetQ === 'action_dist.q_hat') needAction('q_hat');
    rewardModel = { logged, target: targetQ };
  }
  const idName = columns.has('request_id') ? 'request_id' : columns.has('slate_id') ? 'slate_id' : undefined;
  let requestId: BanditSource['requestId'];
  if (idName !== undefined) {
    const t = columns.get(idName) as string;
    if (INTEGER_TYPES.test(t)) requestId = { name: idName, type: 'integer' };
    else if (t === 'VARCHAR') requestId = { name: idName, type: 'string' };
    else throw new UsageError(`${who}: ${idName} of type ${t} is not supported (integers up to 32 bits unsigned or 64 bits signed, or strings); use --engine js`);
  } else if (where.ordinal === undefined) {
    throw new UsageError(
      `${who}: ${what} has no request_id (or slate_id), so the bootstrap would key each row by its ordinal, and a table has no stable row order; give a column that numbers the rows with --row-id COLUMN (0, 1, 2, ... in log order reproduces the in-process engine), or add request_id`,
    );
  }
  const source: BanditSource = { from: where.from, ordinal: where.ordinal, propensity, requestId, target, rewardModel };
  return plan.slateWeightColumns === undefined ? source : { ...source, slate: slateSourceOf(who, what, columns, plan, source) };
}

/**
 * The slate columns a slate plan reads (DESIGN.md §2; the policy's target_* columns joined in by
 * joinPolicy), checked with the estimators' own `missing`, so a usage error says what is missing
 * in the words the in-process engine uses.
 */
function slateSourceOf(who: string, what: string, columns: ReadonlyMap<string, string>, plan: EvaluationPlan, src: BanditSource): SlateSource {
  if (src.target !== 'target_propensity') {
    throw new UsageError(
      `${who}: the slate estimators need target_propensity, the target's probability of the whole logged slate (action_dist on a slate log is the per-slot distribution given the prefix, used by cascade-dr)`,
    );
  }
  if (src.requestId === undefined) throw new UsageError(`${who}: the slate estimators read a slate as the rows of one slate_id; ${what} has no slate_id (or request_id) column`);
  const isList = (name: string) => /\[\d*\]$/.test(columns.get(name) ?? '');
  const pair = (logged: string, target: string, list = false) => (columns.has(logged) && columns.has(target) && (!list || (isList(logged) && isList(target))) ? { logged, target } : undefined);
  const slate: SlateSource = {
    position: 'position',
    itemPosition: pair('propensity_item_position', 'target_propensity_item_position'),
    cascade: pair('propensity_cascade', 'target_propensity_cascade'),
    itemPositions: pair('propensity_item_positions', 'target_propensity_item_positions', true),
  };
  const none = new Float64Array(0);
  for (const slot of plan.slots) {
    // The lists' width L is not known before the rows are read: the query checks it row by row
    // (pbm-ips' weight is NULL, a bad row, unless both lists have one entry per theta), so the
    // probe's lists have the width the estimator expects (pbm-ips' parameters are theta0..theta(L-1)).
    const list = { width: Object.keys(slot.estimator.params).length, values: none };
    const probe: BanditColumns = {
      n: 0,
      source: what,
      rowOffset: 0,
      w: none,
      r: none,
      targetProb: none,
      q: src.rewardModel !== undefined ? none : undefined,
      qpi: src.rewardModel !== undefined ? none : undefined,
      position: columns.has('position') ? new Int32Array(0) : undefined,
      wItemPosition: slate.itemPosition !== undefined ? none : undefined,
      wCascade: slate.cascade !== undefined ? none : undefined,
      itemPositions: slate.itemPositions !== undefined ? { logged: list, target: list } : undefined,
    };
    const w = slot.estimator.weights;
    for (const stat of [...slot.estimator.stats, ...(w !== undefined ? weightStatistics(w) : [])]) {
      const why = stat.missing?.(probe);
      if (why !== undefined) throw new UsageError(`${who}: estimator '${slot.estimator.label}' needs ${why}; ${what} lacks it`);
    }
  }
  return slate;
}

/** Why an estimator cannot run on the SQL path, or undefined when it can. */
export function sqlUnsupported(e: Estimator): string | undefined {
  const w = e.weights;
  const stats = [...e.stats, ...(e.diagnostics ?? []).map((d) => d.stat), ...(w !== undefined ? weightStatistics(w) : [])];
  const without = stats.filter((s) => s.sql === undefined);
  if (without.length > 0) return `its statistics ${without.map((s) => `'${s.key}'`).join(', ')} have no SQL form`;
  if (w !== undefined && w.maxSql === undefined) return `its largest ${w.describe} has no SQL form`;
  return undefined;
}

export function chooseEstimators(who: string, spec: DuckDbEvaluateOptions['estimators'], columns: ReadonlyMap<string, string>): { estimators: Estimator[]; skipped: string[] } {
  if (spec !== undefined) {
    const estimators = typeof spec === 'string' ? parseEstimatorList(spec) : [...spec];
    for (const e of estimators) {
      const why = sqlUnsupported(e);
      if (why !== undefined) throw new UsageError(`${who} does not support estimator '${e.label}' (${why}); supported: ${supportedNames().join(', ')}; or use --engine js`);
    }
    return { estimators, skipped: [] };
  }
  // As bandit-columns.ts: q from q_hat_logged or the q_hat list, qpi from q_hat_target or q_hat under action_dist.
  const hasModel = (columns.has('q_hat_logged') || columns.has('q_hat')) && (columns.has('q_hat_target') || (columns.has('q_hat') && columns.has('action_dist')));
  // As evaluate-log.ts: a log with item-position or prefix propensities is a slate log.
  const itemPosition = columns.has('propensity_item_position');
  const cascade = columns.has('propensity_cascade');
  const usable = (n: string): boolean => {
    if (n === 'iips' || n === 'pi') return itemPosition;
    if (n === 'rips') return cascade;
    if (n === 'cascade-dr') return cascade && hasModel;
    return hasModel || !estimatorNeedsRewardModel(n);
  };
  const candidates = allOfFamily(itemPosition || cascade ? 'slate' : 'bandit');
  const names = candidates.filter((n) => usable(n) && sqlUnsupported(parseEstimatorSpec(n)) === undefined);
  return { estimators: names.map((n) => parseEstimatorSpec(n)), skipped: candidates.filter((n) => !names.includes(n)) };
}

/** The estimators (bandit, then slate) the SQL path compiles. */
export function supportedNames(): string[] {
  return [...allOfFamily('bandit'), ...allOfFamily('slate')].filter((n) => sqlUnsupported(parseEstimatorSpec(n)) === undefined);
}

/** Checks the options as evaluateStream does, plus what the SQL path leaves out. */
export function resolveOptions(opts: Pick<DuckDbEvaluateOptions, 'replicates' | 'bootstrapKind' | 'seed' | 'ci' | 'alpha' | 'threads'>): {
  replicates: number;
  seed: number;
  ci: IntervalMethod;
  alpha: number;
} {
  const { replicates, seed, ci, alpha } = resolveBootstrapOptions(opts);
  if (opts.bootstrapKind === 'multinomial')
    throw new UsageError('the SQL path (--engine duckdb, ope sql, --from-sums) runs the Poisson bootstrap only (the multinomial bootstrap needs every cluster in memory); use --engine js');
  if (ci === 'bca')
    throw new UsageError('the SQL path (--engine duckdb, --from-sums) does not compute --ci bca yet (the jackknife needs every cluster total); use percentile, normal or bernstein, or --engine js');
  return { replicates, seed, ci, alpha };
}

/** A DuckDB value (number, BIGINT as bigint, NULL) as a number; NULL is NaN. */
function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v === null || v === undefined) return NaN;
  return Number(v);
}

/** The point part's values (pointColumns order) as PassTotals (everything but the replicate sums). */
function readPoint(values: readonly number[], plan: EvaluationPlan, layout: PointLayout, clustered: boolean): { totals: Omit<PassTotals, 'replicateSums'>; bad: number[] } {
  const { M, pairs: P, clipLevels, unitMaxima, slate } = layout;
  let i = 0;
  const next = () => values[i++];
  const n = next();
  const sums = Float64Array.from({ length: M }, next);
  const sumSquares = Float64Array.from({ length: M }, next);
  const maxWeight = Float64Array.of(next());
  const rowsWeightAbove1000 = Float64Array.of(next());
  const minPropensity = next();
  const rewardMin = next();
  const rewardMax = next();
  const clipped = Float64Array.from({ length: clipLevels * 5 }, next);
  const bad = [next(), next(), next(), next(), next()];
  const pairProducts = Float64Array.from({ length: P }, next);
  const sizeWeighted = Float64Array.from({ length: M }, next);
  const sizeSquares = next();
  const clusters = next();
  const maxima = Array.from({ length: unitMaxima }, next);
  let k = 0;
  const unitWeightMax = plan.slots.map((sl) => (sl.estimator.weights !== undefined ? maxima[k++] : undefined));
  if (slate) bad.push(next(), next());
  if (i !== values.length) throw new Error(`point query returned ${values.length} columns, expected ${i}`);
  const totals = {
    n,
    sums,
    sumSquares,
    moments: { pairProducts, sizeWeighted, sizeSquares, clusters },
    maxWeight,
    rowsWeightAbove1000,
    minPropensity,
    rewardMin,
    rewardMax,
    // The unsupported-mass diagnostic needs per-action sums of action_dist, not compiled to SQL yet.
    unsupportedMass: plan.policies.map(() => undefined),
    clustered,
    clippedSums: [clipped],
    unitWeightMax,
  };
  return { totals, bad };
}

/** Where the sums came from, for the checks of `summarizeSums` and their messages. */
export interface SumsOrigin {
  /** The file the errors name (the log, or the saved sums). */
  readonly file: string;
  /** The logging propensity's column name. */
  readonly propensity: string;
  /** Rows are grouped by request id. */
  readonly clustered: boolean;
  /** Why rows keyed by their ordinal cannot be evaluated (the source has no stable, global row ordinal), or undefined when they can. */
  readonly ordinalUndefined?: string;
  /** How the user finds the bad rows the point part counted. */
  readonly findBadRows: string;
}

/** The interval and bounds options both SQL paths share. */
export interface SumsOptions {
  readonly replicates: number;
  readonly seed: number;
  readonly ci: IntervalMethod;
  readonly alpha: number;
  readonly rewardRange?: EvaluateOptions['rewardRange'];
  readonly maxWeight?: number;
}

/**
 * The point part's values (pointColumns order) and the replicate sums (B x (1 + Mb), replicateColumns
 * order, 0 for a replicate that drew no unit) into the EvaluationResult, as the in-process engine
 * summarizes its own sums: shared by `--engine duckdb` and `--from-sums`. An input error when the
 * point part counted rows the contract rejects.
 */
export function summarizeSums(plan: EvaluationPlan, layout: PointLayout, point: readonly number[], replicateSums: Float64Array | undefined, origin: SumsOrigin, opts: SumsOptions): EvaluationResult {
  const pointTotals = checkPoint(plan, layout, point, origin);
  const totals: PassTotals = { ...pointTotals, replicateSums };
  const bounds = chooseBounds({ estimators: plan.slots.map((sl) => sl.estimator), policyNames: plan.policies, rewardRange: opts.rewardRange, maxWeight: opts.maxWeight }, totals);
  return summarize(plan, totals, { replicates: opts.replicates, kind: 'poisson', seed: opts.seed, ci: opts.ci, alpha: opts.alpha, bounds });
}

/** The point part as PassTotals, or an input error for an empty log or rows the contract rejects (before any replicate is computed). */
function checkPoint(plan: EvaluationPlan, layout: PointLayout, point: readonly number[], origin: SumsOrigin): Omit<PassTotals, 'replicateSums'> {
  const { totals, bad } = readPoint(point, plan, layout, origin.clustered);
  if (!(totals.n > 0)) throw new InputError('the log has no rows', { file: origin.file });
  const [badPropensity, badTarget, badReward, badQ, ordinalKeyed, badSlate = 0, badOrder = 0] = bad;
  if (origin.ordinalUndefined !== undefined && ordinalKeyed > 0) {
    throw new InputError(`${ordinalKeyed} rows have no request_id, so their bootstrap cluster key is their row ordinal, which ${origin.ordinalUndefined}`, { file: origin.file });
  }
  const problems: string[] = [];
  if (badPropensity > 0) problems.push(`${badPropensity} rows with ${origin.propensity} missing or outside (0, 1]`);
  if (badTarget > 0) problems.push(`${badTarget} rows with the target probability (target_propensity, or action_dist at the action) missing or outside [0, 1]`);
  if (badReward > 0) problems.push(`${badReward} rows with a missing or non-finite reward`);
  if (badQ > 0) problems.push(`${badQ} rows with the reward model (q_hat_logged and q_hat_target, or q_hat at the action and under action_dist) missing or non-finite`);
  if (badSlate > 0)
    problems.push(
      `${badSlate} rows with a slate column missing or out of range (position >= 0; propensity_item_position and propensity_cascade in (0, 1], their target_ columns in [0, 1]; the *_item_positions lists with one entry per position)`,
    );
  if (badOrder > 0) problems.push(`${badOrder} rows out of place in their slate: a slate's rows must be adjacent and in position order 0, 1, ..., L-1; sort the log by slate_id, position`);
  if (problems.length > 0) throw new InputError(`${problems.join('; ')} (${origin.findBadRows})`, { file: origin.file });
  return totals;
}

/** The log's columns, the estimators they support and the plan (the estimators on one target, 'target'). */
export function planFor(who: string, columns: ReadonlyMap<string, string>, requested: DuckDbEvaluateOptions['estimators'], policyName = 'target'): { plan: EvaluationPlan; skipped: string[] } {
  const { estimators, skipped } = chooseEstimators(who, requested, columns);
  if (estimators.length === 0) throw new UsageError('no estimator given');
  return { plan: planEvaluation([policyName], estimators), skipped };
}

/** The policy columns the bandit and slate estimators read (DESIGN.md §2); a policy file's columns replace the log's. */
const POLICY_COLUMNS = ['target_propensity', 'action_dist', 'q_hat_target', 'target_propensity_item_position', 'target_propensity_cascade', 'target_propensity_item_positions'];

/** Rows in Parquet files, from their footers. */
async function parquetRowCount(con: DuckDBConnection, files: readonly string[]): Promise<number> {
  const rows = (await con.runAndReadAll(`SELECT sum(num_rows) FROM parquet_file_metadata([${files.map(literal).join(', ')}])`)).getRows();
  return num(rows[0][0]);
}

/**
 * The log joined with a policy file row by row, as alignPolicies pairs them: policy row k with the
 * log row whose ordinal is k (a hash join on the ordinal; DuckDB spills it under --memory-limit).
 * The policy's columns replace any the log has of the same name. A policy with another number of
 * rows than the log is an input error, as in the in-process engine.
 */
export async function joinPolicy(
  con: DuckDBConnection,
  logFiles: readonly string[],
  where: RowsLocation,
  logColumns: ReadonlyMap<string, string>,
  policy: { readonly name: string; readonly file: string },
): Promise<{ where: RowsLocation; columns: Map<string, string> }> {
  if (!/\.parquet$/i.test(policy.file)) throw new UsageError(`--engine duckdb reads Parquet policy files only; ${policy.file} is not .parquet (or use --engine js)`);
  const policyColumns = await describeLog(con, [policy.file]);
  const taken = POLICY_COLUMNS.filter((c) => policyColumns.has(c));
  if (!taken.includes('target_propensity') && !taken.includes('action_dist')) {
    throw new InputError(`policy '${policy.name}' has neither target_propensity nor action_dist (columns: ${[...policyColumns.keys()].join(', ')})`, { file: policy.file });
  }
  const logRows = await parquetRowCount(con, logFiles);
  const policyRows = await parquetRowCount(con, [policy.file]);
  if (logRows !== policyRows) {
    throw new InputError(`policy '${policy.name}' must have one row per log row (aligned by row order); it has ${policyRows} rows, the log ${logRows}`, { file: policy.file });
  }
  if (where.ordinal === undefined) throw new Error('a policy join needs the log row ordinal');
  const replaced = taken.filter((c) => logColumns.has(c));
  const q = (c: string) => `"${c}"`;
  const logPart = replaced.length > 0 ? `ope_log.* EXCLUDE (${replaced.map(q).join(', ')})` : 'ope_log.*';
  const from =
    `(SELECT ${logPart}, ${taken.map((c) => `ope_pol.${q(c)}`).join(', ')}` +
    ` FROM ${where.from} AS ope_log` +
    ` JOIN (SELECT ${taken.map(q).join(', ')}, file_row_number AS ope_policy_row FROM read_parquet(${literal(policy.file)}, file_row_number = true)) AS ope_pol` +
    ` ON ope_log.${where.ordinal} = ope_pol.ope_policy_row)`;
  const columns = new Map([...logColumns].filter(([c]) => !taken.includes(c)));
  for (const c of taken) columns.set(c, policyColumns.get(c) as string);
  return { where: { from, ordinal: where.ordinal }, columns };
}

/** The columns of a Parquet log's files (DESCRIBE), an input error naming the file that cannot be read or differs from the first. */
export async function describeLog(con: DuckDBConnection, files: readonly string[]): Promise<Map<string, string>> {
  let first: Map<string, string> | undefined;
  for (const file of files) {
    let columns: Map<string, string>;
    try {
      columns = await describeParquet(con, file);
    } catch (err) {
      throw new InputError(`cannot read as Parquet: ${(err as Error).message.split('\n')[0]}`, { file });
    }
    const text = (m: Map<string, string>) => [...m].map(([k, v]) => `${k} ${v}`).join(', ');
    if (first === undefined) first = columns;
    else if (text(columns) !== text(first)) throw new InputError(`its columns (${text(columns)}) differ from the dataset's first file's (${text(first)})`, { file });
  }
  if (first === undefined) throw new InputError('the dataset has no file', { file: files.join(', ') });
  return first;
}

/** Evaluates a Parquet bandit log on an embedded DuckDB. */
export async function evaluateDuckDb(opts: DuckDbEvaluateOptions): Promise<DuckDbEvaluateResult> {
  const { replicates, seed, ci, alpha } = resolveOptions(opts);
  const files = await parquetFiles(opts.log);
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const spill = mkdtempSync(join(tmpdir(), 'ope-duckdb-'));
  const settings: Record<string, string> = { temp_directory: spill };
  if (opts.memoryLimit !== undefined) settings.memory_limit = checkMemoryLimit(opts.memoryLimit);
  if (opts.threads !== undefined) settings.threads = String(opts.threads);
  const instance = await DuckDBInstance.create(':memory:', settings);
  const con = await instance.connect();
  try {
    let columns = await describeLog(con, files);
    let where = await parquetRows(con, files);
    if (opts.policy !== undefined) ({ where, columns } = await joinPolicy(con, files, where, columns, opts.policy));
    const { plan, skipped } = planFor('--engine duckdb', columns, opts.estimators, opts.policy?.name);
    const src = banditSourceOf('--engine duckdb', opts.log, columns, plan, where);
    let queries = compileBanditQueries(plan, src, replicates, seed);

    const origin: SumsOrigin = {
      file: opts.log,
      propensity: src.propensity,
      clustered: src.requestId !== undefined,
      ordinalUndefined: ordinalUndefined(ordinalKind(src)),
      findBadRows: 'run ope validate --log for the first of each',
    };
    let t0 = Date.now();
    const pointRow = (await con.runAndReadAll(queries.point)).getRows()[0].map(num);
    const { n, moments } = checkPoint(plan, queries.layout, pointRow, origin);
    // As the in-process engine's compaction: group a cluster's rows before the replicate join only
    // when requests average more than 4/3 rows (a fixed function of the data, not of the split).
    queries = compileBanditQueries(plan, src, replicates, seed, moments.clusters <= 0.75 * n);
    const pointMs = Date.now() - t0;

    let replicateSums: Float64Array | undefined;
    t0 = Date.now();
    if (queries.replicates !== undefined) {
      const rows = (await con.runAndReadAll(queries.replicates)).getRows();
      replicateSums = collectReplicates(
        rows.map((r) => r.map(num)),
        replicates,
        plan.bootstrapColumns.length,
        (b) => new Error(`replicate query returned replicate ${b}, expected 0..${replicates - 1}`),
      );
    }
    const replicatesMs = Date.now() - t0;
    const result = summarizeSums(plan, queries.layout, pointRow, replicateSums, origin, { replicates, seed, ci, alpha, rewardRange: opts.rewardRange, maxWeight: opts.maxWeight });
    return { result, skipped, queries, timings: { point: pointMs, replicates: replicatesMs } };
  } finally {
    con.closeSync();
    instance.closeSync();
    rmSync(spill, { recursive: true, force: true });
  }
}

/**
 * The Parquet files of a log given as one file, a folder or a glob: a dataset's files are listed
 * and sorted as the in-process reader lists them (datasetFiles), so both engines see the same rows
 * in the same order.
 */
export async function parquetFiles(spec: string): Promise<string[]> {
  const files = isDatasetSpec(spec) ? await datasetFiles(spec) : [spec];
  const other = files.find((f) => !/\.parquet$/i.test(f));
  if (other !== undefined) throw new UsageError(`--engine duckdb reads Parquet logs only; ${other} is not .parquet (convert it, or use --engine js)`);
  return files;
}

/**
 * The rows of Parquet files read in place, numbered as the in-process reader numbers them. One
 * file: DuckDB's file_row_number. Several: file_row_number restarts in each file, so each file's
 * rows are offset by the rows of the files before it (their row counts from the Parquet footers,
 * joined by file name: a few rows on the build side of a hash join), which makes the ordinal, and
 * so the bootstrap key of rows without a request id, the same as in one file.
 */
export async function parquetRows(con: DuckDBConnection, files: readonly string[]): Promise<RowsLocation> {
  if (files.length === 1) return { from: `read_parquet(${literal(files[0])}, file_row_number = true)`, ordinal: 'file_row_number' };
  const list = `[${files.map(literal).join(', ')}]`;
  const counts = new Map<string, number>();
  for (const row of (await con.runAndReadAll(`SELECT file_name, num_rows FROM parquet_file_metadata(${list})`)).getRows()) counts.set(String(row[0]), num(row[1]));
  let base = 0;
  const offsets = files.map((f) => {
    const rows = counts.get(f);
    if (rows === undefined) throw new Error(`parquet_file_metadata did not list ${f}`);
    const at = base;
    base += rows;
    return `(${literal(f)}, ${at})`;
  });
  return {
    from:
      `(SELECT ope_l.*, ope_o.ope_base + ope_l.file_row_number AS ope_ordinal` +
      ` FROM read_parquet(${list}, filename = true, file_row_number = true) AS ope_l` +
      ` JOIN (VALUES ${offsets.join(', ')}) AS ope_o(ope_file, ope_base) ON ope_l.filename = ope_o.ope_file)`,
    ordinal: 'ope_ordinal',
  };
}

/** The row ordinal of a source: defined, or absent (a warehouse table without --row-id). */
export type OrdinalKind = 'defined' | 'none';

export function ordinalKind(src: BanditSource): OrdinalKind {
  return src.ordinal === undefined ? 'none' : 'defined';
}

/** Why rows keyed by their ordinal cannot be evaluated on such a source, or undefined. */
export function ordinalUndefined(kind: OrdinalKind): string | undefined {
  if (kind === 'none') return 'a warehouse table does not define (it has no row order): give --row-id COLUMN to ope sql, or give every row a request_id';
  return undefined;
}

/**
 * Replicate rows [b, nb, rs0, ...] into the B x (1 + Mb) sums; a replicate that drew no unit has no
 * row and its sums stay 0 (summarize then drops it, as the in-process engine does). `badIndex`
 * makes the error for b outside 0..B-1 or repeated.
 */
export function collectReplicates(rows: readonly (readonly number[])[], B: number, bootstrapped: number, badIndex: (b: number, row: number) => Error): Float64Array {
  const width = replicateColumns(bootstrapped).length;
  const out = new Float64Array(B * width);
  const seen = new Uint8Array(B);
  rows.forEach((r, i) => {
    const b = r[0];
    if (!(Number.isInteger(b) && b >= 0 && b < B) || seen[b] === 1) throw badIndex(b, i);
    seen[b] = 1;
    for (let k = 0; k < width; k++) out[b * width + k] = r[1 + k];
  });
  return out;
}
