import type { Estimator } from '../estimators/estimator.js';
import { ESTIMATOR_NAMES, estimatorNeedsRewardModel, parseEstimatorList, parseEstimatorSpec } from '../estimators/registry.js';
import type { LogBatch, PolicyBatch } from './data/batch.js';
import { InputError } from './data/errors.js';
import { openLog, openPolicy, type ReadOptions } from './data/read-log.js';
import { alignPolicies, inlinePolicy, type PolicyInput } from './engine/align.js';
import { evaluateStream, type EvaluateOptions } from './engine/evaluate.js';
import type { EvaluationResult } from './engine/results.js';

export interface EvaluateLogOptions extends Omit<EvaluateOptions, 'policyNames' | 'estimators'> {
  /** Log file (.arrow/.feather/.ipc, .parquet, .csv, .jsonl/.ndjson). */
  readonly log: string;
  /** Target policies by name: a file aligned with the log by row order. Omitted: the log's own target columns, as policy 'target'. */
  readonly policies?: Readonly<Record<string, string>>;
  /** 'ips,snips,dr', estimator objects, or omitted for every estimator the inputs support. */
  readonly estimators?: string | readonly Estimator[];
  readonly read?: ReadOptions;
}

export interface EvaluateLogResult {
  readonly result: EvaluationResult;
  /** Estimators left out of the default set because the inputs lack a reward model. */
  readonly skipped: readonly string[];
}

/** Reads a log (and policy files), runs the estimators with bootstrap intervals and diagnostics. */
export async function evaluateLog(opts: EvaluateLogOptions): Promise<EvaluateLogResult> {
  const source = openLog(opts.log, opts.read);
  const policyInputs: PolicyInput[] = [];
  const entries = Object.entries(opts.policies ?? {});
  if (entries.length === 0) {
    policyInputs.push({ name: 'target', kind: 'inline' });
  } else {
    for (const [name, path] of entries) {
      const ps = openPolicy(path, opts.read);
      policyInputs.push({ name, kind: 'file', path, batches: () => ps.batches() });
    }
  }
  let estimators: readonly Estimator[];
  const skipped: string[] = [];
  if (opts.estimators === undefined) {
    const hasModel = await rewardModelAvailable(source.batches(), policyInputs);
    const names = ESTIMATOR_NAMES.filter((n) => hasModel || !estimatorNeedsRewardModel(n));
    skipped.push(...ESTIMATOR_NAMES.filter((n) => !names.includes(n)));
    estimators = names.map((n) => parseEstimatorSpec(n));
  } else {
    estimators = typeof opts.estimators === 'string' ? parseEstimatorList(opts.estimators) : opts.estimators;
  }
  const result = await evaluateStream(alignPolicies(source.batches(), policyInputs), {
    ...opts,
    estimators,
    policyNames: policyInputs.map((p) => p.name),
  });
  return { result, skipped };
}

/** Looks at the first batch: is q_hat (or the scalar pair) there for every policy? */
async function rewardModelAvailable(batches: AsyncIterable<LogBatch>, policies: readonly PolicyInput[]): Promise<boolean> {
  let first: LogBatch | undefined;
  for await (const b of batches) {
    first = b;
    break;
  }
  if (first === undefined) throw new InputError('no rows', {});
  if (first.qHat === undefined && first.qHatLogged === undefined) return false;
  for (const p of policies) {
    let pb: PolicyBatch | undefined;
    if (p.kind === 'inline') pb = inlinePolicy(first);
    else
      for await (const b of p.batches()) {
        pb = b;
        break;
      }
    if (pb === undefined) return false;
    const hasTarget = pb.qHatTarget !== undefined || (pb.actionDist !== undefined && first.qHat !== undefined) || first.qHatTarget !== undefined;
    if (!hasTarget) return false;
  }
  return true;
}
