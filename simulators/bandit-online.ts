import { sampleFromDistribution } from '../estimators/replay.js';
import type { LogBatch } from '../src/data/batch.js';
import type { ReplayLog } from '../src/replay/engine.js';
import type { ReplayPolicyFactory } from '../src/replay/policy.js';
import { expectedRewardsInto, loggingPolicyInto, type BanditWorld } from './bandit-world.js';
import { RandomStream } from './random-streams.js';

/**
 * The bandit world served online (issue 8, item 4): a logger's log for replay, and a learner run
 * online in the same world, so a replayed learning curve can be set beside the true one. Contexts
 * are i.i.d. standard normal, as in the world's generator; rewards Bernoulli(mu(x, a)) (logistic
 * worlds).
 */

export type OnlineLogger = 'uniform' | 'world';

/**
 * n logged events of the uniform logger (propensity 1/K) or of the world's own softmax logger, in
 * memory, as replay input. Deterministic in (seed).
 */
export function servedLog(world: BanditWorld, n: number, logger: OnlineLogger, seed: number): ReplayLog {
  const { K, d } = world;
  const rs = new RandomStream(`bandit-online:log:${seed}`);
  const x = new Float64Array(d);
  const mu = new Float64Array(K);
  const p = new Float64Array(K);
  const scratch = new Float64Array(K);
  const batches: LogBatch[] = [];
  const BATCH = 65536;
  for (let s = 0; s < n; s += BATCH) {
    const m = Math.min(BATCH, n - s);
    const action = new Int32Array(m);
    const reward = new Float64Array(m);
    const propensity = new Float64Array(m);
    const context = new Float64Array(m * d);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < d; j++) context[i * d + j] = x[j] = rs.normal();
      expectedRewardsInto(world, x, 0, mu, 0);
      if (logger === 'uniform') p.fill(1 / K);
      else loggingPolicyInto(world, x, 0, scratch, p, 0);
      const a = sampleFromDistribution(p, K, rs.uniform());
      action[i] = a;
      propensity[i] = p[a];
      reward[i] = rs.uniform() < mu[a] ? 1 : 0;
    }
    batches.push({ source: `<bandit world, ${logger} logger>`, rowOffset: s, n: m, action, reward, propensity, context: { width: d, values: context } });
  }
  return {
    async *batches() {
      yield* batches;
    },
  };
}

/** Cumulative reward after each of T events of the learner served online in the world (one run; seed keys its contexts, draws and rewards). */
export function runOnline(world: BanditWorld, factory: ReplayPolicyFactory, T: number, seed: number): Float64Array {
  const { K, d } = world;
  const rs = new RandomStream(`bandit-online:run:${seed}`);
  const policy = factory(K, d, seed);
  const x = new Float64Array(d);
  const mu = new Float64Array(K);
  const out = new Float64Array(T);
  let sum = 0;
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < d; j++) x[j] = rs.normal();
    expectedRewardsInto(world, x, 0, mu, 0);
    const a = sampleFromDistribution(policy.act(x, t), K, rs.uniform());
    const r = rs.uniform() < mu[a] ? 1 : 0;
    policy.update(x, a, r);
    sum += r;
    out[t] = sum;
  }
  return out;
}
