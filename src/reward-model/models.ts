import type { Tensor1D, Tensor2D, Variable } from '@tensorflow/tfjs';
import type { TfModule } from '../tf/backend.js';

/**
 * The two reward models of issue 5. Both output one logit per action for a row, so q_hat for every
 * action is one forward pass, and the logged action's logit is picked with a one-hot product
 * (no gather: its gradient has no wasm kernel, src/tf/backend.ts).
 *
 * - logistic: logit(x, a, k) = x . W_a + b_a + U_k,a: a logistic regression on the context
 *   interacted with the one-hot action (one coefficient vector per action), plus a bias per
 *   (position, action). Well specified for rewards sigmoid(x . theta_a + b_a).
 * - mlp: two ReLU layers (64, 32) over [x, one-hot position], then one output per action.
 * Continuous rewards use the same outputs as a linear prediction (squared error).
 */
export type RewardModelKind = 'logistic' | 'mlp';

export const REWARD_MODEL_KINDS: readonly RewardModelKind[] = ['logistic', 'mlp'];

export interface ModelShape {
  readonly d: number;
  readonly K: number;
  /** Positions (one-hot width); 0 without a position column. */
  readonly P: number;
}

export const MLP_HIDDEN = [64, 32] as const;

/** Parameter shapes of a model, in a fixed order. */
export function parameterShapes(kind: RewardModelKind, s: ModelShape): number[][] {
  // Every parameter must feed the loss (an unconnected one gets no gradient): no U without positions.
  if (kind === 'logistic') return s.P > 0 ? [[s.d, s.K], [s.K], [s.P, s.K]] : [[s.d, s.K], [s.K]];
  const inputs = s.d + s.P;
  const [h1, h2] = MLP_HIDDEN;
  return [[Math.max(inputs, 1), h1], [h1], [h1, h2], [h2], [h2, s.K], [s.K]];
}

/**
 * Initial values from our own seeded stream (so a seed fixes them on every backend): zeros for the
 * convex logistic model; Glorot-uniform weights and zero biases for the MLP (Glorot & Bengio 2010).
 */
export function initialValues(kind: RewardModelKind, s: ModelShape, uniform: () => number): Float32Array[] {
  return parameterShapes(kind, s).map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    if (kind === 'mlp' && shape.length === 2) {
      const limit = Math.sqrt(6 / (shape[0] + shape[1]));
      for (let i = 0; i < size; i++) v[i] = (2 * uniform() - 1) * limit;
    }
    return v;
  });
}

export function makeVariables(tf: TfModule, kind: RewardModelKind, s: ModelShape, values: readonly Float32Array[]): Variable[] {
  return parameterShapes(kind, s).map((shape, j) => tf.variable(tf.tensor(values[j], shape, 'float32'), true, undefined, 'float32'));
}

/** Logits for every action, B x K. `x` is B x d (ignored when d = 0), `pos` B x P one-hot or null. */
export function logits(tf: TfModule, kind: RewardModelKind, s: ModelShape, params: readonly Variable[], x: Tensor2D, pos: Tensor2D | null): Tensor2D {
  if (kind === 'logistic') {
    const [W, b, U] = params as Variable[];
    let z: Tensor2D = tf.add(s.d > 0 ? tf.matMul(x, W as unknown as Tensor2D) : tf.zeros([x.shape[0], s.K]), b as unknown as Tensor1D);
    if (pos !== null && U !== undefined) z = tf.add(z, tf.matMul(pos, U as unknown as Tensor2D));
    return z;
  }
  const [W1, b1, W2, b2, W3, b3] = params as Variable[];
  const input = s.d > 0 && pos !== null ? tf.concat([x, pos], 1) : s.d > 0 ? x : pos !== null ? pos : tf.zeros([x.shape[0], 1]);
  const h1 = tf.relu(tf.add(tf.matMul(input as Tensor2D, W1 as unknown as Tensor2D), b1 as unknown as Tensor1D));
  const h2 = tf.relu(tf.add(tf.matMul(h1, W2 as unknown as Tensor2D), b2 as unknown as Tensor1D));
  return tf.add(tf.matMul(h2, W3 as unknown as Tensor2D), b3 as unknown as Tensor1D);
}
