import { shuffleInPlace } from '../src/stats/shuffle.js';
import type { Scalar, Tensor, Tensor1D, Tensor2D, Variable } from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { Adam, type AdamState } from './adam.js';
import type { TfModule, TfRuntime } from '../src/tf/backend.js';
import { RandomStream } from './random-streams.js';

/**
 * The two-tower recommender of the feedback-loop simulator (issue 6): a user tower and an item tower
 * over ID embeddings plus optional features, scored by a dot product, trained with TensorFlow.js on
 * the logged impressions of each round and warm-started from round to round.
 *
 * Towers (both sides alike; e = the ID embedding, x = the row's features, if any):
 * - `hidden: 0` (default): tower = e + x A, a linear projection of the features added to the ID
 *   embedding (A is du x dim; no A without features).
 * - `hidden: H > 0`: tower = W2 relu(W1 [e, x] + b1) + b2, one ReLU layer of width H over the
 *   embedding and the features, output dim.
 * score(u, i) = user(u) . item(i) + b_i (a per-item bias unless `itemBias: false`), plus on the
 * pointwise loss a global bias, so that sigmoid(score) is the predicted click probability.
 *
 * Losses:
 * - 'sampled-softmax' (default): in-batch softmax over the clicked impressions (Yi et al. 2019,
 *   "Sampling-bias-corrected neural modeling for large corpus item recommendations", RecSys).
 *   In a batch of B positives (u_j, i_j) every other row's item is a negative; the logits are
 *   l_jk = score(u_j, i_k) / temperature - log q(i_k), where q(i) = c_i / sum c is the item's share
 *   of the positives (counts given with the data, else counted from its clicks): the probability
 *   that the batch samples it, so popular items are not over-penalized as negatives (the constant
 *   log B of "probability to be in the batch" cancels in the softmax). The correction applies to
 *   every logit, the positive's included, as in the paper. With `removeAccidentalHits` (default)
 *   a column k != j that holds row j's own item is masked out of row j's softmax (it is not a
 *   negative). Loss = mean_j -log softmax_k(l_j.)[j]. Non-clicked impressions are not used.
 * - 'pointwise': sigmoid cross-entropy on every impression (clicked = 1, shown and not clicked = 0),
 *   logit = score(u, i) + p_k, where p_k is a learned bias of the slot k the item was shown in
 *   (`positions` > 0): it soaks up position bias in training and is left out at serving (the
 *   "shallow tower" of Zhao et al. 2019). `temperature` is not used.
 * L2: `l2` times the squared norm of the ID embeddings looked up in the batch (per row, as the data
 * loss is a mean over rows) plus `l2` times the squared dense tower weights; biases are free.
 *
 * Embedding lookups without a tf.gather gradient (its UnsortedSegmentSum kernel is missing on
 * wasm, ../shared/ENVIRONMENT.md): the lookup is a tf.customGrad around tf.gather whose gradient
 * is a scatter-add of the batch's row gradients into the table (tf.scatterND sums duplicate
 * indices). It is the transposed one-hot matmul's sum in another order, so equal to float32
 * rounding (test/two-tower.test.ts), at O(B dim) instead of O(B n dim). Measured on wasm here
 * (2 cores, another job running), B = 256, dim 32, one Adam step of an in-batch softmax over a user
 * and an item table of n rows each:
 *   n           one-hot matmul   customGrad, one-hot grad   customGrad, scatter grad
 *   1,000            44 ms               38 ms                      17 ms
 *   10,000          234 ms              216 ms                      17 ms
 *   100,000       1,560 ms            1,410 ms                      83 ms (mostly the dense Adam update)
 * (lookup + gradient alone, one table: 11 / 11 / 1.7 ms at n = 1,000; 106 / 101 / 4.6 ms at
 * 10,000.) On the whole model (1,000 users, 1,000 items, 10,000 impressions) a pointwise step is
 * 2.2 ms with the scatter gradient and 16 ms with the one-hot matmul; an in-batch softmax step
 * 7.6 vs 21 ms. With `optimizer: 'lazy-adam'` (adam.ts: only the looked-up rows of the embedding
 * tables and item biases are updated) a step on 100,000 users x 10,000 items costs about 20 ms of
 * CPU instead of 35 to 50 ms (the rest is the scatter gradient and one copy of each table, m and
 * v). `embeddingGradient: 'one-hot'` keeps the one-hot matmul for comparison. NB: on
 * wasm, tf.oneHot(..., 'float32') is wrong in tfjs 4.22 (the kernel ignores the dtype and writes
 * int32 bits into the float32 buffer: 1 reads as 1.4e-45), so the one-hot is made int32 and cast.
 *
 * Parameters start from our own seeded stream (a seed fixes them on every backend); Adam's state
 * lives with the model, so a warm start (`train` again on new data) continues both the parameters
 * and the optimizer. Each round shuffles its examples with a stream keyed by (seed, round). Same
 * seed, same data, same backend: bit-identical parameters. `state()` / `restore()` checkpoint the
 * parameters, Adam's moments and step count (adam.ts: our own Adam, because tf.train.adam does not
 * restore bit for bit), so a restored model trains on exactly as the saved one would have.
 */

export type TwoTowerLoss = 'sampled-softmax' | 'pointwise';
export type EmbeddingGradient = 'scatter' | 'one-hot';
/**
 * 'adam' (default): dense Adam on every parameter. 'lazy-adam': the ID embedding tables and the
 * item biases take lazy (row-wise) Adam steps, only the rows the batch looked up (adam.ts), other
 * parameters dense Adam: other results than 'adam' (untouched rows stay put), much cheaper steps on
 * large tables.
 */
export type TwoTowerOptimizer = 'adam' | 'lazy-adam';

export interface TwoTowerConfig {
  readonly users: number;
  readonly items: number;
  /** Embedding (and tower output) size; default 32. */
  readonly dim?: number;
  /** users x du, row-major (du = length / users). */
  readonly userFeatures?: Float32Array;
  /** items x di, row-major (di = length / items). */
  readonly itemFeatures?: Float32Array;
  /** Width of the one ReLU layer of each tower; 0 (default) for linear towers. */
  readonly hidden?: number;
  /** A learned bias per item in the score; default true. */
  readonly itemBias?: boolean;
  /** Slots whose position bias the pointwise loss learns (and serving drops); 0 (default): none. */
  readonly positions?: number;
  readonly loss?: TwoTowerLoss;
  /** Adam; default 0.03. */
  readonly learningRate?: number;
  /** Default 256. */
  readonly batchSize?: number;
  /** Passes over the data per `train` call (round); default 5. */
  readonly epochs?: number;
  /** Default 1e-4. */
  readonly l2?: number;
  /** Divides the scores in the sampled softmax; default 1. */
  readonly temperature?: number;
  /** Mask a batch row's own item among its in-batch negatives; default true. */
  readonly removeAccidentalHits?: boolean;
  /** Standard deviation of the initial ID embeddings; default 0.1. */
  readonly initScale?: number;
  readonly embeddingGradient?: EmbeddingGradient;
  /** Default 'adam'. */
  readonly optimizer?: TwoTowerOptimizer;
  readonly seed: number;
}

export interface ResolvedTwoTowerConfig {
  readonly users: number;
  readonly items: number;
  readonly dim: number;
  readonly userFeatureDim: number;
  readonly itemFeatureDim: number;
  readonly hidden: number;
  readonly itemBias: boolean;
  readonly positions: number;
  readonly loss: TwoTowerLoss;
  readonly learningRate: number;
  readonly batchSize: number;
  readonly epochs: number;
  readonly l2: number;
  readonly temperature: number;
  readonly removeAccidentalHits: boolean;
  readonly initScale: number;
  readonly embeddingGradient: EmbeddingGradient;
  readonly optimizer: TwoTowerOptimizer;
  readonly seed: number;
}

export const TWO_TOWER_DEFAULTS = {
  dim: 32,
  hidden: 0,
  itemBias: true,
  positions: 0,
  loss: 'sampled-softmax' as TwoTowerLoss,
  learningRate: 0.03,
  batchSize: 256,
  epochs: 5,
  l2: 1e-4,
  temperature: 1,
  removeAccidentalHits: true,
  initScale: 0.1,
  embeddingGradient: 'scatter' as EmbeddingGradient,
  optimizer: 'adam' as TwoTowerOptimizer,
} as const;

/** Logged impressions: one entry per (user, item) shown, with its click and slot. */
export interface TwoTowerData {
  readonly users: Int32Array;
  readonly items: Int32Array;
  /** 1 clicked, 0 shown and not clicked (values in [0, 1]). */
  readonly clicked: Float32Array;
  /** Slot of the impression, 0 = top; needed by the pointwise loss when `positions` > 0. */
  readonly positions?: Int32Array;
  /**
   * Item frequencies among the positives, for the logQ correction (length items; any positive
   * scale). Default: counted from this data's clicks. Every clicked item must have a count > 0.
   */
  readonly itemCounts?: ArrayLike<number>;
}

export interface TrainOptions {
  /** Overrides the config's epochs for this round. */
  readonly epochs?: number;
  /** Keys this round's shuffling stream; default the number of earlier `train` calls. */
  readonly round?: number;
}

export interface TrainResult {
  /** Mean data loss (no L2) of each epoch's batches, as they were trained. Empty without examples. */
  readonly losses: number[];
  /** Examples used: clicks for the sampled softmax, impressions for the pointwise loss. */
  readonly examples: number;
  readonly steps: number;
  readonly round: number;
}

/** A checkpoint of a model (TwoTowerModel.state / restore). */
export interface TwoTowerState {
  readonly rounds: number;
  readonly parameters: readonly Float32Array[];
  readonly adam: AdamState;
}

interface Param {
  readonly name: string;
  readonly v: Variable;
  /** Dense weight matrices get the L2 penalty on their whole value. */
  readonly dense: boolean;
}

interface TowerParams {
  readonly emb: Variable;
  /** Linear tower: features -> dim. */
  readonly proj: Variable | null;
  /** Hidden tower: [emb, features] -> H -> dim. */
  readonly w1: Variable | null;
  readonly b1: Variable | null;
  readonly w2: Variable | null;
  readonly b2: Variable | null;
  readonly features: Float32Array | null;
  readonly featureDim: number;
}

/** Rows of one batch as tensors (the caller disposes them). */
interface Batch {
  readonly size: number;
  readonly users: Tensor1D;
  readonly items: Tensor1D;
  /** The same ids as plain arrays (the lazy optimizer's rows). */
  readonly userIds: Int32Array;
  readonly itemIds: Int32Array;
  readonly userX: Tensor2D | null;
  readonly itemX: Tensor2D | null;
  /** pointwise: B x 1 labels; positions as indices or null. */
  readonly labels: Tensor2D | null;
  readonly positions: Tensor1D | null;
  /** sampled softmax: -log q per column, and the accidental-hit mask (null when no duplicates). */
  readonly logQ: Tensor1D | null;
  readonly mask: Tensor2D | null;
}

/** Added to masked in-batch logits: finite, so that 0 x masked stays 0 in the loss. */
export const MASKED_LOGIT = -1e9;

export class TwoTowerModel {
  readonly rt: TfRuntime;
  readonly config: ResolvedTwoTowerConfig;
  /** `train` calls so far. */
  rounds = 0;
  private readonly params: Param[];
  private readonly user: TowerParams;
  private readonly item: TowerParams;
  private readonly itemBiasV: Variable | null;
  private readonly globalBias: Variable | null;
  private readonly positionBias: Variable | null;
  private readonly optimizer: Adam;
  private disposed = false;

  constructor(rt: TfRuntime, cfg: TwoTowerConfig) {
    const c = resolveTwoTowerConfig(cfg);
    this.rt = rt;
    this.config = c;
    const tf = rt.tf;
    const init = new RandomStream(`${c.seed}:two-tower:init`);
    const params: Param[] = [];
    const add = (name: string, shape: number[], fill: 'normal' | 'glorot' | 'zeros', dense: boolean): Variable => {
      const size = shape.reduce((a, b) => a * b, 1);
      const values = new Float32Array(size);
      if (fill === 'normal') for (let i = 0; i < size; i++) values[i] = init.normal() * c.initScale;
      else if (fill === 'glorot') {
        const limit = Math.sqrt(6 / (shape[0] + shape[1]));
        for (let i = 0; i < size; i++) values[i] = (2 * init.uniform() - 1) * limit;
      }
      const t = tf.tensor(values, shape, 'float32');
      const v = tf.variable(t, true, undefined, 'float32');
      t.dispose();
      params.push({ name, v, dense });
      return v;
    };
    const tower = (side: 'user' | 'item', n: number, features: Float32Array | null, featureDim: number): TowerParams => {
      const emb = add(`${side}.embedding`, [n, c.dim], 'normal', false);
      let proj: Variable | null = null;
      let w1: Variable | null = null;
      let b1: Variable | null = null;
      let w2: Variable | null = null;
      let b2: Variable | null = null;
      if (c.hidden > 0) {
        w1 = add(`${side}.w1`, [c.dim + featureDim, c.hidden], 'glorot', true);
        b1 = add(`${side}.b1`, [c.hidden], 'zeros', false);
        w2 = add(`${side}.w2`, [c.hidden, c.dim], 'glorot', true);
        b2 = add(`${side}.b2`, [c.dim], 'zeros', false);
      } else if (featureDim > 0) {
        proj = add(`${side}.projection`, [featureDim, c.dim], 'glorot', true);
      }
      return { emb, proj, w1, b1, w2, b2, features, featureDim };
    };
    this.user = tower('user', c.users, cfg.userFeatures ?? null, c.userFeatureDim);
    this.item = tower('item', c.items, cfg.itemFeatures ?? null, c.itemFeatureDim);
    this.itemBiasV = c.itemBias ? add('item.bias', [c.items, 1], 'zeros', false) : null;
    // Only parameters that feed the loss exist (an unconnected variable gets no gradient).
    this.globalBias = c.loss === 'pointwise' ? add('global.bias', [1], 'zeros', false) : null;
    this.positionBias = c.loss === 'pointwise' && c.positions > 0 ? add('position.bias', [c.positions, 1], 'zeros', false) : null;
    this.params = params;
    this.optimizer = new Adam(
      tf,
      params.map((p) => p.v),
      { learningRate: c.learningRate },
    );
  }

  get tf(): TfModule {
    return this.rt.tf;
  }

  /** A copy of every parameter, in a fixed order. */
  parameters(): { name: string; shape: number[]; values: Float32Array }[] {
    this.check();
    return this.params.map((p) => ({ name: p.name, shape: p.v.shape.slice(), values: (p.v.dataSync() as Float32Array).slice() }));
  }

  /** Everything training continues from: the parameters (in `parameters()` order), Adam's state and the rounds trained. */
  state(): TwoTowerState {
    this.check();
    return { rounds: this.rounds, parameters: this.params.map((p) => (p.v.dataSync() as Float32Array).slice()), adam: this.optimizer.state() };
  }

  /** Continues from a saved state of a model with the same config: the next `train` is bit-identical to the saved model's. */
  restore(state: TwoTowerState): void {
    this.check();
    if (state.parameters.length !== this.params.length) throw new RangeError(`two-tower: state has ${state.parameters.length} parameters, the model ${this.params.length}`);
    this.params.forEach((p, i) => {
      if (state.parameters[i].length !== p.v.size) throw new RangeError(`two-tower: parameter '${p.name}' has ${p.v.size} values, the state ${state.parameters[i].length}`);
    });
    this.optimizer.restore(state.adam);
    this.params.forEach((p, i) => {
      const t = this.tf.tensor(state.parameters[i], p.v.shape, 'float32');
      p.v.assign(t);
      t.dispose();
    });
    this.rounds = state.rounds;
  }

  /** Warm start: keep training these parameters (and Adam's state) on new data. */
  train(data: TwoTowerData, opts: TrainOptions = {}): Promise<TrainResult> {
    return train(this, data, opts);
  }

  /** Frees the parameters and the optimizer's state; the model is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.optimizer.dispose();
    for (const p of this.params) p.v.dispose();
  }

  /** @internal */
  check(): void {
    if (this.disposed) throw new Error('two-tower model used after dispose()');
  }

  /** @internal */
  penaltyWeights(): Variable[] {
    return this.params.filter((p) => p.dense).map((p) => p.v);
  }

  /** @internal */
  adam(): Adam {
    return this.optimizer;
  }

  /**
   * @internal The tables a batch reaches and their distinct rows, for lazy Adam steps (undefined with
   * optimizer 'adam'): the user and item embeddings and the item biases, whose gradients are 0 outside
   * the looked-up rows (the L2 term too covers looked-up rows only).
   */
  lazyRows(users: Int32Array, items: Int32Array): ReadonlyMap<Variable, Int32Array> | undefined {
    if (this.config.optimizer !== 'lazy-adam') return undefined;
    const u = distinctRows(users);
    const i = distinctRows(items);
    const rows = new Map<Variable, Int32Array>([
      [this.user.emb, u],
      [this.item.emb, i],
    ]);
    if (this.itemBiasV !== null) rows.set(this.itemBiasV, i);
    return rows;
  }

  /** @internal user tower over looked-up rows; returns the tower output and the raw embeddings. */
  userTower(ids: Tensor1D, x: Tensor2D | null, grad: boolean): { out: Tensor2D; emb: Tensor2D } {
    return applyTower(this.tf, this.user, ids, x, grad ? this.config.embeddingGradient : null);
  }

  /** @internal */
  itemTower(ids: Tensor1D, x: Tensor2D | null, grad: boolean): { out: Tensor2D; emb: Tensor2D } {
    return applyTower(this.tf, this.item, ids, x, grad ? this.config.embeddingGradient : null);
  }

  /** @internal per-item bias of the ids (B), or null. */
  itemBiasOf(ids: Tensor1D, grad: boolean): Tensor1D | null {
    if (this.itemBiasV === null) return null;
    return this.tf.reshape(lookup(this.tf, this.itemBiasV, ids, grad ? this.config.embeddingGradient : null), [ids.shape[0]]);
  }

  /** @internal B x 1 global + position biases of the pointwise logit (positions null at serving). */
  pointwiseBias(size: number, positions: Tensor1D | null, grad: boolean): Tensor2D | null {
    const tf = this.tf;
    if (this.globalBias === null) return null;
    let b: Tensor2D = tf.mul(tf.ones([size, 1]), this.globalBias);
    if (positions !== null && this.positionBias !== null) b = tf.add(b, lookup(tf, this.positionBias, positions, grad ? this.config.embeddingGradient : null));
    return b;
  }

  /** @internal */
  userFeatureRows(ids: Int32Array): Tensor2D | null {
    return featureRows(this.tf, this.user, ids);
  }

  /** @internal */
  itemFeatureRows(ids: Int32Array): Tensor2D | null {
    return featureRows(this.tf, this.item, ids);
  }
}

export function resolveTwoTowerConfig(cfg: TwoTowerConfig): ResolvedTwoTowerConfig {
  const d = TWO_TOWER_DEFAULTS;
  const posInt = (v: number, name: string, min = 1): number => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`two-tower: ${name} must be an integer >= ${min}, got ${v}`);
    return v;
  };
  const positive = (v: number, name: string): number => {
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`two-tower: ${name} must be > 0, got ${v}`);
    return v;
  };
  const users = posInt(cfg.users, 'users');
  const items = posInt(cfg.items, 'items');
  const featureDim = (f: Float32Array | undefined, n: number, name: string): number => {
    if (f === undefined) return 0;
    if (f.length === 0 || f.length % n !== 0) throw new RangeError(`two-tower: ${name} must hold ${n} rows (length a positive multiple of ${n}), got length ${f.length}`);
    for (let i = 0; i < f.length; i++) if (!Number.isFinite(f[i])) throw new RangeError(`two-tower: ${name} must be finite, got ${f[i]} at index ${i}`);
    return f.length / n;
  };
  const loss = cfg.loss ?? d.loss;
  if (loss !== 'sampled-softmax' && loss !== 'pointwise') throw new RangeError(`two-tower: loss must be 'sampled-softmax' or 'pointwise', got '${String(loss)}'`);
  const embeddingGradient = cfg.embeddingGradient ?? d.embeddingGradient;
  if (embeddingGradient !== 'scatter' && embeddingGradient !== 'one-hot') throw new RangeError(`two-tower: embeddingGradient must be 'scatter' or 'one-hot', got '${String(embeddingGradient)}'`);
  const optimizer = cfg.optimizer ?? d.optimizer;
  if (optimizer !== 'adam' && optimizer !== 'lazy-adam') throw new RangeError(`two-tower: optimizer must be 'adam' or 'lazy-adam', got '${String(optimizer)}'`);
  const l2 = cfg.l2 ?? d.l2;
  if (!(Number.isFinite(l2) && l2 >= 0)) throw new RangeError(`two-tower: l2 must be >= 0, got ${l2}`);
  if (!Number.isFinite(cfg.seed)) throw new RangeError(`two-tower: seed must be a finite number, got ${cfg.seed}`);
  return {
    users,
    items,
    dim: posInt(cfg.dim ?? d.dim, 'dim'),
    userFeatureDim: featureDim(cfg.userFeatures, users, 'userFeatures'),
    itemFeatureDim: featureDim(cfg.itemFeatures, items, 'itemFeatures'),
    hidden: posInt(cfg.hidden ?? d.hidden, 'hidden', 0),
    itemBias: cfg.itemBias ?? d.itemBias,
    positions: posInt(cfg.positions ?? d.positions, 'positions', 0),
    loss,
    learningRate: positive(cfg.learningRate ?? d.learningRate, 'learningRate'),
    batchSize: posInt(cfg.batchSize ?? d.batchSize, 'batchSize', 2),
    epochs: posInt(cfg.epochs ?? d.epochs, 'epochs', 0),
    l2,
    temperature: positive(cfg.temperature ?? d.temperature, 'temperature'),
    removeAccidentalHits: cfg.removeAccidentalHits ?? d.removeAccidentalHits,
    initScale: positive(cfg.initScale ?? d.initScale, 'initScale'),
    embeddingGradient,
    optimizer,
    seed: cfg.seed,
  };
}

/** A new model, its parameters drawn from the config's seed. */
/** The distinct values of ids, ascending. */
function distinctRows(ids: Int32Array): Int32Array {
  return Int32Array.from(new Set(ids)).sort();
}

export function createTwoTower(rt: TfRuntime, cfg: TwoTowerConfig): TwoTowerModel {
  return new TwoTowerModel(rt, cfg);
}

/**
 * Rows `ids` of an embedding table, differentiable without tf.gather's gradient (`mode` null: a
 * plain gather, for serving). 'scatter': the gradient is the scatter-add of dy into the table's
 * rows; 'one-hot': the lookup is the one-hot (B x n) matmul with the table.
 */
export function lookup(tf: TfModule, table: Tensor2D | Variable, ids: Tensor1D, mode: EmbeddingGradient | null): Tensor2D {
  const [n, d] = table.shape as [number, number];
  if (mode === null) return tf.gather(table, ids) as Tensor2D;
  if (mode === 'one-hot') return tf.matMul(tf.cast(tf.oneHot(ids, n), 'float32') as Tensor2D, table as Tensor2D);
  const gather = tf.customGrad((...inputs) => ({
    value: tf.gather(inputs[0] as Tensor, ids) as Tensor2D,
    gradFunc: (dy: Tensor2D) => tf.scatterND(tf.expandDims(ids, 1), dy, [n, d]),
  }));
  return gather(table) as Tensor2D;
}

function applyTower(tf: TfModule, p: TowerParams, ids: Tensor1D, x: Tensor2D | null, mode: EmbeddingGradient | null): { out: Tensor2D; emb: Tensor2D } {
  const emb = lookup(tf, p.emb, ids, mode);
  if (p.w1 !== null && p.b1 !== null && p.w2 !== null && p.b2 !== null) {
    const input = x !== null ? tf.concat([emb, x], 1) : emb;
    const h = tf.relu(tf.add(tf.matMul(input, p.w1 as unknown as Tensor2D), p.b1));
    return { out: tf.add(tf.matMul(h, p.w2 as unknown as Tensor2D), p.b2), emb };
  }
  if (p.proj !== null && x !== null) return { out: tf.add(emb, tf.matMul(x, p.proj as unknown as Tensor2D)), emb };
  return { out: emb, emb };
}

function featureRows(tf: TfModule, p: TowerParams, ids: Int32Array): Tensor2D | null {
  if (p.features === null) return null;
  const k = p.featureDim;
  const x = new Float32Array(ids.length * k);
  for (let j = 0; j < ids.length; j++) x.set(p.features.subarray(ids[j] * k, ids[j] * k + k), j * k);
  return tf.tensor2d(x, [ids.length, k]);
}

/**
 * In-batch logits of the sampled softmax, B x B: l_jk = (u_j . v_k + bias_k) / temperature
 * - logQ_k + mask_jk. `logQ` holds log q(i_k) per column (zeros: no correction); `mask` is 0 or
 * MASKED_LOGIT (null: none).
 */
export function inBatchLogits(tf: TfModule, u: Tensor2D, v: Tensor2D, bias: Tensor1D | null, logQ: Tensor1D, mask: Tensor2D | null, temperature: number): Tensor2D {
  let s: Tensor2D = tf.matMul(u, v, false, true);
  if (bias !== null) s = tf.add(s, bias);
  if (temperature !== 1) s = tf.div(s, temperature);
  s = tf.sub(s, logQ);
  if (mask !== null) s = tf.add(s, mask);
  return s;
}

/** Mean over rows of -log softmax(l_j.)[j]: row j's positive is its own column. */
export function inBatchSoftmaxLoss(tf: TfModule, logits: Tensor2D): Scalar {
  const B = logits.shape[0];
  return tf.losses.softmaxCrossEntropy(tf.eye(B), logits) as Scalar;
}

/** MASKED_LOGIT where k != j holds row j's item, else 0; null when the batch has no duplicates. */
export function accidentalHitMask(items: Int32Array): Float32Array | null {
  const B = items.length;
  const first = new Map<number, number>();
  let dup = false;
  for (let j = 0; j < B && !dup; j++) {
    if (first.has(items[j])) dup = true;
    else first.set(items[j], j);
  }
  if (!dup) return null;
  const mask = new Float32Array(B * B);
  for (let j = 0; j < B; j++) for (let k = 0; k < B; k++) if (k !== j && items[k] === items[j]) mask[j * B + k] = MASKED_LOGIT;
  return mask;
}

/** log q(i) per item from frequency counts (NaN where the count is 0). */
export function logSamplingProbabilities(counts: ArrayLike<number>): Float64Array {
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (!(Number.isFinite(c) && c >= 0)) throw new RangeError(`two-tower: itemCounts must be finite and >= 0, got ${c} at item ${i}`);
    total += c;
  }
  const out = new Float64Array(counts.length);
  for (let i = 0; i < counts.length; i++) out[i] = counts[i] > 0 ? Math.log(counts[i] / total) : NaN;
  return out;
}

interface Prepared {
  /** Rows of the data that are examples of the loss. */
  readonly rows: Int32Array;
  readonly logQ: Float64Array | null;
}

function prepare(model: TwoTowerModel, data: TwoTowerData): Prepared {
  const c = model.config;
  const n = data.users.length;
  if (data.items.length !== n || data.clicked.length !== n)
    throw new RangeError(`two-tower: users, items and clicked must have one entry per impression (got ${n}, ${data.items.length}, ${data.clicked.length})`);
  if (data.positions !== undefined && data.positions.length !== n) throw new RangeError(`two-tower: positions must have ${n} entries, got ${data.positions.length}`);
  const needPos = c.loss === 'pointwise' && c.positions > 0;
  if (needPos && data.positions === undefined) throw new RangeError(`two-tower: the pointwise loss with positions = ${c.positions} needs the impressions' positions`);
  const rows: number[] = [];
  for (let r = 0; r < n; r++) {
    const u = data.users[r];
    const i = data.items[r];
    const y = data.clicked[r];
    if (!(u >= 0 && u < c.users)) throw new RangeError(`two-tower: impression ${r}: user ${u} is not in 0..${c.users - 1}`);
    if (!(i >= 0 && i < c.items)) throw new RangeError(`two-tower: impression ${r}: item ${i} is not in 0..${c.items - 1}`);
    if (!(y >= 0 && y <= 1)) throw new RangeError(`two-tower: impression ${r}: clicked must be in [0, 1], got ${y}`);
    if (needPos) {
      const k = (data.positions as Int32Array)[r];
      if (!(k >= 0 && k < c.positions)) throw new RangeError(`two-tower: impression ${r}: position ${k} is not in 0..${c.positions - 1}`);
    }
    if (c.loss === 'pointwise' || y > 0) rows.push(r);
  }
  if (c.loss === 'pointwise') return { rows: Int32Array.from(rows), logQ: null };
  let counts = data.itemCounts;
  if (counts === undefined) {
    const own = new Float64Array(c.items);
    for (const r of rows) own[data.items[r]] += 1;
    counts = own;
  }
  if (counts.length !== c.items) throw new RangeError(`two-tower: itemCounts must have ${c.items} entries, got ${counts.length}`);
  const logQ = logSamplingProbabilities(counts);
  for (const r of rows)
    if (Number.isNaN(logQ[data.items[r]])) throw new RangeError(`two-tower: item ${data.items[r]} is clicked (impression ${r}) but its itemCounts entry is 0: its sampling probability must be > 0`);
  return { rows: Int32Array.from(rows), logQ };
}

function makeBatch(model: TwoTowerModel, data: TwoTowerData, prep: Prepared, order: Int32Array, from: number, to: number): Batch {
  const tf = model.tf;
  const c = model.config;
  const B = to - from;
  const u = new Int32Array(B);
  const it = new Int32Array(B);
  for (let j = 0; j < B; j++) {
    const r = prep.rows[order[from + j]];
    u[j] = data.users[r];
    it[j] = data.items[r];
  }
  let labels: Tensor2D | null = null;
  let positions: Tensor1D | null = null;
  let logQ: Tensor1D | null = null;
  let mask: Tensor2D | null = null;
  if (c.loss === 'pointwise') {
    const y = new Float32Array(B);
    for (let j = 0; j < B; j++) y[j] = data.clicked[prep.rows[order[from + j]]];
    labels = tf.tensor2d(y, [B, 1]);
    if (c.positions > 0 && data.positions !== undefined) {
      const p = new Int32Array(B);
      for (let j = 0; j < B; j++) p[j] = data.positions[prep.rows[order[from + j]]];
      positions = tf.tensor1d(p, 'int32');
    }
  } else {
    const q = new Float32Array(B);
    for (let j = 0; j < B; j++) q[j] = (prep.logQ as Float64Array)[it[j]];
    logQ = tf.tensor1d(q, 'float32');
    const m = c.removeAccidentalHits ? accidentalHitMask(it) : null;
    if (m !== null) mask = tf.tensor2d(m, [B, B]);
  }
  return {
    size: B,
    users: tf.tensor1d(u, 'int32'),
    items: tf.tensor1d(it, 'int32'),
    userIds: u,
    itemIds: it,
    userX: model.userFeatureRows(u),
    itemX: model.itemFeatureRows(it),
    labels,
    positions,
    logQ,
    mask,
  };
}

function disposeBatch(b: Batch): void {
  for (const t of [b.users, b.items, b.userX, b.itemX, b.labels, b.positions, b.logQ, b.mask]) t?.dispose();
}

/** The batch's mean data loss and its L2 penalty (0 when l2 = 0). */
function batchLoss(model: TwoTowerModel, b: Batch, grad: boolean): { data: Scalar; penalty: Scalar | null } {
  const tf = model.tf;
  const c = model.config;
  const user = model.userTower(b.users, b.userX, grad);
  const item = model.itemTower(b.items, b.itemX, grad);
  const bias = model.itemBiasOf(b.items, grad);
  let data: Scalar;
  if (c.loss === 'pointwise') {
    let z: Tensor2D = tf.sum(tf.mul(user.out, item.out), 1, true);
    if (bias !== null) z = tf.add(z, tf.reshape(bias, [b.size, 1]));
    const extra = model.pointwiseBias(b.size, b.positions, grad);
    if (extra !== null) z = tf.add(z, extra);
    data = tf.losses.sigmoidCrossEntropy(b.labels as Tensor2D, z) as Scalar;
  } else {
    data = inBatchSoftmaxLoss(tf, inBatchLogits(tf, user.out, item.out, bias, b.logQ as Tensor1D, b.mask, c.temperature));
  }
  if (c.l2 === 0) return { data, penalty: null };
  const terms: Scalar[] = [tf.div(tf.add(tf.sum(tf.square(user.emb)), tf.sum(tf.square(item.emb))), b.size)];
  for (const w of model.penaltyWeights()) terms.push(tf.sum(tf.square(w)));
  return { data, penalty: tf.mul(c.l2, tf.addN(terms)) as Scalar };
}

/** Cuts n examples into ceil(n / B) batches of near-equal size (no tiny last batch). */
function batchBounds(n: number, batchSize: number): number[] {
  const nb = Math.ceil(n / batchSize);
  const bounds: number[] = [];
  for (let b = 0; b <= nb; b++) bounds.push(Math.floor((b * n) / nb));
  return bounds;
}

/**
 * One round of training on `data`, continuing from the model's current parameters and Adam state
 * (a warm start; a fresh model is the cold start). Mini-batch Adam over the examples, reshuffled
 * each epoch from a stream keyed by (seed, round).
 */
export async function train(model: TwoTowerModel, data: TwoTowerData, opts: TrainOptions = {}): Promise<TrainResult> {
  model.check();
  const tf = model.tf;
  const c = model.config;
  const round = opts.round ?? model.rounds;
  const epochs = opts.epochs ?? c.epochs;
  if (!Number.isInteger(epochs) || epochs < 0) throw new RangeError(`two-tower: epochs must be an integer >= 0, got ${epochs}`);
  const prep = prepare(model, data);
  model.rounds++;
  const n = prep.rows.length;
  const losses: number[] = [];
  let steps = 0;
  // The sampled softmax needs at least two positives in a batch to have a negative.
  if (n === 0 || (c.loss === 'sampled-softmax' && n < 2)) return { losses, examples: n, steps, round };
  const rng = seedrandom.alea(`${c.seed}:two-tower:shuffle:${round}`);
  const order = new Int32Array(n);
  for (let j = 0; j < n; j++) order[j] = j;
  const bounds = batchBounds(n, c.batchSize);
  const optimizer = model.adam();
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffleInPlace(order, rng);
    let total = 0;
    for (let k = 0; k + 1 < bounds.length; k++) {
      const b = makeBatch(model, data, prep, order, bounds[k], bounds[k + 1]);
      let kept: Scalar | null = null;
      try {
        optimizer.minimize(
          () => {
            const { data: l, penalty } = batchLoss(model, b, true);
            kept = tf.keep(l);
            // The step disposes the loss it is given: never the kept tensor itself.
            return penalty !== null ? tf.add(l, penalty) : tf.clone(l);
          },
          model.lazyRows(b.userIds, b.itemIds),
        );
        total += ((kept as Scalar | null)?.dataSync()[0] ?? NaN) * b.size;
      } finally {
        (kept as Scalar | null)?.dispose();
        disposeBatch(b);
      }
      steps++;
    }
    losses.push(total / n);
    // Let the event loop breathe between epochs.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { losses, examples: n, steps, round };
}

/**
 * Mean data loss (no L2) of the model on `data`, without training: the examples in their given
 * order, cut into the training batches (the in-batch softmax depends on the batches).
 */
export function lossOn(model: TwoTowerModel, data: TwoTowerData): number {
  model.check();
  const tf = model.tf;
  const prep = prepare(model, data);
  const n = prep.rows.length;
  if (n === 0) return NaN;
  const order = new Int32Array(n);
  for (let j = 0; j < n; j++) order[j] = j;
  const bounds = batchBounds(n, model.config.batchSize);
  let total = 0;
  for (let k = 0; k + 1 < bounds.length; k++) {
    const b = makeBatch(model, data, prep, order, bounds[k], bounds[k + 1]);
    try {
      const l = tf.tidy(() => batchLoss(model, b, false).data);
      total += (l.dataSync()[0] as number) * b.size;
      l.dispose();
    } finally {
      disposeBatch(b);
    }
  }
  return total / n;
}

/** Scores held at once while serving (users per chunk x items), in floats. */
export const SCORE_CHUNK_FLOATS = 1 << 21;

/**
 * Serving scores of every item for each of `users`: row-major users.length x items, score(u, i) =
 * user(u) . item(i) + b_i (+ the global bias on the pointwise loss, so sigmoid(score) is the
 * predicted click probability; no position bias). Users are scored in chunks of at most
 * `chunkFloats` (default SCORE_CHUNK_FLOATS) scores, so device memory stays bounded; the returned
 * array is the caller's (for large worlds, call it on chunks of users). A user's scores do not
 * depend on the chunking or on the other users asked for.
 */
export function scoreAll(model: TwoTowerModel, users: Int32Array, opts: { chunkFloats?: number } = {}): Float32Array {
  model.check();
  const tf = model.tf;
  const c = model.config;
  for (let j = 0; j < users.length; j++) if (!(users[j] >= 0 && users[j] < c.users)) throw new RangeError(`two-tower: scoreAll: user ${users[j]} is not in 0..${c.users - 1}`);
  const nI = c.items;
  const out = new Float32Array(users.length * nI);
  if (users.length === 0) return out;
  const allItems = new Int32Array(nI);
  for (let i = 0; i < nI; i++) allItems[i] = i;
  const [itemT, biasRow] = tf.tidy(() => {
    const ids = tf.tensor1d(allItems, 'int32');
    const x = model.itemFeatureRows(allItems);
    const v = model.itemTower(ids, x, false).out;
    let bias: Tensor1D | null = model.itemBiasOf(ids, false);
    const g = model.pointwiseBias(1, null, false);
    if (g !== null) bias = (bias !== null ? tf.add(bias, tf.reshape(g, [1])) : tf.reshape(tf.mul(tf.ones([nI]), g), [nI])) as Tensor1D;
    return [tf.transpose(v), bias ?? tf.zeros([nI])] as [Tensor2D, Tensor1D];
  });
  try {
    const chunk = Math.max(1, Math.floor((opts.chunkFloats ?? SCORE_CHUNK_FLOATS) / nI));
    for (let from = 0; from < users.length; from += chunk) {
      const ids = users.subarray(from, Math.min(users.length, from + chunk));
      const s = tf.tidy(() => {
        const x = model.userFeatureRows(ids);
        const u = model.userTower(tf.tensor1d(ids, 'int32'), x, false).out;
        return tf.add(tf.matMul(u, itemT), biasRow);
      });
      out.set(s.dataSync() as Float32Array, from * nI);
      s.dispose();
    }
  } finally {
    itemT.dispose();
    biasRow.dispose();
  }
  return out;
}

/**
 * The k best items of one row of scores, best first; equal scores go to the lower item index, and
 * NaN counts as -Infinity. O(n k) at worst, about O(n) for k << n.
 */
export function topK(scores: Float32Array, k: number): Int32Array {
  const n = scores.length;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`two-tower: topK: k must be an integer in 0..${n}, got ${k}`);
  const best = new Int32Array(k);
  const val = new Float64Array(k);
  let size = 0;
  for (let i = 0; i < n; i++) {
    const s = Number.isNaN(scores[i]) ? -Infinity : scores[i];
    // Items come in index order, so an equal score never displaces an earlier item.
    if (size === k && !(s > val[k - 1])) continue;
    let j = size < k ? size++ : k - 1;
    while (j > 0 && s > val[j - 1]) {
      val[j] = val[j - 1];
      best[j] = best[j - 1];
      j--;
    }
    val[j] = s;
    best[j] = i;
  }
  return best;
}

/** topK of each row of a rows x items score matrix (as scoreAll returns): rows x k item ids. */
export function topKRows(scores: Float32Array, items: number, k: number): Int32Array {
  if (!Number.isInteger(items) || items < 1 || scores.length % items !== 0) throw new RangeError(`two-tower: topKRows: ${scores.length} scores are not rows of ${items} items`);
  const rows = scores.length / items;
  const out = new Int32Array(rows * k);
  for (let r = 0; r < rows; r++) out.set(topK(scores.subarray(r * items, (r + 1) * items), k), r * k);
  return out;
}
