import type { Estimator } from '../estimators/estimator.js';
import { allOfFamily, estimatorNeedsRewardModel, parseEstimatorList, parseEstimatorSpec } from '../estimators/registry.js';
import type { LogBatch, PolicyBatch } from './data/batch.js';
import { InputError } from './data/errors.js';
import { openLog, openPolicy, type ReadOptions } from './data/read-log.js';
import { alignPolicies, inlinePolicy, type PolicyInput } from './engine/align.js';
import { evaluateStream, type EvaluateOptions } from './engine/evaluate.js';
import type { EvaluationResult } from './engine/results.js';
import { UsageError } from './data/errors.js';
import { fitRewardModel, withRewardModel, type FittedRewardModel, type RewardModelOptions, type RewardModelReport } from './reward-model/fit-log.js';

export interface EvaluateLogOptions extends Omit<EvaluateOptions, 'policyNames' | 'estimators'> {
  /** Log file (.arrow/.feather/.ipc, .parquet, .csv, .jsonl/.ndjson). */
  readonly log: string;
  /** Target policies by name: a file aligned with the log by row order. Omitted: the log's own target columns, as policy 'target'. */
  readonly policies?: Readonly<Record<string, string>>;
  /** 'ips,snips,dr', estimator objects, or omitted for every estimator the inputs support. */
  readonly estimators?: string | readonly Estimator[];
  readonly read?: ReadOptions;
  /**
   * Worker threads for the bootstrap, and for decoding the log and policy files unless `read.threads`
   * is given (default 1); results are bit-identical for any count.
   */
  readonly threads?: number;
  /**
   * Fit a cross-fitted reward model on the log (issue 5) and use its q_hat for dm and the DR family,
   * in place of any q_hat in the inputs. The targets need action_dist (q_hat is averaged under it).
   */
  readonly rewardModel?: RewardModelOptions;
}

export interface EvaluateLogResult {
  readonly result: EvaluationResult;
  /** Estimators left out of the default set because the inputs lack what they need (a reward model, slate columns). */
  readonly skipped: readonly string[];
  /** The fitted reward model: backend, folds and held-out quality (when `rewardModel` was given). */
  readonly rewardModel?: RewardModelReport;
}

/** Reads a log (and policy files), runs the estimators with bootstrap intervals and diagnostics. */
export async function evaluateLog(opts: EvaluateLogOptions): Promise<EvaluateLogResult> {
  // `threads` also decodes the log and the policy files, unless `read` says otherwise.
  const read: ReadOptions = { threads: opts.threads, ...opts.read };
  const source = openLog(opts.log, read);
  const policyInputs: PolicyInput[] = [];
  const entries = Object.entries(opts.policies ?? {});
  if (entries.length === 0) {
    policyInputs.push({ name: 'target', kind: 'inline' });
  } else {
    for (const [name, path] of entries) {
      const ps = openPolicy(path, read);
      policyInputs.push({ name, kind: 'file', path, batches: () => ps.batches() });
    }
  }
  let fitted: FittedRewardModel | undefined;
  if (opts.rewardModel !== undefined) {
    const minActions = await targetActionCount(source.batches(), policyInputs);
    fitted = await fitRewardModel(source.batches(), { ...opts.rewardModel, minActions });
  }
  let estimators: readonly Estimator[];
  const skipped: string[] = [];
  if (opts.estimators === undefined) {
    const available = await inputsAvailable(source.batches(), policyInputs);
    const slate = available.slate;
    const hasModel = available.hasModel || fitted !== undefined;
    const family = slate.itemPosition || slate.cascade ? 'slate' : 'bandit';
    const usable = (n: string): boolean => {
      if (n === 'iips' || n === 'pi') return slate.itemPosition;
      if (n === 'rips') return slate.cascade;
      if (n === 'cascade-dr') return slate.cascade && hasModel;
      return hasModel || !estimatorNeedsRewardModel(n);
    };
    const candidates = allOfFamily(family);
    const names = candidates.filter(usable);
    skipped.push(...candidates.filter((n) => !names.includes(n)));
    estimators = names.map((n) => parseEstimatorSpec(n));
  } else {
    estimators = typeof opts.estimators === 'string' ? parseEstimatorList(opts.estimators) : opts.estimators;
  }
  const aligned = alignPolicies(source.batches(), policyInputs);
  const result = await evaluateStream(fitted !== undefined ? withRewardModel(aligned, fitted) : aligned, {
    ...opts,
    estimators,
    policyNames: policyInputs.map((p) => p.name),
  });
  return { result, skipped, rewardModel: fitted?.report };
}

/**
 * A fitted q_hat is averaged under the target's action_dist, so every target must give it; the
 * model then covers as many actions as the widest one.
 */
async function targetActionCount(batches: AsyncIterable<LogBatch>, policies: readonly PolicyInput[]): Promise<number> {
  const first = await firstLogBatch(batches);
  let K = 0;
  for (const p of policies) {
    const pb = await firstPolicyBatch(p, first);
    if (pb?.actionDist === undefined) {
      throw new UsageError(
        `policy '${p.name}': a fitted reward model needs the target's action_dist (its distribution over actions per row), to average q_hat under the target; ${p.kind === 'file' ? `${p.path} has` : 'the log has'} no action_dist`,
      );
    }
    K = Math.max(K, pb.actionDist.width);
  }
  return K;
}

/** Looks at the first batch: is there a reward model for every policy, and is this a slate log? */
async function inputsAvailable(batches: AsyncIterable<LogBatch>, policies: readonly PolicyInput[]): Promise<{ hasModel: boolean; slate: { itemPosition: boolean; cascade: boolean } }> {
  const first = await firstLogBatch(batches);
  const slate = { itemPosition: first.propensityItemPosition !== undefined, cascade: first.propensityCascade !== undefined };
  return { hasModel: await rewardModelAvailable(first, policies), slate };
}

async function rewardModelAvailable(first: LogBatch, policies: readonly PolicyInput[]): Promise<boolean> {
  if (first.qHat === undefined && first.qHatLogged === undefined) return false;
  for (const p of policies) {
    const pb = await firstPolicyBatch(p, first);
    if (pb === undefined) return false;
    const hasTarget = pb.qHatTarget !== undefined || (pb.actionDist !== undefined && first.qHat !== undefined) || first.qHatTarget !== undefined;
    if (!hasTarget) return false;
  }
  return true;
}

async function firstLogBatch(batches: AsyncIterable<LogBatch>): Promise<LogBatch> {
  for await (const b of batches) return b;
  throw new InputError('no rows', {});
}

/** A policy's first batch: from its file, or the log's own target columns. */
async function firstPolicyBatch(p: PolicyInput, first: LogBatch): Promise<PolicyBatch | undefined> {
  if (p.kind === 'inline') return inlinePolicy(first);
  for await (const b of p.batches()) return b;
  return undefined;
}
