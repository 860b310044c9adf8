/**
 * Quickstart: the library API in one page (run: `npx tsx notebooks/quickstart.ts`).
 * Writes a synthetic log with known truth, evaluates two candidates, and prints each estimate
 * beside the true value.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateLog, writeBanditSynth } from 'ope-toolkit';

const dir = mkdtempSync(join(tmpdir(), 'ope-quickstart-'));

// 1. A log of 20,000 decisions over 10 actions, with a softmax logging policy, and two candidates.
const { truth } = await writeBanditSynth(
  {
    n: 20_000,
    actions: 10,
    dim: 5,
    reward: 'logistic',
    loggingTemperature: 1,
    qHatNoise: 0.1,
    targets: [
      { kind: 'softmax', temperature: 0.5, name: 'candidate' },
      { kind: 'uniform', name: 'baseline' },
    ],
    populationSamples: 200_000,
    seed: 7,
  },
  { outDir: dir, format: 'parquet' },
);

// 2. Estimates with 95% Poisson-bootstrap intervals and diagnostics, in one pass over the log.
const { result } = await evaluateLog({
  log: join(dir, truth.log_file),
  policies: Object.fromEntries(truth.targets.map((t) => [t.name, join(dir, t.file)])),
  estimators: 'ips,snips,dr,switch-dr:tau=20',
  replicates: 500,
  seed: 1,
});

// 3. Each estimate beside the truth the simulator knows.
for (const e of result.estimates) {
  const v = truth.targets.find((t) => t.name === e.policy)?.value_population ?? NaN;
  const hit = e.ci.lower <= v && v <= e.ci.upper ? 'covers' : 'misses';
  console.log(`${e.policy.padEnd(9)} ${e.label.padEnd(16)} ${e.value.toFixed(4)} [${e.ci.lower.toFixed(4)}, ${e.ci.upper.toFixed(4)}] ${hit} truth ${v.toFixed(4)}`);
}
for (const p of result.policies) console.log(`${p.policy}: ESS ${p.ess.toFixed(0)} of ${p.n}, mean weight ${p.meanWeight.toFixed(3)}, max weight ${p.maxWeight.toFixed(1)}`);
