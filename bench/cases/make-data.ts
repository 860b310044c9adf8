/**
 * Writes the bench's synthetic log (bench/lib/synth-log.ts) of --rows rows in --format to
 * bench/out/data/log-<rows>.<ext> through the library's streaming, atomic writeTable. Does nothing
 * when the file is already there (delete bench/out/data to regenerate).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { writeTable } from '../../src/data/write-log.js';
import { argNumber, argString, dataPath, DATA_DIR, emit, parseArgs, runCase, since, type BenchFormat } from '../lib/common.js';
import { SCHEMA, synthBatches } from '../lib/synth-log.js';

runCase(async () => {
  const args = parseArgs(process.argv.slice(2));
  const rows = argNumber(args, 'rows');
  const format = argString(args, 'format') as BenchFormat;
  const seed = argNumber(args, 'seed', 1);
  const path = dataPath(rows, format);
  mkdirSync(DATA_DIR, { recursive: true });
  const reused = existsSync(path);
  const t0 = performance.now();
  if (!reused) await writeTable(path, SCHEMA, synthBatches(rows, seed));
  const seconds = since(t0);
  emit({ case: 'make-data', variant: format, seconds, rows, path, reused, fileMB: statSync(path).size / 1e6 });
});
