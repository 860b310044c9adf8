import { statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import picomatch from 'picomatch';
import type { ListColumn, LogBatch, PolicyBatch } from './batch.js';
import { checkMapping, contractFileColumns, ContractMapper, isRelevantColumn, STRING_COLUMNS, type ColumnMapping, type ColumnSet, type OutColumn, type Role, type Source } from './contract.js';
import { InputError, UsageError } from './errors.js';
import { formatOf, SUPPORTED_EXTENSIONS, type TableFormat } from './formats.js';
import { Rechunker } from './rechunk.js';
import { readArrow } from './readers/arrow.js';
import { readCsv } from './readers/csv.js';
import { readJsonl } from './readers/jsonl.js';
import { readParquet } from './readers/parquet.js';
import type { ColumnSelector, RawChunk, RawReader } from './readers/raw.js';
import { ReadPool } from './read-pool.js';

export interface ReadOptions {
  /** --columns new=old mapping: contract name -> name in the file */
  columns?: Readonly<Record<string, string>>;
  /** rows per yielded batch (default 65536). EVERY batch has exactly this many rows except the last. */
  batchRows?: number;
  /** Read a null reward as NaN instead of failing (labels not in yet; `ope gate` leaves them out and counts them). */
  allowMissingReward?: boolean;
  /**
   * Worker threads that decode Parquet row groups and Arrow IPC record batches ahead of the pass,
   * across the files of a dataset too (default 1: all on the calling thread). Batches, results and
   * errors are the same for any count; CSV and JSONL are always read on the calling thread.
   */
  threads?: number;
}

export interface LogSource {
  readonly path: string;
  /** Re-iterable: each call re-reads the file. */
  batches(): AsyncIterable<LogBatch>;
}

export interface PolicySource {
  readonly path: string;
  batches(): AsyncIterable<PolicyBatch & { rowOffset: number }>;
}

export const DEFAULT_BATCH_ROWS = 65536;

const READERS: Readonly<Record<TableFormat, RawReader>> = {
  arrow: readArrow,
  parquet: readParquet,
  csv: readCsv,
  jsonl: readJsonl,
};

/** What a pass over a file learned about its columns (for `ope validate`). */
export interface ScanInfo {
  /** The file's columns, in file order. */
  readonly columns: readonly string[];
  /** Contract column -> where it comes from. */
  readonly sources: ReadonlyMap<string, Source>;
}

export interface ScannedBatch {
  readonly batch: LogBatch;
  readonly info: ScanInfo;
  /** Canonical request ids (see cluster-key.ts), null where missing; only when asked for. */
  readonly requestIds?: ReadonlyArray<string | number | null>;
}

/** A log file. `scan` is the same pass as `batches` plus what validation needs. */
export class FileLogSource implements LogSource {
  constructor(
    readonly path: string,
    private readonly opts: ReadOptions = {},
  ) {
    checkOptions(path, opts);
  }

  async *batches(): AsyncGenerator<LogBatch> {
    for await (const s of this.scan(false)) yield s.batch;
  }

  async *scan(withRequestIds: boolean): AsyncGenerator<ScannedBatch> {
    const pool = readPool([this.path], this.opts, 'log');
    try {
      for await (const { set, rowOffset, info } of scanTable(this.path, this.opts, 'log', withRequestIds, undefined, pool)) {
        const ids = set.columns.get('requestIds');
        yield { batch: toLogBatch(this.path, rowOffset, set), info, requestIds: ids?.kind === 'array' ? ids.v : undefined };
      }
    } finally {
      pool?.close();
    }
  }
}

class FilePolicySource implements PolicySource {
  constructor(
    readonly path: string,
    private readonly opts: ReadOptions = {},
  ) {
    checkOptions(path, opts);
  }

  async *batches(): AsyncGenerator<PolicyBatch & { rowOffset: number }> {
    const pool = readPool([this.path], this.opts, 'policy');
    try {
      for await (const { set, rowOffset } of scanTable(this.path, this.opts, 'policy', false, undefined, pool)) {
        yield {
          n: set.n,
          rowOffset,
          targetPropensity: f64(set, 'targetPropensity'),
          actionDist: list(set, 'actionDist'),
          qHatTarget: f64(set, 'qHatTarget'),
          targetPropensityItemPosition: f64(set, 'targetPropensityItemPosition'),
          targetPropensityCascade: f64(set, 'targetPropensityCascade'),
          targetPropensityItemPositions: list(set, 'targetPropensityItemPositions'),
        };
      }
    } finally {
      pool?.close();
    }
  }
}

/**
 * A log: one file, or a dataset (issue 10) given as a folder (every supported file under it,
 * recursively, as Hive-partitioned Parquet lays them out) or a glob (`logs/day=*\/*.parquet`,
 * `logs/**\/*.arrow`). A dataset's files are read one after the other in path order, as one log
 * whose rows are numbered on from file to file, so memory stays that of one record batch and the
 * results equal those of the same rows in one file, bit for bit. With `threads` > 1, worker threads
 * decode Parquet and Arrow files ahead, a few pieces at a time (read-pool.ts); the batches are the same.
 */
export function openLog(path: string, opts?: ReadOptions): LogSource {
  return isDatasetSpec(path) ? new DatasetLogSource(path, opts) : new FileLogSource(path, opts);
}

/** A folder or a glob (a dataset of files), as opposed to one file. */
export function isDatasetSpec(path: string): boolean {
  if (picomatch.scan(path).isGlob) return true;
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The bytes of Parquet in a log on disk: its file, or its dataset's Parquet files added up. */
export async function parquetBytes(path: string): Promise<number> {
  const files = isDatasetSpec(path) ? await datasetFiles(path) : [path];
  let bytes = 0;
  for (const f of files) if (/\.parquet$/i.test(f)) bytes += (await stat(f)).size;
  return bytes;
}

/** The files of a dataset spec (folder or glob), sorted; an InputError when none. */
export async function datasetFiles(spec: string): Promise<string[]> {
  const scan = picomatch.scan(spec);
  const base = scan.isGlob ? scan.base || '.' : spec;
  const match = scan.isGlob ? picomatch(scan.glob, { dot: false }) : () => true;
  let entries: string[];
  try {
    entries = (await readdir(base, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => relative(base, join(e.parentPath, e.name)));
  } catch (err) {
    throw new InputError(`cannot list the dataset folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: base });
  }
  const files = entries
    .map((r) => r.split(sep).join('/'))
    .filter((r) => SUPPORTED_EXTENSIONS.some((e) => r.toLowerCase().endsWith(e)) && match(r))
    .sort()
    .map((r) => join(base, r));
  if (files.length === 0) throw new InputError(scan.isGlob ? `no log file matches the pattern` : 'the folder holds no log file (.arrow, .parquet, .csv, .jsonl, ...)', { file: spec });
  return files;
}

/**
 * The files of a dataset as one log: each file's rows follow the previous file's, string action
 * ids share one dictionary, and every file must have the first file's columns.
 */
class DatasetLogSource implements LogSource {
  constructor(
    readonly path: string,
    private readonly opts: ReadOptions = {},
  ) {
    checkOptions(path, opts, true);
  }

  async *batches(): AsyncGenerator<LogBatch> {
    for await (const s of this.scan(false)) yield s.batch;
  }

  async *scan(withRequestIds: boolean): AsyncGenerator<ScannedBatch> {
    const dictionary = new Map<string, number>();
    let base = 0;
    let first: ScanInfo | undefined;
    const files = await datasetFiles(this.path);
    const pool = readPool(files, this.opts, 'log');
    try {
      for (const [index, file] of files.entries()) {
        let rows = 0;
        for await (const { set, rowOffset, info } of scanTable(file, this.opts, 'log', withRequestIds, dictionary, pool, index)) {
          if (first === undefined) first = info;
          else if (rows === 0 && info.columns.join('\u0000') !== first.columns.join('\u0000')) {
            throw new InputError(`its columns (${info.columns.join(', ')}) differ from the dataset's first file's (${first.columns.join(', ')})`, { file });
          }
          const ids = set.columns.get('requestIds');
          yield { batch: toLogBatch(file, base + rowOffset, set), info, requestIds: ids?.kind === 'array' ? ids.v : undefined };
          rows = rowOffset + set.n;
        }
        base += rows;
      }
    } finally {
      pool?.close();
    }
  }
}

/**
 * A target policy file: `target_propensity` and/or `action_dist`, optionally `q_hat_target` and the
 * slate columns (`target_propensity_item_position`, `target_propensity_cascade`,
 * `target_propensity_item_positions`), aligned with the log by row order.
 */
export function openPolicy(path: string, opts?: ReadOptions): PolicySource {
  return new FilePolicySource(path, opts);
}

function checkOptions(path: string, opts: ReadOptions, dataset = false): void {
  // A dataset's files are checked one by one as they are listed.
  if (!dataset) formatOf(path);
  if (opts.columns !== undefined) checkMapping(opts.columns);
  const rows = opts.batchRows;
  if (rows !== undefined && !(Number.isInteger(rows) && rows > 0)) throw new UsageError(`batchRows must be a positive integer, got ${rows}`);
  const threads = opts.threads;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new UsageError(`threads must be a whole number >= 1, got ${threads}`);
}

/** The read-ahead workers of one pass over these files; none with one thread (the in-thread path). */
function readPool(files: readonly string[], opts: ReadOptions, role: Role): ReadPool | undefined {
  const threads = opts.threads ?? 1;
  if (threads <= 1) return undefined;
  const mapping = opts.columns ?? {};
  return new ReadPool(threads, files, (path, columns) => contractFileColumns(path, columns, role, mapping));
}

/** A readable file (not a folder): else an InputError naming it (exit 2). */
export async function checkReadable(path: string): Promise<void> {
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw new InputError('is a directory, not a file', { file: path });
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? 'no such file' : `cannot read the file (${code ?? String(err)})`, { file: path });
  }
}

async function* scanTable(
  path: string,
  opts: ReadOptions,
  role: Role,
  withRequestIds: boolean,
  dictionary?: Map<string, number>,
  pool?: ReadPool,
  index = 0,
): AsyncGenerator<{ set: ColumnSet; rowOffset: number; info: ScanInfo }> {
  await checkReadable(path);
  const batchRows = opts.batchRows ?? DEFAULT_BATCH_ROWS;
  const mapping: ColumnMapping = opts.columns ?? {};
  let mapper: ContractMapper | undefined;
  const selector: ColumnSelector = {
    select(columns) {
      mapper = new ContractMapper(path, columns, role, mapping, withRequestIds, opts.allowMissingReward === true, dictionary);
      return mapper.fileColumns;
    },
    relevant: (name) => isRelevantColumn(name, role, mapping),
  };
  const rechunker = new Rechunker(batchRows);
  let read = 0;
  let yielded = 0;
  let info: ScanInfo | undefined;
  const inThread = (): AsyncGenerator<RawChunk> => READERS[formatOf(path)](path, batchRows, selector);
  for await (const chunk of pool === undefined ? inThread() : pool.chunks(index, selector, inThread)) {
    if (mapper === undefined) throw new Error(`the ${formatOf(path)} reader yielded rows before naming its columns`);
    info ??= { columns: mapper.columns, sources: mapper.sources };
    if (chunk.n === 0) continue;
    const set = mapper.map(chunk, read);
    read += chunk.n;
    for (const out of rechunker.push(set)) {
      yield { set: out, rowOffset: yielded, info };
      yielded += out.n;
    }
  }
  if (info === undefined) throw new InputError('no rows: the file is empty', { file: path });
  if (read === 0) throw new InputError(`no rows: the file has columns (${info.columns.join(', ')}) but no data rows`, { file: path });
  for (const out of rechunker.flush()) {
    yield { set: out, rowOffset: yielded, info };
    yielded += out.n;
  }
}

function get<K extends OutColumn['kind']>(set: ColumnSet, key: string, kind: K): Extract<OutColumn, { kind: K }> | undefined {
  const c = set.columns.get(key);
  if (c === undefined) return undefined;
  if (c.kind !== kind) throw new Error(`column ${key} is ${c.kind}, expected ${kind}`);
  return c as Extract<OutColumn, { kind: K }>;
}

function f64(set: ColumnSet, key: string): Float64Array | undefined {
  return get(set, key, 'f64')?.v;
}

function i32(set: ColumnSet, key: string): Int32Array | undefined {
  return get(set, key, 'i32')?.v;
}

function list(set: ColumnSet, key: string): ListColumn | undefined {
  const c = get(set, key, 'list');
  return c === undefined ? undefined : { width: c.width, values: c.v };
}

function toLogBatch(source: string, rowOffset: number, set: ColumnSet): LogBatch {
  const required = <T>(x: T | undefined, key: string): T => {
    if (x === undefined) throw new Error(`log batch without ${key}`);
    return x;
  };
  let strings: Map<string, ReadonlyArray<string | null>> | undefined;
  for (const name of STRING_COLUMNS) {
    const c = get(set, `strings.${name}`, 'array');
    if (c !== undefined) (strings ??= new Map()).set(name, c.v as ReadonlyArray<string | null>);
  }
  return {
    source,
    rowOffset,
    n: set.n,
    action: required(i32(set, 'action'), 'action'),
    reward: required(f64(set, 'reward'), 'reward'),
    propensity: required(f64(set, 'propensity'), 'propensity'),
    position: i32(set, 'position'),
    clusterKey: get(set, 'clusterKey', 'u32')?.v,
    targetPropensity: f64(set, 'targetPropensity'),
    actionDist: list(set, 'actionDist'),
    qHat: list(set, 'qHat'),
    qHatLogged: f64(set, 'qHatLogged'),
    qHatTarget: f64(set, 'qHatTarget'),
    propensityItemPosition: f64(set, 'propensityItemPosition'),
    propensityCascade: f64(set, 'propensityCascade'),
    targetPropensityItemPosition: f64(set, 'targetPropensityItemPosition'),
    targetPropensityCascade: f64(set, 'targetPropensityCascade'),
    propensityItemPositions: list(set, 'propensityItemPositions'),
    targetPropensityItemPositions: list(set, 'targetPropensityItemPositions'),
    context: list(set, 'context'),
    eventTs: f64(set, 'eventTs'),
    rewardTs: f64(set, 'rewardTs'),
    strings,
  };
}
