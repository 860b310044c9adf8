import type { Tensor2D } from '@tensorflow/tfjs';
import type { LogBatch } from '../data/batch.js';
import { UsageError } from '../data/errors.js';
import type { TfRuntime } from '../tf/backend.js';
import { foldOf, rowKey, scaledFeatures, type FeatureScaling, type RewardData } from './data.js';
import { logits, type ModelShape, type RewardModelKind } from './models.js';
import { modelQuality, type ModelQuality } from './quality.js';
import { trainModel, type TrainedModel, type TrainOptions } from './train.js';

/**
 * K-fold cross-fitting (Chernozhukov et al. 2018, "Double/debiased machine learning", §3; for OPE,
 * Kallus & Uehara 2019): the rows are split into folds by request; the model of fold f is trained
 * on the other folds and predicts q_hat only for the rows of fold f. No row's q_hat comes from a
 * model that saw its reward, which keeps DR's correction term unbiased even for a flexible model.
 */
export interface CrossFitOptions extends Omit<TrainOptions, 'seed'> {
  /** Called as each fold's model is trained. */
  readonly onFold?: (fold: number, folds: number) => void;
}

export const CROSS_FIT_DEFAULTS = { folds: 3, seed: 12345, validationShare: 0.1 } as const;

export interface FoldReport {
  readonly fold: number;
  readonly trainRows: number;
  readonly validationRows: number;
  readonly heldOutRows: number;
  readonly epochs: number;
  readonly bestEpoch: number;
  readonly validationLoss: number;
}

export interface CrossFittedModel {
  readonly kind: RewardModelKind;
  readonly folds: number;
  readonly seed: number;
  readonly shape: ModelShape;
  readonly binary: boolean;
  readonly scaling: FeatureScaling;
  /** models[f] never saw a row of fold f. */
  readonly models: readonly TrainedModel[];
  readonly foldReports: readonly FoldReport[];
  /** Held-out prediction at the logged action, per row of the training data. */
  readonly outOfFold: Float64Array;
  readonly quality: ModelQuality;
  readonly backend: string;
}

export async function crossFit(rt: TfRuntime, data: RewardData, opts: CrossFitOptions & { readonly kind: RewardModelKind }): Promise<CrossFittedModel> {
  const folds = data.folds;
  // The data's seed fixed the folds and the validation split; it also seeds the weights and batch order.
  const seed = data.seed;
  if (!(Number.isInteger(folds) && folds >= 2 && folds <= 20)) throw new UsageError(`folds must be a whole number in 2..20, got ${folds}`);
  const { tf } = rt;
  const shape: ModelShape = { d: data.d, K: data.K, P: data.P };
  const outOfFold = new Float64Array(data.n);
  const models: TrainedModel[] = [];
  const foldReports: FoldReport[] = [];
  // One validation row in ten, by request, for early stopping inside the training folds.
  const validEvery = Math.round(1 / CROSS_FIT_DEFAULTS.validationShare);
  for (let f = 0; f < folds; f++) {
    opts.onFold?.(f, folds);
    const train: number[] = [];
    const valid: number[] = [];
    const held: number[] = [];
    for (let i = 0; i < data.n; i++) {
      if (data.fold[i] === f) held.push(i);
      else if (data.splitHash[i] % validEvery === 0) valid.push(i);
      else train.push(i);
    }
    if (train.length === 0 || held.length === 0) {
      throw new UsageError(`cross-fitting fold ${f} has ${train.length} training and ${held.length} held-out rows: the log is too small (or has too few requests) for ${folds} folds`);
    }
    const model = await trainModel(tf, data, Int32Array.from(train), Int32Array.from(valid), { ...opts, seed: seed * 31 + f });
    models.push(model);
    foldReports.push({
      fold: f,
      trainRows: train.length,
      validationRows: valid.length,
      heldOutRows: held.length,
      epochs: model.epochs,
      bestEpoch: model.bestEpoch,
      validationLoss: model.validationLoss,
    });
    const rows = Int32Array.from(held);
    for (let from = 0; from < rows.length; from += PREDICT_CHUNK) {
      const to = Math.min(rows.length, from + PREDICT_CHUNK);
      const p = predictRows(rt, model, data.binary, rowsX(data, rows, from, to), rowsPosition(data, rows, from, to), to - from);
      for (let j = 0; j < to - from; j++) {
        const i = rows[from + j];
        outOfFold[i] = p[j * data.K + data.action[i]];
      }
    }
  }
  return {
    kind: opts.kind,
    folds,
    seed,
    shape,
    binary: data.binary,
    scaling: data.scaling,
    models,
    foldReports,
    outOfFold,
    quality: modelQuality(outOfFold, data.reward, data.binary),
    backend: rt.description,
  };
}

const PREDICT_CHUNK = 8192;

function rowsX(data: RewardData, rows: Int32Array, from: number, to: number): Float32Array {
  const d = data.d;
  const x = new Float32Array((to - from) * d);
  for (let j = 0; j < to - from; j++) x.set(data.x.subarray(rows[from + j] * d, rows[from + j] * d + d), j * d);
  return x;
}

function rowsPosition(data: RewardData, rows: Int32Array, from: number, to: number): Int32Array | undefined {
  if (data.position === undefined) return undefined;
  const p = new Int32Array(to - from);
  for (let j = 0; j < to - from; j++) p[j] = data.position[rows[from + j]];
  return p;
}

/**
 * q_hat for every action of B rows (B x K, row-major): sigmoid of the logits for binary rewards,
 * the logits themselves for continuous ones. Positions the model never saw get no position term.
 */
function predictRows(rt: TfRuntime, model: TrainedModel, binary: boolean, x: Float32Array, position: Int32Array | undefined, B: number): Float32Array {
  const { tf } = rt;
  const { d, K, P } = model.shape;
  return tf
    .tidy(() => {
      const xt = tf.tensor2d(d > 0 ? x : new Float32Array(B), [B, Math.max(d, 1)]);
      let pt: Tensor2D | null = null;
      if (P > 0) {
        const oneHot = new Float32Array(B * P);
        if (position !== undefined) for (let j = 0; j < B; j++) if (position[j] >= 0 && position[j] < P) oneHot[j * P + position[j]] = 1;
        pt = tf.tensor2d(oneHot, [B, P]);
      }
      const z = logits(tf, model.kind, model.shape, model.params, xt, pt);
      return (binary ? tf.sigmoid(z) : z).dataSync() as Float32Array;
    })
    .slice(0, B * K);
}

/**
 * q_hat for every action of every row of a log batch, each row from the model of its own fold
 * (the one that never saw it), as the K-wide `q_hat` list. Rows are predicted in fold groups in
 * row order, so the same block always gives the same numbers.
 */
export function predictBatch(rt: TfRuntime, m: CrossFittedModel, log: LogBatch): Float64Array {
  const { d, K } = m.shape;
  const n = log.n;
  const x = scaledFeatures(log, m.scaling, d);
  const out = new Float64Array(n * K);
  const byFold: number[][] = Array.from({ length: m.folds }, () => []);
  for (let i = 0; i < n; i++) byFold[foldOf(rowKey(log, i), m.seed, m.folds)].push(i);
  byFold.forEach((rows, f) => {
    if (rows.length === 0) return;
    const B = rows.length;
    const fx = new Float32Array(B * d);
    const fp = log.position !== undefined ? new Int32Array(B) : undefined;
    rows.forEach((i, j) => {
      fx.set(x.subarray(i * d, i * d + d), j * d);
      if (fp !== undefined) fp[j] = (log.position as Int32Array)[i];
    });
    const p = predictRows(rt, m.models[f], m.binary, fx, fp, B);
    rows.forEach((i, j) => {
      for (let a = 0; a < K; a++) out[i * K + a] = p[j * K + a];
    });
  });
  return out;
}
