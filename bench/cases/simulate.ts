/**
 * Case simulate (issue 6): `ope simulate` end to end, in process (runSimulate: the loop, the Parquet
 * round logs, the checkpoints, metrics.csv and report.html), on the offline TF.js backend.
 *
 *   --users U --items I --rounds R --scenarios a,b --slate L --dim D --backend wasm|cpu|node
 *   --optimizer adam|lazy-adam   (the two-tower model's, two-tower.ts TwoTowerOptimizer; default adam)
 *
 * Reported: wall seconds, the split by stage (serve: scoring and sampling; train: the two-tower
 * retraining, reported apart; metrics: true values of the served and next policies and the round's
 * metrics; oracle: the oracle's values, shared by the scenarios; ope: the holdout log and the
 * estimators; log: the slate-contract rows and writing them; report), peak
 * RSS, and impressions per second (users x L x rounds x scenarios). Loading TF.js is not timed.
 * Target (issue 6): the default configuration (1,000 users, 1,000 items, L = 10, dim 32, 10 rounds)
 * under 60 s on 2 cores offline.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runSimulate } from '../../src/cli/commands/simulate.js';
import { loadTf, parseBackendChoice } from '../../src/tf/backend.js';
import { argNumber, argString, emit, parseArgs, round, runCase, since } from '../lib/common.js';

runCase(async () => {
  const args = parseArgs(process.argv.slice(2));
  const users = argNumber(args, 'users', 1000);
  const items = argNumber(args, 'items', 1000);
  const rounds = argNumber(args, 'rounds', 10);
  const slate = argNumber(args, 'slate', 10);
  const dim = argNumber(args, 'dim', 32);
  const scenarios = argString(args, 'scenarios', 'topk,softmax');
  const backend = argString(args, 'backend', 'wasm');
  const optimizer = argString(args, 'optimizer', 'adam');
  await loadTf(parseBackendChoice(backend, '--backend'));
  const dir = await mkdtemp(join(tmpdir(), 'ope-bench-simulate-'));
  try {
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ world: { users, items, dim, slateSize: slate }, rounds, model: { dim, optimizer } }));
    const t0 = performance.now();
    const out = await runSimulate({ out: join(dir, 'out'), config, scenario: scenarios, format: 'parquet', tfBackend: backend });
    const seconds = since(t0);
    const impressions = users * slate * rounds * scenarios.split(',').length;
    emit({
      case: 'simulate',
      variant: `${users}x${items} L=${slate} ${rounds} rounds ${scenarios}${optimizer === 'adam' ? '' : ` ${optimizer}`}`,
      seconds,
      rows: impressions,
      backend: out.backend,
      secondsByStage: Object.fromEntries(Object.entries(out.secondsByStage).map(([k, v]) => [k, round(v, 2)])),
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
