/**
 * Case point-1e6-formats: the same log (1e6 rows in the full run) written as Arrow IPC, Parquet,
 * CSV and JSONL by the library's writeTable; point estimates of ips, snips and dr from each file.
 *
 *   --file F --variant lib   openLog -> alignPolicies (inline target) -> evaluateStream, no bootstrap
 *   --file F --variant read  openLog iteration only
 *
 * Reports rows/s and MB/s of the file as stored on disk.
 */
import { statSync } from 'node:fs';
import { extname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { argNumber, argString, emit, parseArgs, runCase, since } from '../lib/common.js';
import { pointEstimates, readOnly } from '../lib/pipeline.js';

runCase(async () => {
  const args = parseArgs(process.argv.slice(2));
  const file = argString(args, 'file');
  const variant = argString(args, 'variant', 'lib');
  const threads = argNumber(args, 'threads', 2);
  const format = extname(file).slice(1);
  const fileMB = statSync(file).size / 1e6;
  const t0 = performance.now();
  if (variant === 'read') {
    const r = await readOnly(file);
    const seconds = since(t0);
    emit({ case: 'point-1e6-formats', variant: `${format} read`, format, seconds, rows: r.rows, MBPerSecond: fileMB / seconds, fileMB });
  } else if (variant === 'lib') {
    const r = await pointEstimates(file, threads);
    const seconds = since(t0);
    emit({ case: 'point-1e6-formats', variant: `${format} lib`, format, seconds, rows: r.rows, MBPerSecond: fileMB / seconds, fileMB, estimates: r.estimates });
  } else {
    throw new Error(`unknown --variant '${variant}' (read, lib)`);
  }
});
