/**
 * Case replay-1e6 (issue 8): rejection replay of LinUCB (alpha = 1) over 1e6 logged events with
 * K = 20 actions and 10 context features, uniform logger (so about 1 event in 20 is accepted and
 * updates the learner), one replay.
 *
 *   --rows N --replays R
 *
 * Timed: replayLog end to end on in-memory batches (the first pass for K, d and M, then the replay
 * pass: LinUCB's act at every event, O(K d^2), and a Sherman-Morrison update per accepted event).
 * Building the rows is not timed.
 */
import { performance } from 'node:perf_hooks';
import { argNumber, emit, parseArgs, runCase, since } from '../lib/common.js';
import type { LogBatch } from '../../src/data/batch.js';
import { replayLog } from '../../src/replay/engine.js';
import { linUcb } from '../../src/replay/learners/linucb.js';
import { expectedRewardsInto, makeBanditWorld, resolveBanditConfig } from '../../simulators/bandit-world.js';
import { RandomStream } from '../../simulators/random-streams.js';

runCase(async () => {
  const args = parseArgs(process.argv.slice(2));
  const rows = argNumber(args, 'rows', 1e6);
  const replays = argNumber(args, 'replays', 1);
  const K = 20;
  const d = 10;
  const world = makeBanditWorld(resolveBanditConfig({ n: 1, actions: K, dim: d, reward: 'logistic', loggingTemperature: 1, qHatNoise: 0, seed: 8 }));
  const t0 = performance.now();
  const batches: LogBatch[] = [];
  const rs = new RandomStream('bench-replay');
  const mu = new Float64Array(K);
  const x = new Float64Array(d);
  const batchRows = 65536;
  for (let s = 0; s < rows; s += batchRows) {
    const m = Math.min(batchRows, rows - s);
    const action = new Int32Array(m);
    const reward = new Float64Array(m);
    const context = new Float64Array(m * d);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < d; j++) context[i * d + j] = x[j] = rs.normal();
      expectedRewardsInto(world, x, 0, mu, 0);
      const a = Math.floor(rs.uniform() * K);
      action[i] = a;
      reward[i] = rs.uniform() < mu[a] ? 1 : 0;
    }
    batches.push({ source: '<bench>', rowOffset: s, n: m, action, reward, propensity: new Float64Array(m).fill(1 / K), context: { width: d, values: context } });
  }
  const buildSeconds = since(t0);
  const log = {
    async *batches() {
      yield* batches;
    },
  };
  const t1 = performance.now();
  const res = await replayLog(log, { policies: [{ label: 'linucb:alpha=1', factory: linUcb(1) }], replays, seed: 1 });
  const seconds = since(t1);
  const p = res.policies[0];
  emit({
    case: 'replay-1e6',
    variant: `linucb K=${K} d=${d} replays=${replays}`,
    seconds,
    rows,
    replays,
    accepted: p.meanAccepted,
    acceptanceRate: p.acceptanceRate,
    value: p.value,
    loggerValue: res.log.rewardSum / res.log.n,
    eventsPerSecond: (rows * replays) / seconds,
    buildSeconds,
  });
});
