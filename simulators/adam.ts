import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs';
import type { TfModule } from '../src/tf/backend.js';

/**
 * Adam (Kingma & Ba 2015, "Adam: a method for stochastic optimization", Algorithm 1) over TF.js
 * variables, with a state that saves and restores bit for bit:
 *   m_t = b1 m_{t-1} + (1 - b1) g_t,   v_t = b2 v_{t-1} + (1 - b2) g_t^2,
 *   p_t = p_{t-1} - lr (m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t)) + eps),
 * the same update and epsilon placement as tf.train.adam.
 *
 * Why not tf.train.adam: it keeps the bias-correction powers b^t as float32 variables multiplied
 * by b once per step, and its setWeights recomputes them as pow(b, t + 1), which rounds differently;
 * a model restored from a checkpoint would continue on other numbers, and `ope simulate --resume`
 * promises outputs equal to an uninterrupted run's, byte for byte. Here the step count t is an
 * integer and 1 - b^t is computed in float64 from t alone, so (parameters, m, v, t) is the whole
 * state.
 *
 * Lazy (row-wise) steps for embedding tables (`minimize`'s `rows`): only the given rows of a table
 * (those the batch looked up) get the update above, with the same t; every other row keeps its
 * parameters and both moments. That is the LazyAdam of TensorFlow Addons (tfa.optimizers.LazyAdam)
 * and not dense Adam's math: dense Adam decays the moments of every row at every step and keeps
 * moving an untouched row along its old momentum (m / (sqrt(v) + eps) is not 0 after a row's last
 * gradient). The two agree bit for bit on a row that every step touches (the same float32 operations
 * on it, test/two-tower.test.ts). The cost is O(rows in the batch) for the arithmetic plus one copy of
 * each of the table, m and v (tf.tensorScatterUpdate writes a new tensor), instead of about fifteen
 * full-table passes: what makes a 100,000-user table affordable at every step. The state is the same
 * (parameters, m, v, t), so a restored optimizer continues bit for bit either way.
 */

export interface AdamConfig {
  readonly learningRate: number;
  readonly beta1?: number;
  readonly beta2?: number;
  /** Default 1e-7, TF.js's epsilon on float32 backends. */
  readonly epsilon?: number;
}

/** Everything Adam carries between steps: the moments of every variable, in the given order, and t. */
export interface AdamState {
  readonly step: number;
  readonly m: readonly Float32Array[];
  readonly v: readonly Float32Array[];
}

export class Adam {
  /** Steps taken (t). */
  step = 0;
  private readonly tf: TfModule;
  private readonly vars: readonly Variable[];
  private readonly m: Variable[];
  private readonly v: Variable[];
  private readonly lr: number;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;

  constructor(tf: TfModule, vars: readonly Variable[], cfg: AdamConfig) {
    this.tf = tf;
    this.vars = vars;
    this.lr = cfg.learningRate;
    this.b1 = cfg.beta1 ?? 0.9;
    this.b2 = cfg.beta2 ?? 0.999;
    this.eps = cfg.epsilon ?? 1e-7;
    const zeros = (p: Variable): Variable => tf.tidy(() => tf.variable(tf.zerosLike(p), false, undefined, 'float32'));
    this.m = vars.map(zeros);
    this.v = vars.map(zeros);
  }

  /**
   * One step on the gradient of `loss` (evaluated once) with respect to the variables; a variable
   * the loss does not reach keeps its value and moments. `rows`: for a table (a variable whose first
   * axis indexes rows) the distinct rows the loss reached, updated lazily (class comment); the
   * gradient must be 0 on every other row. Tables not in `rows`, and every other variable, get the
   * dense update.
   */
  minimize(loss: () => Scalar, rows?: ReadonlyMap<Variable, Int32Array>): void {
    const tf = this.tf;
    const { value, grads } = tf.variableGrads(loss, this.vars as Variable[]);
    value.dispose();
    this.step++;
    const c1 = 1 - Math.pow(this.b1, this.step);
    const c2 = 1 - Math.pow(this.b2, this.step);
    tf.tidy(() => {
      this.vars.forEach((p, i) => {
        const g: Tensor | undefined = grads[p.name];
        if (g === undefined) return;
        const lazy = rows?.get(p);
        if (lazy !== undefined) {
          this.lazyStep(p, i, g, lazy, c1, c2);
          return;
        }
        const m = tf.add(tf.mul(this.m[i], this.b1), tf.mul(g, 1 - this.b1));
        const v = tf.add(tf.mul(this.v[i], this.b2), tf.mul(tf.square(g), 1 - this.b2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.eps));
        p.assign(tf.sub(p, tf.mul(update, this.lr)));
      });
    });
    for (const g of Object.values(grads)) g.dispose();
  }

  /** The update of the class comment on rows `rows` of table `p` only (called inside minimize's tidy). */
  private lazyStep(p: Variable, i: number, g: Tensor, rows: Int32Array, c1: number, c2: number): void {
    const tf = this.tf;
    const ids = tf.tensor1d(rows, 'int32');
    const at = tf.tensor2d(rows, [rows.length, 1], 'int32');
    const gr = tf.gather(g, ids);
    const m = tf.add(tf.mul(tf.gather(this.m[i], ids), this.b1), tf.mul(gr, 1 - this.b1));
    const v = tf.add(tf.mul(tf.gather(this.v[i], ids), this.b2), tf.mul(tf.square(gr), 1 - this.b2));
    const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.eps));
    const next = tf.sub(tf.gather(p, ids), tf.mul(update, this.lr));
    this.m[i].assign(tf.tensorScatterUpdate(this.m[i], at, m));
    this.v[i].assign(tf.tensorScatterUpdate(this.v[i], at, v));
    p.assign(tf.tensorScatterUpdate(p, at, next));
  }

  /** A copy of the state. */
  state(): AdamState {
    return {
      step: this.step,
      m: this.m.map((t) => (t.dataSync() as Float32Array).slice()),
      v: this.v.map((t) => (t.dataSync() as Float32Array).slice()),
    };
  }

  /** Continues from a saved state (same variables, same order). */
  restore(state: AdamState): void {
    if (!(Number.isInteger(state.step) && state.step >= 0)) throw new RangeError(`adam: step must be an integer >= 0, got ${state.step}`);
    if (state.m.length !== this.vars.length || state.v.length !== this.vars.length) throw new RangeError(`adam: state has ${state.m.length} moments for ${this.vars.length} variables`);
    const tf = this.tf;
    for (let i = 0; i < this.vars.length; i++) {
      for (const [dst, src] of [
        [this.m[i], state.m[i]],
        [this.v[i], state.v[i]],
      ] as const) {
        if (src.length !== dst.size) throw new RangeError(`adam: moment ${i} has ${src.length} values, the variable ${dst.size}`);
        const t = tf.tensor(src, dst.shape, 'float32');
        dst.assign(t);
        t.dispose();
      }
    }
    this.step = state.step;
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}
