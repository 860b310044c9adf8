import type { ListColumn, LogBatch, PolicyBatch } from './batch.js';
import { InputError } from './errors.js';

/**
 * The O(n) per-row scalars every bandit estimator needs (DESIGN.md §2-3), for one log batch and one
 * target policy:
 *   w_i   = pi(a_i|x_i) / mu_i           importance weight
 *   r_i   = observed reward
 *   q_i   = q_hat(x_i, a_i)              reward model at the logged action
 *   qpi_i = sum_a pi(a|x_i) q_hat(x_i,a) reward model under the target
 * Whether the user gave lists (`action_dist`, `q_hat`) or scalars (`target_propensity`,
 * `q_hat_logged`, `q_hat_target`), estimators see the same four columns, so both inputs give
 * identical results.
 */
export interface BanditColumns {
  readonly n: number;
  /** Where the rows came from, for errors: the file and the global index of the first row. */
  readonly source: string;
  readonly rowOffset: number;
  readonly w: Float64Array;
  readonly r: Float64Array;
  /** Present when a reward model is available. */
  readonly q?: Float64Array;
  readonly qpi?: Float64Array;
  /** pi(a_i|x_i), kept for diagnostics. */
  readonly targetProb: Float64Array;
  /**
   * Slate logs (one row per slate and position): the row's position, and the item-position and
   * prefix (cascade) weights pi/mu of the logged item at its position and of the logged prefix
   * through it; `w` is then the weight of the whole slate.
   */
  readonly position?: Int32Array;
  readonly wItemPosition?: Float64Array;
  readonly wCascade?: Float64Array;
  /**
   * Slate logs, for pbm-ips: the logger's and the target's probability of the row's item at every
   * position 0..L-1 (width L).
   */
  readonly itemPositions?: { readonly logged: ListColumn; readonly target: ListColumn };
}

/** Tolerance for "a probability is at most 1" and "a distribution sums to 1" (DESIGN.md §2). */
export const PROB_TOL = 1e-6;

export function resolveBanditColumns(batch: LogBatch, policy: PolicyBatch, policyName: string): BanditColumns {
  const n = batch.n;
  if (policy.n !== n) {
    throw new InputError(`policy '${policyName}' has ${policy.n} rows in this batch but the log has ${n}; policy files are aligned with the log by row order`, { file: batch.source });
  }
  const targetProb = new Float64Array(n);
  const dist = policy.actionDist;
  const slateLog = batch.propensityCascade !== undefined || batch.propensityItemPosition !== undefined;
  if (policy.targetPropensity === undefined && slateLog) {
    // On a slate log action_dist is the target's per-slot conditional, not a slate probability.
    throw new InputError(
      `policy '${policyName}' needs target_propensity on a slate log: the target's probability of the whole logged slate (action_dist there is the per-slot distribution given the prefix, used by cascade-dr)`,
      { file: batch.source, column: 'target_propensity' },
    );
  }
  if (policy.targetPropensity !== undefined) {
    targetProb.set(policy.targetPropensity);
  } else if (dist !== undefined) {
    const K = dist.width;
    for (let i = 0; i < n; i++) {
      const a = batch.action[i];
      if (a < 0 || a >= K) {
        throw new InputError(`action ${a} is out of range 0..${K - 1} of action_dist for policy '${policyName}'`, { file: batch.source, column: 'action', row: batch.rowOffset + i });
      }
      targetProb[i] = dist.values[i * K + a];
    }
  } else {
    throw new InputError(`policy '${policyName}' has neither target_propensity nor action_dist`, { file: batch.source });
  }
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = targetProb[i];
    if (!(p >= 0 && p <= 1 + PROB_TOL)) {
      throw new InputError(`target probability must be in [0, 1], got ${p} (policy '${policyName}')`, { file: batch.source, column: 'target_propensity', row: batch.rowOffset + i });
    }
    w[i] = p / batch.propensity[i];
  }

  let q: Float64Array | undefined;
  let qpi: Float64Array | undefined;
  const qh = batch.qHat;
  if (batch.qHatLogged !== undefined) {
    q = batch.qHatLogged;
  } else if (qh !== undefined) {
    q = new Float64Array(n);
    const K = qh.width;
    for (let i = 0; i < n; i++) {
      const a = batch.action[i];
      if (a < 0 || a >= K) {
        throw new InputError(`action ${a} is out of range 0..${K - 1} of q_hat`, { file: batch.source, column: 'action', row: batch.rowOffset + i });
      }
      q[i] = qh.values[i * K + a];
    }
  }
  if (policy.qHatTarget !== undefined) {
    qpi = policy.qHatTarget;
  } else if (qh !== undefined && dist !== undefined) {
    const K = dist.width;
    if (qh.width !== K) {
      throw new InputError(`q_hat has ${qh.width} entries per row but action_dist of policy '${policyName}' has ${K}`, { file: batch.source, column: 'q_hat' });
    }
    qpi = new Float64Array(n);
    const pv = dist.values;
    const qv = qh.values;
    for (let i = 0; i < n; i++) {
      let s = 0;
      const o = i * K;
      for (let a = 0; a < K; a++) s += pv[o + a] * qv[o + a];
      qpi[i] = s;
    }
  } else if (batch.qHatTarget !== undefined) {
    qpi = batch.qHatTarget;
  }
  const lp = batch.propensityItemPositions;
  const tp = policy.targetPropensityItemPositions;
  const slate = {
    source: batch.source,
    rowOffset: batch.rowOffset,
    position: batch.position,
    itemPositions: lp !== undefined && tp !== undefined ? { logged: lp, target: tp } : undefined,
    wItemPosition: ratio(policy.targetPropensityItemPosition, batch.propensityItemPosition, n),
    wCascade: ratio(policy.targetPropensityCascade, batch.propensityCascade, n),
  };
  if ((q === undefined) !== (qpi === undefined)) {
    // One without the other cannot feed DR; leave both absent so the engine reports what is missing.
    return { n, w, r: batch.reward, targetProb, ...slate };
  }
  return { n, w, r: batch.reward, q, qpi, targetProb, ...slate };
}

/** target / logged, elementwise, when both columns exist (the readers checked both ranges). */
function ratio(target: Float64Array | undefined, logged: Float64Array | undefined, n: number): Float64Array | undefined {
  if (target === undefined || logged === undefined) return undefined;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = target[i] / logged[i];
  return out;
}
