import type { ListColumn, LogBatch, PolicyBatch } from '../data/batch.js';

/**
 * Canonical blocks: the engine re-cuts whatever batches a reader (or a library caller) yields into
 * blocks of exactly BLOCK_ROWS rows, numbered from row 0 of the log, and sums each block in row
 * order, then each chunk of CHUNK_BLOCKS blocks in block order, then the chunks in chunk order.
 * That fixed reduction tree is why every printed number is bit-identical whatever the batch size
 * (and, with workers that take whole chunks, whatever the thread count).
 */
export const BLOCK_ROWS = 8192;
export const CHUNK_BLOCKS = 16;

/** One canonical block: the log rows and, aligned with them, each target policy's rows. */
export interface Block {
  readonly index: number;
  readonly log: LogBatch;
  readonly policies: readonly PolicyBatch[];
}

type Column = Float64Array | Int32Array | Uint32Array;

/** How one row selection maps each kind of column (slices are views, picks are copies). */
interface RowMap {
  typed<T extends Column>(c: T): T;
  list(c: ListColumn): ListColumn;
  strings(v: ReadonlyArray<string | null>): ReadonlyArray<string | null>;
}

/** Every column of a log batch through one row map: the one list of LogBatch's columns. */
function mapLog(b: LogBatch, m: RowMap, rowOffset: number, n: number): LogBatch {
  const sub = <T extends Column>(c: T | undefined): T | undefined => (c === undefined ? undefined : m.typed(c));
  const lst = (c: ListColumn | undefined): ListColumn | undefined => (c === undefined ? undefined : m.list(c));
  let strings: Map<string, ReadonlyArray<string | null>> | undefined;
  if (b.strings !== undefined) {
    strings = new Map();
    for (const [k, v] of b.strings) strings.set(k, m.strings(v));
  }
  return {
    source: b.source,
    rowOffset,
    n,
    action: m.typed(b.action),
    reward: m.typed(b.reward),
    propensity: m.typed(b.propensity),
    position: sub(b.position),
    clusterKey: sub(b.clusterKey),
    targetPropensity: sub(b.targetPropensity),
    actionDist: lst(b.actionDist),
    qHat: lst(b.qHat),
    qHatLogged: sub(b.qHatLogged),
    qHatTarget: sub(b.qHatTarget),
    propensityItemPosition: sub(b.propensityItemPosition),
    propensityCascade: sub(b.propensityCascade),
    targetPropensityItemPosition: sub(b.targetPropensityItemPosition),
    targetPropensityCascade: sub(b.targetPropensityCascade),
    propensityItemPositions: lst(b.propensityItemPositions),
    targetPropensityItemPositions: lst(b.targetPropensityItemPositions),
    context: lst(b.context),
    eventTs: sub(b.eventTs),
    rewardTs: sub(b.rewardTs),
    strings,
  };
}

function mapPolicy(p: PolicyBatch, m: RowMap, n: number): PolicyBatch {
  const sub = <T extends Column>(c: T | undefined): T | undefined => (c === undefined ? undefined : m.typed(c));
  const lst = (c: ListColumn | undefined): ListColumn | undefined => (c === undefined ? undefined : m.list(c));
  return {
    n,
    targetPropensity: sub(p.targetPropensity),
    actionDist: lst(p.actionDist),
    qHatTarget: sub(p.qHatTarget),
    targetPropensityItemPosition: sub(p.targetPropensityItemPosition),
    targetPropensityCascade: sub(p.targetPropensityCascade),
    targetPropensityItemPositions: lst(p.targetPropensityItemPositions),
  };
}

function sliceMap(start: number, end: number): RowMap {
  return {
    typed: <T extends Column>(c: T): T => c.subarray(start, end) as T,
    list: (c) => ({ width: c.width, values: c.values.subarray(start * c.width, end * c.width) }),
    strings: (v) => v.slice(start, end),
  };
}

function sliceLog(b: LogBatch, start: number, end: number): LogBatch {
  return mapLog(b, sliceMap(start, end), b.rowOffset + start, end - start);
}

export function slicePolicy(p: PolicyBatch, start: number, end: number): PolicyBatch {
  return mapPolicy(p, sliceMap(start, end), end - start);
}

/**
 * The rows of `b` listed in `rows` (increasing local indices), copied, as a batch whose first row is
 * row `rowOffset` of the filtered log: a filtered log reads like a log that only ever had these rows
 * (the gate leaves immature labels out this way, and evaluates slices).
 */
export function pickRows(b: AlignedBatch, rows: Int32Array, rowOffset: number): AlignedBatch {
  const m = rows.length;
  const map: RowMap = {
    typed<T extends Column>(c: T): T {
      const out = new (c.constructor as new (n: number) => T)(m);
      for (let i = 0; i < m; i++) out[i] = c[rows[i]];
      return out;
    },
    list(c) {
      const w = c.width;
      const values = new Float64Array(m * w);
      for (let i = 0; i < m; i++) values.set(c.values.subarray(rows[i] * w, (rows[i] + 1) * w), i * w);
      return { width: w, values };
    },
    strings: (v) => Array.from(rows, (r) => v[r]),
  };
  return { log: mapLog(b.log, map, rowOffset, m), policies: b.policies.map((p) => mapPolicy(p, map, m)) };
}

function concatTyped<T extends Column>(parts: readonly (T | undefined)[], make: (n: number) => T): T | undefined {
  if (parts.some((p) => p === undefined)) return undefined;
  const total = parts.reduce((s, p) => s + (p as T).length, 0);
  const out = make(total);
  let o = 0;
  for (const p of parts as T[]) {
    out.set(p as never, o);
    o += p.length;
  }
  return out;
}

function concatList(parts: readonly (ListColumn | undefined)[]): ListColumn | undefined {
  if (parts.length === 0 || parts.some((p) => p === undefined)) return undefined;
  const lists = parts as ListColumn[];
  const values = concatTyped(
    lists.map((l) => l.values),
    (n) => new Float64Array(n),
  ) as Float64Array;
  return { width: lists[0].width, values };
}

function concatLog(parts: readonly LogBatch[]): LogBatch {
  if (parts.length === 1) return parts[0];
  const f64 = (pick: (p: LogBatch) => Float64Array | undefined) => concatTyped(parts.map(pick), (n) => new Float64Array(n));
  const i32 = (pick: (p: LogBatch) => Int32Array | undefined) => concatTyped(parts.map(pick), (n) => new Int32Array(n));
  const list = (pick: (p: LogBatch) => ListColumn | undefined) => concatList(parts.map(pick));
  let strings: Map<string, ReadonlyArray<string | null>> | undefined;
  if (parts[0].strings !== undefined) {
    strings = new Map();
    for (const k of parts[0].strings.keys())
      strings.set(
        k,
        parts.flatMap((p) => [...(p.strings?.get(k) ?? new Array<null>(p.n).fill(null))]),
      );
  }
  return {
    source: parts[0].source,
    rowOffset: parts[0].rowOffset,
    n: parts.reduce((s, p) => s + p.n, 0),
    action: i32((p) => p.action) as Int32Array,
    reward: f64((p) => p.reward) as Float64Array,
    propensity: f64((p) => p.propensity) as Float64Array,
    position: i32((p) => p.position),
    clusterKey: concatTyped(
      parts.map((p) => p.clusterKey),
      (n) => new Uint32Array(n),
    ),
    targetPropensity: f64((p) => p.targetPropensity),
    actionDist: list((p) => p.actionDist),
    qHat: list((p) => p.qHat),
    qHatLogged: f64((p) => p.qHatLogged),
    qHatTarget: f64((p) => p.qHatTarget),
    propensityItemPosition: f64((p) => p.propensityItemPosition),
    propensityCascade: f64((p) => p.propensityCascade),
    targetPropensityItemPosition: f64((p) => p.targetPropensityItemPosition),
    targetPropensityCascade: f64((p) => p.targetPropensityCascade),
    propensityItemPositions: list((p) => p.propensityItemPositions),
    targetPropensityItemPositions: list((p) => p.targetPropensityItemPositions),
    context: list((p) => p.context),
    eventTs: f64((p) => p.eventTs),
    rewardTs: f64((p) => p.rewardTs),
    strings,
  };
}

export function concatPolicy(parts: readonly PolicyBatch[]): PolicyBatch {
  if (parts.length === 1) return parts[0];
  const f64 = (pick: (p: PolicyBatch) => Float64Array | undefined) => concatTyped(parts.map(pick), (n) => new Float64Array(n));
  return {
    n: parts.reduce((s, p) => s + p.n, 0),
    targetPropensity: f64((p) => p.targetPropensity),
    actionDist: concatList(parts.map((p) => p.actionDist)),
    qHatTarget: f64((p) => p.qHatTarget),
    targetPropensityItemPosition: f64((p) => p.targetPropensityItemPosition),
    targetPropensityCascade: f64((p) => p.targetPropensityCascade),
    targetPropensityItemPositions: concatList(parts.map((p) => p.targetPropensityItemPositions)),
  };
}

/** A log batch with, aligned row by row, one batch per target policy. */
/**
 * The aligned batches with only the rows `keep` lists (local indices, increasing), renumbered from
 * row 0: what a log that only ever had those rows would read as. Batches kept whole are not copied.
 */
export async function* filterAligned(batches: AsyncIterable<AlignedBatch>, keep: (b: AlignedBatch) => Int32Array): AsyncGenerator<AlignedBatch> {
  let offset = 0;
  for await (const b of batches) {
    const rows = keep(b);
    if (rows.length === 0) continue;
    yield rows.length === b.log.n ? { log: { ...b.log, rowOffset: offset }, policies: b.policies } : pickRows(b, rows, offset);
    offset += rows.length;
  }
}

export interface AlignedBatch {
  readonly log: LogBatch;
  readonly policies: readonly PolicyBatch[];
}

/**
 * Re-cuts aligned batches of any sizes into canonical blocks. Only a block that straddles two
 * input batches is copied; the others are zero-copy views.
 */
export async function* canonicalBlocks(input: AsyncIterable<AlignedBatch> | Iterable<AlignedBatch>, blockRows = BLOCK_ROWS): AsyncGenerator<Block> {
  let pendingLog: LogBatch[] = [];
  let pendingPol: PolicyBatch[][] = [];
  let pendingRows = 0;
  let index = 0;
  const flush = (): Block => {
    const block: Block = {
      index: index++,
      log: concatLog(pendingLog),
      policies: pendingPol.length === 0 ? [] : pendingPol[0].map((_, p) => concatPolicy(pendingPol.map((row) => row[p]))),
    };
    pendingLog = [];
    pendingPol = [];
    pendingRows = 0;
    return block;
  };
  for await (const batch of input) {
    let start = 0;
    while (start < batch.log.n) {
      const take = Math.min(blockRows - pendingRows, batch.log.n - start);
      pendingLog.push(sliceLog(batch.log, start, start + take));
      pendingPol.push(batch.policies.map((p) => slicePolicy(p, start, start + take)));
      pendingRows += take;
      start += take;
      if (pendingRows === blockRows) yield flush();
    }
  }
  if (pendingRows > 0) yield flush();
}
