import type { LogBatch } from '../data/batch.js';
import { InputError } from '../data/errors.js';
import { clusterHash, seedKey } from '../stats/hash.js';

/**
 * The training table of a reward model, gathered in one pass over the log: standardized context
 * features (float32, what TF.js computes in), the logged action and position, the reward, and each
 * row's cross-fitting fold. O(n x d) memory: the log's features, not its K-wide lists.
 */
export interface RewardData {
  readonly n: number;
  /** Context width (0: the model sees the action and position only). */
  readonly d: number;
  /** Actions 0..K-1 (at least max(action) + 1; more when a policy's action_dist is wider). */
  readonly K: number;
  /** Positions 0..P-1 one-hot encoded; 0 when the log has no position column. */
  readonly P: number;
  /** n x d, standardized with `scaling`. */
  readonly x: Float32Array;
  readonly action: Int32Array;
  readonly position?: Int32Array;
  readonly reward: Float32Array;
  /** Per row: its fold, 0..folds-1. */
  readonly fold: Uint8Array;
  readonly folds: number;
  /** Seed of the folds and the validation split (and of the models fitted on this data). */
  readonly seed: number;
  /** Every reward is 0 or 1: a logistic (Bernoulli) likelihood; otherwise squared error. */
  readonly binary: boolean;
  /** Feature standardization x' = (x - mean) / sd, reused for predictions. */
  readonly scaling: FeatureScaling;
  /** Per row: its cluster's hash for the validation split (independent of the fold hash). */
  readonly splitHash: Uint32Array;
}

export interface FeatureScaling {
  readonly mean: Float64Array;
  readonly sd: Float64Array;
}

/** Salts of the fold and validation hashes, so the two splits are independent of each other and of the bootstrap. */
const FOLD_SALT = 0x51ed270b;
const SPLIT_SALT = 0x2545f491;

/**
 * Fold of a row: by its request (or slate) when the log has request_id, so that no request is in
 * both the training and the held-out part (Chernozhukov et al. 2018 cross-fitting at the unit of
 * independence), else by its global row index. A hash, so a row's fold does not depend on batching.
 */
export function foldOf(clusterKey: number, seed: number, folds: number): number {
  return clusterHash(seedKey((seed ^ FOLD_SALT) >>> 0), clusterKey) % folds;
}

export function splitHashOf(clusterKey: number, seed: number): number {
  return clusterHash(seedKey((seed ^ SPLIT_SALT) >>> 0), clusterKey);
}

/** The key rows are grouped by: the request's cluster key, else the row's global index. */
export function rowKey(log: LogBatch, i: number): number {
  return log.clusterKey !== undefined ? log.clusterKey[i] : (log.rowOffset + i) >>> 0;
}

export interface CollectOptions {
  readonly folds: number;
  readonly seed: number;
  /** Lower bound on K (e.g. the width of the policies' action_dist). */
  readonly minActions?: number;
}

/** Reads every batch once and builds the RewardData. */
export async function collectRewardData(batches: AsyncIterable<LogBatch>, opts: CollectOptions): Promise<RewardData> {
  const xs: Float32Array[] = [];
  let moments: FeatureMoments | undefined;
  const actions: Int32Array[] = [];
  const positions: Int32Array[] = [];
  const rewards: Float64Array[] = [];
  const folds: Uint8Array[] = [];
  const splits: Uint32Array[] = [];
  let d: number | undefined;
  let hasPosition: boolean | undefined;
  let n = 0;
  let maxAction = -1;
  let maxPosition = -1;
  let binary = true;
  let source = '';
  for await (const b of batches) {
    source = b.source;
    const width = b.context?.width ?? 0;
    if (d === undefined) {
      d = width;
      hasPosition = b.position !== undefined;
    } else if (width !== d) {
      throw new InputError(`context has ${width} features here but ${d} in earlier rows`, { file: b.source, column: 'context', row: b.rowOffset });
    }
    moments ??= new FeatureMoments(d);
    if (b.context !== undefined) {
      requireFiniteFeatures(b, d);
      moments.add(b.context.values, b.n);
      xs.push(Float32Array.from(b.context.values));
    }
    actions.push(b.action.slice());
    rewards.push(b.reward.slice());
    if (hasPosition === true) {
      const p = b.position as Int32Array;
      positions.push(p.slice());
      for (let i = 0; i < b.n; i++) if (p[i] > maxPosition) maxPosition = p[i];
    }
    const f = new Uint8Array(b.n);
    const s = new Uint32Array(b.n);
    for (let i = 0; i < b.n; i++) {
      const key = rowKey(b, i);
      f[i] = foldOf(key, opts.seed, opts.folds);
      s[i] = splitHashOf(key, opts.seed);
      if (b.action[i] > maxAction) maxAction = b.action[i];
      const r = b.reward[i];
      if (r !== 0 && r !== 1) binary = false;
    }
    folds.push(f);
    splits.push(s);
    n += b.n;
  }
  if (n === 0 || d === undefined) throw new InputError('no rows to fit a reward model on', { file: source });
  const K = Math.max(maxAction + 1, opts.minActions ?? 0);
  const x = concat(xs, n * d, Float32Array);
  const scaling = (moments as FeatureMoments).scaling();
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = (x[i * d + j] - scaling.mean[j]) / scaling.sd[j];
  return {
    n,
    d,
    K,
    P: hasPosition === true ? maxPosition + 1 : 0,
    x,
    action: concat(actions, n, Int32Array),
    position: hasPosition === true ? concat(positions, n, Int32Array) : undefined,
    reward: Float32Array.from(concat(rewards, n, Float64Array)),
    fold: concat(folds, n, Uint8Array),
    folds: opts.folds,
    seed: opts.seed,
    binary,
    scaling,
    splitHash: concat(splits, n, Uint32Array),
  };
}

/** A missing (null) or non-finite feature would turn the standardization and every prediction into NaN. */
function requireFiniteFeatures(b: LogBatch, d: number): void {
  const v = (b.context as { values: Float64Array }).values;
  for (let i = 0; i < b.n; i++) {
    for (let j = 0; j < d; j++) {
      const x = v[i * d + j];
      if (!Number.isFinite(x)) {
        throw new InputError(`context feature ${j} is ${x} (missing or not finite); a reward model needs every feature of every row`, { file: b.source, column: 'context', row: b.rowOffset + i });
      }
    }
  }
}

type Typed = Float32Array | Float64Array | Int32Array | Uint8Array | Uint32Array;

function concat<T extends Typed>(parts: readonly T[], n: number, make: new (n: number) => T): T {
  const out = new make(n);
  let o = 0;
  for (const p of parts) {
    out.set(p as never, o);
    o += p.length;
  }
  return out;
}

/** Streaming per-feature mean and variance (Welford / Chan et al. merge of batch moments, in float64). */
class FeatureMoments {
  private n = 0;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;

  constructor(private readonly d: number) {
    this.mean = new Float64Array(d);
    this.m2 = new Float64Array(d);
  }

  add(values: Float64Array, rows: number): void {
    const d = this.d;
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let i = 0; i < rows; i++) s += values[i * d + j];
      const bm = s / rows;
      let q = 0;
      for (let i = 0; i < rows; i++) {
        const v = values[i * d + j] - bm;
        q += v * v;
      }
      const total = this.n + rows;
      const delta = bm - this.mean[j];
      this.mean[j] += (delta * rows) / total;
      this.m2[j] += q + (delta * delta * this.n * rows) / total;
    }
    this.n += rows;
  }

  /** sd 1 for a constant feature, so that it standardizes to 0. */
  scaling(): FeatureScaling {
    const sd = new Float64Array(this.d);
    for (let j = 0; j < this.d; j++) {
      const s = Math.sqrt(this.m2[j] / this.n);
      sd[j] = s > 0 ? s : 1;
    }
    return { mean: Float64Array.from(this.mean), sd };
  }
}

/** A block's standardized features as float32, n x d. */
export function scaledFeatures(log: LogBatch, scaling: FeatureScaling, d: number): Float32Array {
  const out = new Float32Array(log.n * d);
  if (d === 0) return out;
  const c = log.context;
  if (c === undefined || c.width !== d) {
    throw new InputError(`the reward model was fitted on ${d} context features but this batch has ${c?.width ?? 0}`, { file: log.source, column: 'context', row: log.rowOffset });
  }
  for (let i = 0; i < log.n; i++) for (let j = 0; j < d; j++) out[i * d + j] = (c.values[i * d + j] - scaling.mean[j]) / scaling.sd[j];
  return out;
}
