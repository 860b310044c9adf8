import type { BanditColumns } from '../src/data/bandit-columns.js';
import type { RowStatistic, SqlColumns } from './estimator.js';

/**
 * The per-row statistics of the bandit estimators. Each is a closed-form expression of one row's
 * w, r, q, qpi (DESIGN.md §5: so that a SQL engine can compute the same column). Keys are the
 * expressions themselves, so equal keys mean equal values and the engine computes each once.
 */

function needQ(cols: BanditColumns, key: string): { q: Float64Array; qpi: Float64Array } {
  if (cols.q === undefined || cols.qpi === undefined) {
    // The engine checks requirements before computing; reaching here is a programming error.
    throw new Error(`statistic '${key}' needs a reward model (q_hat) but none was resolved`);
  }
  return { q: cols.q, qpi: cols.qpi };
}

export const weight: RowStatistic = {
  key: 'w',
  needsRewardModel: false,
  compute(c, out) {
    out.set(c.w.subarray(0, c.n));
  },
  sql: (c) => c.w,
};

export const weightedReward: RowStatistic = {
  key: 'w*r',
  needsRewardModel: false,
  compute(c, out) {
    const { w, r } = c;
    for (let i = 0; i < c.n; i++) out[i] = w[i] * r[i];
  },
  sql: (c) => `(${c.w} * ${c.r})`,
};

/** min(w, L) r: Ionides 2008, "Truncated importance sampling". */
export function clippedWeightedReward(clip: number): RowStatistic {
  return {
    key: `min(w,${clip})*r`,
    needsRewardModel: false,
    compute(c, out) {
      const { w, r } = c;
      for (let i = 0; i < c.n; i++) out[i] = (w[i] < clip ? w[i] : clip) * r[i];
    },
    sql: (c) => `((CASE WHEN ${c.w} < ${c.num(clip)} THEN ${c.w} ELSE ${c.num(clip)} END) * ${c.r})`,
  };
}

/** w / ((1 - l) + l w) r: Metelli, Russo & Restelli 2021, eq. (6). */
export function subGaussianWeightedReward(lambda: number): RowStatistic {
  return {
    key: `w/((1-${lambda})+${lambda}*w)*r`,
    needsRewardModel: false,
    compute(c, out) {
      const { w, r } = c;
      const a = 1 - lambda;
      for (let i = 0; i < c.n; i++) out[i] = (w[i] / (a + lambda * w[i])) * r[i];
    },
    sql: (c) => `((${c.w} / (${c.num(1 - lambda)} + ${c.num(lambda)} * ${c.w})) * ${c.r})`,
  };
}

/** 1[w > L]: the share of rows an estimator clips or switches away from importance weighting. */
export function weightAbove(threshold: number): RowStatistic {
  return {
    key: `[w>${threshold}]`,
    needsRewardModel: false,
    compute(c, out) {
      const { w } = c;
      for (let i = 0; i < c.n; i++) out[i] = w[i] > threshold ? 1 : 0;
    },
    sql: (c) => `(CASE WHEN ${c.w} > ${c.num(threshold)} THEN ${c.num(1)} ELSE ${c.num(0)} END)`,
  };
}

export const targetRewardModel: RowStatistic = {
  key: 'qpi',
  needsRewardModel: true,
  compute(c, out) {
    out.set(needQ(c, 'qpi').qpi.subarray(0, c.n));
  },
  sql: (c) => c.qpi,
};

/** w (r - q): the importance-weighted residual of the doubly robust family. */
export const weightedResidual: RowStatistic = {
  key: 'w*(r-q)',
  needsRewardModel: true,
  compute(c, out) {
    const { q } = needQ(c, this.key);
    const { w, r } = c;
    for (let i = 0; i < c.n; i++) out[i] = w[i] * (r[i] - q[i]);
  },
  sql: (c) => `(${c.w} * (${c.r} - ${c.q}))`,
};

/** qpi + w (r - q): Dudik, Langford & Li 2011, eq. (3). */
export const doublyRobustTerm: RowStatistic = {
  key: 'qpi+w*(r-q)',
  needsRewardModel: true,
  compute(c, out) {
    const { q, qpi } = needQ(c, this.key);
    const { w, r } = c;
    for (let i = 0; i < c.n; i++) out[i] = qpi[i] + w[i] * (r[i] - q[i]);
  },
  sql: (c) => `(${c.qpi} + ${c.w} * (${c.r} - ${c.q}))`,
};

/** qpi + w (r - q) 1[w <= tau]: Wang, Agarwal & Dudik 2017, eq. (10), in OBP's form. */
export function switchTerm(tau: number): RowStatistic {
  return {
    key: `qpi+w*(r-q)*[w<=${tau}]`,
    needsRewardModel: true,
    compute(c, out) {
      const { q, qpi } = needQ(c, this.key);
      const { w, r } = c;
      for (let i = 0; i < c.n; i++) out[i] = qpi[i] + (w[i] <= tau ? w[i] * (r[i] - q[i]) : 0);
    },
    sql: (c) => `(${c.qpi} + (CASE WHEN ${c.w} <= ${c.num(tau)} THEN ${c.w} * (${c.r} - ${c.q}) ELSE ${c.num(0)} END))`,
  };
}

/**
 * qpi + (l w / (w^2 + l)) (r - q): Su, Dimakopoulou, Krishnamurthy & Dudik 2020, eq. (8),
 * optimistic shrinkage. l = 0 shrinks every weight to 0 (DM); l = Infinity keeps w (DR).
 */
export function shrinkageTerm(lambda: number): RowStatistic {
  return {
    key: `qpi+(${lambda}*w/(w^2+${lambda}))*(r-q)`,
    needsRewardModel: true,
    compute(c, out) {
      const { q, qpi } = needQ(c, this.key);
      const { w, r } = c;
      for (let i = 0; i < c.n; i++) out[i] = qpi[i] + shrunkWeight(w[i], lambda) * (r[i] - q[i]);
    },
    sql: (c) => `(${c.qpi} + ${shrunkWeightSql(c, lambda)} * (${c.r} - ${c.q}))`,
  };
}

export function shrunkWeight(w: number, lambda: number): number {
  if (lambda === Infinity) return w;
  if (lambda === 0) return 0;
  return (lambda * w) / (w * w + lambda);
}

/** shrunkWeight in SQL, the same three cases. */
function shrunkWeightSql(c: SqlColumns, lambda: number): string {
  const { w } = c;
  if (lambda === Infinity) return w;
  if (lambda === 0) return c.num(0);
  return `((${c.num(lambda)} * ${w}) / (${w} * ${w} + ${c.num(lambda)}))`;
}

export const squaredWeight: RowStatistic = {
  key: 'w^2',
  needsRewardModel: false,
  compute(c, out) {
    const { w } = c;
    for (let i = 0; i < c.n; i++) out[i] = w[i] * w[i];
  },
  sql: (c) => `(${c.w} * ${c.w})`,
};
