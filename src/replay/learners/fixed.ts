import type { LogSource } from '../../data/read-log.js';
import { openPolicy, type ReadOptions } from '../../data/read-log.js';
import { InputError } from '../../data/errors.js';
import type { ReplayPolicySpec } from '../policy.js';

/**
 * A fixed (non-learning) policy from a policy file aligned with the log by row order (the
 * degenerate case of replay: its value is then the IPS value of that policy in expectation).
 * With `action_dist` (width K) act returns pi(. | x_i) of row i. With `target_propensity` only,
 * act knows pi(a_i | x_i) alone and returns it on the logged action with the rest spread evenly
 * over the other actions; acceptance reads only pi(a_i | x_i), so rejection replay is still exact,
 * but the queue method (which samples an action) needs `action_dist`.
 * The file is held in memory: 8 K bytes a row (action_dist) or 12 (target_propensity + action).
 */
export async function loadFixedPolicy(label: string, file: string, log: LogSource, K: number, opts: ReadOptions = {}): Promise<ReplayPolicySpec> {
  const dists: Float64Array[] = [];
  const tps: Float64Array[] = [];
  let n = 0;
  let width = 0;
  for await (const b of openPolicy(file, opts).batches()) {
    if (b.actionDist !== undefined) {
      width = b.actionDist.width;
      if (width !== K) throw new InputError(`action_dist has width ${width} but the log has K = ${K} actions`, { file, column: 'action_dist' });
      dists.push(b.actionDist.values);
    } else if (b.targetPropensity !== undefined) tps.push(b.targetPropensity);
    else throw new InputError('a fixed replay policy needs action_dist or target_propensity', { file });
    n += b.n;
  }
  const concat = (parts: Float64Array[], len: number): Float64Array => {
    const out = new Float64Array(len);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  let logRows = 0;
  let actions: Int32Array | undefined;
  const actionParts: Int32Array[] = [];
  for await (const b of log.batches()) {
    logRows += b.n;
    if (dists.length === 0) actionParts.push(b.action);
  }
  if (n !== logRows) throw new InputError(`the policy file has ${n} rows but the log has ${logRows}; a policy file is aligned with the log by row order`, { file });
  if (dists.length === 0) {
    actions = new Int32Array(logRows);
    let o = 0;
    for (const p of actionParts) {
      actions.set(p, o);
      o += p.length;
    }
  }
  const all = dists.length > 0 ? concat(dists, n * K) : undefined;
  const tp = dists.length === 0 ? concat(tps, n) : undefined;
  return {
    label,
    loggedActionOnly: all === undefined,
    factory: () => {
      const dist = new Float64Array(K);
      return {
        name: label,
        act(_x, row) {
          if (all !== undefined) return all.subarray(row * K, row * K + K);
          const p = (tp as Float64Array)[row];
          dist.fill(K > 1 ? (1 - p) / (K - 1) : 0);
          dist[(actions as Int32Array)[row]] = p;
          return dist;
        },
        update() {},
      };
    },
  };
}
