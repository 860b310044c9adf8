import type { Scalar, Tensor1D, Tensor2D } from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTf, type TfRuntime } from '../src/tf/backend.js';
import { Adam } from '../simulators/adam.js';
import { RandomStream } from '../simulators/random-streams.js';
import {
  accidentalHitMask,
  createTwoTower,
  inBatchLogits,
  inBatchSoftmaxLoss,
  logSamplingProbabilities,
  lookup,
  lossOn,
  MASKED_LOGIT,
  scoreAll,
  topK,
  topKRows,
  type TwoTowerConfig,
  type TwoTowerData,
} from '../simulators/two-tower.js';

let rt: TfRuntime;
beforeAll(async () => {
  rt = await loadTf('wasm');
});

/** A world whose click probabilities follow a known rank-r affinity: sigmoid(base + scale a_u . b_i / sqrt(r)). */
interface World {
  users: number;
  items: number;
  p: Float64Array;
}

function makeWorld(users: number, items: number, rank: number, seed: number): World {
  const rs = new RandomStream(`two-tower-test-world:${seed}`);
  const a = Float64Array.from({ length: users * rank }, () => rs.normal());
  const b = Float64Array.from({ length: items * rank }, () => rs.normal());
  const p = new Float64Array(users * items);
  for (let u = 0; u < users; u++)
    for (let i = 0; i < items; i++) {
      let s = 0;
      for (let r = 0; r < rank; r++) s += a[u * rank + r] * b[i * rank + r];
      p[u * items + i] = 1 / (1 + Math.exp(-(-2.5 + (2.5 * s) / Math.sqrt(rank))));
    }
  return { users, items, p };
}

/** Uniformly random slates of K items, `slates` per user, clicked with p(u, i) times a position effect. */
function logSlates(w: World, slates: number, K: number, seed: number): TwoTowerData & { positions: Int32Array } {
  const rs = new RandomStream(`two-tower-test-logs:${seed}`);
  const n = w.users * slates * K;
  const users = new Int32Array(n);
  const items = new Int32Array(n);
  const clicked = new Float32Array(n);
  const positions = new Int32Array(n);
  const perm = Int32Array.from({ length: w.items }, (_, i) => i);
  let r = 0;
  for (let s = 0; s < slates; s++)
    for (let u = 0; u < w.users; u++) {
      for (let k = 0; k < K; k++) {
        const j = k + Math.floor(rs.uniform() * (w.items - k));
        [perm[k], perm[j]] = [perm[j], perm[k]];
      }
      for (let k = 0; k < K; k++, r++) {
        users[r] = u;
        items[r] = perm[k];
        positions[r] = k;
        clicked[r] = rs.uniform() < w.p[u * w.items + perm[k]] / (1 + k / 4) ? 1 : 0;
      }
    }
  return { users, items, clicked, positions };
}

/** Mean true click probability of each user's slate (rows of K item ids). */
function slateValue(w: World, slates: Int32Array, K: number): number {
  let s = 0;
  for (let u = 0; u < w.users; u++) for (let k = 0; k < K; k++) s += w.p[u * w.items + slates[u * K + k]];
  return s / (w.users * K);
}

const allUsers = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe('two-tower: the in-batch softmax with logQ correction, by hand', () => {
  it('subtracts exactly log q from every logit, and its loss matches a hand computation', () => {
    const tf = rt.tf;
    const U = [
      [0.5, -1.25],
      [2, 0.75],
      [-0.5, 1.5],
    ];
    const V = [
      [1, 0.5],
      [-0.25, 2],
      [0.75, -1],
    ];
    const batchItems = Int32Array.from([4, 7, 4]); // rows 0 and 2 clicked the same item
    const counts = [0, 0, 0, 0, 6, 0, 0, 2]; // q(4) = 0.75, q(7) = 0.25
    const logq = logSamplingProbabilities(counts);
    expect(logq[4]).toBeCloseTo(Math.log(0.75), 15);
    expect(logq[7]).toBeCloseTo(Math.log(0.25), 15);
    expect(Number.isNaN(logq[0])).toBe(true);
    const bias = [0.125, -0.5, 0.125];
    const columnLogQ = Float32Array.from(batchItems, (i) => logq[i]);
    for (const temperature of [1, 0.5]) {
      const [withQ, withoutQ, masked, loss] = tf.tidy(() => {
        const u = tf.tensor2d(U) as Tensor2D;
        const v = tf.tensor2d(V) as Tensor2D;
        const b = tf.tensor1d(bias) as Tensor1D;
        const m = tf.tensor2d(accidentalHitMask(batchItems) as Float32Array, [3, 3]) as Tensor2D;
        const l = inBatchLogits(tf, u, v, b, tf.tensor1d(columnLogQ) as Tensor1D, m, temperature);
        return [
          inBatchLogits(tf, u, v, b, tf.tensor1d(columnLogQ) as Tensor1D, null, temperature)
            .dataSync()
            .slice(),
          inBatchLogits(tf, u, v, b, tf.zeros([3]) as Tensor1D, null, temperature)
            .dataSync()
            .slice(),
          l.dataSync().slice(),
          inBatchSoftmaxLoss(tf, l).dataSync()[0],
        ];
      });
      for (let j = 0; j < 3; j++)
        for (let k = 0; k < 3; k++) {
          // the uncorrected logit is (u_j . v_k + b_k) / temperature ...
          const s = (U[j][0] * V[k][0] + U[j][1] * V[k][1] + bias[k]) / temperature;
          expect(withoutQ[j * 3 + k]).toBeCloseTo(s, 6);
          // ... and the correction moves it by exactly -log q(i_k), in float32
          expect(withQ[j * 3 + k]).toBe(Math.fround(withoutQ[j * 3 + k] - columnLogQ[k]));
        }
      // the accidental hits (0, 2) and (2, 0) are masked, nothing else
      for (let j = 0; j < 3; j++)
        for (let k = 0; k < 3; k++) {
          if ((j === 0 && k === 2) || (j === 2 && k === 0)) expect(masked[j * 3 + k]).toBeLessThan(MASKED_LOGIT / 2);
          else expect(masked[j * 3 + k]).toBe(withQ[j * 3 + k]);
        }
      // loss = mean_j [log sum_{k unmasked} exp(l_jk) - l_jj], in double precision by hand
      let hand = 0;
      for (let j = 0; j < 3; j++) {
        const l = (k: number) => (U[j][0] * V[k][0] + U[j][1] * V[k][1] + bias[k]) / temperature - logq[batchItems[k]];
        const ks = [0, 1, 2].filter((k) => k === j || batchItems[k] !== batchItems[j]);
        hand += Math.log(ks.reduce((acc, k) => acc + Math.exp(l(k)), 0)) - l(j);
      }
      expect(loss).toBeCloseTo(hand / 3, 5);
    }
  });

  it('builds no mask for a batch without duplicates', () => {
    expect(accidentalHitMask(Int32Array.from([3, 1, 2]))).toBeNull();
    expect(Array.from(accidentalHitMask(Int32Array.from([5, 5])) as Float32Array)).toEqual([0, MASKED_LOGIT, MASKED_LOGIT, 0]);
  });

  it("the scatter-add gradient of a lookup equals the one-hot matmul's (to float32 rounding)", () => {
    const tf = rt.tf;
    const rs = new RandomStream('two-tower-test-grad');
    const n = 50;
    const d = 8;
    const ids = Int32Array.from({ length: 64 }, (_, j) => (j % 5 === 0 ? 7 : Math.floor(rs.uniform() * n)));
    const table = tf.tensor2d(
      Float32Array.from({ length: n * d }, () => rs.normal()),
      [n, d],
    );
    const w = tf.tensor2d(
      Float32Array.from({ length: ids.length * d }, () => rs.normal()),
      [ids.length, d],
    );
    const idx = tf.tensor1d(ids, 'int32') as Tensor1D;
    const grads = (['scatter', 'one-hot'] as const).map((mode) => {
      const g = tf.grad((t) => tf.sum(tf.mul(lookup(tf, t as Tensor2D, idx, mode), w)))(table);
      const v = g.dataSync().slice() as Float32Array;
      g.dispose();
      return v;
    });
    const values = (['scatter', 'one-hot', null] as const).map((mode) => tf.tidy(() => lookup(tf, table, idx, mode).dataSync().slice() as Float32Array));
    table.dispose();
    w.dispose();
    idx.dispose();
    // the same sums, in another order inside the matmul: equal to float32 rounding
    for (let j = 0; j < grads[0].length; j++) expect(Math.abs(grads[0][j] - grads[1][j])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(grads[1][j])));
    expect(grads[0][7 * d]).not.toBe(0); // the repeated row accumulated
    expect(sameBits(values[0], values[1])).toBe(true);
    expect(sameBits(values[0], values[2])).toBe(true);
  });
});

describe('two-tower: learning a low-rank world', () => {
  const world = makeWorld(100, 200, 3, 1);
  const K = 10;
  it.each(['sampled-softmax', 'pointwise'] as const)('%s: the top-10 has over 2x the true click rate of a random slate', async (loss) => {
    const data = logSlates(world, 20, K, 2); // 20,000 impressions, ~1,900 clicks
    let random = 0;
    for (const p of world.p) random += p;
    random /= world.p.length;
    const model = createTwoTower(rt, { users: world.users, items: world.items, dim: 16, loss, positions: K, learningRate: 0.03, epochs: 10, l2: 1e-3, seed: 7 });
    try {
      const fresh = slateValue(world, topKRows(scoreAll(model, allUsers(world.users)), world.items, K), K);
      const result = await model.train(data);
      expect(result.examples).toBe(loss === 'pointwise' ? data.users.length : data.clicked.reduce((a, b) => a + b, 0));
      expect(result.losses).toHaveLength(10);
      expect(result.losses[9]).toBeLessThan(result.losses[0]);
      const trained = slateValue(world, topKRows(scoreAll(model, allUsers(world.users)), world.items, K), K);
      expect(fresh).toBeLessThan(1.5 * random);
      expect(trained).toBeGreaterThan(2 * random);
    } finally {
      model.dispose();
    }
  });
});

describe('two-tower: reproducible, warm-started, leak-free', () => {
  const world = makeWorld(60, 80, 3, 3);
  const day1 = logSlates(world, 10, 10, 4);
  const day2 = logSlates(world, 3, 10, 5); // a smaller second round
  const base: TwoTowerConfig = { users: 60, items: 80, dim: 8, learningRate: 0.03, epochs: 4, positions: 10, seed: 11 };

  it.each(['sampled-softmax', 'pointwise'] as const)('%s: same seed and data give bit-identical parameters, a new seed others', async (loss) => {
    const run = async (seed: number) => {
      const m = createTwoTower(rt, { ...base, loss, seed });
      const initial = m.parameters();
      const losses = [...(await m.train(day1)).losses, ...(await m.train(day2)).losses];
      const params = m.parameters();
      const scores = scoreAll(m, allUsers(60));
      m.dispose();
      return { initial, losses, params, scores };
    };
    const [a, b, c] = [await run(11), await run(11), await run(12)];
    expect(a.losses).toEqual(b.losses);
    expect(a.params.map((p) => p.name)).toEqual(b.params.map((p) => p.name));
    for (let j = 0; j < a.params.length; j++) expect(sameBits(a.params[j].values, b.params[j].values)).toBe(true);
    expect(sameBits(a.scores, b.scores)).toBe(true);
    expect(sameBits(a.initial[0].values, c.initial[0].values)).toBe(false);
    expect(sameBits(a.params[0].values, c.params[0].values)).toBe(false);
    // training moved every parameter tensor away from its start
    for (let j = 0; j < a.params.length; j++) expect(sameBits(a.initial[j].values, a.params[j].values)).toBe(false);
  });

  it.each(['sampled-softmax', 'pointwise'] as const)('%s: a warm round continues from the previous parameters', async (loss) => {
    const cfg = { ...base, loss, epochs: loss === 'pointwise' ? 4 : 8 };
    const warm = createTwoTower(rt, cfg);
    const fresh = createTwoTower(rt, cfg);
    const day2Only = createTwoTower(rt, cfg);
    try {
      const untrained = lossOn(fresh, day1);
      await warm.train(day1);
      const afterDay1 = lossOn(warm, day1);
      const second = await warm.train(day2);
      const afterDay2 = lossOn(warm, day1);
      await day2Only.train(day2);
      const onlyDay2 = lossOn(day2Only, day1);
      // training on day 1 lowers its loss well below the fresh model's ...
      expect(afterDay1).toBeLessThan(0.9 * untrained);
      // ... and right after a warm round on day 2 it stays far below it (most of the gain is kept) ...
      expect(untrained - afterDay2).toBeGreaterThan(0.5 * (untrained - afterDay1));
      // ... and below a model that saw only day 2: the first round was built on, not re-initialized
      expect(afterDay2).toBeLessThan(0.9 * onlyDay2);
      expect(warm.rounds).toBe(2);
      expect(second.round).toBe(1);
    } finally {
      warm.dispose();
      fresh.dispose();
      day2Only.dispose();
    }
  });

  it.each([
    ['sampled-softmax', 0],
    ['pointwise', 0],
    ['sampled-softmax', 16],
    ['pointwise', 16],
  ] as const)('%s, hidden %i, with features: no tensor outlives a round, and dispose frees everything', async (loss, hidden) => {
    const tf = rt.tf;
    const rs = new RandomStream('two-tower-test-features');
    const userFeatures = Float32Array.from({ length: 60 * 3 }, () => rs.normal());
    const itemFeatures = Float32Array.from({ length: 80 * 2 }, () => rs.normal());
    const before = tf.memory().numTensors;
    const m = createTwoTower(rt, { ...base, loss, hidden, userFeatures, itemFeatures, epochs: 2 });
    await m.train(day1);
    const afterRound1 = tf.memory().numTensors;
    const r2 = await m.train(day2);
    expect(r2.losses.every(Number.isFinite)).toBe(true);
    const scores = scoreAll(m, Int32Array.from([0, 5, 59]));
    expect(scores).toHaveLength(3 * 80);
    expect(scores.every(Number.isFinite)).toBe(true);
    expect(Number.isFinite(lossOn(m, day2))).toBe(true);
    expect(tf.memory().numTensors).toBe(afterRound1);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => scoreAll(m, Int32Array.from([0]))).toThrow(/after dispose/);
  });
  it.each(['sampled-softmax', 'pointwise'] as const)('%s: state() and restore() resume training bit for bit (parameters, Adam moments and step)', async (loss) => {
    const straight = createTwoTower(rt, { ...base, loss });
    const saved = createTwoTower(rt, { ...base, loss });
    const resumed = createTwoTower(rt, { ...base, loss });
    try {
      await straight.train(day1);
      await straight.train(day2);
      await saved.train(day1);
      const checkpoint = saved.state();
      expect(checkpoint.rounds).toBe(1);
      expect(checkpoint.adam.step).toBeGreaterThan(0);
      await resumed.train(day2, { round: 7 }); // other values and moments: restore must overwrite them all
      resumed.restore(checkpoint);
      const r = await resumed.train(day2);
      expect(r.round).toBe(1);
      const a = straight.state();
      const b = resumed.state();
      expect(b.adam.step).toBe(a.adam.step);
      for (let j = 0; j < a.parameters.length; j++) expect(sameBits(a.parameters[j], b.parameters[j])).toBe(true);
      for (let j = 0; j < a.adam.m.length; j++) expect(sameBits(a.adam.m[j], b.adam.m[j]) && sameBits(a.adam.v[j], b.adam.v[j])).toBe(true);
      expect(() => resumed.restore({ ...checkpoint, parameters: checkpoint.parameters.slice(1) })).toThrow(/parameters/);
    } finally {
      straight.dispose();
      saved.dispose();
      resumed.dispose();
    }
  });
});

describe('adam', () => {
  it('first step moves every coordinate by lr g / (|g| + eps) (m / (1 - b1) = g, v / (1 - b2) = g^2)', () => {
    const tf = rt.tf;
    const x = tf.variable(tf.tensor1d([1, -2, 0.5, 3]));
    const opt = new Adam(tf, [x], { learningRate: 0.1 });
    const target = [0, 0, 1, 3];
    // loss = sum (x - target)^2 / 2, so g = x - target = [1, -2, -0.5, 0]
    opt.minimize(() => tf.sum(tf.div(tf.square(tf.sub(x, tf.tensor1d(target))), 2)));
    const g = [1, -2, -0.5, 0];
    const got = Array.from(x.dataSync());
    [1, -2, 0.5, 3].forEach((x0, i) => expect(got[i]).toBeCloseTo(x0 - (0.1 * g[i]) / (Math.abs(g[i]) + 1e-7), 6));
    expect(opt.step).toBe(1);
    opt.dispose();
    x.dispose();
  });

  it('agrees with tf.train.adam over 50 steps to float32 rounding', () => {
    const tf = rt.tf;
    const start = [0.3, -1.2, 2.5, 0.01];
    const a = tf.variable(tf.tensor1d(start));
    const b = tf.variable(tf.tensor1d(start));
    const ours = new Adam(tf, [a], { learningRate: 0.05 });
    const theirs = tf.train.adam(0.05);
    // a non-quadratic loss, so the gradients change along the way
    const loss = (v: typeof a) => (): Scalar => tf.sum(tf.add(tf.pow(v, 4), tf.mul(tf.sin(v), 3)));
    for (let k = 0; k < 50; k++) {
      ours.minimize(loss(a));
      theirs.minimize(loss(b), false, [b]);
    }
    const pa = a.dataSync();
    const pb = b.dataSync();
    for (let i = 0; i < start.length; i++) expect(Math.abs(pa[i] - pb[i])).toBeLessThan(1e-5);
    ours.dispose();
    theirs.dispose();
    a.dispose();
    b.dispose();
  });
});

describe('adam: lazy (row-wise) steps for embedding tables', () => {
  it('updates only the given rows, by hand; dense Adam keeps moving a row it no longer touches', () => {
    const tf = rt.tf;
    const start = [0.5, -1, 2, 0.25, -3, 4];
    const [b1, b2, lr] = [0.9, 0.999, 0.1];
    const dense = tf.variable(tf.tensor2d(start, [3, 2]));
    const lazy = tf.variable(tf.tensor2d(start, [3, 2]));
    const denseOpt = new Adam(tf, [dense], { learningRate: lr });
    const lazyOpt = new Adam(tf, [lazy], { learningRate: lr });
    // loss = c . (row `row` of the table): gradient c on that row, 0 elsewhere (the scatter lookup)
    const step = (row: number, c: number[]): void => {
      const ids = Int32Array.from([row]);
      // the ids tensor outlives the loss: the lookup's gradient reads it
      const idsT = tf.tensor1d(ids, 'int32');
      const loss = (t: typeof dense) => (): Scalar => tf.sum(tf.mul(lookup(tf, t, idsT, 'scatter'), tf.tensor2d(c, [1, 2])));
      denseOpt.minimize(loss(dense));
      lazyOpt.minimize(loss(lazy), new Map([[lazy, ids]]));
      idsT.dispose();
    };
    step(0, [1, -2]);
    // step 1: untouched rows have m = 0 under dense Adam too, so both agree bit for bit
    expect(sameBits(dense.dataSync() as Float32Array, lazy.dataSync() as Float32Array)).toBe(true);
    const afterOne = Float32Array.from(lazy.dataSync());
    expect(afterOne[0]).toBeCloseTo(0.5 - lr, 6);
    expect(afterOne[1]).toBeCloseTo(-1 + lr, 6);
    step(1, [3, -0.5]);
    const d = dense.dataSync() as Float32Array;
    const l = lazy.dataSync() as Float32Array;
    // lazy: row 0 and its moments stay as they were after step 1
    expect(sameBits(l.subarray(0, 2), afterOne.subarray(0, 2))).toBe(true);
    const state = lazyOpt.state();
    expect(sameBits(state.m[0].subarray(0, 2), denseOpt.state().m[0].subarray(0, 2))).toBe(false);
    expect(Array.from(state.m[0].subarray(0, 2))).toEqual([Math.fround((1 - b1) * 1), Math.fround((1 - b1) * -2)]);
    // dense: row 0 moves on along its momentum, although its gradient is 0
    expect(d[0]).toBeLessThan(afterOne[0]);
    // row 1, first touched at t = 2: m_hat = g / (1 + b1), v_hat = g^2 / (1 + b2), the same in both
    expect(sameBits(d.subarray(2, 4), l.subarray(2, 4))).toBe(true);
    [3, -0.5].forEach((g, k) => expect(l[2 + k]).toBeCloseTo(start[2 + k] - (lr * (g / (1 + b1))) / (Math.abs(g) / Math.sqrt(1 + b2) + 1e-7), 6));
    // row 2, never touched, stays put in both
    expect(Array.from(l.subarray(4))).toEqual([-3, 4]);
    expect(Array.from(d.subarray(4))).toEqual([-3, 4]);
    for (const x of [denseOpt, lazyOpt, dense, lazy]) x.dispose();
  });

  it("optimizer 'lazy-adam': bit-identical to 'adam' when every step touches every row, other numbers otherwise", async () => {
    // one batch per epoch holding every user and item
    const all: TwoTowerData = { users: Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), items: Int32Array.from([0, 1, 2, 3, 1, 2, 3, 0]), clicked: new Float32Array(8).fill(1) };
    const cfg: TwoTowerConfig = { users: 4, items: 4, dim: 3, batchSize: 8, epochs: 5, seed: 2 };
    const params = async (optimizer: 'adam' | 'lazy-adam', data: TwoTowerData, c: TwoTowerConfig) => {
      const m = createTwoTower(rt, { ...c, optimizer });
      await m.train(data);
      const s = m.state();
      m.dispose();
      return s;
    };
    const [a, b] = [await params('adam', all, cfg), await params('lazy-adam', all, cfg)];
    for (let j = 0; j < a.parameters.length; j++) expect(sameBits(a.parameters[j], b.parameters[j])).toBe(true);
    for (let j = 0; j < a.adam.m.length; j++) expect(sameBits(a.adam.m[j], b.adam.m[j]) && sameBits(a.adam.v[j], b.adam.v[j])).toBe(true);
    // batches of 16 on 60 users and 80 items: most rows are missing from most steps
    const world = makeWorld(60, 80, 3, 3);
    const data = logSlates(world, 4, 10, 4);
    const big: TwoTowerConfig = { users: 60, items: 80, dim: 4, batchSize: 16, epochs: 2, seed: 2 };
    const [c, e] = [await params('adam', data, big), await params('lazy-adam', data, big)];
    expect(sameBits(c.parameters[0], e.parameters[0])).toBe(false);
    expect(() => createTwoTower(rt, { ...cfg, optimizer: 'sgd' as 'adam' })).toThrow(/optimizer must be 'adam' or 'lazy-adam', got 'sgd'/);
  });

  it.each(['sampled-softmax', 'pointwise'] as const)("%s, 'lazy-adam': state() and restore() resume training bit for bit", async (loss) => {
    const world = makeWorld(60, 80, 3, 3);
    const day1 = logSlates(world, 10, 10, 4);
    const day2 = logSlates(world, 3, 10, 5);
    const cfg: TwoTowerConfig = { users: 60, items: 80, dim: 8, epochs: 3, positions: 10, seed: 11, loss, optimizer: 'lazy-adam' };
    const straight = createTwoTower(rt, cfg);
    const saved = createTwoTower(rt, cfg);
    const resumed = createTwoTower(rt, cfg);
    try {
      await straight.train(day1);
      await straight.train(day2);
      await saved.train(day1);
      resumed.restore(saved.state());
      await resumed.train(day2);
      const [a, b] = [straight.state(), resumed.state()];
      expect(b.adam.step).toBe(a.adam.step);
      for (let j = 0; j < a.parameters.length; j++) expect(sameBits(a.parameters[j], b.parameters[j])).toBe(true);
      for (let j = 0; j < a.adam.m.length; j++) expect(sameBits(a.adam.m[j], b.adam.m[j]) && sameBits(a.adam.v[j], b.adam.v[j])).toBe(true);
    } finally {
      straight.dispose();
      saved.dispose();
      resumed.dispose();
    }
  });
});

describe('two-tower: serving', () => {
  it('scores are user . item + item bias (+ the global bias on the pointwise loss), whatever the chunking', async () => {
    const world = makeWorld(30, 40, 2, 9);
    const data = logSlates(world, 5, 10, 10);
    for (const loss of ['sampled-softmax', 'pointwise'] as const) {
      const m = createTwoTower(rt, { users: 30, items: 40, dim: 4, loss, positions: 10, epochs: 2, seed: 3 });
      await m.train(data);
      const p = new Map(m.parameters().map((x) => [x.name, x.values]));
      const users = Int32Array.from([29, 0, 7, 7]);
      const scores = scoreAll(m, users);
      const chunked = scoreAll(m, users, { chunkFloats: 40 });
      expect(sameBits(scores, chunked)).toBe(true);
      const ue = p.get('user.embedding') as Float32Array;
      const ie = p.get('item.embedding') as Float32Array;
      const ib = p.get('item.bias') as Float32Array;
      const g = loss === 'pointwise' ? (p.get('global.bias') as Float32Array)[0] : 0;
      if (loss === 'pointwise') expect(g).not.toBe(0);
      for (let r = 0; r < users.length; r++)
        for (let i = 0; i < 40; i++) {
          let s = ib[i] + g;
          for (let k = 0; k < 4; k++) s += ue[users[r] * 4 + k] * ie[i * 4 + k];
          expect(scores[r * 40 + i]).toBeCloseTo(s, 5);
        }
      m.dispose();
    }
  });

  it('topK: best first, ties to the lower item index, NaN last', () => {
    const s = Float32Array.from([0.5, 2, NaN, 2, -1, 3, 0.5, 2]);
    expect(Array.from(topK(s, 4))).toEqual([5, 1, 3, 7]);
    expect(Array.from(topK(s, 8))).toEqual([5, 1, 3, 7, 0, 6, 4, 2]);
    expect(Array.from(topK(s, 0))).toEqual([]);
    expect(Array.from(topK(Float32Array.from([1, 1, 1]), 2))).toEqual([0, 1]);
    expect(() => topK(s, 9)).toThrow(RangeError);
    expect(Array.from(topKRows(Float32Array.from([1, 3, 2, 9, 8, 7]), 3, 2))).toEqual([1, 2, 0, 1]);
    // against a full sort on random scores with many ties
    const rs = new RandomStream('two-tower-test-topk');
    const big = Float32Array.from({ length: 1000 }, () => Math.floor(rs.uniform() * 50));
    const sorted = Array.from(big.keys()).sort((a, b) => big[b] - big[a] || a - b);
    expect(Array.from(topK(big, 25))).toEqual(sorted.slice(0, 25));
  });
});

describe('two-tower: bad input', () => {
  it('names what is wrong', async () => {
    expect(() => createTwoTower(rt, { users: 3, items: 4, userFeatures: new Float32Array(7), seed: 1 })).toThrow(/userFeatures must hold 3 rows/);
    expect(() => createTwoTower(rt, { users: 0, items: 4, seed: 1 })).toThrow(/users must be an integer >= 1/);
    const m = createTwoTower(rt, { users: 3, items: 4, dim: 2, seed: 1 });
    const row = (u: number, i: number, y: number): TwoTowerData => ({ users: Int32Array.from([u, 0]), items: Int32Array.from([i, 1]), clicked: Float32Array.from([y, 1]) });
    await expect(m.train(row(3, 0, 1))).rejects.toThrow(/impression 0: user 3 is not in 0..2/);
    await expect(m.train(row(0, 4, 1))).rejects.toThrow(/item 4 is not in 0..3/);
    await expect(m.train(row(0, 0, 2))).rejects.toThrow(/clicked must be in \[0, 1\]/);
    await expect(m.train({ ...row(0, 2, 1), itemCounts: [1, 1, 0, 1] })).rejects.toThrow(/item 2 is clicked .* itemCounts entry is 0/);
    expect(() => scoreAll(m, Int32Array.from([3]))).toThrow(/user 3 is not in 0..2/);
    m.dispose();
    const pw = createTwoTower(rt, { users: 3, items: 4, loss: 'pointwise', positions: 2, seed: 1 });
    await expect(pw.train(row(0, 0, 1))).rejects.toThrow(/needs the impressions' positions/);
    pw.dispose();
  });
});
