import type { NumericArray, RawChunk, RawColumn } from './raw.js';

/**
 * Raw columns in a form that crosses between threads (read-pool.ts): typed arrays, moved rather
 * than copied, and plain values for the rest. `toPortable` runs where a chunk was decoded and
 * `fromPortable` rebuilds a RawColumn of the same kind that returns the same values, so the contract
 * mapper on the main thread sees what it would have seen from the reader itself.
 */
export type PortableColumn =
  | { readonly kind: 'numbers'; readonly values: NumericArray; readonly nulls?: Uint8Array }
  | { readonly kind: 'bigints'; readonly values: BigInt64Array | BigUint64Array; readonly nulls?: Uint8Array }
  | { readonly kind: 'seconds'; readonly values: Float64Array; readonly nulls?: Uint8Array }
  | { readonly kind: 'text'; readonly values: ReadonlyArray<string | null> }
  | {
      readonly kind: 'list';
      readonly offsets: Int32Array | null;
      readonly width: number;
      readonly values: NumericArray;
      readonly nulls?: Uint8Array;
      readonly childNulls?: Uint8Array;
    }
  /** A `values` column whose cells are all numbers or null (NaN in `values` where null). */
  | { readonly kind: 'number-cells'; readonly values: Float64Array; readonly nulls?: Uint8Array }
  /** A `values` column whose cells are all lists of numbers (row i: values[offsets[i]..offsets[i+1]]) or null. */
  | { readonly kind: 'list-cells'; readonly offsets: Int32Array; readonly values: Float64Array; readonly nulls?: Uint8Array }
  /** Any other `values` column, cell by cell (structured clone copies it). */
  | { readonly kind: 'cells'; readonly cells: readonly unknown[] };

export interface PortableChunk {
  readonly n: number;
  readonly columns: readonly (readonly [string, PortableColumn])[];
}

type Typed = NumericArray | BigInt64Array | BigUint64Array | Int32Array;

/**
 * The first n entries in an array that owns its whole buffer: one that may be handed to another
 * thread. Decoders return views into buffers they share (a page, a record batch's body), which
 * must not be moved away under them, so those are copied.
 */
function owned<T extends Typed>(a: T, n: number): T {
  const v = (a.length === n ? a : a.subarray(0, n)) as T;
  if (v.buffer instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength) return v;
  return v.slice() as T;
}

function mask(n: number, isNull: ((i: number) => boolean) | undefined): Uint8Array | undefined {
  if (isNull === undefined) return undefined;
  const m = new Uint8Array(n);
  for (let i = 0; i < n; i++) if (isNull(i)) m[i] = 1;
  return m;
}

/** Replaces objects that do not survive structured cloning (Arrow struct and map rows) by `{}`: the mapper only ever reports them as "an object". */
function cloneable(x: unknown): unknown {
  if (x === null || typeof x !== 'object' || x instanceof Date || ArrayBuffer.isView(x)) return x;
  if (Array.isArray(x)) return x.map(cloneable);
  return {};
}

function cellsColumn(col: Extract<RawColumn, { kind: 'values' }>, n: number): PortableColumn {
  const cells = col.cells !== undefined && col.cells.length === n ? col.cells : Array.from({ length: n }, (_, i) => col.get(i));
  // Most columns hold numbers: fill them in one pass, and look closer only when a cell is not one.
  const values = new Float64Array(n);
  let nulls: Uint8Array | undefined;
  let i = 0;
  for (; i < n; i++) {
    const x = cells[i];
    if (typeof x === 'number') values[i] = x;
    else if (x === null) {
      values[i] = NaN;
      (nulls ??= new Uint8Array(n))[i] = 1;
    } else break;
  }
  if (i === n) return { kind: 'number-cells', values, nulls };
  let entries = 0;
  for (const x of cells) {
    if (x === null) continue;
    if (!Array.isArray(x)) return { kind: 'cells', cells: cells.map(cloneable) };
    for (let j = 0; j < x.length; j++) if (typeof x[j] !== 'number') return { kind: 'cells', cells: cells.map(cloneable) };
    entries += x.length;
  }
  const offsets = new Int32Array(n + 1);
  const flat = new Float64Array(entries);
  const listNulls = cells.includes(null) ? new Uint8Array(n) : undefined;
  let o = 0;
  for (let r = 0; r < n; r++) {
    const x = cells[r] as number[] | null;
    if (x === null) (listNulls as Uint8Array)[r] = 1;
    else for (let j = 0; j < x.length; j++) flat[o++] = x[j];
    offsets[r + 1] = o;
  }
  return { kind: 'list-cells', offsets, values: flat, nulls: listNulls };
}

export function toPortable(col: RawColumn, n: number): PortableColumn {
  switch (col.kind) {
    case 'numbers':
      return { kind: 'numbers', values: owned(col.values, n), nulls: mask(n, col.isNull) };
    case 'bigints':
      return { kind: 'bigints', values: owned(col.values, n), nulls: mask(n, col.isNull) };
    case 'seconds': {
      const values = new Float64Array(n);
      let nulls: Uint8Array | undefined;
      for (let i = 0; i < n; i++) {
        const x = col.get(i);
        if (x === null) (nulls ??= new Uint8Array(n))[i] = 1;
        else values[i] = x;
      }
      return { kind: 'seconds', values, nulls };
    }
    case 'text':
      return { kind: 'text', values: col.values };
    case 'values':
      return cellsColumn(col, n);
    case 'list': {
      // Entries are addressed through the offsets (or i * width), so every child entry goes along.
      const offsets = col.offsets === null ? null : owned(col.offsets, n + 1);
      const children = col.values.length;
      return { kind: 'list', offsets, width: col.width, values: owned(col.values, children), nulls: mask(n, col.isNull), childNulls: mask(children, col.childIsNull) };
    }
  }
}

function nullTest(nulls: Uint8Array | undefined): ((i: number) => boolean) | undefined {
  return nulls === undefined ? undefined : (i) => nulls[i] === 1;
}

export function fromPortable(p: PortableColumn): RawColumn {
  switch (p.kind) {
    case 'numbers':
      return { kind: 'numbers', values: p.values, isNull: nullTest(p.nulls) };
    case 'bigints':
      return { kind: 'bigints', values: p.values, isNull: nullTest(p.nulls) };
    case 'seconds': {
      const { values, nulls } = p;
      return { kind: 'seconds', get: (i) => (nulls?.[i] === 1 ? null : values[i]) };
    }
    case 'text':
      return p;
    case 'list':
      return { kind: 'list', offsets: p.offsets, width: p.width, values: p.values, isNull: nullTest(p.nulls), childIsNull: nullTest(p.childNulls) };
    case 'number-cells': {
      const { values, nulls } = p;
      return { kind: 'values', get: (i) => (nulls?.[i] === 1 ? null : values[i]), numbers: { values, nulls } };
    }
    case 'list-cells': {
      // A typed view per row: the mapper reads list cells as arrays or typed arrays alike.
      const { offsets, values, nulls } = p;
      return { kind: 'values', get: (i) => (nulls?.[i] === 1 ? null : values.subarray(offsets[i], offsets[i + 1])) };
    }
    case 'cells': {
      const cells = p.cells;
      return { kind: 'values', get: (i) => cells[i] };
    }
  }
}

/** The wanted columns of a chunk, portable, and the buffers to move with them. */
export function portableChunk(chunk: RawChunk, wanted: readonly string[]): { chunk: PortableChunk; transfer: ArrayBuffer[] } {
  const columns: (readonly [string, PortableColumn])[] = [];
  const transfer = new Set<ArrayBuffer>();
  for (const name of wanted) {
    const c = chunk.column(name);
    if (c === undefined) continue;
    const p = toPortable(c, chunk.n);
    columns.push([name, p]);
    for (const v of Object.values(p)) if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer) transfer.add(v.buffer);
  }
  return { chunk: { n: chunk.n, columns }, transfer: [...transfer] };
}

export function rawChunk(p: PortableChunk, columns: readonly string[]): RawChunk {
  const byName = new Map(p.columns.map(([name, c]) => [name, fromPortable(c)] as const));
  return { columns, n: p.n, column: (name) => byName.get(name) };
}
