/**
 * Quickstart: the library API in one page (run: `npm run notebook -- quickstart`, a few seconds).
 * Writes a synthetic log with known truth, evaluates two candidates, and prints each estimate
 * beside the true value; the same lines go to notebooks/out/quickstart/ (or OPE_NOTEBOOK_OUT) as
 * README.md and estimates.csv. OPE_NOTEBOOK_SIZE=smoke: 2,000 decisions, 50 bootstrap replicates.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateLog, writeBanditSynth } from 'ope-toolkit';
import { notebookOut, notebookSize } from './lib/env.js';

const FULL = notebookSize() === 'full';
const OUT = notebookOut('quickstart');
const dir = mkdtempSync(join(tmpdir(), 'ope-quickstart-'));

// 1. A log of 20,000 decisions over 10 actions, with a softmax logging policy, and two candidates.
const { truth } = await writeBanditSynth(
  {
    n: FULL ? 20_000 : 2_000,
    actions: 10,
    dim: 5,
    reward: 'logistic',
    loggingTemperature: 1,
    qHatNoise: 0.1,
    targets: [
      { kind: 'softmax', temperature: 0.5, name: 'candidate' },
      { kind: 'uniform', name: 'baseline' },
    ],
    populationSamples: FULL ? 200_000 : 5_000,
    seed: 7,
  },
  { outDir: dir, format: 'parquet' },
);

// 2. Estimates with 95% Poisson-bootstrap intervals and diagnostics, in one pass over the log.
const { result } = await evaluateLog({
  log: join(dir, truth.log_file),
  policies: Object.fromEntries(truth.targets.map((t) => [t.name, join(dir, t.file)])),
  estimators: 'ips,snips,dr,switch-dr:tau=20',
  replicates: FULL ? 500 : 50,
  seed: 1,
});

// 3. Each estimate beside the truth the simulator knows.
const lines: string[] = [];
const csv = ['policy,estimator,value,ci_lower,ci_upper,truth,covers'];
for (const e of result.estimates) {
  const v = truth.targets.find((t) => t.name === e.policy)?.value_population ?? NaN;
  const hit = e.ci.lower <= v && v <= e.ci.upper ? 'covers' : 'misses';
  lines.push(`${e.policy.padEnd(9)} ${e.label.padEnd(16)} ${e.value.toFixed(4)} [${e.ci.lower.toFixed(4)}, ${e.ci.upper.toFixed(4)}] ${hit} truth ${v.toFixed(4)}`);
  csv.push(`${e.policy},${e.label},${e.value},${e.ci.lower},${e.ci.upper},${v},${hit === 'covers'}`);
}
for (const p of result.policies) lines.push(`${p.policy}: ESS ${p.ess.toFixed(0)} of ${p.n}, mean weight ${p.meanWeight.toFixed(3)}, max weight ${p.maxWeight.toFixed(1)}`);
for (const l of lines) console.log(l);

// 4. The same, as a report a reader sees without running anything.
writeFileSync(join(OUT, 'estimates.csv'), csv.join('\n') + '\n');
writeFileSync(
  join(OUT, 'README.md'),
  `# Quickstart\n\nEstimates with 95% Poisson-bootstrap intervals beside the population truth (notebooks/quickstart.ts; table: [estimates.csv](estimates.csv)).\n\n\`\`\`\n${lines.join('\n')}\n\`\`\`\n`,
);
