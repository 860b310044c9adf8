/**
 * Case bootstrap-dr-naive-1e6: the same replicates of dr done the naive way, as Open Bandit
 * Pipeline's estimate_confidence_interval_by_bootstrap does (per replicate: n row indices drawn
 * with replacement from a seeded RNG, DR recomputed on the resampled rows), in the same process
 * and on the same rows as the engine's Poisson bootstrap, which runs first (threads = 1) so the
 * ratio naive / ours is measured side by side.
 *
 *   --rows N --replicates B [--mode terms|columns] [--budget-seconds 60]
 *
 * --mode terms (default) resamples the per-row DR terms as OBP does; --mode columns recomputes DR
 * from the five resampled raw columns every replicate (see bench/lib/bootstrap.ts).
 *
 * When the first 10 naive replicates project past the budget for all B, only 100 run and the
 * time is scaled to B (reported as scaled: true, replicatesRun: 100).
 */
import { performance } from 'node:perf_hooks';
import { argNumber, argString, collectGarbage, emit, parseArgs, round, rssMB, runCase, since } from '../lib/common.js';
import { naiveBootstrapDr, oursBootstrapDr, type NaiveMode } from '../lib/bootstrap.js';
import { inMemoryLog } from '../lib/in-memory.js';

runCase(async () => {
  const args = parseArgs(process.argv.slice(2));
  const rows = argNumber(args, 'rows', 1e6);
  const replicates = argNumber(args, 'replicates', 1000);
  const budget = argNumber(args, 'budget-seconds', 60);
  const mode = argString(args, 'mode', 'terms') as NaiveMode;
  if (mode !== 'terms' && mode !== 'columns') throw new Error(`--mode must be terms or columns, got '${mode}'`);
  const t0 = performance.now();
  const data = inMemoryLog(rows);
  const buildSeconds = since(t0);
  collectGarbage();
  const rssBeforeMB = round(rssMB(), 1);
  const ours = await oursBootstrapDr(data.aligned, replicates, 1);
  collectGarbage();
  const naive = naiveBootstrapDr(data.columns, replicates, mode, budget);
  emit({
    case: 'bootstrap-dr-naive-1e6',
    variant: `naive JS${mode === 'columns' ? ', raw columns' : ''}` + (naive.scaled ? ` (${naive.replicatesRun} run, scaled)` : ''),
    mode,
    seconds: naive.seconds,
    rows,
    replicates,
    replicatesRun: naive.replicatesRun,
    scaled: naive.scaled,
    measuredSeconds: naive.measuredSeconds,
    drawSeconds: naive.drawSeconds,
    estimateSeconds: naive.estimateSeconds,
    nsPerRowReplicate: (naive.seconds * 1e9) / (rows * replicates),
    oursSecondsSameProcess: ours.seconds,
    ratioSameProcess: naive.seconds / ours.seconds,
    buildSeconds,
    rssBeforeMB,
    naiveDr: naive.summary,
    oursDr: ours.summary,
  });
});
