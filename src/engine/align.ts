import type { LogBatch, PolicyBatch } from '../data/batch.js';
import { ITEM_POSITION_TOL } from '../data/contract.js';
import { InputError } from '../data/errors.js';
import { concatPolicy, slicePolicy, type AlignedBatch } from './reblock.js';

/** A target policy: a file aligned with the log by row order, or the target columns of the log itself. */
export type PolicyInput =
  | { readonly name: string; readonly kind: 'file'; readonly path: string; readonly batches: () => AsyncIterable<PolicyBatch> }
  | { readonly name: string; readonly kind: 'inline' };

/** The target columns carried in the log (`target_propensity`, `action_dist`, `q_hat_target` and the slate ones). */
export function inlinePolicy(log: LogBatch): PolicyBatch | undefined {
  if (log.targetPropensity === undefined && log.actionDist === undefined) return undefined;
  return {
    n: log.n,
    targetPropensity: log.targetPropensity,
    actionDist: log.actionDist,
    qHatTarget: log.qHatTarget,
    targetPropensityItemPosition: log.targetPropensityItemPosition,
    targetPropensityCascade: log.targetPropensityCascade,
    targetPropensityItemPositions: log.targetPropensityItemPositions,
  };
}

/**
 * A policy file's target_propensity_item_positions against the log's positions (the file has none,
 * so the reader could not check these; inline columns are checked by the reader): the row's
 * position is inside the list, and its entry there equals the file's
 * target_propensity_item_position when it has that column too.
 */
function checkTargetItemPositions(log: LogBatch, pb: PolicyBatch, file: string): void {
  const list = pb.targetPropensityItemPositions;
  const position = log.position;
  if (list === undefined || position === undefined) return;
  const { width, values } = list;
  const own = pb.targetPropensityItemPosition;
  const fail = (i: number, rule: string): never => {
    throw new InputError(rule, { file, column: 'target_propensity_item_positions', row: log.rowOffset + i });
  };
  for (let i = 0; i < log.n; i++) {
    const k = position[i];
    if (k >= width)
      fail(i, `the log's position ${k} is out of range of target_propensity_item_positions, which has ${width} entries (positions 0..${width - 1}); its width must be the slate length L`);
    if (own === undefined) continue;
    const p = values[i * width + k];
    const q = own[i];
    if (!(Math.abs(p - q) <= ITEM_POSITION_TOL * Math.max(Math.abs(p), Math.abs(q)))) {
      fail(i, `target_propensity_item_positions entry ${k} (at the log row's position) is ${p} but target_propensity_item_position is ${q}; they must be equal within ${ITEM_POSITION_TOL} relative`);
    }
  }
}

/**
 * Zips the log's batches with each policy file's batches. Readers cut every file into batches of
 * the same size, so batch k of the log and of each policy cover the same rows; any difference in
 * length is a user error named with the policy file.
 */
export async function* alignPolicies(logBatches: AsyncIterable<LogBatch>, policies: readonly PolicyInput[]): AsyncGenerator<AlignedBatch> {
  const iters = policies.map((p) => (p.kind === 'file' ? p.batches()[Symbol.asyncIterator]() : undefined));
  // Policy rows read but not yet matched with log rows: the log's batches need not be cut where the
  // policy file's are (a dataset's batches end with each of its files).
  const pending: (PolicyBatch | undefined)[] = policies.map(() => undefined);
  // Policy files are closed however the pass ends (their read-ahead workers with them).
  try {
    let rows = 0;
    for await (const log of logBatches) {
      const aligned: PolicyBatch[] = [];
      for (let k = 0; k < policies.length; k++) {
        const p = policies[k];
        const it = iters[k];
        if (p.kind === 'inline' || it === undefined) {
          const inline = inlinePolicy(log);
          if (inline === undefined) throw new InputError(`policy '${p.name}' was to come from the log, but the log has no target_propensity or action_dist column`, { file: log.source });
          aligned.push(inline);
          continue;
        }
        const pb = await takeRows(it, pending, k, log.n);
        if (pb === undefined) {
          throw new InputError(
            `policy '${p.name}' must have one row per log row (aligned by row order); it ends near row ${rows + (pending[k]?.n ?? 0)} while the log continues to row ${rows + log.n}`,
            {
              file: p.kind === 'file' ? p.path : undefined,
            },
          );
        }
        if (p.kind === 'file') checkTargetItemPositions(log, pb, p.path);
        aligned.push(pb);
      }
      rows += log.n;
      yield { log, policies: aligned };
    }
    for (let k = 0; k < policies.length; k++) {
      const it = iters[k];
      const p = policies[k];
      if (it === undefined || p.kind !== 'file') continue;
      const left = pending[k];
      const extra = left !== undefined && left.n > 0 ? { done: false } : await it.next();
      if (extra.done !== true) throw new InputError(`policy '${p.name}' has more rows than the log (${rows}); policy files are aligned with the log by row order`, { file: p.path });
    }
  } finally {
    await Promise.all(iters.map((it) => it?.return?.()));
  }
}

/** The next n policy rows of policy k (the pending rows first, then further batches); undefined when the file ends first. */
async function takeRows(it: AsyncIterator<PolicyBatch>, pending: (PolicyBatch | undefined)[], k: number, n: number): Promise<PolicyBatch | undefined> {
  const parts: PolicyBatch[] = [];
  let have = 0;
  const first = pending[k];
  if (first !== undefined && first.n > 0) {
    parts.push(first);
    have = first.n;
  }
  pending[k] = undefined;
  while (have < n) {
    const next = await it.next();
    if (next.done === true) {
      pending[k] = parts.length === 0 ? undefined : concatPolicy(parts);
      return undefined;
    }
    parts.push(next.value);
    have += next.value.n;
  }
  const all = parts.length === 1 ? parts[0] : concatPolicy(parts);
  if (have > n) pending[k] = slicePolicy(all, n, have);
  return have === n ? all : slicePolicy(all, 0, n);
}
