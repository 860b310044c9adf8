import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Estimator } from '../../estimators/estimator.js';
import { allOfFamily, estimatorNeedsRewardModel, parseEstimatorList, parseEstimatorSpec } from '../../estimators/registry.js';
import { InputError, UsageError } from '../data/errors.js';
import { chooseBounds, resolveBootstrapOptions, type EvaluateOptions, type PassTotals } from '../engine/evaluate.js';
import type { IntervalMethod } from '../stats/intervals.js';
import { planEvaluation, type EvaluationPlan } from '../engine/plan.js';
import type { EvaluationResult } from '../engine/results.js';
import { summarize } from '../engine/summarize.js';
import { compileBanditQueries, isGlob, literal, parquetSource, type BanditSource, type CompiledQueries } from './compile.js';

/**
 * `ope evaluate --engine duckdb` (issue 10 item 3): the plan compiled to SQL (compile.ts), run on an
 * embedded DuckDB that reads the Parquet log in place (multi-threaded, out of core), and only the
 * sums come back; `summarize` then turns them into the same EvaluationResult the in-process engine
 * gives. Point estimates agree with it to rounding (sums in another order), bootstrap weights
 * exactly (the same hash).
 *
 * Scope of this slice: one Parquet file (or glob) with the target's columns inline
 * (target_propensity; q_hat_logged and q_hat_target for dm and the DR family), one target policy,
 * the bandit estimators whose statistics have a SQL form, the Poisson bootstrap, and the
 * percentile / normal / bernstein intervals.
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

/**
 * What the SQL path needs from the log's columns; a usage error naming what is missing otherwise.
 * `wantRewardModel`: some chosen estimator needs q_hat_logged / q_hat_target.
 */
export function banditSourceOf(path: string, columns: ReadonlyMap<string, string>, wantRewardModel: boolean): BanditSource {
  const need = (name: string, why: string) => {
    if (!columns.has(name)) throw new UsageError(`--engine duckdb: ${path} has no column '${name}' (${why}); columns: ${[...columns.keys()].join(', ')}`);
  };
  need('reward', 'the observed reward');
  const propensity = columns.has('propensity') ? 'propensity' : columns.has('pscore') ? 'pscore' : undefined;
  if (propensity === undefined) throw new UsageError(`--engine duckdb: ${path} has no column 'propensity' (or 'pscore')`);
  if (!columns.has('target_propensity')) {
    throw new UsageError(
      `--engine duckdb needs the target's probability of the logged action inline in the log, as column 'target_propensity'` +
        (columns.has('action_dist') ? ' (action_dist lists are not compiled to SQL yet)' : '') +
        `; or use --engine js`,
    );
  }
  if (wantRewardModel) {
    const lacking = ['q_hat_logged', 'q_hat_target'].filter((c) => !columns.has(c));
    if (lacking.length > 0) {
      throw new UsageError(
        `--engine duckdb: dm and the DR family need the reward model as the scalar columns q_hat_logged and q_hat_target in the log; ${path} lacks ${lacking.join(', ')}` +
          (columns.has('q_hat') ? ' (q_hat lists are not compiled to SQL yet)' : '') +
          '; drop those estimators or use --engine js',
      );
    }
  }
  const idName = columns.has('request_id') ? 'request_id' : columns.has('slate_id') ? 'slate_id' : undefined;
  let requestId: BanditSource['requestId'];
  if (idName !== undefined) {
    const t = columns.get(idName) as string;
    if (INTEGER_TYPES.test(t)) requestId = { name: idName, type: 'integer' };
    else if (t === 'VARCHAR') requestId = { name: idName, type: 'string' };
    else throw new UsageError(`--engine duckdb: ${idName} of type ${t} is not supported (integers up to 32 bits unsigned or 64 bits signed, or strings); use --engine js`);
  }
  return { from: parquetSource(path), propensity, requestId, rewardModel: wantRewardModel };
}

/** Why an estimator cannot run on the SQL path, or undefined when it can. */
export function sqlUnsupported(e: Estimator): string | undefined {
  if (e.weights !== undefined) return 'a slate estimator';
  const stats = [...e.stats, ...(e.diagnostics ?? []).map((d) => d.stat)];
  const without = stats.filter((s) => s.sql === undefined || s.start !== undefined);
  if (without.length > 0) return `its statistics ${without.map((s) => `'${s.key}'`).join(', ')} have no SQL form`;
  return undefined;
}

function chooseEstimators(spec: DuckDbEvaluateOptions['estimators'], columns: ReadonlyMap<string, string>): { estimators: Estimator[]; skipped: string[] } {
  if (spec !== undefined) {
    const estimators = typeof spec === 'string' ? parseEstimatorList(spec) : [...spec];
    for (const e of estimators) {
      const why = sqlUnsupported(e);
      if (why !== undefined) throw new UsageError(`--engine duckdb does not support estimator '${e.label}' (${why}); supported: ${supportedNames().join(', ')}; or use --engine js`);
    }
    return { estimators, skipped: [] };
  }
  const hasModel = columns.has('q_hat_logged') && columns.has('q_hat_target');
  const candidates = allOfFamily('bandit');
  const names = candidates.filter((n) => (hasModel || !estimatorNeedsRewardModel(n)) && sqlUnsupported(parseEstimatorSpec(n)) === undefined);
  return { estimators: names.map((n) => parseEstimatorSpec(n)), skipped: candidates.filter((n) => !names.includes(n)) };
}

/** The bandit estimators the SQL path compiles. */
export function supportedNames(): string[] {
  return allOfFamily('bandit').filter((n) => sqlUnsupported(parseEstimatorSpec(n)) === undefined);
}

/** Checks the options as evaluateStream does, plus what this slice leaves out. */
function resolveOptions(opts: DuckDbEvaluateOptions): { replicates: number; seed: number; ci: IntervalMethod; alpha: number } {
  const { replicates, seed, ci, alpha } = resolveBootstrapOptions(opts);
  if (opts.bootstrapKind === 'multinomial') throw new UsageError('--engine duckdb runs the Poisson bootstrap only (the multinomial bootstrap needs every cluster in memory); use --engine js');
  if (ci === 'bca') throw new UsageError('--engine duckdb does not compute --ci bca yet (the jackknife needs every cluster total); use percentile, normal or bernstein, or --engine js');
  return { replicates, seed, ci, alpha };
}

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v === null || v === undefined) return NaN;
  return Number(v);
}

/** The point query's row as PassTotals (everything but the replicate sums). */
function readPoint(row: readonly unknown[], plan: EvaluationPlan, q: CompiledQueries, clustered: boolean): { totals: Omit<PassTotals, 'replicateSums'>; bad: number[] } {
  const { M, pairs: P, clipLevels } = q.layout;
  let i = 0;
  const next = () => num(row[i++]);
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
  if (i !== row.length) throw new Error(`point query returned ${row.length} columns, expected ${i}`);
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
    // action_dist is not read on this path, so the unsupported-mass diagnostic is not computed.
    unsupportedMass: plan.policies.map(() => undefined),
    clustered,
    clippedSums: [clipped],
    unitWeightMax: plan.slots.map(() => undefined),
  };
  return { totals, bad };
}

/**
 * The queries `--engine duckdb` would run on a Parquet log (`ope sql`), without running them: the
 * log's schema is read (DESCRIBE) to choose the estimators and the request id's keying. The
 * replicate query groups a request's rows first (correct for any log; the evaluation itself
 * skips that step when requests are single rows).
 */
export async function compileForParquet(opts: {
  log: string;
  estimators?: DuckDbEvaluateOptions['estimators'];
  replicates: number;
  seed: number;
}): Promise<{ queries: CompiledQueries; plan: EvaluationPlan; skipped: string[] }> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const con = await instance.connect();
  try {
    const { plan, src, skipped } = await planOnParquet(con, opts.log, opts.estimators);
    return { queries: compileBanditQueries(plan, src, opts.replicates, opts.seed), plan, skipped };
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

/** The log's columns, the estimators they support, the plan and the SQL source of a Parquet log. */
async function planOnParquet(
  con: DuckDBConnection,
  log: string,
  requested: DuckDbEvaluateOptions['estimators'],
): Promise<{ plan: EvaluationPlan; src: ReturnType<typeof banditSourceOf>; skipped: string[] }> {
  let columns: Map<string, string>;
  try {
    columns = await describeParquet(con, log);
  } catch (err) {
    throw new InputError(`cannot read as Parquet: ${(err as Error).message.split('\n')[0]}`, { file: log });
  }
  const { estimators, skipped } = chooseEstimators(requested, columns);
  if (estimators.length === 0) throw new UsageError('no estimator given');
  const plan = planEvaluation(['target'], estimators);
  return { plan, src: banditSourceOf(log, columns, plan.needsRewardModel[0]), skipped };
}

/** Evaluates a Parquet bandit log on an embedded DuckDB. */
export async function evaluateDuckDb(opts: DuckDbEvaluateOptions): Promise<DuckDbEvaluateResult> {
  const { replicates, seed, ci, alpha } = resolveOptions(opts);
  if (!/\.parquet$/i.test(opts.log) && !isGlob(opts.log)) throw new UsageError(`--engine duckdb reads Parquet logs only; ${opts.log} is not .parquet (convert it, or use --engine js)`);
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const spill = mkdtempSync(join(tmpdir(), 'ope-duckdb-'));
  const settings: Record<string, string> = { temp_directory: spill };
  if (opts.memoryLimit !== undefined) settings.memory_limit = checkMemoryLimit(opts.memoryLimit);
  if (opts.threads !== undefined) settings.threads = String(opts.threads);
  const instance = await DuckDBInstance.create(':memory:', settings);
  const con = await instance.connect();
  try {
    const { plan, src, skipped } = await planOnParquet(con, opts.log, opts.estimators);
    let queries = compileBanditQueries(plan, src, replicates, seed);

    let t0 = Date.now();
    const pointRows = (await con.runAndReadAll(queries.point)).getRows();
    const { totals: point, bad } = readPoint(pointRows[0], plan, queries, src.requestId !== undefined);
    // As the in-process engine's compaction: group a cluster's rows before the replicate join only
    // when requests average more than 4/3 rows (a fixed function of the data, not of the split).
    queries = compileBanditQueries(plan, src, replicates, seed, point.moments.clusters <= 0.75 * point.n);
    const pointMs = Date.now() - t0;
    if (!(point.n > 0)) throw new UsageError('the log has no rows');
    const [badPropensity, badTarget, badReward, badQ, ordinalKeyed] = bad;
    if (isGlob(opts.log) && ordinalKeyed > 0) {
      throw new InputError(
        `${ordinalKeyed} rows have no request_id, so their bootstrap cluster key is their row ordinal, which a glob of several files does not define (file_row_number restarts in each file); give every row a request_id, or evaluate one file`,
        { file: opts.log },
      );
    }
    const problems: string[] = [];
    if (badPropensity > 0) problems.push(`${badPropensity} rows with ${src.propensity} missing or outside (0, 1]`);
    if (badTarget > 0) problems.push(`${badTarget} rows with target_propensity missing or outside [0, 1]`);
    if (badReward > 0) problems.push(`${badReward} rows with a missing or non-finite reward`);
    if (badQ > 0) problems.push(`${badQ} rows with q_hat_logged or q_hat_target missing or non-finite`);
    if (problems.length > 0) throw new InputError(`${problems.join('; ')} (run ope validate --log for the first of each)`, { file: opts.log });

    let replicateSums: Float64Array | undefined;
    t0 = Date.now();
    if (queries.replicates !== undefined) {
      const rows = (await con.runAndReadAll(queries.replicates)).getRows();
      const width = plan.bootstrapColumns.length + 1;
      replicateSums = new Float64Array(replicates * width);
      // A replicate that drew no unit has no row: its sums stay 0 (summarize then drops it, as the in-process engine does).
      for (const r of rows) {
        const b = num(r[0]);
        if (!(Number.isInteger(b) && b >= 0 && b < replicates)) throw new Error(`replicate query returned replicate ${b}, expected 0..${replicates - 1}`);
        for (let k = 0; k < width; k++) replicateSums[b * width + k] = num(r[1 + k]);
      }
    }
    const replicatesMs = Date.now() - t0;
    const totals: PassTotals = { ...point, replicateSums };
    const bounds = chooseBounds({ estimators: plan.slots.map((sl) => sl.estimator), policyNames: plan.policies, rewardRange: opts.rewardRange, maxWeight: opts.maxWeight }, totals);
    const result = summarize(plan, totals, { replicates, kind: 'poisson', seed, ci, alpha, bounds });
    return { result, skipped, queries, timings: { point: pointMs, replicates: replicatesMs } };
  } finally {
    con.closeSync();
    instance.closeSync();
    rmSync(spill, { recursive: true, force: true });
  }
}
