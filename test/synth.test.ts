import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SampleTruthAccumulator, populationTruth } from '../simulators/bandit-truth.js';
import { generateBanditLog, makeBanditWorld, resolveBanditConfig, type BanditSynthConfig, type SynthBatch } from '../simulators/bandit-world.js';
import { fanOut } from '../simulators/fan-out.js';
import { SYNTH_FORMATS, writeBanditSynth, type BanditSynthTruth } from '../simulators/write-bandit-synth.js';
import { parseTargetList, synthConfigFromOptions } from '../src/cli/commands/synth.js';
import { openLog, openPolicy } from '../src/data/read-log.js';
import { UsageError } from '../src/data/errors.js';
import { concatColumn, type NumericArray } from './helpers/concat.js';

const BASE: BanditSynthConfig = { n: 3000, actions: 6, dim: 3, reward: 'logistic', loggingTemperature: 0.5, qHatNoise: 0.1, seed: 7 };

function collect(cfg: BanditSynthConfig, batchRows: number): SynthBatch[] {
  return [...generateBanditLog(cfg, batchRows)];
}

const concat = (batches: readonly SynthBatch[], pick: (b: SynthBatch) => NumericArray): Float64Array => concatColumn(batches, pick);

/** Index of the first difference (-1 if none); comparing 1e5 numbers with toEqual is slow. */
function firstDifference(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

const COLUMNS: Record<string, (b: SynthBatch) => NumericArray> = {
  requestId: (b) => b.requestId,
  action: (b) => b.action,
  reward: (b) => b.reward,
  propensity: (b) => b.propensity,
  context: (b) => b.context,
  qHat: (b) => b.qHat,
  expectedRewardLogged: (b) => b.expectedRewardLogged,
  loggingValue: (b) => b.loggingValue,
  actionDist0: (b) => b.targets[0].actionDist,
  targetPropensity4: (b) => b.targets[4].targetPropensity,
};

function expectSameRows(a: readonly SynthBatch[], b: readonly SynthBatch[], rows = Infinity): void {
  for (const [name, pick] of Object.entries(COLUMNS)) {
    const width = pick(a[0]).length / a[0].n;
    const limit = rows === Infinity ? undefined : rows * width;
    expect(firstDifference(concat(a, pick).subarray(0, limit), concat(b, pick).subarray(0, limit)), name).toBe(-1);
  }
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

describe('generateBanditLog', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    expectSameRows(collect(BASE, 1000), collect(BASE, 1000));
    const other = collect({ ...BASE, seed: 8 }, 1000);
    expect(firstDifference(concat(other, (b) => b.reward), concat(collect(BASE, 1000), (b) => b.reward))).not.toBe(-1);
  });

  it('gives the same rows whatever the batch size, across 4096-row blocks, and for any n', () => {
    const cfg = { ...BASE, n: 9000 };
    const reference = collect(cfg, 9000);
    expect(reference).toHaveLength(1);
    for (const batchRows of [7, 999, 4096, 5000]) {
      const batches = collect(cfg, batchRows);
      expect(batches.reduce((s, b) => s + b.n, 0)).toBe(9000);
      expect(batches.map((b) => b.rowOffset)).toEqual(batches.map((_, k) => k * batchRows));
      expectSameRows(batches, reference);
    }
    // A shorter run is a prefix of a longer one.
    expectSameRows(collect({ ...cfg, n: 5000 }, 777), reference, 5000);
  });

  it('shares one context across the rows of a request, whatever the batch size', () => {
    const cfg = { ...BASE, n: 9000, requestsOf: 7 };
    const [one] = collect(cfg, 9000);
    expectSameRows(collect(cfg, 1234), [one]);
    const d = one.d;
    let badRequest = 0;
    let unshared = 0;
    for (let i = 0; i < one.n; i++) {
      if (one.requestId[i] !== Math.floor(i / 7)) badRequest++;
      if (i % 7 !== 0) for (let k = 0; k < d; k++) if (one.context[i * d + k] !== one.context[(i - 1) * d + k]) unshared++;
    }
    expect({ badRequest, unshared }).toEqual({ badRequest: 0, unshared: 0 });
  });

  it('keeps actions and rewards when only the q_hat noise changes', () => {
    const a = collect(BASE, 1000);
    const b = collect({ ...BASE, qHatNoise: 0.3 }, 1000);
    expect(firstDifference(concat(a, (x) => x.action), concat(b, (x) => x.action))).toBe(-1);
    expect(firstDifference(concat(a, (x) => x.reward), concat(b, (x) => x.reward))).toBe(-1);
    expect(firstDifference(concat(a, (x) => x.qHat), concat(b, (x) => x.qHat))).not.toBe(-1);
  });

  it('writes valid probabilities: propensities in (0, 1], distributions summing to 1, target_propensity = action_dist at the action', () => {
    for (const cfg of [BASE, { ...BASE, reward: 'linear' as const, loggingTemperature: 0.05, minPropensity: 0.01 }]) {
      const floor = cfg.minPropensity ?? 0;
      let badAction = 0;
      let badPropensity = 0;
      let worstSumError = 0;
      let badTarget = 0;
      for (const b of collect(cfg, 1000)) {
        const K = b.K;
        for (let i = 0; i < b.n; i++) {
          const a = b.action[i];
          if (!(a >= 0 && a < K)) badAction++;
          if (!(b.propensity[i] > 0 && b.propensity[i] <= 1 && b.propensity[i] >= floor * (1 - 1e-12))) badPropensity++;
          for (const t of b.targets) {
            let sum = 0;
            for (let k = 0; k < K; k++) sum += t.actionDist[i * K + k];
            worstSumError = Math.max(worstSumError, Math.abs(sum - 1));
            if (t.targetPropensity[i] !== t.actionDist[i * K + a]) badTarget++;
          }
        }
      }
      expect({ badAction, badPropensity, badTarget }).toEqual({ badAction: 0, badPropensity: 0, badTarget: 0 });
      expect(worstSumError).toBeLessThanOrEqual(1e-12);
    }
  });

  it('computes the sample truth exactly as a direct recomputation from the world', () => {
    const cfg = resolveBanditConfig({ ...BASE, n: 50 });
    const world = makeBanditWorld(cfg);
    const { K, d } = world;
    const batches = collect(cfg, 16);
    const acc = new SampleTruthAccumulator();
    batches.forEach((b) => acc.add(b));
    const truth = acc.result();

    const targetSums = cfg.targets.map(() => 0);
    let loggingSum = 0;
    let rewardSum = 0;
    for (const b of batches) {
      for (let i = 0; i < b.n; i++) {
        const x = Array.from(b.context.subarray(i * d, (i + 1) * d));
        const score = (theta: Float64Array, bias: Float64Array, a: number): number => sigmoid(bias[a] + x.reduce((s, xj, j) => s + xj * theta[a * d + j], 0));
        const mu = Array.from({ length: K }, (_, a) => score(world.theta, world.bias, a));
        const muLog = Array.from({ length: K }, (_, a) => score(world.loggingTheta, world.loggingBias, a));
        const softmax = (v: number[], t: number): number[] => {
          const e = v.map((s) => Math.exp(s / t));
          const z = e.reduce((s, y) => s + y, 0);
          return e.map((y) => y / z);
        };
        const value = (p: number[]): number => p.reduce((s, pa, a) => s + pa * mu[a], 0);
        const best = mu.indexOf(Math.max(...mu));
        const policies = [
          softmax(mu, 0.1),
          softmax(mu, 0.5),
          softmax(mu, 1),
          mu.map((_, a) => 0.1 / K + (a === best ? 0.9 : 0)),
          mu.map(() => 1 / K),
        ];
        policies.forEach((p, t) => {
          targetSums[t] += value(p);
          expect(b.targets[t].targetPropensity[i]).toBeCloseTo(p[b.action[i]], 12);
        });
        const pLog = softmax(muLog, cfg.loggingTemperature);
        loggingSum += value(pLog);
        rewardSum += b.reward[i];
        expect(b.propensity[i]).toBeCloseTo(pLog[b.action[i]], 12);
        expect(b.expectedRewardLogged[i]).toBeCloseTo(mu[b.action[i]], 14);
      }
    }
    truth.targets.forEach((v, t) => expect(v).toBeCloseTo(targetSums[t] / 50, 12));
    expect(truth.logging).toBeCloseTo(loggingSum / 50, 12);
    expect(truth.meanReward).toBe(rewardSum / 50);
    expect(truth.n).toBe(50);
  });

  it('gives the same sample truth, to the bit, whatever the batch size', () => {
    const sums = [1, 700, 3000].map((rows) => {
      const acc = new SampleTruthAccumulator();
      for (const b of generateBanditLog(BASE, rows)) acc.add(b);
      return acc.result();
    });
    expect(sums[1]).toEqual(sums[0]);
    expect(sums[2]).toEqual(sums[0]);
  });

  it("puts the logger's sample truth within 4 standard errors of the mean observed reward", () => {
    for (const cfg of [{ ...BASE, n: 20000 }, { ...BASE, n: 20000, reward: 'linear' as const, rewardNoise: 1 }]) {
      const acc = new SampleTruthAccumulator();
      let sumSq = 0;
      for (const b of generateBanditLog(cfg, 5000)) {
        acc.add(b);
        for (let i = 0; i < b.n; i++) sumSq += (b.reward[i] - b.loggingValue[i]) ** 2;
      }
      const truth = acc.result();
      // Given the contexts, r_i - E[r_i | x_i] has mean 0 and the rows are independent.
      const se = Math.sqrt(sumSq / truth.n / truth.n);
      expect(Math.abs(truth.meanReward - truth.logging)).toBeLessThan(4 * se);
    }
  });
});

/** E[sigmoid(b + s Z)], Z ~ N(0, 1), by Simpson's rule on [-12, 12]: independent of any sampling. */
function expectedSigmoid(b: number, s: number): number {
  const steps = 4000;
  const h = 24 / steps;
  let total = 0;
  for (let k = 0; k <= steps; k++) {
    const z = -12 + k * h;
    const weight = k === 0 || k === steps ? 1 : k % 2 === 1 ? 4 : 2;
    total += weight * sigmoid(b + s * z) * Math.exp(-0.5 * z * z);
  }
  return (total * h) / 3 / Math.sqrt(2 * Math.PI);
}

describe('populationTruth', () => {
  it('matches mean_a E[mu(x, a)] for the uniform target, computed by quadrature (logistic) and in closed form (linear)', () => {
    for (const reward of ['logistic', 'linear'] as const) {
      const cfg = resolveBanditConfig({ ...BASE, reward, targets: [{ kind: 'uniform' }], populationSamples: 200_000 });
      const world = makeBanditWorld(cfg);
      let expected = 0;
      for (let a = 0; a < world.K; a++) {
        let norm2 = 0;
        for (let j = 0; j < world.d; j++) norm2 += world.theta[a * world.d + j] ** 2;
        // x . theta_a ~ N(0, |theta_a|^2), so E[x . theta_a + b_a] = b_a.
        expected += (reward === 'logistic' ? expectedSigmoid(world.bias[a], Math.sqrt(norm2)) : world.bias[a]) / world.K;
      }
      const truth = populationTruth(cfg);
      expect(truth.samples).toBe(200_000);
      expect(truth.targets[0].name).toBe('uniform');
      expect(truth.targets[0].se).toBeGreaterThan(0);
      expect(Math.abs(truth.targets[0].value - expected)).toBeLessThan(4 * truth.targets[0].se);
    }
  });

  it('is close to the sample truth and orders the targets as their temperatures say', () => {
    const cfg = { ...BASE, n: 20000, populationSamples: 100_000 };
    const acc = new SampleTruthAccumulator();
    for (const b of generateBanditLog(cfg, 20000)) acc.add(b);
    const sample = acc.result();
    const population = populationTruth(cfg);
    population.targets.forEach((t, k) => expect(Math.abs(t.value - sample.targets[k])).toBeLessThan(0.02));
    // Sharper softmax of the true reward is worth more; uniform is worth the least among them.
    const [s01, s05, s1, , uniform] = population.targets.map((t) => t.value);
    expect(s01).toBeGreaterThan(s05);
    expect(s05).toBeGreaterThan(s1);
    expect(s1).toBeGreaterThan(uniform);
  });
});

describe('resolveBanditConfig', () => {
  it('rejects out-of-range settings with a RangeError naming the field', () => {
    expect(() => resolveBanditConfig({ ...BASE, n: 0 })).toThrow(/^n must be/);
    expect(() => resolveBanditConfig({ ...BASE, actions: 1 })).toThrow(/^actions must be/);
    expect(() => resolveBanditConfig({ ...BASE, loggingTemperature: 0 })).toThrow(/^loggingTemperature/);
    expect(() => resolveBanditConfig({ ...BASE, minPropensity: 0.5 })).toThrow(/^minPropensity/);
    expect(() => resolveBanditConfig({ ...BASE, targets: [{ kind: 'uniform' }, { kind: 'uniform' }] })).toThrow(/two targets are named/);
    expect(() => resolveBanditConfig({ ...BASE, targets: [{ kind: 'epsilon-greedy', epsilon: 2 }] })).toThrow(/epsilon/);
    expect(() => resolveBanditConfig({ ...BASE, targets: [{ kind: 'uniform', name: 'a/b' }] })).toThrow(/may contain only/);
  });
});

describe('fanOut', () => {
  it('delivers every item to every consumer in order', async () => {
    const seen: number[][] = [[], [], []];
    await fanOut([1, 2, 3, 4, 5], seen.map((s) => async (items: AsyncIterable<number>) => {
      for await (const v of items) s.push(v);
    }));
    expect(seen).toEqual([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]);
  });

  it('stops the producer and fails every consumer when one consumer fails', async () => {
    let produced = 0;
    function* source(): Generator<number> {
      for (let i = 0; i < 1000; i++) {
        produced++;
        yield i;
      }
    }
    const boom = new Error('disk full');
    const others: unknown[] = [];
    const failing = async (items: AsyncIterable<number>): Promise<void> => {
      for await (const v of items) if (v === 3) throw boom;
    };
    const healthy = async (items: AsyncIterable<number>): Promise<void> => {
      try {
        for await (const v of items) void v;
      } catch (err) {
        others.push(err);
        throw err;
      }
    };
    await expect(fanOut(source(), [healthy, failing, healthy], 2)).rejects.toBe(boom);
    expect(others).toEqual([boom, boom]);
    expect(produced).toBeLessThan(20);
  });
});

describe('writeBanditSynth', () => {
  it('writes the same rows in every format, policy files aligned with the log, and truth.json beside them', async () => {
    const cfg = { ...BASE, n: 600, requestsOf: 2, populationSamples: 4000 };
    const [expected] = collect(cfg, 600);
    const dir = await mkdtemp(join(tmpdir(), 'ope-synth-'));
    try {
      for (const format of SYNTH_FORMATS) {
        const out = join(dir, format);
        const result = await writeBanditSynth(cfg, { outDir: out, format, batchRows: 250 });
        const names = expected.targets.map((t) => t.name);
        expect((await readdir(out)).sort()).toEqual([`log.${format}`, ...names.map((t) => `policy-${t}.${format}`), 'truth.json'].sort());
        const truth = JSON.parse(await readFile(join(out, 'truth.json'), 'utf8')) as BanditSynthTruth;
        expect(truth).toEqual(result.truth);
        expect(truth.targets.map((t) => t.name)).toEqual(names);

        const read = [];
        for await (const b of openLog(join(out, `log.${format}`), { batchRows: 1000 }).batches()) read.push(b);
        expect(read).toHaveLength(1);
        const log = read[0];
        expect(log.n).toBe(600);
        expect(firstDifference(Float64Array.from(log.action), Float64Array.from(expected.action)), `${format} action`).toBe(-1);
        expect(firstDifference(log.reward, expected.reward), `${format} reward`).toBe(-1);
        expect(firstDifference(log.propensity, expected.propensity), `${format} propensity`).toBe(-1);
        expect(firstDifference(log.qHat?.values ?? new Float64Array(), expected.qHat), `${format} q_hat`).toBe(-1);
        expect(firstDifference(log.context?.values ?? new Float64Array(), expected.context), `${format} context`).toBe(-1);
        for (const [t, target] of expected.targets.entries()) {
          const policy = [];
          for await (const b of openPolicy(join(out, truth.targets[t].file), { batchRows: 1000 }).batches()) policy.push(b);
          expect(firstDifference(policy[0].targetPropensity ?? new Float64Array(), target.targetPropensity), `${format} ${target.name}`).toBe(-1);
          expect(firstDifference(policy[0].actionDist?.values ?? new Float64Array(), target.actionDist), `${format} ${target.name}`).toBe(-1);
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ope synth options', () => {
  it('parses targets, names and defaults', () => {
    expect(parseTargetList('softmax:0.1, eps:0.2,best=epsilon-greedy:0,uniform')).toEqual([
      { kind: 'softmax', temperature: 0.1 },
      { kind: 'epsilon-greedy', epsilon: 0.2 },
      { kind: 'epsilon-greedy', epsilon: 0, name: 'best' },
      { kind: 'uniform' },
    ]);
    const cfg = synthConfigFromOptions({ n: '1e4', reward: 'linear' });
    expect(cfg).toMatchObject({ n: 10000, actions: 10, dim: 5, reward: 'linear', loggingTemperature: 1, qHatNoise: 0.1, seed: 12345, requestsOf: 1 });
    expect(cfg.targets).toHaveLength(5);
  });

  it('turns bad values into a UsageError naming the flag', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ n: 'many' }, /^--n must be a number/],
      [{ n: '0' }, /^--n must be an integer in/],
      [{ dim: '2.5' }, /^--dim must be an integer/],
      [{ reward: 'probit' }, /^--reward/],
      [{ loggingTemperature: '0' }, /^--logging-temperature/],
      [{ minPropensity: '0.2' }, /^--min-propensity/],
      [{ qhatNoise: '-1' }, /^--qhat-noise/],
      [{ targets: 'softmax:abc' }, /^--targets/],
      [{ targets: 'greedy' }, /^--targets: unknown target 'greedy'/],
      [{ targets: 'uniform,uniform' }, /^--targets: two targets are named 'uniform'/],
      [{ targets: 'softmax:1,' }, /^--targets: empty entry/],
    ];
    for (const [options, message] of cases) {
      let caught: unknown;
      try {
        synthConfigFromOptions(options);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(options)).toBeInstanceOf(UsageError);
      expect((caught as Error).message).toMatch(message);
    }
  });
});
