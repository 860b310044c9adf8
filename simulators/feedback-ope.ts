import type { LogBatch, PolicyBatch } from '../src/data/batch.js';
import { clusterKeyOfInteger } from '../src/data/cluster-key.js';
import type { ExplorationSlateRows } from './exploration.js';

/**
 * The OPE the feedback loop runs on each round's log for the next round's policy (feedback-loop.ts),
 * beside the registry's slate estimators: a slate-level self-normalized IPS and a doubly robust
 * estimator with item-position weights and a position-based reward model fitted on the training
 * window.
 */

/** One logged round as training data: one entry per impression, slates in arrival order. */
export interface FeedbackTrainingLog {
  readonly users: Int32Array;
  readonly items: Int32Array;
  /** 1 clicked, 0 not. */
  readonly clicked: Float32Array;
  readonly positions: Int32Array;
}

/** The logs one after the other, as one training log. */
export function concatLogs(logs: readonly FeedbackTrainingLog[]): FeedbackTrainingLog {
  let n = 0;
  for (const l of logs) n += l.users.length;
  const out: FeedbackTrainingLog = { users: new Int32Array(n), items: new Int32Array(n), clicked: new Float32Array(n), positions: new Int32Array(n) };
  let off = 0;
  for (const l of logs) {
    out.users.set(l.users, off);
    out.items.set(l.items, off);
    out.clicked.set(l.clicked, off);
    out.positions.set(l.positions, off);
    off += l.users.length;
  }
  return out;
}

/** The rows as the estimators' aligned batch (slate ids keyed as the readers key them). */
export function alignedOf(rows: ExplorationSlateRows): { log: LogBatch; policies: PolicyBatch[] } {
  const n = rows.rows;
  const clusterKey = new Uint32Array(n);
  for (let i = 0; i < n; i++) clusterKey[i] = clusterKeyOfInteger(rows.slateId[i]);
  const log: LogBatch = {
    source: '<feedback loop>',
    rowOffset: 0,
    n,
    action: rows.action,
    reward: rows.reward,
    propensity: rows.propensity,
    position: rows.position,
    clusterKey,
    propensityItemPosition: rows.propensityItemPosition,
    propensityCascade: rows.propensityCascade,
    propensityItemPositions: { width: rows.L, values: rows.propensityItemPositions },
  };
  const policies: PolicyBatch[] = rows.targets.map((t) => ({
    n,
    targetPropensity: t.targetPropensity,
    targetPropensityItemPosition: t.targetPropensityItemPosition,
    targetPropensityCascade: t.targetPropensityCascade,
    targetPropensityItemPositions: { width: rows.L, values: t.targetPropensityItemPositions },
  }));
  return { log, policies };
}

/**
 * Slate-level self-normalized IPS of the target: sum_s w_s R_s / sum_s w_s with the joint slate
 * weights w_s = pi(slate) / mu(slate) and R_s the slate's clicks (slate-ips normalized by its weights
 * instead of the slate count; Swaminathan & Joachims 2015, "The self-normalized estimator for
 * counterfactual learning"); se by the delta method, sqrt(sum_s w_s^2 (R_s - V)^2) / sum_s w_s.
 * NaN when no logged slate has target probability > 0.
 */
export function slateSnips(rows: ExplorationSlateRows, target = 0): { value: number; se: number } {
  const { slates, L } = rows;
  const t = rows.targets[target];
  const w = new Float64Array(slates);
  const R = new Float64Array(slates);
  let sw = 0;
  let swr = 0;
  for (let s = 0; s < slates; s++) {
    const r0 = s * L;
    w[s] = t.targetPropensity[r0] / rows.propensity[r0];
    let r = 0;
    for (let k = 0; k < L; k++) r += rows.reward[r0 + k];
    R[s] = r;
    sw += w[s];
    swr += w[s] * r;
  }
  if (!(sw > 0)) return { value: NaN, se: NaN };
  const v = swr / sw;
  let ss = 0;
  for (let s = 0; s < slates; s++) ss += w[s] * w[s] * (R[s] - v) * (R[s] - v);
  return { value: v, se: Math.sqrt(ss) / sw };
}

/** Pseudo-clicks of the item factor's prior (shrinks an item seen rarely towards the position CTR). */
export const PBM_ITEM_PRIOR = 10;

/**
 * A position-based reward model q(k, i) = min(1, c_k r_i) fitted on logged impressions (one
 * multiplicative step of the PBM's alternating fit, Craswell et al. 2008 / Chuklin et al. 2015):
 * c_k the click rate at slot k, r_i = (C_i + m) / (E_i + m) the item's clicks over its expected
 * clicks E_i = sum of c_k over its impressions, shrunk towards 1 by m = PBM_ITEM_PRIOR pseudo-clicks.
 * Returned L x I row-major. It knows nothing of users: it is the DM baseline a team fits from
 * exposure logs, and the DR below is unbiased whatever its quality.
 */
export function fitPositionItemModel(logs: readonly FeedbackTrainingLog[], L: number, I: number): Float64Array {
  const shows = new Float64Array(L);
  const clicksAt = new Float64Array(L);
  for (const log of logs)
    for (let r = 0; r < log.items.length; r++) {
      shows[log.positions[r]]++;
      clicksAt[log.positions[r]] += log.clicked[r];
    }
  const c = new Float64Array(L);
  for (let k = 0; k < L; k++) c[k] = shows[k] > 0 ? clicksAt[k] / shows[k] : 0;
  const expected = new Float64Array(I);
  const clicked = new Float64Array(I);
  for (const log of logs)
    for (let r = 0; r < log.items.length; r++) {
      expected[log.items[r]] += c[log.positions[r]];
      clicked[log.items[r]] += log.clicked[r];
    }
  const q = new Float64Array(L * I);
  for (let i = 0; i < I; i++) {
    const ratio = (clicked[i] + PBM_ITEM_PRIOR) / (expected[i] + PBM_ITEM_PRIOR);
    for (let k = 0; k < L; k++) q[k * I + i] = Math.min(1, c[k] * ratio);
  }
  return q;
}

/** sum_k sum_i P_pi(i at k) q(k, i): the reward model's value of a policy given its L x I marginals for one user. */
export function directValue(marginals: Float64Array, q: Float64Array): number {
  let v = 0;
  for (let j = 0; j < q.length; j++) v += marginals[j] * q[j];
  return v;
}

/**
 * Doubly robust value of the target (slate clicks) with item-position weights (Dudik, Langford & Li
 * 2011, eq. 2, applied per slot as in Li et al. 2018, "Offline evaluation of ranking policies with
 * click models", and Kiyohara et al. 2022's independent DR):
 *   Y_s = DM_s + sum_k w_sk (r_sk - q(k, a_sk)),  w_sk = pi(a_sk at k) / mu(a_sk at k),
 * with DM_s = sum_k sum_i pi(i at k | u_s) q(k, i) the model's value of the target for the slate's user
 * (directValue). Unbiased when each slot's click depends only on the item at that slot (the world's
 * position-based click model) and the logger covers the target's item-position pairs, whatever q.
 * The value is the mean of Y_s, its se sd(Y) / sqrt(slates).
 */
export function slateDoublyRobust(rows: ExplorationSlateRows, q: Float64Array, I: number, directValues: Float64Array, target = 0): { value: number; se: number } {
  const { slates, L } = rows;
  const t = rows.targets[target];
  if (directValues.length !== slates) throw new RangeError(`${directValues.length} direct values for ${slates} slates`);
  const y = new Float64Array(slates);
  let sum = 0;
  for (let s = 0; s < slates; s++) {
    let v = directValues[s];
    for (let k = 0; k < L; k++) {
      const r = s * L + k;
      const mu = rows.propensityItemPosition[r];
      const w = mu > 0 ? t.targetPropensityItemPosition[r] / mu : 0;
      v += w * (rows.reward[r] - q[k * I + rows.action[r]]);
    }
    y[s] = v;
    sum += v;
  }
  const mean = sum / slates;
  if (slates < 2) return { value: mean, se: NaN };
  let ss = 0;
  for (let s = 0; s < slates; s++) ss += (y[s] - mean) * (y[s] - mean);
  return { value: mean, se: Math.sqrt(ss / (slates - 1) / slates) };
}
