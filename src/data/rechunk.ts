import type { ColumnSet, OutColumn } from './contract.js';

/**
 * Re-cuts chunks of any size into batches of exactly `rows` rows (the last may be shorter), so a
 * log and a policy file read with the same batch size align row by row whatever their formats'
 * own chunking. A chunk that already holds whole batches passes through as views, without copying.
 */
export class Rechunker {
  private parts: ColumnSet[] = [];
  private pending = 0;

  constructor(private readonly rows: number) {}

  *push(set: ColumnSet): Generator<ColumnSet> {
    let start = 0;
    while (start < set.n) {
      const take = Math.min(this.rows - this.pending, set.n - start);
      const piece = start === 0 && take === set.n ? set : sliceSet(set, start, start + take);
      start += take;
      if (this.pending === 0 && take === this.rows) {
        yield piece;
        continue;
      }
      this.parts.push(piece);
      this.pending += take;
      if (this.pending === this.rows) yield this.take();
    }
  }

  *flush(): Generator<ColumnSet> {
    if (this.pending > 0) yield this.take();
  }

  private take(): ColumnSet {
    const out = this.parts.length === 1 ? this.parts[0] : concatSets(this.parts);
    this.parts = [];
    this.pending = 0;
    return out;
  }
}

function sliceColumn(c: OutColumn, start: number, end: number): OutColumn {
  switch (c.kind) {
    case 'f64':
      return { kind: 'f64', v: c.v.subarray(start, end) };
    case 'i32':
      return { kind: 'i32', v: c.v.subarray(start, end) };
    case 'u32':
      return { kind: 'u32', v: c.v.subarray(start, end) };
    case 'list':
      return { kind: 'list', width: c.width, v: c.v.subarray(start * c.width, end * c.width) };
    case 'array':
      return { kind: 'array', v: c.v.slice(start, end) };
  }
}

function sliceSet(set: ColumnSet, start: number, end: number): ColumnSet {
  const columns = new Map<string, OutColumn>();
  for (const [k, c] of set.columns) columns.set(k, sliceColumn(c, start, end));
  return { n: end - start, columns };
}

function concatTyped<T extends Float64Array | Int32Array | Uint32Array>(parts: readonly T[], make: (n: number) => T): T {
  const out = make(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p as ArrayLike<number>, o);
    o += p.length;
  }
  return out;
}

function concatSets(sets: readonly ColumnSet[]): ColumnSet {
  const columns = new Map<string, OutColumn>();
  for (const [k, first] of sets[0].columns) {
    const all = sets.map((s) => s.columns.get(k) as OutColumn);
    switch (first.kind) {
      case 'f64':
        columns.set(k, { kind: 'f64', v: concatTyped(all.map((c) => c.v as Float64Array), (n) => new Float64Array(n)) });
        break;
      case 'i32':
        columns.set(k, { kind: 'i32', v: concatTyped(all.map((c) => c.v as Int32Array), (n) => new Int32Array(n)) });
        break;
      case 'u32':
        columns.set(k, { kind: 'u32', v: concatTyped(all.map((c) => c.v as Uint32Array), (n) => new Uint32Array(n)) });
        break;
      case 'list':
        columns.set(k, { kind: 'list', width: first.width, v: concatTyped(all.map((c) => c.v as Float64Array), (n) => new Float64Array(n)) });
        break;
      case 'array':
        columns.set(k, { kind: 'array', v: all.flatMap((c) => c.v as ReadonlyArray<string | number | null>) });
        break;
    }
  }
  return { n: sets.reduce((s, x) => s + x.n, 0), columns };
}
