import { performance } from 'node:perf_hooks';
import type { LogBatch } from '../data/batch.js';
import { canonicalBlocks, type AlignedBatch } from '../engine/reblock.js';
import { loadTf, type BackendChoice, type TfRuntime } from '../tf/backend.js';
import { collectRewardData } from './data.js';
import { CROSS_FIT_DEFAULTS, crossFit, predictBatch, type CrossFittedModel, type FoldReport } from './cross-fit.js';
import type { RewardModelKind } from './models.js';
import type { ModelQuality } from './quality.js';
import type { TrainOptions } from './train.js';

export interface RewardModelOptions extends Partial<Omit<TrainOptions, 'seed' | 'kind'>> {
  readonly kind: RewardModelKind;
  /** Cross-fitting folds (default 3). */
  readonly folds?: number;
  /** Seeds folds, validation split, weights and batch order (default 12345). */
  readonly seed?: number;
  /** TF.js backend; default OPE_TF_BACKEND, else the fastest that loads. */
  readonly backend?: BackendChoice;
  /** At least this many actions (the width of the targets' action_dist). */
  readonly minActions?: number;
  /** Called when reading is done and as each fold starts. */
  readonly onProgress?: (stage: string) => void;
}

/** What `--json` and the report say about a fitted model. */
export interface RewardModelReport {
  readonly kind: RewardModelKind;
  /** The TF.js backend that ran, e.g. 'tfjs 4.22.0 (wasm, SIMD)'. */
  readonly backend: string;
  readonly backendFallbacks: readonly string[];
  readonly folds: number;
  readonly seed: number;
  readonly n: number;
  readonly features: number;
  readonly actions: number;
  readonly positions: number;
  /** 'bernoulli' (rewards in {0, 1}, log loss) or 'gaussian' (squared error). */
  readonly likelihood: 'bernoulli' | 'gaussian';
  readonly foldReports: readonly FoldReport[];
  /** Held-out (cross-fitted) quality at the logged action. */
  readonly quality: ModelQuality;
  readonly seconds: number;
}

export interface FittedRewardModel {
  readonly runtime: TfRuntime;
  readonly model: CrossFittedModel;
  readonly report: RewardModelReport;
}

/** Reads the log once, fits the cross-fitted reward model (issue 5, item 2). */
export async function fitRewardModel(batches: AsyncIterable<LogBatch>, opts: RewardModelOptions): Promise<FittedRewardModel> {
  const started = performance.now();
  const runtime = await loadTf(opts.backend);
  const data = await collectRewardData(batches, { folds: opts.folds ?? CROSS_FIT_DEFAULTS.folds, seed: opts.seed ?? CROSS_FIT_DEFAULTS.seed, minActions: opts.minActions });
  opts.onProgress?.(`read ${data.n} rows; fitting ${opts.kind} on ${runtime.description}`);
  const model = await crossFit(runtime, data, { ...opts, onFold: (f, F) => opts.onProgress?.(`fold ${f + 1} of ${F}`) });
  const report: RewardModelReport = {
    kind: opts.kind,
    backend: runtime.description,
    backendFallbacks: runtime.fallbacks,
    folds: model.folds,
    seed: model.seed,
    n: data.n,
    features: data.d,
    actions: data.K,
    positions: data.P,
    likelihood: data.binary ? 'bernoulli' : 'gaussian',
    foldReports: model.foldReports,
    quality: model.quality,
    seconds: (performance.now() - started) / 1000,
  };
  return { runtime, model, report };
}

/**
 * The aligned stream with the fitted q_hat (every action, each row from its own fold's model) in
 * place of any q_hat the log or the policies carried. Predictions are made on canonical blocks, so
 * the numbers do not depend on how the files were read.
 */
export async function* withRewardModel(input: AsyncIterable<AlignedBatch> | Iterable<AlignedBatch>, fitted: FittedRewardModel): AsyncGenerator<AlignedBatch> {
  const K = fitted.model.shape.K;
  for await (const block of canonicalBlocks(input)) {
    const values = predictBatch(fitted.runtime, fitted.model, block.log);
    yield {
      log: { ...block.log, qHat: { width: K, values }, qHatLogged: undefined, qHatTarget: undefined },
      policies: block.policies.map((p) => ({ ...p, qHatTarget: undefined })),
    };
  }
}
