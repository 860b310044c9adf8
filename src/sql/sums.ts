import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { parseEstimatorSpec } from '../../estimators/registry.js';
import { InputError, UsageError } from '../data/errors.js';
import { planEvaluation, type EvaluationPlan } from '../engine/plan.js';
import type { EvaluationResult } from '../engine/results.js';
import type { IntervalMethod } from '../stats/intervals.js';
import { compileSumsQuery, layoutOf, pointColumns, replicateColumns } from './compile.js';
import { castSql, DIALECTS, type DialectName } from './hash.js';
import {
  banditSourceOf,
  collectReplicates,
  describeLog,
  ordinalKind,
  ordinalUndefined,
  joinPolicy,
  parquetFiles,
  parquetRows,
  planFor,
  resolveOptions,
  summarizeSums,
  type DuckDbEvaluateOptions,
  type OrdinalKind,
  type RowsLocation,
  type SumsOrigin,
} from './evaluate-duckdb.js';

/**
 * The warehouse path (issue 10 item 4): `ope sql --dialect duckdb|spark|trino|bigquery` prints one
 * query whose result is every sum the evaluation needs, self-described (compileSumsQuery); the user
 * runs it where the log lives and saves the result; `ope evaluate --from-sums FILE` reads it back
 * and summarizes it exactly as `--engine duckdb` summarizes its own queries' results.
 */

/** The result layout `--from-sums` reads; bump when the columns or their meaning change. */
export const SUMS_FORMAT = 'ope-sums';
export const SUMS_VERSION = 1;

/** The plan the query's point row carries (column `plan`, as JSON), so `--from-sums` needs no other flag. */
export interface SumsPlan {
  readonly format: string;
  readonly version: number;
  readonly dialect: DialectName;
  /** Estimator specs (labels), as parseEstimatorSpec reads them. */
  readonly estimators: readonly string[];
  readonly replicates: number;
  readonly seed: number;
  readonly bootstrap: 'poisson';
  /** Rows are grouped by request id (request_id or slate_id). */
  readonly clustered: boolean;
  /** The logging propensity's column name (for messages). */
  readonly propensity: string;
  /** The row ordinal rows without an id are keyed by: defined, absent (a warehouse table without --row-id) or restarting per file (a glob). */
  readonly ordinal: OrdinalKind;
  /** The per-row statistics t0, t1, ... by key (a check that this version plans the same columns). */
  readonly columns: readonly string[];
  /** The target policy's name (`--policy NAME=FILE`; 'target' for the log's own columns). */
  readonly policy?: string;
}

export interface CompileSumsOptions {
  readonly dialect: DialectName;
  /** DuckDB: the Parquet log (file or glob), read in place. Warehouses: a local Parquet sample with the table's schema. */
  readonly log?: string;
  /** Warehouses: the table (or view) name, inserted into FROM verbatim. */
  readonly table?: string;
  /** Warehouses: 'name[:integer|string|double|list],...', the table's columns, instead of a sample `log`. */
  readonly schema?: string;
  /** Warehouses: an integer column numbering the rows, the cluster key of rows without a request id. */
  readonly rowId?: string;
  /** DuckDB: a target policy file (Parquet) joined to the log by row order, as --engine duckdb joins it. */
  readonly policy?: { readonly name: string; readonly file: string };
  readonly estimators?: DuckDbEvaluateOptions['estimators'];
  readonly replicates: number;
  readonly seed: number;
}

export interface CompiledSums {
  readonly sql: string;
  readonly plan: EvaluationPlan;
  readonly sumsPlan: SumsPlan;
  readonly skipped: readonly string[];
}

const SCHEMA_TYPES: Readonly<Record<string, string>> = { integer: 'BIGINT', string: 'VARCHAR', double: 'DOUBLE', list: 'DOUBLE[]' };

/** `--schema 'request_id:string,reward,propensity,...'` as the column types DESCRIBE would give (DuckDB names). */
export function parseSchema(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of text.split(',')) {
    const t = item.trim();
    if (t === '') continue;
    const colon = t.lastIndexOf(':');
    const name = colon < 0 ? t : t.slice(0, colon).trim();
    const type = colon < 0 ? 'double' : t.slice(colon + 1).trim();
    if (!(type in SCHEMA_TYPES)) throw new UsageError(`--schema: column '${name}' has type '${type}'; types are integer, string, double (the default), list (of numbers: action_dist, q_hat)`);
    if (out.has(name)) throw new UsageError(`--schema: column '${name}' is given twice`);
    out.set(name, SCHEMA_TYPES[type]);
  }
  if (out.size === 0) throw new UsageError('--schema lists no column');
  return out;
}

/** The self-describing sums query for a dialect (what `ope sql` prints). */
export async function compileSums(opts: CompileSumsOptions): Promise<CompiledSums> {
  const d = DIALECTS[opts.dialect];
  const who = `ope sql --dialect ${d.name}`;
  const { replicates, seed } = resolveOptions({ replicates: opts.replicates, seed: opts.seed });
  let columns: Map<string, string>;
  let where: RowsLocation;
  let what: string;
  if (d.name === 'duckdb') {
    const extra = (['table', 'schema', 'rowId'] as const).filter((k) => opts[k] !== undefined);
    if (extra.length > 0) throw new UsageError(`${who} reads the Parquet --log in place (rows numbered by file_row_number); --table, --schema and --row-id are for the warehouse dialects`);
    if (opts.log === undefined) throw new UsageError(`${who} needs --log FILE (a Parquet log, or a glob of them)`);
    ({ columns, where } = await onDuckDb(opts.log, true, opts.policy));
    what = opts.log;
  } else {
    if (opts.policy !== undefined)
      throw new UsageError(
        `${who}: --policy is for --dialect duckdb; in a warehouse, join the policy's columns (target_propensity or action_dist, q_hat_target) to the table in a view and give that view as --table`,
      );
    if (opts.table === undefined) throw new UsageError(`${who} needs --table NAME, the table (or view) the query reads where the log lives`);
    if ((opts.log === undefined) === (opts.schema === undefined)) {
      throw new UsageError(
        `${who} needs the table's columns: either --log SAMPLE.parquet (a local Parquet file with the same schema) or --schema 'request_id:string,reward,propensity,target_propensity,...'`,
      );
    }
    columns = opts.schema !== undefined ? parseSchema(opts.schema) : (await onDuckDb(opts.log as string, false)).columns;
    if (opts.rowId !== undefined && !columns.has(opts.rowId)) throw new UsageError(`${who}: --row-id ${opts.rowId} is not a column of ${opts.table} (${[...columns.keys()].join(', ')})`);
    where = { from: opts.table, ordinal: opts.rowId === undefined ? undefined : castSql(d.ident(opts.rowId), 'bigint', d) };
    what = `table ${opts.table}`;
  }
  const { plan, skipped } = planFor(who, columns, opts.estimators, opts.policy?.name);
  const src = banditSourceOf(who, what, columns, plan, where);
  const sumsPlan: SumsPlan = {
    format: SUMS_FORMAT,
    version: SUMS_VERSION,
    dialect: d.name,
    estimators: plan.slots.map((s) => s.estimator.label),
    replicates,
    seed,
    bootstrap: 'poisson',
    clustered: src.requestId !== undefined,
    propensity: src.propensity,
    ordinal: ordinalKind(src),
    columns: plan.columns.map((c) => c.stat.key),
    policy: plan.policies[0],
  };
  const sql = compileSumsQuery(plan, src, replicates, seed, JSON.stringify(sumsPlan), d);
  return { sql, plan, sumsPlan, skipped };
}

/** A Parquet log's columns and, when `rows`, its rows (joined with the policy file, if any) as --engine duckdb reads them. */
async function onDuckDb(log: string, rows: boolean, policy?: { readonly name: string; readonly file: string }): Promise<{ columns: Map<string, string>; where: RowsLocation }> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const con = await instance.connect();
  try {
    // Absolute paths: the printed query may be run from another folder.
    const files = (await parquetFiles(log)).map((f) => resolve(f));
    const columns = await describeLog(con, rows ? files : files.slice(0, 1));
    if (!rows) return { columns, where: { from: '' } };
    const where = await parquetRows(con, files);
    return policy === undefined ? { columns, where } : await joinPolicy(con, files, where, columns, { name: policy.name, file: resolve(policy.file) });
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

/** A saved result: its column names and rows (cells as the format gives them: text, number, bigint, null). */
interface SumsTable {
  readonly columns: readonly string[];
  readonly rows: readonly Readonly<Record<string, unknown>>[];
}

/** Reads the saved result by extension: .csv (header row), .json (an array of objects, or JSON lines), .jsonl/.ndjson, .parquet. */
async function readSumsTable(file: string): Promise<SumsTable> {
  const ext = extname(file).toLowerCase();
  if (!['.parquet', '.csv', '.json', '.jsonl', '.ndjson'].includes(ext)) {
    throw new InputError(`unsupported extension '${ext === '' ? '(none)' : ext}' for --from-sums; save the query's result as .csv, .json, .jsonl or .parquet`, { file });
  }
  const fail = (err: unknown, what: string) => new InputError(`cannot read as ${what}: ${(err as Error).message.split('\n')[0]}`, { file });
  if (ext === '.parquet') {
    const { asyncBufferFromFile, parquetReadObjects, parquetMetadataAsync, parquetSchema } = await import('hyparquet');
    try {
      const buffer = await asyncBufferFromFile(file);
      const metadata = await parquetMetadataAsync(buffer);
      const columns = parquetSchema(metadata).children.map((c) => c.element.name);
      return { columns, rows: await parquetReadObjects({ file: buffer, metadata }) };
    } catch (err) {
      throw fail(err, 'Parquet');
    }
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read: ${(err as Error).message}`, { file });
  }
  if (ext === '.csv') {
    let records: string[][];
    try {
      records = parseCsv(text, { skip_empty_lines: true, bom: true }) as string[][];
    } catch (err) {
      throw fail(err, 'CSV');
    }
    if (records.length === 0) throw new InputError('empty file: expected a header row and the query result', { file });
    const [header, ...body] = records;
    // An empty CSV field is a NULL as engines export them.
    return { columns: header, rows: body.map((r) => Object.fromEntries(header.map((h, k) => [h, r[k] === '' || r[k] === undefined ? null : r[k]]))) };
  }
  // .json, .jsonl, .ndjson: a JSON array of objects, or one object per line.
  let rows: unknown[];
  try {
    const t = text.trim();
    rows = t.startsWith('[')
      ? (JSON.parse(t) as unknown[])
      : t
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as unknown);
  } catch (err) {
    throw fail(err, 'JSON (an array of objects, or one object per line)');
  }
  const objects = rows.map((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new InputError('expected one JSON object per result row', { file, row: i });
    return r as Record<string, unknown>;
  });
  const columns = [...new Set(objects.flatMap((o) => Object.keys(o)))];
  return { columns, rows: objects };
}

/** A cell as a finite number: numbers, bigints and numeric text (CSV, and the INT64-as-string of some JSON exports). */
function cellNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '') {
    const x = Number(v.trim());
    return Number.isFinite(x) ? x : undefined;
  }
  return undefined;
}

function parsePlan(text: unknown, file: string, row: number): SumsPlan {
  const where = { file, column: 'plan', row };
  let p: Partial<SumsPlan>;
  try {
    p = JSON.parse(String(text)) as Partial<SumsPlan>;
  } catch {
    throw new InputError("the point row's plan is not the JSON that ope sql writes; save the query's result unchanged", where);
  }
  if (p === null || typeof p !== 'object' || p.format !== SUMS_FORMAT)
    throw new InputError(`the plan is not an ${SUMS_FORMAT} plan (format ${JSON.stringify(p?.format)}); save the result of the query ope sql prints`, where);
  if (p.version !== SUMS_VERSION)
    throw new InputError(`plan version ${JSON.stringify(p.version)}, but this ope reads version ${SUMS_VERSION}; re-run ope sql with this version and the query it prints`, where);
  const ok =
    typeof p.dialect === 'string' &&
    p.dialect in DIALECTS &&
    Array.isArray(p.estimators) &&
    p.estimators.every((e) => typeof e === 'string') &&
    Number.isInteger(p.replicates) &&
    Number.isInteger(p.seed) &&
    p.bootstrap === 'poisson' &&
    typeof p.clustered === 'boolean' &&
    typeof p.propensity === 'string' &&
    (p.ordinal === 'defined' || p.ordinal === 'none') &&
    Array.isArray(p.columns) &&
    (p.policy === undefined || (typeof p.policy === 'string' && p.policy !== ''));
  if (!ok) throw new InputError('the plan lacks fields or has fields of the wrong type; save the result of the query ope sql prints, unchanged', where);
  return p as SumsPlan;
}

export interface FromSumsOptions {
  readonly file: string;
  readonly ci?: IntervalMethod;
  readonly alpha?: number;
  readonly rewardRange?: readonly [number, number];
  readonly maxWeight?: number;
}

/** `ope evaluate --from-sums FILE`: the saved result of the `ope sql` query turned into estimates, intervals and diagnostics. */
export async function evaluateFromSums(opts: FromSumsOptions): Promise<{ result: EvaluationResult; sumsPlan: SumsPlan }> {
  const { file } = opts;
  const table = await readSumsTable(file);
  const need = (names: readonly string[]) => {
    for (const c of names)
      if (!table.columns.includes(c)) throw new InputError(`no column '${c}'; expected the columns of the query ope sql prints (part, plan, b, replicate_rows, n, ...)`, { file, column: c });
  };
  need(['part', 'plan', 'b']);
  const pointRows = table.rows.flatMap((r, i) => (r.part === 'point' ? [i] : []));
  if (pointRows.length !== 1) throw new InputError(`expected one row with part = 'point', found ${pointRows.length}; save the whole result of the query`, { file, column: 'part' });
  const pointAt = pointRows[0];
  const sumsPlan = parsePlan(table.rows[pointAt].plan, file, pointAt);
  let plan: EvaluationPlan;
  try {
    plan = planEvaluation(
      [sumsPlan.policy ?? 'target'],
      sumsPlan.estimators.map((e) => parseEstimatorSpec(e)),
    );
  } catch (err) {
    throw new InputError(`the plan's estimators ${sumsPlan.estimators.join(', ')} are not what this ope knows: ${(err as Error).message}`, { file, column: 'plan', row: pointAt });
  }
  const keys = plan.columns.map((c) => c.stat.key);
  if (keys.join('\n') !== sumsPlan.columns.join('\n')) {
    throw new InputError(`the plan's statistics (${sumsPlan.columns.join(', ')}) differ from this ope's plan for the same estimators (${keys.join(', ')}); re-run ope sql with this version`, {
      file,
      column: 'plan',
      row: pointAt,
    });
  }
  const layout = layoutOf(plan);
  const pc = pointColumns(layout);
  const rc = replicateColumns(plan.bootstrapColumns.length);
  need(['replicate_rows', ...pc, ...(sumsPlan.replicates > 0 ? rc : [])]);
  const numberAt = (row: number, column: string): number => {
    const x = cellNumber(table.rows[row][column]);
    if (x === undefined) throw new InputError(`expected a finite number, got ${JSON.stringify(table.rows[row][column])}`, { file, column, row });
    return x;
  };
  const point = pc.map((c) => numberAt(pointAt, c));
  const B = sumsPlan.replicates;
  const reps: number[][] = [];
  const repRowIndex: number[] = [];
  table.rows.forEach((r, i) => {
    if (i === pointAt) return;
    if (r.part !== 'replicate') throw new InputError(`part must be 'point' or 'replicate', got ${JSON.stringify(r.part)}`, { file, column: 'part', row: i });
    repRowIndex.push(i);
    reps.push([numberAt(i, 'b'), ...rc.map((c) => numberAt(i, c))]);
  });
  const expected = numberAt(pointAt, 'replicate_rows');
  if (reps.length !== expected) throw new InputError(`${reps.length} replicate rows, but the query returned ${expected}; save the whole result (not a preview page)`, { file, column: 'part' });
  const replicateSums =
    B > 0
      ? collectReplicates(
          reps,
          B,
          plan.bootstrapColumns.length,
          (b, k) => new InputError(`replicate ${b} is not an integer in 0..${B - 1} or appears twice`, { file, column: 'b', row: repRowIndex[k] }),
        )
      : undefined;
  const { ci, alpha } = resolveOptions({ replicates: B, seed: sumsPlan.seed, ci: opts.ci, alpha: opts.alpha });
  const origin: SumsOrigin = {
    file,
    propensity: sumsPlan.propensity,
    clustered: sumsPlan.clustered,
    ordinalUndefined: ordinalUndefined(sumsPlan.ordinal),
    findBadRows: 'counted by the query; find them in the table it read, or run ope validate on an export',
  };
  const result = summarizeSums(plan, layout, point, replicateSums, origin, { replicates: B, seed: sumsPlan.seed, ci, alpha, rewardRange: opts.rewardRange, maxWeight: opts.maxWeight });
  return { result, sumsPlan };
}
