import type { ListColumn, LogBatch, PolicyBatch } from './batch.js';

/** Plain-array input for scripts and tests; lists are arrays of per-row arrays. */
export interface ArrayLog {
  readonly action: ArrayLike<number>;
  readonly reward: ArrayLike<number>;
  readonly propensity: ArrayLike<number>;
  readonly position?: ArrayLike<number>;
  /** Integer request ids (cluster keys: the low 32 bits). */
  readonly requestId?: ArrayLike<number>;
  readonly qHat?: ReadonlyArray<ArrayLike<number>>;
  readonly qHatLogged?: ArrayLike<number>;
  readonly qHatTarget?: ArrayLike<number>;
  /** Slate logs: the logger's probability of the row's item at every position 0..L-1 (lists of L). */
  readonly propensityItemPositions?: ReadonlyArray<ArrayLike<number>>;
}

export interface ArrayPolicy {
  readonly targetPropensity?: ArrayLike<number>;
  readonly actionDist?: ReadonlyArray<ArrayLike<number>>;
  readonly qHatTarget?: ArrayLike<number>;
  /** Slate targets: the target's probability of the row's item at every position 0..L-1 (lists of L). */
  readonly targetPropensityItemPositions?: ReadonlyArray<ArrayLike<number>>;
}

export function listColumn(rows: ReadonlyArray<ArrayLike<number>>): ListColumn {
  const width = rows.length > 0 ? rows[0].length : 0;
  const values = new Float64Array(rows.length * width);
  rows.forEach((r, i) => {
    if (r.length !== width) throw new RangeError(`list row ${i} has ${r.length} entries, expected ${width}`);
    values.set(Array.from(r), i * width);
  });
  return { width, values };
}

const f64 = (x: ArrayLike<number> | undefined): Float64Array | undefined => (x === undefined ? undefined : Float64Array.from(x));

/** A LogBatch from plain arrays (no contract checks: use `ope validate` or the readers for that). */
export function logBatchFromArrays(log: ArrayLog, source = '<arrays>', rowOffset = 0): LogBatch {
  return {
    source,
    rowOffset,
    n: log.action.length,
    action: Int32Array.from(log.action),
    reward: Float64Array.from(log.reward),
    propensity: Float64Array.from(log.propensity),
    position: log.position === undefined ? undefined : Int32Array.from(log.position),
    clusterKey: log.requestId === undefined ? undefined : Uint32Array.from(log.requestId, (v) => v >>> 0),
    qHat: log.qHat === undefined ? undefined : listColumn(log.qHat),
    qHatLogged: f64(log.qHatLogged),
    qHatTarget: f64(log.qHatTarget),
    propensityItemPositions: log.propensityItemPositions === undefined ? undefined : listColumn(log.propensityItemPositions),
  };
}

export function policyBatchFromArrays(p: ArrayPolicy): PolicyBatch {
  const n = p.targetPropensity?.length ?? p.actionDist?.length ?? p.targetPropensityItemPositions?.length ?? 0;
  return {
    n,
    targetPropensity: f64(p.targetPropensity),
    actionDist: p.actionDist === undefined ? undefined : listColumn(p.actionDist),
    qHatTarget: f64(p.qHatTarget),
    targetPropensityItemPositions: p.targetPropensityItemPositions === undefined ? undefined : listColumn(p.targetPropensityItemPositions),
  };
}
