import { checkReadable } from '../data/read-log.js';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { InputError } from '../data/errors.js';
import { formatOf, SUPPORTED_EXTENSIONS, type TableFormat } from '../data/formats.js';
import { readArrow } from '../data/readers/arrow.js';
import { readCsv } from '../data/readers/csv.js';
import { readJsonl } from '../data/readers/jsonl.js';
import { readParquet } from '../data/readers/parquet.js';
import { oneLine, parseNumberText, type ColumnSelector, type RawChunk, type RawColumn, type RawReader } from '../data/readers/raw.js';

/*
 * The release table of `ope predictive` (issue 9): one row per (release, metric[, lag]) with
 * release_id, metric, delta_offline, delta_online and an optional lag_days. Read with the log
 * readers (CSV, JSONL, Arrow, Parquet) and, for `.json`, a JSON array of objects (or JSON Lines).
 * Every bad cell is an InputError naming the file, the column, the row (from 0) and the rule.
 */

/** One row of the release table. */
export interface ReleaseRecord {
  readonly releaseId: string;
  readonly metric: string;
  readonly deltaOffline: number;
  readonly deltaOnline: number;
  /** Days between the release and the online measurement window (0 when the file has no lag_days). */
  readonly lagDays: number;
  /** Row in the file, from 0 (for messages). */
  readonly row: number;
}

export const RELEASE_COLUMNS = ['release_id', 'metric', 'delta_offline', 'delta_online'] as const;
export const LAG_COLUMN = 'lag_days';

const READERS: Readonly<Record<TableFormat, RawReader>> = { arrow: readArrow, parquet: readParquet, csv: readCsv, jsonl: readJsonl };
const CHUNK_ROWS = 65536;

function selectorFor(path: string): ColumnSelector {
  const wanted = new Set<string>([...RELEASE_COLUMNS, LAG_COLUMN]);
  return {
    select(columns) {
      for (const c of RELEASE_COLUMNS) {
        if (!columns.includes(c)) {
          throw new InputError(
            `missing column '${c}': a releases file needs ${RELEASE_COLUMNS.join(', ')} and optionally ${LAG_COLUMN} (found: ${columns.length > 0 ? columns.join(', ') : 'no columns'})`,
            { file: path, column: c },
          );
        }
      }
      return columns.filter((c) => wanted.has(c));
    },
    relevant: (name) => wanted.has(name),
  };
}

/** Read and check a release table (CSV, JSON array, JSONL, Arrow or Parquet, by extension). */
export async function readReleases(path: string): Promise<ReleaseRecord[]> {
  await checkReadable(path);
  const ext = extname(path).toLowerCase();
  let chunks: AsyncIterable<RawChunk> | Iterable<RawChunk>;
  if (ext === '.json') {
    chunks = await jsonChunks(path);
  } else {
    let format: TableFormat;
    try {
      format = formatOf(path);
    } catch {
      throw new InputError(`unsupported file extension '${ext === '' ? '(none)' : ext}'; supported: .json, ${SUPPORTED_EXTENSIONS.join(', ')}`, { file: path });
    }
    chunks = READERS[format](path, CHUNK_ROWS, selectorFor(path));
  }
  const out: ReleaseRecord[] = [];
  const seen = new Map<string, number>();
  let sawChunk = false;
  for await (const chunk of chunks) {
    sawChunk = true;
    for (let i = 0; i < chunk.n; i++) {
      const row = out.length;
      const at = (column: string): { file: string; column: string; row: number; line?: number } => ({ file: path, column, row, line: chunk.lineOf?.(i) });
      const rec: ReleaseRecord = {
        releaseId: textCell(chunk, 'release_id', i, at),
        metric: textCell(chunk, 'metric', i, at),
        deltaOffline: numberCell(chunk, 'delta_offline', i, at),
        deltaOnline: numberCell(chunk, 'delta_online', i, at),
        lagDays: lagCell(chunk, i, at),
        row,
      };
      const key = JSON.stringify([rec.releaseId, rec.metric, rec.lagDays]);
      const first = seen.get(key);
      if (first !== undefined) {
        throw new InputError(
          `release '${rec.releaseId}', metric '${rec.metric}', lag ${rec.lagDays} appears twice (first at row ${first}); one row per (release_id, metric, lag_days)`,
          at('release_id'),
        );
      }
      seen.set(key, row);
      out.push(rec);
    }
  }
  if (!sawChunk) throw new InputError('no rows: the file is empty', { file: path });
  if (out.length === 0) throw new InputError('no rows: the file has columns but no releases', { file: path });
  return out;
}

type Where = (column: string) => { file: string; column: string; row: number; line?: number };

function cell(col: RawColumn, i: number): unknown {
  switch (col.kind) {
    case 'numbers':
    case 'bigints':
      return col.isNull?.(i) === true ? null : col.values[i];
    case 'text':
      return col.values[i];
    case 'values':
    case 'seconds':
      return col.get(i);
    case 'list':
      return [];
  }
}

function show(x: unknown): string {
  return oneLine(typeof x === 'string' ? `'${x}'` : (JSON.stringify(x, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? String(x)), 60);
}

/** release_id and metric: non-empty strings (a number or integer id is taken as its decimal text). */
function textCell(chunk: RawChunk, name: string, i: number, at: Where): string {
  const col = chunk.column(name);
  const x = col === undefined ? null : cell(col, i);
  if (x === null || x === undefined) throw new InputError(`${name} is missing; every row needs a non-empty ${name}`, at(name));
  let s: string;
  if (typeof x === 'string') s = x.trim();
  else if ((typeof x === 'number' && Number.isFinite(x)) || typeof x === 'bigint') s = String(x);
  else throw new InputError(`${name} must be a string, got ${show(x)}`, at(name));
  if (s === '') throw new InputError(`${name} is empty; every row needs a non-empty ${name}`, at(name));
  return s;
}

/** A cell read as a number: typed numbers, JSON numbers, or text as pandas writes numbers. */
function numeric(x: unknown): number | undefined {
  if (typeof x === 'number') return x;
  if (typeof x === 'bigint') return Number(x);
  if (typeof x === 'string') return parseNumberText(x);
  return undefined;
}

function numberCell(chunk: RawChunk, name: string, i: number, at: Where): number {
  const col = chunk.column(name);
  const x = col === undefined ? null : cell(col, i);
  if (x === null || x === undefined) throw new InputError(`${name} is missing; every row needs a number`, at(name));
  const v = numeric(x);
  if (v === undefined) throw new InputError(`${name} must be a number, got ${show(x)}`, at(name));
  if (Number.isNaN(v)) throw new InputError(`${name} is NaN; every row needs a measured delta`, at(name));
  if (!Number.isFinite(v)) throw new InputError(`${name} must be finite, got ${v}`, at(name));
  return v;
}

/** lag_days: a whole number of days >= 0; a missing column, an empty cell or a JSON null is lag 0. */
function lagCell(chunk: RawChunk, i: number, at: Where): number {
  const col = chunk.column(LAG_COLUMN);
  const x = col === undefined ? null : cell(col, i);
  if (x === null || x === undefined) return 0;
  const v = numeric(x);
  if (v === undefined || !Number.isInteger(v) || v < 0) throw new InputError(`${LAG_COLUMN} must be a whole number of days >= 0, got ${show(x)}`, at(LAG_COLUMN));
  return v;
}

/**
 * `.json`: a JSON array of objects (one chunk, rows are the array's indices), or JSON Lines when
 * the file does not start with '['.
 */
async function jsonChunks(path: string): Promise<Iterable<RawChunk> | AsyncIterable<RawChunk>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: path });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const head = text.trimStart();
  if (head === '') return [];
  if (!head.startsWith('[')) return readJsonl(path, CHUNK_ROWS, selectorFor(path));
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new InputError(`not valid JSON: ${oneLine(err instanceof Error ? err.message : String(err))}`, { file: path });
  }
  if (!Array.isArray(data)) throw new InputError('expected a JSON array of objects ([{"release_id": ..., "metric": ..., ...}, ...])', { file: path });
  const columns: string[] = [];
  const known = new Set<string>();
  data.forEach((r: unknown, row) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new InputError('each element of the array must be an object ({"column": value, ...})', { file: path, row });
    for (const k of Object.keys(r)) {
      if (!known.has(k)) {
        known.add(k);
        columns.push(k);
      }
    }
  });
  const rows = data as Record<string, unknown>[];
  selectorFor(path).select(data.length === 0 ? [...RELEASE_COLUMNS] : columns);
  const chunk: RawChunk = {
    columns,
    n: rows.length,
    column: (name) => (known.has(name) ? { kind: 'values', get: (i: number) => rows[i][name] ?? null } : undefined),
  };
  return [chunk];
}
