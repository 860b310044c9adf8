/**
 * The bench's synthetic bandit log: one row per decision with the O(n) scalar columns of
 * DESIGN.md §2 (action int32, reward, propensity, target_propensity, q_hat_logged, q_hat_target).
 *
 * A world of C contexts and K actions, fixed by the seed: a softmax logging policy mixed with 10%
 * uniform (so every propensity is >= 0.01), a target that is a sharper softmax of the true
 * expected reward mixed with 5% uniform, Bernoulli rewards, and a reward model q_hat = truth + noise.
 * Rows are drawn with seedrandom's Alea, batch by batch, so a file of any size streams to disk in
 * bounded memory and the same (rows, seed) always gives the same file.
 */
import seedrandom from 'seedrandom';
import type { OutBatch, OutColumnSpec } from '../../src/data/write-log.js';

export const K = 10;
export const CONTEXTS = 1000;

export const SCHEMA: readonly OutColumnSpec[] = [
  { name: 'action', kind: 'int32' },
  { name: 'reward', kind: 'float64' },
  { name: 'propensity', kind: 'float64' },
  { name: 'target_propensity', kind: 'float64' },
  { name: 'q_hat_logged', kind: 'float64' },
  { name: 'q_hat_target', kind: 'float64' },
];

export interface SynthColumns {
  n: number;
  action: Int32Array;
  reward: Float64Array;
  propensity: Float64Array;
  targetPropensity: Float64Array;
  qHatLogged: Float64Array;
  qHatTarget: Float64Array;
}

interface World {
  /** C x K cumulative logging distribution, logging probs, target probs, truth, q_hat; C x 1 qpi. */
  cdf: Float64Array;
  mu: Float64Array;
  pi: Float64Array;
  truth: Float64Array;
  qhat: Float64Array;
  qpi: Float64Array;
}

function softmax(scores: readonly number[], temperature: number): number[] {
  const m = Math.max(...scores);
  const e = scores.map((s) => Math.exp((s - m) / temperature));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

function makeWorld(seed: number): World {
  const rng = seedrandom.alea(`bench-world:${seed}`);
  const w: World = {
    cdf: new Float64Array(CONTEXTS * K),
    mu: new Float64Array(CONTEXTS * K),
    pi: new Float64Array(CONTEXTS * K),
    truth: new Float64Array(CONTEXTS * K),
    qhat: new Float64Array(CONTEXTS * K),
    qpi: new Float64Array(CONTEXTS),
  };
  for (let c = 0; c < CONTEXTS; c++) {
    const truth = Array.from({ length: K }, () => 0.05 + 0.5 * rng() * rng());
    const logScores = Array.from({ length: K }, () => 2 * rng());
    const mu = softmax(logScores, 1).map((p) => 0.9 * p + 0.1 / K);
    const pi = softmax(truth, 0.1).map((p) => 0.95 * p + 0.05 / K);
    let cum = 0;
    let qpi = 0;
    for (let a = 0; a < K; a++) {
      const o = c * K + a;
      cum += mu[a];
      w.cdf[o] = a === K - 1 ? 1 : cum;
      w.mu[o] = mu[a];
      w.pi[o] = pi[a];
      w.truth[o] = truth[a];
      const q = Math.min(1, Math.max(0, truth[a] + 0.1 * (rng() - 0.5)));
      w.qhat[o] = q;
      qpi += pi[a] * q;
    }
    w.qpi[c] = qpi;
  }
  return w;
}

/** Fills rows [0, n) of `out` with the next n rows of the stream `rng`. */
function fillRows(world: World, rng: () => number, out: SynthColumns, n: number): void {
  const { cdf, mu, pi, truth, qhat, qpi } = world;
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rng() * CONTEXTS);
    const u = rng();
    const base = c * K;
    let a = 0;
    while (a < K - 1 && u >= cdf[base + a]) a++;
    const o = base + a;
    out.action[i] = a;
    out.reward[i] = rng() < truth[o] ? 1 : 0;
    out.propensity[i] = mu[o];
    out.targetPropensity[i] = pi[o];
    out.qHatLogged[i] = qhat[o];
    out.qHatTarget[i] = qpi[c];
  }
}

function allocate(n: number): SynthColumns {
  return {
    n,
    action: new Int32Array(n),
    reward: new Float64Array(n),
    propensity: new Float64Array(n),
    targetPropensity: new Float64Array(n),
    qHatLogged: new Float64Array(n),
    qHatTarget: new Float64Array(n),
  };
}

/** The whole log in memory (for the in-memory bootstrap cases). */
export function synthColumns(n: number, seed = 1): SynthColumns {
  const world = makeWorld(seed);
  const rng = seedrandom.alea(`bench-rows:${seed}`);
  const out = allocate(n);
  fillRows(world, rng, out, n);
  return out;
}

/**
 * The same rows as synthColumns(n, seed), as writeTable batches of `batchRows` rows (fresh arrays
 * per batch: the writers may hold a batch until it is flushed).
 */
export function* synthBatches(n: number, seed = 1, batchRows = 65536): Generator<OutBatch> {
  const world = makeWorld(seed);
  const rng = seedrandom.alea(`bench-rows:${seed}`);
  for (let done = 0; done < n; done += batchRows) {
    const m = Math.min(batchRows, n - done);
    const b = allocate(m);
    fillRows(world, rng, b, m);
    yield {
      n: m,
      columns: {
        action: b.action,
        reward: b.reward,
        propensity: b.propensity,
        target_propensity: b.targetPropensity,
        q_hat_logged: b.qHatLogged,
        q_hat_target: b.qHatTarget,
      },
    };
  }
}
