import { describe, expect, it } from 'vitest';
import type { LogBatch } from '../src/data/batch.js';
import { UsageError } from '../src/data/errors.js';
import { evaluateStream } from '../src/engine/evaluate.js';
import { foldOf, rowKey } from '../src/reward-model/data.js';
import { predictBatch } from '../src/reward-model/cross-fit.js';
import { fitRewardModel, withRewardModel } from '../src/reward-model/fit-log.js';
import { modelQuality } from '../src/reward-model/quality.js';
import { loadTf, type Importer } from '../src/tf/backend.js';
import { parseEstimatorList } from '../estimators/registry.js';
import { expectedRewardsInto, generateBanditLog, makeBanditWorld, resolveBanditConfig, type BanditSynthConfig } from '../simulators/bandit-world.js';
import { synthToAligned } from '../simulators/synth-batches.js';
import { slateSynthAligned } from '../simulators/slate-batches.js';

async function* stream<T>(xs: readonly T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}

function synth(cfg: BanditSynthConfig) {
  const raw = [...generateBanditLog(cfg)];
  return { raw, aligned: raw.map(synthToAligned) };
}

/** RMSE of the fitted q_hat against the world's true expected reward, over every (row, action). */
function rmseAgainstTruth(cfg: BanditSynthConfig, aligned: ReturnType<typeof synth>['aligned'], fitted: Awaited<ReturnType<typeof fitRewardModel>>): number {
  const world = makeBanditWorld(resolveBanditConfig(cfg));
  const K = cfg.actions;
  const mu = new Float64Array(K);
  let se = 0;
  let count = 0;
  for (const { log } of aligned) {
    const q = predictBatch(fitted.runtime, fitted.model, log);
    const x = (log.context as { values: Float64Array }).values;
    for (let i = 0; i < log.n; i++) {
      expectedRewardsInto(world, x, i * cfg.dim, mu, 0);
      for (let a = 0; a < K; a++) {
        se += (q[i * K + a] - mu[a]) ** 2;
        count++;
      }
    }
  }
  return Math.sqrt(se / count);
}

const BASE = { actions: 10, dim: 5, reward: 'logistic' as const, loggingTemperature: 1, qHatNoise: 0.1 };

describe('TF.js backend loader', () => {
  it('falls back from a missing tfjs-node to wasm, and says so', async () => {
    const missing: Importer = (s) => (s === '@tensorflow/tfjs-node' ? Promise.reject(Object.assign(new Error(`Cannot find package '${s}'`), { code: 'ERR_MODULE_NOT_FOUND' })) : import(s));
    const rt = await loadTf('auto', missing);
    expect(rt.backend).toBe('wasm');
    expect(rt.description).toMatch(/^tfjs 4\.22\.0 \(wasm/);
    expect(rt.fallbacks).toEqual(['tfjs-node not available (not installed)']);
  });

  it('falls back to cpu when wasm cannot initialize either', async () => {
    const noWasm: Importer = (s) => (s === '@tensorflow/tfjs' ? import(s) : Promise.reject(new Error(`no ${s} here`)));
    const rt = await loadTf('auto', noWasm);
    expect(rt.backend).toBe('cpu');
    expect(rt.fallbacks).toEqual([`tfjs-node not available (no @tensorflow/tfjs-node here)`, 'wasm did not initialize (no @tensorflow/tfjs-backend-wasm here)']);
  });

  it('treats a forced backend that does not load as a usage error, not a silent fallback', async () => {
    const missing: Importer = (s) => (s === '@tensorflow/tfjs-node' ? Promise.reject(new Error('gone')) : import(s));
    await expect(loadTf('node', missing)).rejects.toThrow(UsageError);
    await expect(loadTf('node', missing)).rejects.toThrow(/tfjs-node backend was asked for/);
  });
});

describe('model quality', () => {
  it('computes log loss, RMSE and ECE by hand on four rows', () => {
    const q = modelQuality(Float64Array.from([0.2, 0.2, 0.8, 0.6]), [0, 1, 1, 1], true);
    expect(q.logLoss).toBeCloseTo(-(Math.log(0.8) + Math.log(0.2) + Math.log(0.8) + Math.log(0.6)) / 4, 12);
    expect(q.rmse).toBeCloseTo(Math.sqrt((0.04 + 0.64 + 0.04 + 0.16) / 4), 12);
    expect(q.baselineRmse).toBeCloseTo(Math.sqrt((0.5625 + 3 * 0.0625) / 4), 12);
    // bins [0.2,0.3): predicted 0.2, observed 0.5 (2 rows); [0.6,0.7): 0.6 vs 1; [0.8,0.9): 0.8 vs 1
    expect(q.ece).toBeCloseTo(0.5 * 0.3 + 0.25 * 0.4 + 0.25 * 0.2, 12);
    expect(q.reliability.map((b) => b.count)).toEqual([2, 1, 1]);
  });
});

describe('cross-fitted reward models', () => {
  it('q_hat of a row does not change when its own reward is flipped (cross-fitting is real)', async () => {
    const { aligned } = synth({ ...BASE, n: 3000, seed: 21 });
    const logs = aligned.map((a) => a.log);
    const i = 1234;
    const flipped: LogBatch[] = logs.map((b) => {
      if (i < b.rowOffset || i >= b.rowOffset + b.n) return b;
      const reward = b.reward.slice();
      reward[i - b.rowOffset] = 1 - reward[i - b.rowOffset];
      return { ...b, reward };
    });
    const opts = { kind: 'logistic' as const, backend: 'wasm' as const, maxEpochs: 5, seed: 4 };
    const a = await fitRewardModel(stream(logs), opts);
    const b = await fitRewardModel(stream(flipped), opts);
    const qa = predictBatch(a.runtime, a.model, logs[0]);
    const qb = predictBatch(b.runtime, b.model, flipped[0]);
    const K = 10;
    expect(Array.from(qb.subarray(i * K, i * K + K))).toEqual(Array.from(qa.subarray(i * K, i * K + K)));
    // The rows of the other folds come from models that did see the flipped reward: they move.
    const fi = foldOf(rowKey(logs[0], i), 4, 3);
    let moved = 0;
    for (let j = 0; j < logs[0].n; j++) if (foldOf(rowKey(logs[0], j), 4, 3) !== fi && qa[j * K] !== qb[j * K]) moved++;
    expect(moved).toBeGreaterThan(0);
  });

  it('is reproducible from the seed, and its predictions do not depend on how the log was batched', async () => {
    const { aligned } = synth({ ...BASE, n: 5000, seed: 22 });
    const opts = { kind: 'mlp' as const, backend: 'wasm' as const, maxEpochs: 3, seed: 9 };
    const fit = () => fitRewardModel(stream(aligned.map((x) => x.log)), opts);
    const [a, b] = [await fit(), await fit()];
    expect(b.report.quality).toEqual(a.report.quality);
    const run = async (batches: typeof aligned) =>
      evaluateStream(withRewardModel(stream(batches), a), { estimators: parseEstimatorList('dm,dr'), policyNames: ['0', '1', '2', '3', '4'], replicates: 50, seed: 1 });
    const rebatched = aligned.flatMap((x) => {
      const cut = 777;
      const part = (from: number, to: number) => ({
        log: {
          ...x.log,
          rowOffset: x.log.rowOffset + from,
          n: to - from,
          action: x.log.action.subarray(from, to),
          reward: x.log.reward.subarray(from, to),
          propensity: x.log.propensity.subarray(from, to),
          clusterKey: x.log.clusterKey?.subarray(from, to),
          qHat: undefined,
          context: x.log.context && { width: x.log.context.width, values: x.log.context.values.subarray(from * x.log.context.width, to * x.log.context.width) },
        },
        policies: x.policies.map((p) => ({
          n: to - from,
          targetPropensity: p.targetPropensity?.subarray(from, to),
          actionDist: p.actionDist && { width: p.actionDist.width, values: p.actionDist.values.subarray(from * p.actionDist.width, to * p.actionDist.width) },
        })),
      });
      return [part(0, cut), part(cut, x.log.n)];
    });
    expect(await run(rebatched)).toEqual(await run(aligned));
  });

  it('logistic: q_hat within 0.05 RMSE of the true expected reward at n = 1e5', async () => {
    const cfg = { ...BASE, n: 100_000, dim: 10, seed: 23 };
    const { aligned } = synth(cfg);
    const fitted = await fitRewardModel(stream(aligned.map((x) => x.log)), { kind: 'logistic', backend: 'wasm' });
    expect(rmseAgainstTruth(cfg, aligned, fitted)).toBeLessThan(0.05);
    expect(fitted.report.quality.ece).toBeLessThan(0.02);
  });

  it('continuous rewards: squared error and linear outputs, q_hat near the least-squares accuracy on the true linear reward', async () => {
    const cfg = { ...BASE, reward: 'linear' as const, n: 50_000, seed: 24 };
    const { aligned } = synth(cfg);
    const fitted = await fitRewardModel(stream(aligned.map((x) => x.log)), { kind: 'logistic', backend: 'wasm' });
    expect(fitted.report.likelihood).toBe('gaussian');
    expect(fitted.report.quality.logLoss).toBeUndefined();
    // Least squares per action on n_a rows with d + 1 = 6 coefficients predicts with RMSE about
    // sigma sqrt(6 / n_a) (sigma = 0.5, the reward noise); each fold trains on 2/3 of the rows less
    // the 10% validation share. Averaged over actions (every action is scored on every row), with
    // a factor 1.5 for the optimizer stopping early rather than at the least-squares solution.
    const counts = new Float64Array(10);
    for (const { log } of aligned) for (let i = 0; i < log.n; i++) counts[log.action[i]]++;
    const ideal = Math.sqrt(counts.reduce((s, na) => s + (0.25 * 6) / (na * (2 / 3) * 0.9), 0) / 10);
    expect(rmseAgainstTruth(cfg, aligned, fitted)).toBeLessThan(1.5 * ideal);
    // Held-out RMSE against the noisy rewards is about the noise sd (0.5), well under the constant predictor's.
    expect(fitted.report.quality.rmse).toBeLessThan(0.55);
    expect(fitted.report.quality.rmse).toBeLessThan(fitted.report.quality.baselineRmse);
  });

  it('uses the position on ranking logs: under position-based clicks q_hat falls with the examination probability', async () => {
    // Additive (PBM) slate rewards: E[r | item, slot k] = theta_k c(x, item) with theta_k = 1 / (k + 1).
    const { batches } = slateSynthAligned({
      n: 20_000,
      actions: 8,
      slateLength: 4,
      dim: 3,
      logger: 'plackett-luce',
      reward: 'additive',
      loggingTemperature: 1,
      qHatNoise: 0.1,
      seed: 3,
      populationSamples: 2,
    });
    const logs = [...batches].map((b) => b.log);
    const fitted = await fitRewardModel(stream(logs), { kind: 'logistic', backend: 'wasm' });
    expect(fitted.report.positions).toBe(4);
    // Mean q_hat over all rows and actions, per slot: the ratio slot k / slot 0 tracks theta_k / theta_0.
    const sums = new Float64Array(4);
    const counts = new Float64Array(4);
    for (const log of logs) {
      const q = predictBatch(fitted.runtime, fitted.model, log);
      const pos = log.position as Int32Array;
      for (let i = 0; i < log.n; i++) for (let a = 0; a < 8; a++) sums[pos[i]] += q[i * 8 + a];
      for (let i = 0; i < log.n; i++) counts[pos[i]] += 8;
    }
    const mean = Array.from(sums, (s, k) => s / counts[k]);
    for (let k = 1; k < 4; k++) expect(mean[k] / mean[0]).toBeCloseTo(1 / (k + 1), 1);
  });

  it('over 20 seeds, dr and sndr with the fitted model are closer to the true value than ips', async () => {
    const errors: Record<string, number[]> = { ips: [], dr: [], sndr: [] };
    for (let seed = 1; seed <= 20; seed++) {
      // One target, the sharp softmax (where importance weights are large).
      const { raw, aligned } = synth({ ...BASE, n: 10_000, seed: 100 + seed, targets: [{ kind: 'softmax', temperature: 0.1 }] });
      let truth = 0;
      for (const b of raw) for (let i = 0; i < b.n; i++) truth += b.targets[0].conditionalValue[i];
      truth /= 10_000;
      const fitted = await fitRewardModel(stream(aligned.map((x) => x.log)), { kind: 'logistic', backend: 'wasm', seed });
      const r = await evaluateStream(withRewardModel(stream(aligned), fitted), { estimators: parseEstimatorList('ips,dr,sndr'), policyNames: ['t'], replicates: 0 });
      for (const e of r.estimates) errors[e.estimator].push(e.value - truth);
    }
    const rmse = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + x * x, 0) / xs.length);
    expect(rmse(errors.dr)).toBeLessThan(rmse(errors.ips));
    expect(rmse(errors.sndr)).toBeLessThan(rmse(errors.ips));
  });
});
