import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type ColumnData, type DecodedArray, type FileMetaData, type ParquetParsers } from 'hyparquet';
import { InputError } from '../errors.js';
import { asFileError, type RawChunk, type RawColumn, type RawReader } from './raw.js';

const WHAT = 'Parquet';

/**
 * Upper bound on rows decoded at once. Row groups are read one at a time and a larger row group
 * is read in row ranges of this size (hyparquet skips whole pages with the offset index when the
 * file has one), so memory does not grow with a writer's row-group size.
 */
const RANGE_ROWS = 1 << 20;

/** Timestamps and dates arrive as seconds since the epoch, the contract's unit. */
const PARSERS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (ms: bigint) => Number(ms) / 1e3,
  timestampFromMicroseconds: (us: bigint) => Number(us) / 1e6,
  timestampFromNanoseconds: (ns: bigint) => Number(ns) / 1e9,
  dateFromDays: (days: number) => days * 86400,
};

export const readParquet: RawReader = async function* (path, _chunkRows, selector) {
  const pq = await openParquet(path);
  const wanted = selector.select(pq.columns);
  const ranges = parquetRanges(pq.metadata);
  for (const [rowStart, rowEnd] of ranges) yield await readParquetRange(pq, wanted, rowStart, rowEnd);
  if (ranges.length === 0) yield { columns: pq.columns, n: 0, column: () => undefined };
};

/** An opened Parquet file: its footer and column names. */
export interface ParquetFile {
  readonly path: string;
  readonly file: AsyncBuffer;
  readonly metadata: FileMetaData;
  readonly columns: readonly string[];
}

export async function openParquet(path: string): Promise<ParquetFile> {
  const file = await asyncBufferFromFile(path);
  if (file.byteLength === 0) throw new InputError('no rows: the file is empty', { file: path });
  try {
    const metadata = await parquetMetadataAsync(file, { parsers: PARSERS });
    return { path, file, metadata, columns: parquetSchema(metadata).children.map((c) => c.element.name) };
  } catch (err) {
    throw asFileError(err, path, WHAT);
  }
}

/**
 * The row ranges the file is read in, [rowStart, rowEnd) in file order: each row group, cut in
 * ranges of at most RANGE_ROWS. Worker threads decode these same ranges (read-pool.ts), so the
 * chunks a pass sees do not depend on the thread count.
 */
export function parquetRanges(metadata: FileMetaData): (readonly [number, number])[] {
  const ranges: (readonly [number, number])[] = [];
  let groupStart = 0;
  for (const group of metadata.row_groups) {
    const groupRows = Number(group.num_rows);
    for (let s = 0; s < groupRows; s += RANGE_ROWS) ranges.push([groupStart + s, groupStart + Math.min(groupRows, s + RANGE_ROWS)]);
    groupStart += groupRows;
  }
  return ranges;
}

/** Decodes the `wanted` columns of rows rowStart..rowEnd (one of parquetRanges). */
export async function readParquetRange(pq: ParquetFile, wanted: readonly string[], rowStart: number, rowEnd: number): Promise<RawChunk> {
  const pieces = new Map<string, ColumnData[]>(wanted.map((c) => [c, []]));
  try {
    await parquetRead({
      file: pq.file,
      metadata: pq.metadata,
      columns: [...wanted],
      rowStart,
      rowEnd,
      parsers: PARSERS,
      useOffsetIndex: true,
      onChunk: (c) => pieces.get(c.columnName)?.push(c),
    });
  } catch (err) {
    throw asFileError(err, pq.path, WHAT);
  }
  const assembled = new Map<string, RawColumn>();
  for (const [name, parts] of pieces) assembled.set(name, rawColumn(assemble(parts, rowStart, rowEnd, name, pq.path)));
  return { columns: pq.columns, n: rowEnd - rowStart, column: (name) => assembled.get(name) };
}

/** Cut the decoded pages of one column to exactly rows rowStart..rowEnd (pages may overhang). */
function assemble(parts: readonly ColumnData[], rowStart: number, rowEnd: number, name: string, path: string): DecodedArray {
  const n = rowEnd - rowStart;
  const sorted = [...parts].sort((a, b) => a.rowStart - b.rowStart);
  const slices: DecodedArray[] = [];
  let covered = rowStart;
  for (const p of sorted) {
    if (p.rowEnd <= covered || p.rowStart >= rowEnd) continue;
    if (p.rowStart > covered) break;
    const from = covered - p.rowStart;
    const to = Math.min(p.rowEnd, rowEnd) - p.rowStart;
    slices.push(slice(p.columnData, from, to));
    covered = p.rowStart + to;
  }
  if (covered !== rowEnd) {
    throw new InputError(`file is truncated or not a valid Parquet file (column has no data for rows ${covered}..${rowEnd - 1})`, { file: path, column: name });
  }
  if (slices.length === 1) return slices[0];
  const first = slices[0];
  if (!Array.isArray(first) && slices.every((s) => s.constructor === first.constructor)) {
    const Ctor = first.constructor as new (n: number) => Exclude<DecodedArray, unknown[]>;
    const out = new Ctor(n);
    let o = 0;
    for (const s of slices) {
      (out as { set(a: ArrayLike<unknown>, o: number): void }).set(s as ArrayLike<unknown>, o);
      o += s.length;
    }
    return out;
  }
  const out: unknown[] = [];
  for (const s of slices) for (let i = 0; i < s.length; i++) out.push(s[i]);
  return out;
}

function slice(a: DecodedArray, from: number, to: number): DecodedArray {
  if (from === 0 && to === a.length) return a;
  return Array.isArray(a) ? a.slice(from, to) : a.subarray(from, to);
}

function rawColumn(a: DecodedArray): RawColumn {
  if (a instanceof BigInt64Array || a instanceof BigUint64Array) return { kind: 'bigints', values: a };
  if (Array.isArray(a)) return { kind: 'values', get: (i) => a[i] as unknown, cells: a };
  return { kind: 'numbers', values: a };
}
