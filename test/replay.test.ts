import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogBatch } from '../src/data/batch.js';
import { UsageError } from '../src/data/errors.js';
import { writeTable } from '../src/data/write-log.js';
import { replayLog, type ReplayLog } from '../src/replay/engine.js';
import { invert, scaledIdentity, shermanMorrisonUpdate } from '../src/replay/learners/linear-algebra.js';
import { linUcb } from '../src/replay/learners/linucb.js';
import type { ReplayPolicySpec } from '../src/replay/policy.js';
import { parseReplayPolicySpec } from '../src/replay/specs.js';
import { sampleFromDistribution } from '../estimators/replay.js';
import { expectedRewardsInto, makeBanditWorld, resolveBanditConfig } from '../simulators/bandit-world.js';
import { RandomStream } from '../simulators/random-streams.js';
import { runCli } from './helpers/run-cli.js';

/**
 * Replay of adaptive policies (issue 8). Every test runs at fixed seeds; the tolerances come from
 * the sampling math stated next to each check.
 */

/** A log in memory, in batches of 8192 rows (so the engine sees several batches). */
function memoryLog(action: Int32Array, reward: Float64Array, propensity: Float64Array, context?: Float64Array, d = 0): ReplayLog {
  const n = action.length;
  const batches: LogBatch[] = [];
  for (let s = 0; s < n; s += 8192) {
    const e = Math.min(n, s + 8192);
    batches.push({
      source: '<memory>',
      rowOffset: s,
      n: e - s,
      action: action.subarray(s, e),
      reward: reward.subarray(s, e),
      propensity: propensity.subarray(s, e),
      ...(context !== undefined ? { context: { width: d, values: context.subarray(s * d, e * d) } } : {}),
    });
  }
  return {
    async *batches() {
      yield* batches;
    },
  };
}

/** A policy that plays a fixed distribution per discrete (one-hot) context. */
function fixedByContext(label: string, dists: readonly (readonly number[])[]): ReplayPolicySpec {
  return {
    label,
    factory: (K) => {
      const out = new Float64Array(K);
      return {
        name: label,
        act(x) {
          const c = x.indexOf(1);
          out.set(dists[c]);
          return out;
        },
        update() {},
      };
    },
  };
}

/** Discrete-context world: C one-hot contexts with probabilities P_X, Bernoulli rewards THETA[c][a]. */
const P_X = [0.5, 0.3, 0.2];
const THETA = [
  [0.1, 0.3, 0.5],
  [0.6, 0.2, 0.4],
  [0.3, 0.7, 0.2],
];
const C = 3;
const K = 3;

function discreteLog(n: number, logger: readonly (readonly number[])[], seed: string): { log: ReplayLog; action: Int32Array; reward: Float64Array; propensity: Float64Array; ctx: Int32Array } {
  const rs = new RandomStream(seed);
  const action = new Int32Array(n);
  const reward = new Float64Array(n);
  const propensity = new Float64Array(n);
  const context = new Float64Array(n * C);
  const ctx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = sampleFromDistribution(P_X, C, rs.uniform());
    const a = sampleFromDistribution(logger[c], K, rs.uniform());
    ctx[i] = c;
    context[i * C + c] = 1;
    action[i] = a;
    propensity[i] = logger[c][a];
    reward[i] = rs.uniform() < THETA[c][a] ? 1 : 0;
  }
  return { log: memoryLog(action, reward, propensity, context, C), action, reward, propensity, ctx };
}

const TARGET = [
  [0.2, 0.2, 0.6],
  [0.7, 0.1, 0.2],
  [0.1, 0.8, 0.1],
];

describe('replay of a fixed policy equals IPS in expectation', () => {
  it('uniform log: the mean over 200 replays agrees with IPS on the same log', async () => {
    const n = 20_000;
    const uniform = Array.from({ length: C }, () => [1 / 3, 1 / 3, 1 / 3]);
    const { log, action, reward, propensity, ctx } = discreteLog(n, uniform, 'replay-test:ips');
    let ips = 0;
    let sw = 0;
    let sw2 = 0;
    for (let i = 0; i < n; i++) {
      const w = TARGET[ctx[i]][action[i]] / propensity[i];
      ips += w * reward[i];
      sw += w;
      sw2 += w * w;
    }
    ips /= n;
    const R = 200;
    const res = await replayLog(log, { policies: [fixedByContext('target', TARGET)], replays: R, seed: 3 });
    const p = res.policies[0];
    expect(res.log.uniformLogger).toBe(true);
    expect(res.maxRatio).toBeCloseTo(3, 12);
    const means = p.runs.map((r) => r.mean);
    const m = means.reduce((s, x) => s + x, 0) / R;
    const sdReplay = Math.sqrt(means.reduce((s, x) => s + (x - m) ** 2, 0) / (R - 1));
    // Given the log, E[replay mean] -> sum(w r) / sum(w) (SNIPS); IPS - SNIPS = SNIPS (mean w - 1)
    // has sd V sd(w) / sqrt(n). Tolerance: 4 sd of (replay noise over R replays) + (IPS - SNIPS).
    const varW = sw2 / n - (sw / n) ** 2;
    const tol = 4 * Math.sqrt(sdReplay ** 2 / R + (ips * ips * varW) / n);
    expect(Math.abs(m - ips)).toBeLessThan(tol);
    expect(p.value).toBeCloseTo(m, 12);
    // about one event in M = K = 3 is accepted
    expect(p.acceptanceRate).toBeGreaterThan(1 / 3 - 0.01);
    expect(p.acceptanceRate).toBeLessThan(1 / 3 + 0.01);
    expect(p.interval.lower).toBeLessThanOrEqual(p.value);
    expect(p.interval.upper).toBeGreaterThanOrEqual(p.value);
    console.log(`fixed policy, uniform log: IPS ${ips.toFixed(5)}, replay mean over ${R} ${m.toFixed(5)}, |diff| ${Math.abs(m - ips).toExponential(2)} < tol ${tol.toExponential(2)}`);
  });
});

describe('rejection sampling is exact on a non-uniform log', () => {
  it('accepted (context, action) frequencies match p(x) pi(a|x): chi-square, df 8, p > 1e-3', async () => {
    const logger = [
      [0.7, 0.2, 0.1],
      [0.1, 0.1, 0.8],
      [0.5, 0.4, 0.1],
    ];
    const n = 60_000;
    const { log } = discreteLog(n, logger, 'replay-test:chi2');
    // One replay that records the accepted events: a policy that remembers what it was updated on.
    const counts = new Float64Array(C * K);
    const spec: ReplayPolicySpec = {
      label: 'target',
      factory: (k) => {
        const out = new Float64Array(k);
        return {
          name: 'target',
          act(x) {
            out.set(TARGET[x.indexOf(1)]);
            return out;
          },
          update(x, a) {
            counts[x.indexOf(1) * K + a]++;
          },
        };
      },
    };
    const res = await replayLog(log, { policies: [spec], replays: 1, seed: 11 });
    // M = max 1/mu = 1/0.1 = 10: acceptance ~ 1/10.
    expect(res.maxRatio).toBeCloseTo(10, 9);
    expect(res.policies[0].violations).toBe(0);
    const N = counts.reduce((s, c) => s + c, 0);
    expect(N).toBe(res.policies[0].runs[0].accepted);
    let chi2 = 0;
    for (let c = 0; c < C; c++)
      for (let a = 0; a < K; a++) {
        const e = N * P_X[c] * TARGET[c][a];
        chi2 += (counts[c * K + a] - e) ** 2 / e;
      }
    // Given N, the accepted cells are multinomial(N, p(x) pi(a|x)): 9 cells, df = 8;
    // chi2_{8}(0.999) = 26.12, so p > 1e-3 iff chi2 < 26.12.
    console.log(`chi-square on ${N} accepted events (df 8): ${chi2.toFixed(3)} (< 26.12 for p > 1e-3); acceptance ${(N / n).toFixed(4)}`);
    expect(chi2).toBeLessThan(26.12);
    expect(N / n).toBeGreaterThan(0.09);
    expect(N / n).toBeLessThan(0.11);
  });
});

describe('LinUCB replayed on a uniform log matches LinUCB online in the world', () => {
  it('average reward over as many events agrees within 4 sd', async () => {
    const cfg = resolveBanditConfig({ n: 1, actions: 5, dim: 5, reward: 'logistic', loggingTemperature: 1, qHatNoise: 0, seed: 7, rewardScale: 2 });
    const world = makeBanditWorld(cfg);
    const { K: k, d } = world;
    const mu = new Float64Array(k);
    const x = new Float64Array(d);
    const L = 4;
    const n = 20_000;
    const replayValues: number[] = [];
    let firstLog: ReturnType<typeof memoryLog> | undefined;
    const accepted: number[] = [];
    const loggerAverages: number[] = [];
    for (let l = 0; l < L; l++) {
      const rs = new RandomStream(`replay-test:world-log:${l}`);
      const action = new Int32Array(n);
      const reward = new Float64Array(n);
      const propensity = new Float64Array(n).fill(1 / k);
      const context = new Float64Array(n * d);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < d; j++) context[i * d + j] = x[j] = rs.normal();
        expectedRewardsInto(world, x, 0, mu, 0);
        const a = Math.floor(rs.uniform() * k);
        action[i] = a;
        reward[i] = rs.uniform() < mu[a] ? 1 : 0;
      }
      if (l === 0) firstLog = memoryLog(action, reward, propensity, context, d);
      const res = await replayLog(memoryLog(action, reward, propensity, context, d), { policies: [{ label: 'linucb', factory: linUcb(1) }], replays: 2, seed: l, resample: 'none' });
      // LinUCB is deterministic and the logger uniform: without resampling the replays of one log are identical.
      const runs = res.policies[0].runs;
      expect(runs[1].mean).toBe(runs[0].mean);
      replayValues.push(runs[0].mean);
      loggerAverages.push(res.log.rewardSum / n);
      accepted.push(runs[0].accepted);
    }
    // Online: the same learner in the world for as many events as the replays accepted (mean count).
    const T = Math.round(accepted.reduce((s, a) => s + a, 0) / L);
    const S = 8;
    const online: number[] = [];
    for (let s = 0; s < S; s++) {
      const rs = new RandomStream(`replay-test:online:${s}`);
      const pol = linUcb(1)(k, d, s);
      let sum = 0;
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < d; j++) x[j] = rs.normal();
        expectedRewardsInto(world, x, 0, mu, 0);
        const a = sampleFromDistribution(pol.act(x, t), k, rs.uniform());
        const r = rs.uniform() < mu[a] ? 1 : 0;
        pol.update(x, a, r);
        sum += r;
      }
      online.push(sum / T);
    }
    const mean = (v: number[]) => v.reduce((s, t) => s + t, 0) / v.length;
    const sd = (v: number[]) => Math.sqrt(v.reduce((s, t) => s + (t - mean(v)) ** 2, 0) / (v.length - 1));
    // A replay of one log is one draw of the online process (T random): both means have the
    // per-run sd s; s from the pooled runs, floored at the Bernoulli sd sqrt(p(1-p)/T).
    const m = mean(online);
    const s = Math.max(sd([...online.map((v) => v - m), ...replayValues.map((v) => v - mean(replayValues))]), Math.sqrt((m * (1 - m)) / T));
    const tol = 4 * s * Math.sqrt(1 / L + 1 / S);
    console.log(
      `LinUCB: replay ${mean(replayValues).toFixed(4)} (L = ${L} logs, ~${T} accepted each) vs online ${m.toFixed(4)} (S = ${S} runs), |diff| ${Math.abs(mean(replayValues) - m).toFixed(4)} < tol ${tol.toFixed(4)}`,
    );
    expect(Math.abs(mean(replayValues) - m)).toBeLessThan(tol);
    // The learner learns: well above the uniform logger's average reward.
    expect(mean(replayValues)).toBeGreaterThan(mean(loggerAverages) + 0.1);
    // With the log resampled per replay (the default), the replays of one log differ by the log's
    // noise, and the interval (value +- 1.96 sd) of that one log covers the online value, up to the
    // online mean's own error (3 se of S runs).
    const boot = (await replayLog(firstLog as ReturnType<typeof memoryLog>, { policies: [{ label: 'linucb', factory: linUcb(1) }], replays: 40, seed: 3 })).policies[0];
    expect(boot.sd).toBeGreaterThan(0);
    const half = (boot.interval.upper - boot.interval.lower) / 2;
    // its width is the per-run spread of the online process, within a factor 2
    expect(boot.sd / sd(online)).toBeGreaterThan(0.5);
    expect(boot.sd / sd(online)).toBeLessThan(2);
    expect(Math.abs(boot.value - m)).toBeLessThan(half + (3 * sd(online)) / Math.sqrt(S));
  }, 60_000);
});

describe('Sherman-Morrison and specs', () => {
  it('the rank-one updated inverse equals a direct inverse to 1e-9', () => {
    const d = 6;
    const rs = new RandomStream('replay-test:sm');
    const A = scaledIdentity(d, 1);
    const Ainv = scaledIdentity(d, 1);
    const x = new Float64Array(d);
    const u = new Float64Array(d);
    for (let t = 0; t < 200; t++) {
      for (let j = 0; j < d; j++) x[j] = rs.normal();
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) A[i * d + j] += x[i] * x[j];
      shermanMorrisonUpdate(Ainv, 0, x, d, u);
    }
    const direct = invert(A, d);
    let maxErr = 0;
    for (let i = 0; i < d * d; i++) maxErr = Math.max(maxErr, Math.abs(direct[i] - Ainv[i]));
    expect(maxErr).toBeLessThan(1e-9);
  });

  it('parses specs and rejects bad ones naming the problem', () => {
    expect(parseReplayPolicySpec('linucb:alpha=0.5')).toEqual({ kind: 'linucb', label: 'linucb:alpha=0.5', alpha: 0.5 });
    expect(parseReplayPolicySpec('ts')).toEqual({ kind: 'ts', label: 'ts', v: 0.5, lambda: 1 });
    expect(parseReplayPolicySpec('eps:epsilon=0.2')).toEqual({ kind: 'eps', label: 'eps:epsilon=0.2', epsilon: 0.2 });
    expect(parseReplayPolicySpec('fixed=p.arrow')).toEqual({ kind: 'fixed', label: 'fixed=p.arrow', file: 'p.arrow' });
    expect(() => parseReplayPolicySpec('linucb:beta=1')).toThrow(/unknown parameter 'beta' of linucb; known: alpha/);
    expect(() => parseReplayPolicySpec('ucb')).toThrow(/unknown policy 'ucb'/);
    expect(() => parseReplayPolicySpec('eps:epsilon=2')).toThrow(/'epsilon' must be in \[0, 1\]/);
    expect(() => parseReplayPolicySpec('ts:v=x')).toThrow(/'v' needs a finite number/);
    expect(() => parseReplayPolicySpec('ts:v=1,v=2')).toThrow(/given twice/);
    expect(() => parseReplayPolicySpec('linucb:')).toThrow(UsageError);
    expect(() => parseReplayPolicySpec('fixed=')).toThrow(UsageError);
  });
});

describe('queue-based replay and the CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ope-replay-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('queue replay of a fixed policy on discrete contexts matches its true value', async () => {
    const logger = [
      [0.7, 0.2, 0.1],
      [0.1, 0.1, 0.8],
      [0.5, 0.4, 0.1],
    ];
    const { log } = discreteLog(30_000, logger, 'replay-test:queue');
    const res = await replayLog(log, { policies: [fixedByContext('target', TARGET)], replays: 20, seed: 5, method: 'queue' });
    const truth = P_X.reduce((s, px, c) => s + px * TARGET[c].reduce((t, p, a) => t + p * THETA[c][a], 0), 0);
    const p = res.policies[0];
    expect(res.distinctContexts).toBe(3);
    // far more events used than rejection (1 in 10 here)
    expect(p.meanAccepted).toBeGreaterThan(3000);
    // sd of one run's average <= 0.5 / sqrt(accepted); 20 runs share one log: bound by one run's sd.
    expect(Math.abs(p.value - truth)).toBeLessThan(4 * (0.5 / Math.sqrt(p.meanAccepted)));
  });

  it('ope replay writes table, JSON, curves CSV and HTML; bad specs exit 2', async () => {
    const n = 3000;
    const rs = new RandomStream('replay-test:cli');
    const action = new Int32Array(n);
    const reward = new Float64Array(n);
    const ctx = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) {
      action[i] = Math.floor(rs.uniform() * 4);
      ctx[i * 2] = rs.normal();
      ctx[i * 2 + 1] = rs.normal();
      reward[i] = rs.uniform() < (action[i] === 2 ? 0.6 : 0.2) ? 1 : 0;
    }
    const logPath = join(dir, 'log.arrow');
    await writeTable(
      logPath,
      [
        { name: 'action', kind: 'int32' },
        { name: 'reward', kind: 'float64' },
        { name: 'propensity', kind: 'float64' },
        { name: 'context', kind: 'list', width: 2 },
      ],
      [{ n, columns: { action, reward, propensity: new Float64Array(n).fill(0.25), context: ctx } }],
    );
    const out = join(dir, 'out');
    const r = runCli(['replay', '--log', logPath, '--policy', 'linucb:alpha=1', '--policy', 'ts', '--policy', 'eps:epsilon=0.1', '--replays', '5', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/linucb:alpha=1/);
    const doc = JSON.parse(await readFile(join(out, 'replay.json'), 'utf8'));
    expect(doc.policies).toHaveLength(3);
    expect(doc.log.uniform_logger).toBe(true);
    const csv = (await readFile(join(out, 'curves.csv'), 'utf8')).split('\n');
    expect(csv[0]).toBe('policy,replay,accepted_event,cumulative_reward,running_ctr');
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/<svg/);
    const j = runCli(['replay', '--log', logPath, '--policy', 'eps', '--replays', '3', '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout).policies[0].policy).toBe('eps');
    const bad = runCli(['replay', '--log', logPath, '--policy', 'linucb:gamma=2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown parameter 'gamma'/);
    const missing = runCli(['replay', '--log', join(dir, 'nope.arrow'), '--policy', 'ts']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.arrow: no such file/);
  }, 30_000);
});
