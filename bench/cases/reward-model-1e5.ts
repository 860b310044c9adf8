/**
 * Case reward-model-1e5 (issue 5): fitting the cross-fitted reward model on a 1e5-row synthetic
 * log with 10 actions and 10 context features (logistic true rewards), on a chosen TF.js backend.
 *
 *   --rows N --kind logistic|mlp --backend wasm|cpu|node --folds F
 *
 * Timed: fitRewardModel end to end (reading the in-memory batches, standardizing, F folds of
 * training with early stopping, held-out predictions and quality), then separately the prediction
 * of q_hat for every action of every row (what `ope evaluate --reward-model` adds to the pass).
 * Building the rows is not timed. Target (issue 5): the fit under 60 s on 2 cores offline.
 */
import { performance } from 'node:perf_hooks';
import { argNumber, argString, emit, parseArgs, round, runCase, since } from '../lib/common.js';
import { fitRewardModel, withRewardModel } from '../../src/reward-model/fit-log.js';
import { parseBackendChoice } from '../../src/tf/backend.js';
import type { RewardModelKind } from '../../src/reward-model/models.js';
import { expectedRewardsInto, generateBanditLog, makeBanditWorld, resolveBanditConfig } from '../../simulators/bandit-world.js';
import { synthToAligned } from '../../simulators/synth-batches.js';

runCase(async () => {
  const args = parseArgs(process.argv.slice(2));
  const rows = argNumber(args, 'rows', 1e5);
  const kind = argString(args, 'kind', 'logistic') as RewardModelKind;
  const backend = parseBackendChoice(argString(args, 'backend', 'wasm'), '--backend');
  const folds = argNumber(args, 'folds', 3);
  const cfg = { n: rows, actions: 10, dim: 10, reward: 'logistic' as const, loggingTemperature: 1, qHatNoise: 0.1, seed: 5 };
  const t0 = performance.now();
  const aligned = [...generateBanditLog(cfg)].map(synthToAligned);
  const buildSeconds = since(t0);
  async function* logs() {
    for (const a of aligned) yield a.log;
  }
  const t1 = performance.now();
  const fitted = await fitRewardModel(logs(), { kind, backend, folds, seed: 1 });
  const seconds = since(t1);
  // q_hat for every action of every row, on canonical blocks, as the evaluation pass gets it.
  const world = makeBanditWorld(resolveBanditConfig(cfg));
  const mu = new Float64Array(cfg.actions);
  let se = 0;
  let count = 0;
  let predictSeconds = 0;
  let mark = performance.now();
  for await (const { log } of withRewardModel(aligned, fitted)) {
    predictSeconds += since(mark);
    const q = (log.qHat as { values: Float64Array }).values;
    const x = (log.context as { values: Float64Array }).values;
    for (let i = 0; i < log.n; i++) {
      expectedRewardsInto(world, x, i * cfg.dim, mu, 0);
      for (let a = 0; a < cfg.actions; a++) {
        const e = q[i * cfg.actions + a] - mu[a];
        se += e * e;
        count++;
      }
    }
    mark = performance.now();
  }
  const r = fitted.report;
  emit({
    case: 'reward-model-1e5',
    variant: `${kind} ${r.backend.includes('wasm') ? 'wasm' : r.backend.includes('cpu') ? 'cpu' : 'tensorflow'}`,
    seconds,
    rows,
    backend: r.backend,
    folds,
    epochs: r.foldReports.map((f) => f.epochs),
    bestEpochs: r.foldReports.map((f) => f.bestEpoch),
    predictSeconds: round(predictSeconds, 3),
    buildSeconds: round(buildSeconds, 2),
    heldOutLogLoss: r.quality.logLoss,
    ece: r.quality.ece,
    rmseVsTruth: Math.sqrt(se / count),
  });
});
