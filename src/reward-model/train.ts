import { shuffleInPlace } from '../stats/shuffle.js';
import type { Scalar, Tensor2D, Variable } from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import type { TfModule } from '../tf/backend.js';
import type { RewardData } from './data.js';
import { initialValues, logits, makeVariables, type ModelShape, type RewardModelKind } from './models.js';

export interface TrainOptions {
  readonly kind: RewardModelKind;
  /** Most passes over the training rows (default 50). */
  readonly maxEpochs?: number;
  /**
   * Epochs without a better validation loss before the step is cut (from the best weights), and
   * after the last cut before stopping (default 3); the best epoch's weights are kept.
   */
  readonly patience?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  /** L2 penalty on the weights (not biases), per row (default 1e-4). */
  readonly l2?: number;
  readonly seed: number;
}

export const TRAIN_DEFAULTS = {
  maxEpochs: 50,
  patience: 3,
  batchSize: 512,
  learningRate: { logistic: 0.02, mlp: 0.003 },
  l2: 1e-4,
  /** On a plateau the step shrinks by this factor, at most this many times, before stopping. */
  learningRateCut: 0.2,
  learningRateCuts: 2,
} as const;

export interface TrainedModel {
  readonly kind: RewardModelKind;
  readonly shape: ModelShape;
  readonly params: Variable[];
  /** Epochs run (early stopping included), and the epoch whose weights were kept. */
  readonly epochs: number;
  readonly bestEpoch: number;
  readonly validationLoss: number;
}

/** Feeds of one set of rows: features, one-hot position, one-hot action, reward. */
interface Feed {
  x: Tensor2D;
  pos: Tensor2D | null;
  act: Tensor2D;
  r: Tensor2D;
}

/** Rows `rows[from..to)` of the data as tensors (caller disposes). */
export function feed(tf: TfModule, data: RewardData, rows: Int32Array, from: number, to: number): Feed {
  const B = to - from;
  const { d, K, P } = data;
  const x = new Float32Array(B * Math.max(d, 1));
  const act = new Float32Array(B * K);
  const r = new Float32Array(B);
  const pos = P > 0 ? new Float32Array(B * P) : null;
  for (let j = 0; j < B; j++) {
    const i = rows[from + j];
    if (d > 0) x.set(data.x.subarray(i * d, i * d + d), j * d);
    act[j * K + data.action[i]] = 1;
    r[j] = data.reward[i];
    if (pos !== null && data.position !== undefined) pos[j * P + data.position[i]] = 1;
  }
  return {
    x: tf.tensor2d(x, [B, Math.max(d, 1)]),
    pos: pos !== null ? tf.tensor2d(pos, [B, P]) : null,
    act: tf.tensor2d(act, [B, K]),
    r: tf.tensor2d(r, [B, 1]),
  };
}

function dispose(f: Feed): void {
  f.x.dispose();
  f.pos?.dispose();
  f.act.dispose();
  f.r.dispose();
}

/** Mean loss of the logged action's prediction: Bernoulli log loss, or squared error. */
function dataLoss(tf: TfModule, data: RewardData, shape: ModelShape, kind: RewardModelKind, params: readonly Variable[], f: Feed): Scalar {
  const z = tf.sum(tf.mul(logits(tf, kind, shape, params, f.x, f.pos), f.act), 1, true) as Tensor2D;
  return data.binary ? tf.losses.sigmoidCrossEntropy(f.r, z) : tf.losses.meanSquaredError(f.r, z);
}

/**
 * Mini-batch Adam on the training rows, in a seeded shuffled order each epoch; after each epoch the
 * loss on the validation rows decides early stopping, and the best epoch's weights are kept.
 */
export async function trainModel(tf: TfModule, data: RewardData, train: Int32Array, valid: Int32Array, opts: TrainOptions): Promise<TrainedModel> {
  const kind = opts.kind;
  const shape: ModelShape = { d: data.d, K: data.K, P: data.P };
  const rng = seedrandom.alea(`reward-model:${opts.seed}`);
  const params = makeVariables(
    tf,
    kind,
    shape,
    initialValues(kind, shape, () => rng()),
  );
  const maxEpochs = opts.maxEpochs ?? TRAIN_DEFAULTS.maxEpochs;
  const patience = opts.patience ?? TRAIN_DEFAULTS.patience;
  const batchSize = opts.batchSize ?? TRAIN_DEFAULTS.batchSize;
  const l2 = opts.l2 ?? TRAIN_DEFAULTS.l2;
  let learningRate = opts.learningRate ?? TRAIN_DEFAULTS.learningRate[kind];
  let optimizer = tf.train.adam(learningRate);
  let cuts = 0;
  let sinceBest = 0;
  // Weights are the 2-d parameters; biases are not penalized.
  const weights = params.filter((p) => p.shape.length === 2);
  const order = Int32Array.from(train);
  let best = Infinity;
  let bestEpoch = 0;
  let bestValues = params.map((p) => p.dataSync().slice() as Float32Array);
  let epoch = 0;
  try {
    for (epoch = 1; epoch <= maxEpochs; epoch++) {
      shuffleInPlace(order, rng);
      for (let from = 0; from < order.length; from += batchSize) {
        const f = feed(tf, data, order, from, Math.min(order.length, from + batchSize));
        optimizer.minimize(
          () => {
            const loss = dataLoss(tf, data, shape, kind, params, f);
            return l2 > 0 ? (tf.add(loss, tf.mul(l2, tf.addN(weights.map((w) => tf.sum(tf.square(w)))))) as Scalar) : loss;
          },
          false,
          params,
        );
        dispose(f);
      }
      const v = evaluateLoss(tf, data, shape, kind, params, valid.length > 0 ? valid : train);
      if (!Number.isFinite(best) || v < best - 1e-6 * Math.abs(best)) {
        best = v;
        bestEpoch = epoch;
        sinceBest = 0;
        bestValues = params.map((p) => p.dataSync().slice() as Float32Array);
      } else if (++sinceBest >= patience) {
        // Plateau: constant-step Adam hovers around the optimum at a distance set by its step, so go
        // back to the best weights and continue with a smaller step (ReduceLROnPlateau), a few times.
        if (cuts === TRAIN_DEFAULTS.learningRateCuts) break;
        cuts++;
        sinceBest = 0;
        learningRate *= TRAIN_DEFAULTS.learningRateCut;
        params.forEach((p, j) => p.assign(tf.tensor(bestValues[j], p.shape, 'float32')));
        optimizer.dispose();
        optimizer = tf.train.adam(learningRate);
      }
      // Let the event loop breathe (progress bars, signals) between epochs.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    optimizer.dispose();
  }
  params.forEach((p, j) => p.assign(tf.tensor(bestValues[j], p.shape, 'float32')));
  return { kind, shape, params, epochs: Math.min(epoch, maxEpochs), bestEpoch, validationLoss: best };
}

/** Mean loss over rows, in chunks. */
export function evaluateLoss(tf: TfModule, data: RewardData, shape: ModelShape, kind: RewardModelKind, params: readonly Variable[], rows: Int32Array): number {
  const chunk = 8192;
  let total = 0;
  for (let from = 0; from < rows.length; from += chunk) {
    const to = Math.min(rows.length, from + chunk);
    const f = feed(tf, data, rows, from, to);
    const l = tf.tidy(() => dataLoss(tf, data, shape, kind, params, f));
    total += (l.dataSync()[0] as number) * (to - from);
    l.dispose();
    dispose(f);
  }
  return total / rows.length;
}
