import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import {
  DataType,
  Precision,
  RecordBatchReader,
  Type,
  type AsyncRecordBatchFileReader,
  type AsyncRecordBatchStreamReader,
  type Data,
  type RecordBatch,
  type Timestamp,
  type Vector,
} from 'apache-arrow';
import { InputError } from '../errors.js';
import { ArrowCodecError, registerArrowCodecs } from './arrow-codecs.js';
import { asFileError, oneLine, type NumericArray, type RawChunk, type RawColumn, type RawReader } from './raw.js';

const WHAT = 'Arrow IPC';

type ArrowReader = AsyncRecordBatchFileReader | AsyncRecordBatchStreamReader;

/**
 * Arrow IPC file and stream format. Opening through a FileHandle lets apache-arrow read the file
 * format record batch by record batch at the footer's offsets (from a byte stream it would buffer
 * the whole file first), and read the stream format message by message; memory is one record batch.
 */
export const readArrow: RawReader = async function* (path, _chunkRows, selector) {
  const { reader, columns, close } = await openArrow(path);
  try {
    selector.select(columns);
    const it = reader[Symbol.asyncIterator]();
    let any = false;
    for (;;) {
      let next: IteratorResult<RecordBatch>;
      try {
        next = await it.next();
      } catch (err) {
        throw arrowError(err, path);
      }
      if (next.done === true) break;
      any = true;
      yield arrowChunk(next.value, columns);
    }
    if (!any) yield { columns, n: 0, column: () => undefined };
  } finally {
    await close();
  }
};

/** An opened Arrow IPC file or stream: its reader, column names, and how to close the file. */
export interface ArrowFile {
  readonly reader: ArrowReader;
  readonly columns: readonly string[];
  close(): Promise<void>;
}

export async function openArrow(path: string): Promise<ArrowFile> {
  registerArrowCodecs();
  const fh = await open(path, 'r');
  try {
    if ((await fh.stat()).size === 0) throw new InputError('no rows: the file is empty', { file: path });
    const reader = await openReader(fh, path);
    return { reader, columns: reader.schema.fields.map((f) => f.name), close: () => fh.close().catch(() => undefined) };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Record batch `index` of an Arrow IPC file (not stream) format file, by the footer's offsets, as
 * the sequential reader meets it: worker threads read a file's batches this way (read-pool.ts).
 */
export async function readArrowBatch(file: ArrowFile, path: string, index: number): Promise<RawChunk> {
  const reader = file.reader;
  if (!reader.isFile()) throw new Error(`${path} is an Arrow stream: its record batches can only be read in order`);
  let batch: RecordBatch | null;
  try {
    batch = await reader.readRecordBatch(index);
  } catch (err) {
    throw arrowError(err, path);
  }
  if (batch === null) throw new InputError(`file is truncated or not a valid ${WHAT} file (record batch ${index} is missing)`, { file: path });
  return arrowChunk(batch, file.columns);
}

/**
 * apache-arrow reads a FileHandle with one thread-pool round trip per message; on a cached file
 * those round trips cost more than the decoding (a 1e7-row file read 2-3x slower). This
 * stand-in satisfies the same duck type (fd, stat, read, close) but reads synchronously: each read is
 * one record batch, a few milliseconds, so the event loop is not held for long.
 */
function syncReads(fh: FileHandle): FileHandle {
  const shim = {
    fd: fh.fd,
    stat: () => fh.stat(),
    close: () => fh.close(),
    read: (buffer: Uint8Array, offset: number, length: number, position: number) => Promise.resolve({ bytesRead: readSync(fh.fd, buffer, offset, length, position), buffer }),
  };
  return shim as unknown as FileHandle;
}

async function openReader(fh: FileHandle, path: string): Promise<ArrowReader> {
  try {
    const reader = await RecordBatchReader.from(syncReads(fh));
    await reader.open();
    // A file that is not Arrow at all can open as an empty stream without a schema.
    if (reader.schema === null || reader.schema === undefined) throw new Error('no schema message');
    return reader;
  } catch (err) {
    throw arrowError(err, path);
  }
}

const REWRITE = "write it uncompressed (pandas: df.to_feather(path, compression='uncompressed'); pyarrow: compression='uncompressed') or as Parquet";

/** pandas' to_feather compresses with LZ4 by default; arrow-codecs.ts supplies LZ4 and ZSTD decoders. */
function arrowError(err: unknown, path: string): InputError {
  if (err instanceof ArrowCodecError) {
    return new InputError(`cannot decompress the Arrow file's ${err.codec} data (${oneLine(err.detail)}); the file is corrupt or was not written by Arrow; ${REWRITE}`, { file: path });
  }
  if (err instanceof Error && /compressed but codec not found/.test(err.message)) {
    return new InputError(`the Arrow file is compressed with a codec this reader cannot decode (it reads LZ4 and ZSTD); ${REWRITE}`, { file: path });
  }
  return asFileError(err, path, WHAT);
}

function arrowChunk(batch: RecordBatch, columns: readonly string[]): RawChunk {
  const index = new Map(columns.map((c, i) => [c, i] as const));
  return {
    columns,
    n: batch.numRows,
    column(name: string): RawColumn | undefined {
      const i = index.get(name);
      if (i === undefined) return undefined;
      const v = batch.getChildAt(i);
      return v === null ? undefined : arrowColumn(v);
    },
  };
}

function nullTest(data: Data<DataType>): ((i: number) => boolean) | undefined {
  return data.nullCount > 0 ? (i: number) => !data.getValid(i) : undefined;
}

/** Numbers as a typed array when Arrow stores them as JS numbers; undefined for 64-bit ints and half floats. */
function numericValues(data: Data<DataType>): NumericArray | undefined {
  const t = data.type;
  if (DataType.isFloat(t) && t.precision !== Precision.HALF) return data.values as Float32Array | Float64Array;
  if (DataType.isInt(t) && t.bitWidth < 64) return data.values as NumericArray;
  return undefined;
}

/** Units per second, indexed by apache-arrow TimeUnit (SECOND, MILLISECOND, MICROSECOND, NANOSECOND). */
const PER_SECOND = [1, 1e3, 1e6, 1e9];

function arrowColumn(v: Vector): RawColumn {
  // One record batch has exactly one Data chunk per column.
  const data = v.data[0];
  const t = data.type;
  const isNull = nullTest(data);
  const nums = numericValues(data);
  if (nums !== undefined) return { kind: 'numbers', values: nums, isNull };
  switch (t.typeId) {
    case Type.Int:
      return { kind: 'bigints', values: data.values as BigInt64Array | BigUint64Array, isNull };
    case Type.Timestamp: {
      const values = data.values as BigInt64Array;
      const scale = PER_SECOND[(t as Timestamp).unit];
      return { kind: 'seconds', get: (i) => (isNull?.(i) === true ? null : Number(values[i]) / scale) };
    }
    case Type.Date:
      return {
        kind: 'seconds',
        get: (i) => {
          const ms = v.get(i) as number | null;
          return ms === null ? null : ms / 1000;
        },
      };
    case Type.List:
    case Type.FixedSizeList: {
      const child = data.children[0];
      const values = numericValues(child);
      if (values !== undefined) {
        return {
          kind: 'list',
          offsets: t.typeId === Type.List ? (data.valueOffsets as Int32Array) : null,
          width: DataType.isFixedSizeList(t) ? t.listSize : 0,
          values,
          isNull,
          childIsNull: nullTest(child),
        };
      }
      return { kind: 'values', get: (i) => listCell(v.get(i)) };
    }
    default:
      return { kind: 'values', get: (i) => v.get(i) as unknown };
  }
}

/** Lists of 64-bit or half-float numbers: hand the mapper a plain array of the row's entries. */
function listCell(x: unknown): unknown {
  if (x === null || x === undefined) return null;
  return Array.from(x as Iterable<unknown>);
}
