import type { BanditColumns } from '../src/data/bandit-columns.js';
import { InputError } from '../src/data/errors.js';
import type { MaxTracker, RowStatistic, RowwiseStatistic, SlateScanStatistic, SqlColumns, WeightDiagnostic } from './estimator.js';

/**
 * The per-row statistics of the slate estimators (one row per slate and position, DESIGN.md §2).
 * Every slate estimator is (sum of a per-row term) / (number of slates): the reference
 * implementation divides slate sums by the number of slates, and as a ratio of two bootstrapped
 * sums every replicate re-normalizes by its own slate count. Terms that need earlier rows of the
 * slate (pi, cascade-dr) are prefix scans, so the value still sits on a row of its own slate.
 */

const NEEDS_POSITION = 'a position column (slate logs have one row per slate and position)';
const NEEDS_ITEM_POSITION = 'propensity_item_position in the log and target_propensity_item_position for the target';
const NEEDS_CASCADE = 'propensity_cascade in the log and target_propensity_cascade for the target';
const NEEDS_ITEM_POSITIONS = "propensity_item_positions in the log and target_propensity_item_positions for the target (lists of width L: the probability of the row's item at every position)";

/** The engine checks `missing` before computing; a column absent here is a programming error. */
function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`slate statistic computed without ${what}`);
  return v;
}

/** 1[position = 0] as a DOUBLE in SQL. */
function firstSql(c: SqlColumns): string {
  return `(CASE WHEN ${c.position} = 0 THEN ${c.num(1)} ELSE ${c.num(0)} END)`;
}

/**
 * 1[position = 0]: one per slate, so that slate estimators divide slate sums by the number of
 * slates (as the reference implementation does), inside every bootstrap replicate too.
 */
export const slateStart: RowwiseStatistic = {
  key: '[position=0]',
  needsRewardModel: false,
  missing: (c) => (c.position === undefined ? NEEDS_POSITION : undefined),
  compute(c, out) {
    const p = need(c.position, 'position');
    for (let i = 0; i < c.n; i++) out[i] = p[i] === 0 ? 1 : 0;
  },
  sql: firstSql,
};

/** 1 on every row: the number of slots, for diagnostics over per-slot weights. */
export const slotCount: RowwiseStatistic = {
  key: '1',
  needsRewardModel: false,
  compute(c, out) {
    out.fill(1, 0, c.n);
  },
  sql: (c) => c.num(1),
};

/** w_ik r_ik with the item-position weight pi(a_k at k) / mu(a_k at k) (Li et al. 2018). */
export const itemPositionWeightedReward: RowwiseStatistic = {
  key: 'w_ip*r',
  needsRewardModel: false,
  missing: (c) => (c.wItemPosition === undefined ? NEEDS_ITEM_POSITION : undefined),
  compute(c, out) {
    const w = need(c.wItemPosition, 'item-position weights');
    for (let i = 0; i < c.n; i++) out[i] = w[i] * c.r[i];
  },
  sql: (c) => `(${c.wItemPosition} * ${c.r})`,
};

/** w_1:k r_k with the prefix weight pi(a_1..a_k) / mu(a_1..a_k) (McInerney et al. 2020). */
export const cascadeWeightedReward: RowwiseStatistic = {
  key: 'w_1:k*r',
  needsRewardModel: false,
  missing: (c) => (c.wCascade === undefined ? NEEDS_CASCADE : undefined),
  compute(c, out) {
    const w = need(c.wCascade, 'cascade weights');
    for (let i = 0; i < c.n; i++) out[i] = w[i] * c.r[i];
  },
  sql: (c) => `(${c.wCascade} * ${c.r})`,
};

/**
 * The position-based-model weight of a row whose item a sits at position k:
 *   sum_j theta_j pi(a at j) / sum_j theta_j mu(a at j)
 * (Li, Abbasi-Yadkori, Kveton, Muthukrishnan, Vinay & Wen 2018, "Offline evaluation of ranking
 * policies with click models", KDD, the PBM estimator): under the position-based click
 * model the click on a depends on the position only through the examination probability theta_j,
 * so the weight compares how much examination each policy gives the item over all positions.
 */
export function pbmWeightsInto(c: BanditColumns, theta: readonly number[], out: Float64Array): void {
  const { logged, target } = need(c.itemPositions, 'item marginals at every position');
  const L = theta.length;
  const lv = logged.values;
  const tv = target.values;
  for (let i = 0; i < c.n; i++) {
    const o = i * L;
    let num = 0;
    let den = 0;
    for (let j = 0; j < L; j++) {
      num += theta[j] * tv[o + j];
      den += theta[j] * lv[o + j];
    }
    out[i] = num / den;
  }
}

/**
 * pbmWeightsInto's weight in SQL, the sums in the same order (so the same bits); NULL unless both
 * lists have exactly L = theta.length entries (the SQL engine counts such rows as bad input, where
 * the in-process reader refuses the file).
 */
function pbmWeightSql(c: SqlColumns, theta: readonly number[]): string {
  const L = theta.length;
  const dot = (list: 'logged' | 'target') => theta.map((t, j) => `${c.num(t)} * ${c.itemPositionAt(list, j)}`).join(' + ');
  const exact = (list: 'logged' | 'target') => `${c.itemPositionAt(list, L - 1)} IS NOT NULL AND ${c.itemPositionAt(list, L)} IS NULL`;
  return `(CASE WHEN ${exact('logged')} AND ${exact('target')} THEN (${dot('target')}) / (${dot('logged')}) END)`;
}

function pbmMissing(theta: readonly number[]): (c: BanditColumns) => string | undefined {
  return (c) => {
    if (c.itemPositions === undefined) return NEEDS_ITEM_POSITIONS;
    const L = c.itemPositions.logged.width;
    const Lt = c.itemPositions.target.width;
    if (Lt !== L) return `target_propensity_item_positions of the same width as propensity_item_positions (${Lt} vs ${L})`;
    if (L !== theta.length) return `one examination probability per position: it was given ${theta.length} (theta0..theta${theta.length - 1}) but the slates have ${L} positions`;
    return undefined;
  };
}

/** theta list as a key fragment: '1;0.5;0.33'. */
function thetaKey(theta: readonly number[]): string {
  return theta.join(';');
}

export function pbmWeightedReward(theta: readonly number[]): RowwiseStatistic {
  return {
    key: `w_pbm(${thetaKey(theta)})*r`,
    needsRewardModel: false,
    missing: pbmMissing(theta),
    compute(c, out) {
      const w = out.subarray(0, c.n);
      pbmWeightsInto(c, theta, w);
      for (let i = 0; i < c.n; i++) w[i] *= c.r[i];
    },
    sql: (c) => `(${pbmWeightSql(c, theta)} * ${c.r})`,
  };
}

/**
 * Follows the slates through the blocks, in log order, for the prefix scans: a slate is a run of
 * rows at positions 0, 1, ..., L-1. Anything else (a slate's rows out of order, or interleaved
 * with another's) would silently mix slates, so it is an input error naming the row.
 */
class SlateCursor {
  private prev = -1;

  constructor(private readonly estimator: string) {}

  /** True when row i starts a new slate. */
  next(c: BanditColumns, pos: Int32Array, i: number): boolean {
    const p = pos[i];
    if (p === 0) {
      this.prev = 0;
      return true;
    }
    if (p !== this.prev + 1) {
      const where = this.prev < 0 ? 'the log starts at position ' + p : `this row has position ${p} after a row at position ${this.prev}`;
      throw new InputError(`${this.estimator} reads each slate's rows adjacent and in position order 0, 1, ..., L-1, but ${where}; sort the log by slate_id, position`, {
        file: c.source,
        column: 'position',
        row: c.rowOffset + i,
      });
    }
    this.prev = p;
    return false;
  }
}

function positionOrItemPositionMissing(c: BanditColumns): string | undefined {
  if (c.position === undefined) return NEEDS_POSITION;
  return c.wItemPosition === undefined ? NEEDS_ITEM_POSITION : undefined;
}

/**
 * pi's slate term Gamma_s sum_k r_sk with Gamma_s = sum_k w_sk - L + 1 = 1 + sum_k d_sk, d = w_ip - 1
 * (Swaminathan, Krishnamurthy, Agarwal, Dudik, Langford, Jose & Zitouni 2017, "Off-policy evaluation
 * for slate recommendation", NeurIPS; the closed form of the pseudo-inverse for a factorized
 * logger, where it reduces to item-position marginals). Spread over the slate's rows as a prefix
 * scan: row j carries r_j + d_j R_{<=j} + r_j D_{<j} (R, D running sums of r and d in the slate),
 * and the rows of a slate add up to Gamma_s R_s, every product d_j r_k counted once.
 */
export const pseudoInverseTerm: SlateScanStatistic = {
  key: '(sum_k w_ip-L+1)*sum_k r',
  needsRewardModel: false,
  missing: positionOrItemPositionMissing,
  start() {
    const cursor = new SlateCursor('pi');
    let R = 0;
    let D = 0;
    return (c, out) => {
      const pos = need(c.position, 'position');
      const w = need(c.wItemPosition, 'item-position weights');
      const r = c.r;
      for (let i = 0; i < c.n; i++) {
        if (cursor.next(c, pos, i)) {
          R = 0;
          D = 0;
        }
        const d = w[i] - 1;
        const ri = r[i];
        R += ri;
        out[i] = ri + d * R + ri * D;
        D += d;
      }
    };
  },
  sql: (c) => {
    const d = `(${c.wItemPosition} - ${c.num(1)})`;
    return `(${c.r} + ${d} * ${c.slateSum(c.r, 'through')} + ${c.r} * ${c.slateSum(d, 'before')})`;
  },
};

/**
 * cascade-DR's slot term w_1:k (r_k - Q_k(a_1:k)) + w_1:k-1 sum_a pi(a | a_1:k-1) Q_k(a_1:k-1, a),
 * w_1:0 = 1 (Kiyohara, Saito, Matsuhiro, Narita, Shimizu & Yamamoto 2022, "Doubly robust off-policy
 * evaluation for ranking policies under the cascade behavior model", WSDM, the Cascade-DR estimator). Per row, q is
 * q_hat at the logged item and qpi the row's action_dist (the target's distribution at this slot
 * given the logged prefix) times q_hat; w_1:k-1 is the previous row's prefix weight, carried by the
 * scan.
 */
export const cascadeDoublyRobustTerm: SlateScanStatistic = {
  key: 'w_1:k*(r-q)+w_1:k-1*qpi',
  needsRewardModel: true,
  missing: (c) => (c.position === undefined ? NEEDS_POSITION : c.wCascade === undefined ? NEEDS_CASCADE : undefined),
  start() {
    const cursor = new SlateCursor('cascade-dr');
    let prevW = 1;
    return (c, out) => {
      const pos = need(c.position, 'position');
      const w = need(c.wCascade, 'cascade weights');
      const q = need(c.q, 'q_hat');
      const qpi = need(c.qpi, 'q_hat under the target');
      const r = c.r;
      for (let i = 0; i < c.n; i++) {
        if (cursor.next(c, pos, i)) prevW = 1;
        const wk = w[i];
        out[i] = wk * (r[i] - q[i]) + prevW * qpi[i];
        prevW = wk;
      }
    };
  },
  sql: (c) => `(${c.wCascade} * (${c.r} - ${c.q}) + ${c.previous(c.wCascade, c.num(1))} * ${c.qpi})`,
};

// ---------------------------------------------------------------------------------------------
// Weight diagnostics (issue 4, item 4): the effective sample size (sum W)^2 / sum W^2 and the
// largest W of the weights each estimator applies.

/** Max over rows of a per-row weight. */
function rowMax(fill: (c: BanditColumns, out: Float64Array) => void): () => MaxTracker {
  return () => {
    let best = -Infinity;
    let scratch = new Float64Array(0);
    return {
      add(c) {
        if (scratch.length < c.n) scratch = new Float64Array(c.n);
        const w = scratch.subarray(0, c.n);
        fill(c, w);
        for (let i = 0; i < c.n; i++) if (w[i] > best) best = w[i];
      },
      value: () => best,
    };
  };
}

/** Diagnostics over per-slot weights: every row is a unit. */
function slotWeights(
  describe: string,
  key: string,
  fill: (c: BanditColumns, out: Float64Array) => void,
  sql: (c: SqlColumns) => string,
  missing: (c: BanditColumns) => string | undefined,
): WeightDiagnostic {
  return {
    describe,
    unit: 'slot',
    sum: { key, needsRewardModel: false, missing, compute: (c, out) => fill(c, out.subarray(0, c.n)), sql },
    sumSquares: {
      key: `${key}^2`,
      needsRewardModel: false,
      missing,
      compute(c, out) {
        const w = out.subarray(0, c.n);
        fill(c, w);
        for (let i = 0; i < c.n; i++) w[i] *= w[i];
      },
      sql: (c) => `(${sql(c)} * ${sql(c)})`,
    },
    units: slotCount,
    max: rowMax(fill),
    maxSql: sql,
  };
}

export const itemPositionWeights: WeightDiagnostic = slotWeights(
  'item-position weight',
  'w_ip',
  (c, out) => out.set(need(c.wItemPosition, 'item-position weights').subarray(0, c.n)),
  (c) => c.wItemPosition,
  (c) => (c.wItemPosition === undefined ? NEEDS_ITEM_POSITION : undefined),
);

export const cascadeWeights: WeightDiagnostic = slotWeights(
  'prefix (cascade) weight',
  'w_1:k',
  (c, out) => out.set(need(c.wCascade, 'cascade weights').subarray(0, c.n)),
  (c) => c.wCascade,
  (c) => (c.wCascade === undefined ? NEEDS_CASCADE : undefined),
);

export function pbmWeights(theta: readonly number[]): WeightDiagnostic {
  return slotWeights(
    'position-based-model weight',
    `w_pbm(${thetaKey(theta)})`,
    (c, out) => pbmWeightsInto(c, theta, out),
    (c) => pbmWeightSql(c, theta),
    pbmMissing(theta),
  );
}

/**
 * The standard (joint) slate weight W_s = pi(slate) / mu(slate), once per slate: the weight whose
 * degeneracy (ESS under 1% of slates) sends the user to iips / rips / pi.
 */
export const jointSlateWeights: WeightDiagnostic = {
  describe: 'joint slate weight',
  unit: 'slate',
  sum: {
    key: '[position=0]*w',
    needsRewardModel: false,
    missing: slateStart.missing,
    compute(c, out) {
      const p = need(c.position, 'position');
      for (let i = 0; i < c.n; i++) out[i] = p[i] === 0 ? c.w[i] : 0;
    },
    sql: (c) => `(CASE WHEN ${c.position} = 0 THEN ${c.w} ELSE ${c.num(0)} END)`,
  },
  sumSquares: {
    key: '[position=0]*w^2',
    needsRewardModel: false,
    missing: slateStart.missing,
    compute(c, out) {
      const p = need(c.position, 'position');
      for (let i = 0; i < c.n; i++) out[i] = p[i] === 0 ? c.w[i] * c.w[i] : 0;
    },
    sql: (c) => `(CASE WHEN ${c.position} = 0 THEN ${c.w} * ${c.w} ELSE ${c.num(0)} END)`,
  },
  units: slateStart,
  // The joint weight is the same on every row of a slate (ope validate checks it).
  max: rowMax((c, out) => out.set(c.w.subarray(0, c.n))),
  maxSql: (c) => c.w,
};

/** pi's slate weight Gamma_s = 1 + sum_k (w_sk - 1): row j carries d_j, plus 1 at position 0. */
const pseudoInverseWeight: RowwiseStatistic = {
  key: 'sum_k w_ip-L+1',
  needsRewardModel: false,
  missing: positionOrItemPositionMissing,
  compute(c, out) {
    const p = need(c.position, 'position');
    const w = need(c.wItemPosition, 'item-position weights');
    for (let i = 0; i < c.n; i++) out[i] = w[i] - 1 + (p[i] === 0 ? 1 : 0);
  },
  sql: (c) => `(${c.wItemPosition} - ${c.num(1)} + ${firstSql(c)})`,
};

/** Gamma_s^2 = 1 + 2 D + D^2 as a prefix scan: row j carries [j first] + 2 d_j + d_j^2 + 2 d_j D_{<j}. */
const pseudoInverseWeightSquared: SlateScanStatistic = {
  key: '(sum_k w_ip-L+1)^2',
  needsRewardModel: false,
  missing: positionOrItemPositionMissing,
  start() {
    const cursor = new SlateCursor('pi');
    let D = 0;
    return (c, out) => {
      const pos = need(c.position, 'position');
      const w = need(c.wItemPosition, 'item-position weights');
      for (let i = 0; i < c.n; i++) {
        const first = cursor.next(c, pos, i);
        if (first) D = 0;
        const d = w[i] - 1;
        out[i] = (first ? 1 : 0) + 2 * d + d * d + 2 * d * D;
        D += d;
      }
    };
  },
  sql: (c) => {
    const d = `(${c.wItemPosition} - ${c.num(1)})`;
    return `(${firstSql(c)} + ${c.num(2)} * ${d} + ${d} * ${d} + ${c.num(2)} * ${d} * ${c.slateSum(d, 'before')})`;
  },
};

export const pseudoInverseWeights: WeightDiagnostic = {
  describe: 'pseudo-inverse slate weight sum_k w_ip - L + 1',
  unit: 'slate',
  sum: pseudoInverseWeight,
  sumSquares: pseudoInverseWeightSquared,
  units: slateStart,
  max() {
    const cursor = new SlateCursor('pi');
    let best = -Infinity;
    let gamma = NaN;
    return {
      add(c) {
        const pos = need(c.position, 'position');
        const w = need(c.wItemPosition, 'item-position weights');
        for (let i = 0; i < c.n; i++) {
          if (cursor.next(c, pos, i)) {
            if (gamma > best) best = gamma;
            gamma = 1;
          }
          gamma += w[i] - 1;
        }
      },
      value: () => (gamma > best ? gamma : best),
    };
  },
  // Gamma_s on the slate's last row, where its prefix sum of d is the whole slate's.
  maxSql: (c) => `(CASE WHEN ${c.lastInSlate()} THEN ${c.num(1)} + ${c.slateSum(`(${c.wItemPosition} - ${c.num(1)})`, 'through')} END)`,
};

/** Every statistic a weight diagnostic needs, for the engine's input check. */
export function weightStatistics(d: WeightDiagnostic): RowStatistic[] {
  return [d.sum, d.sumSquares, d.units];
}
