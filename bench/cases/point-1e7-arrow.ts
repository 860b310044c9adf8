/**
 * Case point-1e7-arrow: point estimates (no bootstrap: delta-method se, normal CI) of ips, snips
 * and dr over an Arrow IPC log on disk (1e7 rows in the full run).
 *
 *   --variant raw   the file's bytes only (fs.readSync in 8 MiB pieces into one buffer): the I/O floor
 *   --variant raw-fresh  the same bytes in record-batch-sized pieces (2.75 MiB), each into a fresh
 *                   buffer as apache-arrow's reader does: what first-touch page faults cost
 *   --variant read  openLog iteration only (where the time goes: reading vs estimating)
 *   --variant lib   openLog -> alignPolicies (inline target) -> evaluateStream
 *   --variant cli   node bin/ope.js evaluate --log F --estimators ips,snips,dr --bootstrap 0 --json
 *                   (a separate process; seconds include node startup, memory is that process's)
 *
 * Target (issue 3): lib and cli under 2 s on 2 cores for 1e7 rows.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { argNumber, argString, emit, parseArgs, round, runCase, since } from '../lib/common.js';
import { pointEstimates, readOnly, runCli } from '../lib/pipeline.js';

function rawRead(file: string, fresh = false): number {
  const fd = openSync(file, 'r');
  // One 65536-row record batch of the bench log is 65536 x 44 bytes.
  const size = fresh ? 65536 * 44 : 8 << 20;
  let buf = new Uint8Array(size);
  let total = 0;
  try {
    for (;;) {
      if (fresh) buf = new Uint8Array(size);
      const got = readSync(fd, buf, 0, buf.length, total);
      if (got === 0) break;
      total += got;
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

runCase(async () => {
  const args = parseArgs(process.argv.slice(2));
  const file = argString(args, 'file');
  const variant = argString(args, 'variant', 'lib');
  const threads = argNumber(args, 'threads', 2);
  const caseName = argString(args, 'case', 'point-1e7-arrow');
  const fileMB = statSync(file).size / 1e6;
  const startupSeconds = round(performance.now() / 1000, 3);
  if (variant === 'raw' || variant === 'raw-fresh') {
    const t0 = performance.now();
    const bytes = rawRead(file, variant === 'raw-fresh');
    const seconds = since(t0);
    emit({ case: caseName, variant, seconds, rows: argNumber(args, 'rows', 0), MBPerSecond: bytes / 1e6 / seconds, fileMB, startupSeconds });
  } else if (variant === 'read') {
    const t0 = performance.now();
    const r = await readOnly(file);
    const seconds = since(t0);
    emit({ case: caseName, variant, seconds, rows: r.rows, MBPerSecond: fileMB / seconds, fileMB, batches: r.batches, startupSeconds });
  } else if (variant === 'lib') {
    const t0 = performance.now();
    const r = await pointEstimates(file, threads);
    const seconds = since(t0);
    emit({ case: caseName, variant, seconds, rows: r.rows, MBPerSecond: fileMB / seconds, fileMB, threads, startupSeconds, estimates: r.estimates });
  } else if (variant === 'cli') {
    const r = await runCli(file);
    emit({ case: caseName, variant, seconds: r.seconds, rows: r.rows, MBPerSecond: fileMB / r.seconds, fileMB, estimates: r.estimates, cliMaxRssMB: r.maxRssMB, cliCpuSeconds: r.cpuSeconds, cliRssSource: r.rssSource });
  } else {
    throw new Error(`unknown --variant '${variant}' (raw, raw-fresh, read, lib, cli)`);
  }
});
