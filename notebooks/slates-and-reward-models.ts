/**
 * Slate estimators and a fitted reward model, each beside the truth the simulator knows
 * (run: `npm run notebook -- slates-and-reward-models`, about 10 s on 2 cores). Prints the results
 * and writes them to notebooks/out/slates-and-reward-models/ (or OPE_NOTEBOOK_OUT) as README.md and
 * estimates.csv. OPE_NOTEBOOK_SIZE=smoke: 1,000 slates, 2,000 decisions, 50 bootstrap replicates.
 *
 * 1. A slate log with position-based (additive) clicks: every slate estimator whose assumption
 *    holds covers the truth; pi, which assumes a factorized logger, need not on this
 *    Plackett-Luce log.
 * 2. A bandit log whose q_hat we ignore: DM and DR with a cross-fitted logistic reward model,
 *    against IPS.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateLog, writeBanditSynth, writeSlateSynth } from 'ope-toolkit';
import { notebookOut, notebookSize } from './lib/env.js';

const FULL = notebookSize() === 'full';
const OUT = notebookOut('slates-and-reward-models');
const B = FULL ? 300 : 50;
const lines: string[] = [];
const csv = ['part,policy,estimator,value,ci_lower,ci_upper,truth'];
const dir = mkdtempSync(join(tmpdir(), 'ope-notebook-'));

// 1. Slates of 5 out of 10 items, clicks = examination 1/(k+1) x attraction.
const slates = await writeSlateSynth(
  {
    n: FULL ? 20_000 : 1_000,
    actions: 10,
    slateLength: 5,
    dim: 5,
    logger: 'plackett-luce',
    reward: 'additive',
    loggingTemperature: 1,
    qHatNoise: 0.1,
    populationSamples: FULL ? 10_000 : 2_000,
    seed: 3,
  },
  { outDir: join(dir, 'slates'), format: 'arrow' },
);
const t = slates.truth;
const theta = (t.examination ?? []).map((x, j) => `theta${j}=${x}`).join(',');
const slateRun = await evaluateLog({
  log: join(dir, 'slates', t.log_file),
  policies: Object.fromEntries(t.targets.map((x) => [x.name, join(dir, 'slates', x.file)])),
  estimators: `all-slate,pbm-ips:${theta}`,
  replicates: B,
});
for (const e of slateRun.result.estimates) {
  const v = t.targets.find((x) => x.name === e.policy)?.value_sample ?? NaN;
  const ess = e.diagnostics.weight_ess ?? NaN;
  lines.push(`${e.policy.padEnd(12)} ${e.estimator.padEnd(11)} ${e.value.toFixed(4)} [${e.ci.lower.toFixed(4)}, ${e.ci.upper.toFixed(4)}] truth ${v.toFixed(4)}  ESS ${ess.toFixed(0)}`);
  csv.push(`slates,${e.policy},${e.estimator},${e.value},${e.ci.lower},${e.ci.upper},${v}`);
}

// 2. A bandit log; the reward model is fitted on the log itself, cross-fitted over 3 folds.
const bandit = await writeBanditSynth(
  {
    n: FULL ? 50_000 : 2_000,
    actions: 10,
    dim: 5,
    reward: 'logistic',
    loggingTemperature: 1,
    qHatNoise: 0.1,
    targets: [{ kind: 'softmax', temperature: 0.2, name: 'candidate' }],
    populationSamples: FULL ? 10_000 : 2_000,
    seed: 4,
  },
  { outDir: join(dir, 'bandit'), format: 'parquet' },
);
const b = bandit.truth;
const fitted = await evaluateLog({
  log: join(dir, 'bandit', b.log_file),
  policies: { candidate: join(dir, 'bandit', b.targets[0].file) },
  estimators: 'ips,dm,dr,sndr',
  replicates: B,
  rewardModel: { kind: 'logistic' },
});
const q = fitted.rewardModel?.quality;
lines.push(`\nreward model on ${fitted.rewardModel?.backend}: held-out log loss ${q?.logLoss?.toFixed(4)}, ECE ${q?.ece.toFixed(4)}`);
for (const e of fitted.result.estimates) {
  lines.push(`${e.estimator.padEnd(5)} ${e.value.toFixed(4)} ± ${e.se.toFixed(4)}  truth ${b.targets[0].value_sample.toFixed(4)}`);
  csv.push(`reward-model,candidate,${e.estimator},${e.value},${e.ci.lower},${e.ci.upper},${b.targets[0].value_sample}`);
}
for (const l of lines) console.log(l);
writeFileSync(join(OUT, 'estimates.csv'), csv.join('\n') + '\n');
writeFileSync(
  join(OUT, 'README.md'),
  `# Slate estimators and a fitted reward model\n\nEach estimate beside the truth the simulator knows (notebooks/slates-and-reward-models.ts; table: [estimates.csv](estimates.csv)).\n\n\`\`\`\n${lines.join('\n')}\n\`\`\`\n`,
);
