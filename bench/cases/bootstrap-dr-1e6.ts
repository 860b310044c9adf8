/**
 * Case bootstrap-dr-1e6: 1000 Poisson-bootstrap replicates of dr over an in-memory log (1e6 rows
 * in the full run), end to end through evaluateStream (point pass, replicates, percentile CI).
 *
 *   --rows N --replicates B --threads T
 *
 * Building the rows is not timed (reported as buildSeconds). Target (issue 3): under 1.5 s on 2 cores.
 */
import { performance } from 'node:perf_hooks';
import { argNumber, collectGarbage, emit, parseArgs, round, rssMB, runCase, since } from '../lib/common.js';
import { oursBootstrapDr } from '../lib/bootstrap.js';
import { inMemoryLog } from '../lib/in-memory.js';

runCase(async () => {
  const args = parseArgs(process.argv.slice(2));
  const rows = argNumber(args, 'rows', 1e6);
  const replicates = argNumber(args, 'replicates', 1000);
  const threads = argNumber(args, 'threads', 1);
  const t0 = performance.now();
  const data = inMemoryLog(rows);
  const buildSeconds = since(t0);
  collectGarbage();
  const rssBeforeMB = round(rssMB(), 1);
  const ours = await oursBootstrapDr(data.aligned, replicates, threads);
  emit({
    case: 'bootstrap-dr-1e6',
    variant: `threads=${threads}`,
    seconds: ours.seconds,
    rows,
    replicates,
    threads,
    rowReplicatesPerSecond: (rows * replicates) / ours.seconds,
    nsPerRowReplicate: (ours.seconds * 1e9) / (rows * replicates),
    buildSeconds,
    rssBeforeMB,
    dr: ours.summary,
  });
});
