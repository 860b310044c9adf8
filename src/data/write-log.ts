import { open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import {
  Field,
  FixedSizeList,
  Float64,
  Int32,
  makeData,
  RecordBatch,
  RecordBatchFileWriter,
  Schema,
  Struct,
  Utf8,
  vectorFromArray,
  type Data,
  type DataType,
} from 'apache-arrow';
import type { SchemaElement } from 'hyparquet';
import { ByteWriter, ParquetWriter, type ColumnSource } from 'hyparquet-writer';
import { InputError } from './errors.js';
import { formatOf, type TableFormat } from './formats.js';

export type OutColumnKind = 'float64' | 'int32' | 'string' | 'list';

export interface OutColumnSpec {
  name: string;
  kind: OutColumnKind;
  /** Entries per row, for kind 'list'. */
  width?: number;
}

export interface OutBatch {
  n: number;
  /** float64: Float64Array; int32: Int32Array; string: (string | null)[]; list: Float64Array, row-major n * width. */
  columns: Readonly<Record<string, Float64Array | Int32Array | ReadonlyArray<string | null>>>;
}

/**
 * Writes a table in the format its extension names, streaming: each batch is encoded and written
 * before the next is pulled, so memory is one batch whatever the row count. Atomic: the rows go to
 * `path.tmp-<pid>`, renamed over `path` only when complete, and the temporary file is removed on
 * any error, so a reader never sees half a file.
 *
 * Lists: Arrow FixedSizeList<Float64>, Parquet LIST<DOUBLE>, JSON arrays, CSV wide columns
 * `name_0 .. name_{w-1}`. CSV and JSONL numbers use the shortest text that reads back to the same
 * double; JSON has no NaN or infinity, so those are written as null. In CSV an empty string and a
 * null are both an empty cell (read back as null).
 */
export async function writeTable(
  path: string,
  schema: readonly OutColumnSpec[],
  batches: AsyncIterable<OutBatch> | Iterable<OutBatch>,
): Promise<{ rows: number }> {
  const format = formatOf(path);
  checkSchema(schema);
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await openForWrite(tmp, path);
  let closed = false;
  try {
    const sink = SINKS[format](fh, schema);
    let rows = 0;
    for await (const batch of batches) {
      checkBatch(schema, batch);
      if (batch.n === 0) continue;
      await sink.write(batch);
      rows += batch.n;
    }
    await sink.finish();
    closed = true;
    await fh.close();
    await rename(tmp, path);
    return { rows };
  } catch (err) {
    if (!closed) await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Writes a whole file atomically (temporary file, then rename). */
export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, content);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw writeError(err, path);
  }
}

function writeError(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'EROFS') {
    return new InputError(`cannot write the file (${code})`, { file: path });
  }
  return err;
}

async function openForWrite(tmp: string, path: string): Promise<FileHandle> {
  try {
    return await open(tmp, 'w');
  } catch (err) {
    throw writeError(err, path);
  }
}

interface Sink {
  write(batch: OutBatch): Promise<void>;
  finish(): Promise<void>;
}

const SINKS: Readonly<Record<TableFormat, (fh: FileHandle, schema: readonly OutColumnSpec[]) => Sink>> = {
  arrow: arrowSink,
  parquet: parquetSink,
  csv: csvSink,
  jsonl: jsonlSink,
};

function checkSchema(schema: readonly OutColumnSpec[]): void {
  const seen = new Set<string>();
  for (const c of schema) {
    if (seen.has(c.name)) throw new Error(`writeTable: duplicate column '${c.name}'`);
    seen.add(c.name);
    if (c.kind === 'list' && !(Number.isInteger(c.width) && (c.width as number) > 0)) {
      throw new Error(`writeTable: list column '${c.name}' needs a positive integer width`);
    }
  }
}

function checkBatch(schema: readonly OutColumnSpec[], batch: OutBatch): void {
  for (const c of schema) {
    const v = batch.columns[c.name];
    if (v === undefined) throw new Error(`writeTable: batch has no column '${c.name}'`);
    const ok =
      c.kind === 'float64' ? v instanceof Float64Array :
      c.kind === 'int32' ? v instanceof Int32Array :
      c.kind === 'list' ? v instanceof Float64Array :
      Array.isArray(v);
    if (!ok) throw new Error(`writeTable: column '${c.name}' must be ${c.kind === 'string' ? 'an array of strings' : c.kind === 'int32' ? 'an Int32Array' : 'a Float64Array'}`);
    const expected = c.kind === 'list' ? batch.n * (c.width as number) : batch.n;
    if (v.length !== expected) throw new Error(`writeTable: column '${c.name}' has ${v.length} values, expected ${expected}`);
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, off, bytes.length - off);
    off += bytesWritten;
  }
}

// ---------------------------------------------------------------- Arrow IPC (file format)

function arrowType(c: OutColumnSpec): DataType {
  switch (c.kind) {
    case 'float64':
      return new Float64();
    case 'int32':
      return new Int32();
    case 'string':
      return new Utf8();
    case 'list':
      return new FixedSizeList(c.width as number, new Field('item', new Float64(), false));
  }
}

function arrowData(c: OutColumnSpec, type: DataType, batch: OutBatch): Data {
  const v = batch.columns[c.name];
  const n = batch.n;
  switch (c.kind) {
    case 'float64':
      return makeData({ type: new Float64(), length: n, nullCount: 0, data: v as Float64Array });
    case 'int32':
      return makeData({ type: new Int32(), length: n, nullCount: 0, data: v as Int32Array });
    case 'string':
      return vectorFromArray([...(v as ReadonlyArray<string | null>)], new Utf8()).data[0];
    case 'list': {
      const child = makeData({ type: new Float64(), length: (v as Float64Array).length, nullCount: 0, data: v as Float64Array });
      return makeData({ type: type as FixedSizeList<Float64>, length: n, nullCount: 0, child });
    }
  }
}

/**
 * apache-arrow's writer pushes encoded bytes into an internal queue that it exposes as an async
 * iterator. After each record batch we move everything queued to the file and await the write,
 * so the queue never holds more than one batch. A queued chunk comes back from next() as an
 * already-settled promise, which wins a race against a settled sentinel; an empty queue loses it.
 */
function arrowSink(fh: FileHandle, spec: readonly OutColumnSpec[]): Sink {
  const types = spec.map(arrowType);
  const schema = new Schema(spec.map((c, j) => new Field(c.name, types[j], c.kind === 'string')));
  const writer = new RecordBatchFileWriter();
  writer.reset(undefined, schema);
  const queue = writer[Symbol.asyncIterator]();
  const EMPTY = Symbol('empty');
  const empty = Promise.resolve(EMPTY);
  let next: Promise<IteratorResult<Uint8Array>> | undefined;
  const drain = async (toEnd: boolean): Promise<void> => {
    const chunks: Uint8Array[] = [];
    for (;;) {
      next ??= queue.next();
      const r = toEnd ? await next : await Promise.race([next, empty]);
      if (r === EMPTY) break;
      next = undefined;
      if (r.done === true) break;
      chunks.push(r.value);
    }
    await writeAll(fh, Buffer.concat(chunks));
  };
  return {
    async write(batch) {
      const children = spec.map((c, j) => arrowData(c, types[j], batch));
      const data = makeData({ type: new Struct(schema.fields), length: batch.n, nullCount: 0, children });
      writer.write(new RecordBatch(schema, data));
      await drain(false);
    },
    async finish() {
      writer.finish();
      await drain(true);
    },
  };
}

// ---------------------------------------------------------------- Parquet

/** hyparquet-writer's byte buffer, flushed to the file after every row group. */
class FileByteWriter extends ByteWriter {
  constructor(private readonly fh: FileHandle) {
    super(1 << 20);
  }

  // ParquetWriter awaits this before encoding more, so the buffer is not reused while in flight.
  flush(): Promise<void> {
    const bytes = new Uint8Array(this.buffer, 0, this.index);
    this.index = 0;
    return writeAll(this.fh, bytes);
  }

  override finish(): Promise<void> {
    return this.flush();
  }
}

function parquetSchemaOf(spec: readonly OutColumnSpec[]): SchemaElement[] {
  const out: SchemaElement[] = [{ name: 'root', num_children: spec.length }];
  for (const c of spec) {
    switch (c.kind) {
      case 'float64':
        out.push({ name: c.name, type: 'DOUBLE', repetition_type: 'REQUIRED' });
        break;
      case 'int32':
        out.push({ name: c.name, type: 'INT32', repetition_type: 'REQUIRED' });
        break;
      case 'string':
        out.push({ name: c.name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' });
        break;
      case 'list':
        out.push(
          { name: c.name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
          { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
          { name: 'element', type: 'DOUBLE', repetition_type: 'REQUIRED' },
        );
        break;
    }
  }
  return out;
}

/** One row group per batch, written and flushed before the next batch is pulled. */
function parquetSink(fh: FileHandle, spec: readonly OutColumnSpec[]): Sink {
  const pw = new ParquetWriter({ writer: new FileByteWriter(fh), schema: parquetSchemaOf(spec) });
  return {
    async write(batch) {
      const columnData: ColumnSource[] = spec.map((c) => {
        const v = batch.columns[c.name];
        if (c.kind !== 'list') return { name: c.name, data: c.kind === 'string' ? [...(v as ReadonlyArray<string | null>)] : (v as Float64Array | Int32Array) };
        const w = c.width as number;
        const values = v as Float64Array;
        const rows: number[][] = new Array<number[]>(batch.n);
        for (let i = 0; i < batch.n; i++) {
          const row = new Array<number>(w);
          for (let k = 0; k < w; k++) row[k] = values[i * w + k];
          rows[i] = row;
        }
        return { name: c.name, data: rows };
      });
      await pw.write({ columnData, rowGroupSize: batch.n });
    },
    async finish() {
      await pw.finish();
    },
  };
}

// ---------------------------------------------------------------- CSV and JSONL

/** Shortest text that parses back to the same double (String keeps -0 as '0', so spell it). */
function num(x: number): string {
  return Object.is(x, -0) ? '-0' : String(x);
}

function csvText(s: string): string {
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvSink(fh: FileHandle, spec: readonly OutColumnSpec[]): Sink {
  const header = spec.flatMap((c) => (c.kind === 'list' ? Array.from({ length: c.width as number }, (_, k) => `${c.name}_${k}`) : [c.name]));
  let started = false;
  return {
    async write(batch) {
      const cols = spec.map((c) => batch.columns[c.name]);
      const lines: string[] = started ? [] : [header.map(csvText).join(',')];
      started = true;
      const cells: string[] = [];
      for (let i = 0; i < batch.n; i++) {
        cells.length = 0;
        spec.forEach((c, j) => {
          const v = cols[j];
          if (c.kind === 'string') {
            const s = (v as ReadonlyArray<string | null>)[i];
            cells.push(s === null ? '' : csvText(s));
          } else if (c.kind === 'list') {
            const w = c.width as number;
            const f = v as Float64Array;
            for (let k = 0; k < w; k++) cells.push(num(f[i * w + k]));
          } else {
            cells.push(num((v as Float64Array | Int32Array)[i]));
          }
        });
        lines.push(cells.join(','));
      }
      await writeAll(fh, Buffer.from(lines.join('\n') + '\n'));
    },
    async finish() {
      if (!started) await writeAll(fh, Buffer.from(header.map(csvText).join(',') + '\n'));
    },
  };
}

function jsonNum(x: number): string {
  return Number.isFinite(x) ? num(x) : 'null';
}

function jsonlSink(fh: FileHandle, spec: readonly OutColumnSpec[]): Sink {
  const keys = spec.map((c) => JSON.stringify(c.name) + ':');
  return {
    async write(batch) {
      const cols = spec.map((c) => batch.columns[c.name]);
      const lines: string[] = new Array<string>(batch.n);
      const parts: string[] = [];
      for (let i = 0; i < batch.n; i++) {
        parts.length = 0;
        spec.forEach((c, j) => {
          const v = cols[j];
          let text: string;
          if (c.kind === 'string') {
            const s = (v as ReadonlyArray<string | null>)[i];
            text = s === null ? 'null' : JSON.stringify(s);
          } else if (c.kind === 'list') {
            const w = c.width as number;
            const f = v as Float64Array;
            const entries: string[] = new Array<string>(w);
            for (let k = 0; k < w; k++) entries[k] = jsonNum(f[i * w + k]);
            text = `[${entries.join(',')}]`;
          } else {
            text = jsonNum((v as Float64Array | Int32Array)[i]);
          }
          parts.push(keys[j] + text);
        });
        lines[i] = `{${parts.join(',')}}`;
      }
      await writeAll(fh, Buffer.from(lines.join('\n') + '\n'));
    },
    async finish() {},
  };
}
