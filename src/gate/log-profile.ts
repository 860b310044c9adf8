import type { LogBatch, PolicyBatch } from '../data/batch.js';
import { STRING_COLUMNS } from '../data/contract.js';
import { UsageError } from '../data/errors.js';
import type { GateWeightHistogram } from './types.js';

/**
 * What the gate measures on the log besides the estimates (issue 7): its length and end, the slice
 * values, label maturity, the stability of the logging policy between the log's two halves, and the
 * candidate's weight distribution. Two streaming passes: `profileLog` (rows, the log's end, slice
 * values), then a `GateObserver` over the aligned batches on their way to the estimators.
 */

export interface LogProfile {
  readonly rows: number;
  /** Largest event_ts in the log (seconds since the epoch); NaN without event_ts. */
  readonly maxEventTs: number;
  readonly hasEventTs: boolean;
  readonly hasRewardTs: boolean;
  /** Per --slice-by column: value -> rows, in first-seen order. */
  readonly sliceValues: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

/** Slices per column beyond which the gate refuses (a per-slice pass each). */
export const MAX_SLICES = 50;
/** Label for rows whose slice column is null. */
export const NULL_SLICE = '(null)';

export async function profileLog(batches: AsyncIterable<LogBatch>, sliceBy: readonly string[], file: string): Promise<LogProfile> {
  for (const c of sliceBy) {
    if (!(STRING_COLUMNS as readonly string[]).includes(c)) throw new UsageError(`--slice-by: '${c}' is not a slicing column; the log contract carries ${STRING_COLUMNS.join(', ')}`);
  }
  let rows = 0;
  let maxEventTs = -Infinity;
  let hasEventTs = false;
  let hasRewardTs = false;
  const sliceValues = new Map<string, Map<string, number>>(sliceBy.map((c) => [c, new Map()]));
  for await (const b of batches) {
    rows += b.n;
    if (b.eventTs !== undefined) {
      hasEventTs = true;
      for (let i = 0; i < b.n; i++) if (b.eventTs[i] > maxEventTs) maxEventTs = b.eventTs[i];
    }
    if (b.rewardTs !== undefined) hasRewardTs = true;
    for (const c of sliceBy) {
      const col = b.strings?.get(c);
      if (col === undefined) throw new UsageError(`--slice-by: ${file} has no column '${c}'`);
      const counts = sliceValues.get(c) as Map<string, number>;
      for (let i = 0; i < b.n; i++) {
        const v = col[i] ?? NULL_SLICE;
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      if (counts.size > MAX_SLICES) throw new UsageError(`--slice-by ${c}: more than ${MAX_SLICES} distinct values; slice by a coarser column`);
    }
  }
  return { rows, maxEventTs: hasEventTs ? maxEventTs : NaN, hasEventTs, hasRewardTs, sliceValues };
}

/**
 * Population stability index sum_b (q_b - p_b) ln(q_b / p_b) of two histograms over the same bins
 * (p the early, q the late counts), each share floored at `floor` so that an empty bin does not give
 * an infinite index (Siddiqi 2006; Yurdakul 2018, "Statistical properties of population stability
 * index"). NaN when either side is empty.
 */
export function populationStabilityIndex(early: ArrayLike<number>, late: ArrayLike<number>, floor = 1e-4): number {
  let te = 0;
  let tl = 0;
  for (let b = 0; b < early.length; b++) {
    te += early[b];
    tl += late[b];
  }
  if (!(te > 0 && tl > 0)) return NaN;
  let s = 0;
  for (let b = 0; b < early.length; b++) {
    const p = Math.max(floor, early[b] / te);
    const q = Math.max(floor, late[b] / tl);
    s += (q - p) * Math.log(q / p);
  }
  return s;
}

/** Propensity bins for the stability check: fixed edges, so the two halves share them without a first pass. */
export const PROPENSITY_EDGES = [0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
/** Candidate-weight histogram edges (log-spaced around 1; the last bin is open). */
export const WEIGHT_EDGES = [0, 0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 100, 1000, Infinity];
/** Actions kept as their own bins in the action PSI; the rest pool into one. */
export const ACTION_BINS = 50;

function binOf(edges: readonly number[], x: number): number {
  // Right-closed bins (e_b, e_{b+1}], the first one also taking e_0.
  let b = 0;
  while (b < edges.length - 2 && x > edges[b + 1]) b++;
  return b;
}

/**
 * Whether row i's label is in: its reward is not null, and unless its reward_ts is set, its event
 * is no later than `immatureAfter` (null: no time rule, the log has no event_ts).
 */
export function isMature(log: LogBatch, i: number, immatureAfter: number | null): boolean {
  if (!Number.isFinite(log.reward[i])) return false;
  if (immatureAfter === null || log.eventTs === undefined) return true;
  if (log.rewardTs !== undefined && Number.isFinite(log.rewardTs[i])) return true;
  return !(log.eventTs[i] > immatureAfter);
}

export interface ObservedStats {
  readonly rowsSeen: number;
  readonly rowsKept: number;
  /** Rows left out: immature (reward_ts missing, event_ts within the window) or reward null. */
  readonly immature: number;
  readonly psiAction: number;
  readonly psiPropensity: number;
  readonly weights: GateWeightHistogram;
}

/**
 * Watches the aligned batches of the estimation pass: decides which rows are mature (kept), counts
 * the others, and fills the stability and weight histograms. The first half of the log is rows
 * 0 .. floor(rows / 2) - 1 by row order (logs are written in time order).
 */
export class GateObserver {
  private seen = 0;
  private kept = 0;
  private immature = 0;
  private readonly actions = new Map<number, [number, number]>();
  private readonly propensity = [new Float64Array(PROPENSITY_EDGES.length - 1), new Float64Array(PROPENSITY_EDGES.length - 1)];
  private readonly weightCounts = new Float64Array(WEIGHT_EDGES.length - 1);

  constructor(
    private readonly profile: LogProfile,
    /** Rows with reward_ts missing and event_ts after this are immature; null: no maturity rule (only null rewards are left out). */
    private readonly immatureAfter: number | null,
    /** Index of the candidate among the batch's policies. */
    private readonly candidate: number,
  ) {}

  /** Local indices of the batch's rows to keep. */
  keep(log: LogBatch, policies: readonly PolicyBatch[]): Int32Array {
    const half = Math.floor(this.profile.rows / 2);
    const out = new Int32Array(log.n);
    let k = 0;
    const pol = policies[this.candidate];
    for (let i = 0; i < log.n; i++) {
      const row = log.rowOffset + i;
      const side = row < half ? 0 : 1;
      const a = log.action[i];
      const counts = this.actions.get(a);
      if (counts === undefined) this.actions.set(a, side === 0 ? [1, 0] : [0, 1]);
      else counts[side]++;
      this.propensity[side][binOf(PROPENSITY_EDGES, log.propensity[i])]++;
      if (!isMature(log, i, this.immatureAfter)) {
        this.immature++;
        continue;
      }
      out[k++] = i;
      const target = pol.targetPropensity !== undefined ? pol.targetPropensity[i] : pol.actionDist !== undefined ? pol.actionDist.values[i * pol.actionDist.width + a] : NaN;
      const w = target / log.propensity[i];
      if (Number.isFinite(w)) this.weightCounts[binOf(WEIGHT_EDGES, w)]++;
    }
    this.seen += log.n;
    this.kept += k;
    return out.subarray(0, k);
  }

  finish(): ObservedStats {
    // The ACTION_BINS - 1 most frequent actions over the whole log keep their own bins (ties to the smaller id).
    const ranked = [...this.actions].sort((x, y) => y[1][0] + y[1][1] - (x[1][0] + x[1][1]) || x[0] - y[0]);
    const bins = Math.min(ranked.length, ACTION_BINS);
    const early = new Float64Array(bins);
    const late = new Float64Array(bins);
    ranked.forEach(([, [e, l]], r) => {
      const b = Math.min(r, bins - 1);
      early[b] += e;
      late[b] += l;
    });
    return {
      rowsSeen: this.seen,
      rowsKept: this.kept,
      immature: this.immature,
      psiAction: populationStabilityIndex(early, late),
      psiPropensity: populationStabilityIndex(this.propensity[0], this.propensity[1]),
      weights: { edges: WEIGHT_EDGES.slice(), counts: Array.from(this.weightCounts) },
    };
  }
}
