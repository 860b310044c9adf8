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

function sliceList(c: ListColumn | undefined, start: number, end: number): ListColumn | undefined {
  return c === undefined ? undefined : { width: c.width, values: c.values.subarray(start * c.width, end * c.width) };
}

function sliceLog(b: LogBatch, start: number, end: number): LogBatch {
  const sub = <T extends Column>(c: T | undefined): T | undefined => (c === undefined ? undefined : (c.subarray(start, end) as T));
  let strings: Map<string, ReadonlyArray<string | null>> | undefined;
  if (b.strings !== undefined) {
    strings = new Map();
    for (const [k, v] of b.strings) strings.set(k, v.slice(start, end));
  }
  return {
    source: b.source,
    rowOffset: b.rowOffset + start,
    n: end - start,
    action: b.action.subarray(start, end),
    reward: b.reward.subarray(start, end),
    propensity: b.propensity.subarray(start, end),
    position: sub(b.position),
    clusterKey: sub(b.clusterKey),
    targetPropensity: sub(b.targetPropensity),
    actionDist: sliceList(b.actionDist, start, end),
    qHat: sliceList(b.qHat, start, end),
    qHatLogged: sub(b.qHatLogged),
    qHatTarget: sub(b.qHatTarget),
    propensityItemPosition: sub(b.propensityItemPosition),
    propensityCascade: sub(b.propensityCascade),
    targetPropensityItemPosition: sub(b.targetPropensityItemPosition),
    targetPropensityCascade: sub(b.targetPropensityCascade),
    propensityItemPositions: sliceList(b.propensityItemPositions, start, end),
    targetPropensityItemPositions: sliceList(b.targetPropensityItemPositions, start, end),
    context: sliceList(b.context, start, end),
    eventTs: sub(b.eventTs),
    rewardTs: sub(b.rewardTs),
    strings,
  };
}

function slicePolicy(p: PolicyBatch, start: number, end: number): PolicyBatch {
  return {
    n: end - start,
    targetPropensity: p.targetPropensity?.subarray(start, end),
    actionDist: sliceList(p.actionDist, start, end),
    qHatTarget: p.qHatTarget?.subarray(start, end),
    targetPropensityItemPosition: p.targetPropensityItemPosition?.subarray(start, end),
    targetPropensityCascade: p.targetPropensityCascade?.subarray(start, end),
    targetPropensityItemPositions: sliceList(p.targetPropensityItemPositions, start, end),
  };
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

function concatPolicy(parts: readonly PolicyBatch[]): PolicyBatch {
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
