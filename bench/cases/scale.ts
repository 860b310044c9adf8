/**
 * Case scale (issue 10): `ope evaluate` over a partitioned Parquet dataset of up to 1e8 rows, as a
 * user runs it (a fresh CLI process per measurement; peak memory is that process's, from GNU time).
 *
 *   --variant make     writes the dataset: bench/out/data/scale/part-NNNN.parquet, FILES files of
 *                      FILE_ROWS rows each (bench/lib/synth-log.ts with seed 1000 + file, plus a
 *                      request_id column numbering the rows across files); existing parts are kept
 *   --variant run      --rows R (1e6, 1e7 or 1e8: the first R / FILE_ROWS parts, as a glob)
 *                      --engine js|duckdb --threads T --replicates B
 *
 * Estimators ips, snips, dr (as point-1e7-arrow). Percentile intervals when B > 0, normal when B = 0.
 * The estimates are emitted too, so runs with other engines, thread counts and row counts can be
 * checked against each other.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeTable, type OutBatch } from '../../src/data/write-log.js';
import { argNumber, argString, DATA_DIR, emit, OPE_BIN, parseArgs, runCase, since } from '../lib/common.js';
import { SCHEMA, synthBatches } from '../lib/synth-log.js';

export const SCALE_DIR = join(DATA_DIR, 'scale');
export const FILE_ROWS = 1_000_000;
export const FILES = 100;

function partPath(k: number): string {
  return join(SCALE_DIR, `part-${String(k).padStart(4, '0')}.parquet`);
}

/** The glob of the first rows / FILE_ROWS parts: part-0000 alone, part-000?, part-00??. */
export function scaleGlob(rows: number): string {
  const files = rows / FILE_ROWS;
  const digits = Math.round(Math.log10(files));
  if (!(Number.isInteger(files) && 10 ** digits === files && files <= FILES)) throw new Error(`--rows must be ${FILE_ROWS} times a power of 10 up to ${FILES} files, got ${rows}`);
  return join(SCALE_DIR, `part-${'0'.repeat(4 - digits)}${'?'.repeat(digits)}.parquet`);
}

function* withRequestIds(k: number): Generator<OutBatch> {
  let next = k * FILE_ROWS;
  for (const b of synthBatches(FILE_ROWS, 1000 + k)) {
    const id = new Int32Array(b.n);
    for (let i = 0; i < b.n; i++) id[i] = next++;
    yield { n: b.n, columns: { request_id: id, ...b.columns } };
  }
}

async function makeDataset(): Promise<{ written: number; seconds: number; MB: number }> {
  mkdirSync(SCALE_DIR, { recursive: true });
  const t0 = performance.now();
  let written = 0;
  for (let k = 0; k < FILES; k++) {
    if (existsSync(partPath(k))) continue;
    await writeTable(partPath(k), [{ name: 'request_id', kind: 'int32' }, ...SCHEMA], withRequestIds(k));
    written++;
    process.stderr.write(`\rscale dataset: part ${k + 1}/${FILES}`);
  }
  if (written > 0) process.stderr.write('\n');
  const MB = readdirSync(SCALE_DIR)
    .filter((f) => f.endsWith('.parquet'))
    .reduce((s, f) => s + statSync(join(SCALE_DIR, f)).size / 1e6, 0);
  return { written, seconds: since(t0), MB };
}

interface CliRun {
  seconds: number;
  maxRssMB: number;
  cpuSeconds: number;
  stdout: string;
}

/** A CLI process under GNU time (%e wall, %M peak RSS in KB, %U + %S CPU seconds). */
function runTimed(args: readonly string[]): Promise<CliRun> {
  const MARK = '__BENCH_TIME__';
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', `${MARK} %e %M %U %S`, process.execPath, OPE_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const t0 = performance.now();
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = since(t0);
      const m = new RegExp(`${MARK} ([\\d.]+) (\\d+) ([\\d.]+) ([\\d.]+)`).exec(stderr);
      if (code !== 0 || m === null) {
        reject(new Error(`ope ${args.join(' ')} exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      resolve({ seconds, maxRssMB: Number(m[2]) / 1024, cpuSeconds: Number(m[3]) + Number(m[4]), stdout });
    });
  });
}

interface CliDocument {
  n: number;
  policies: { estimates: { label: string; value: number; se: number; ci?: [number, number] | { lower: number; upper: number } }[] }[];
}

runCase(async () => {
  const args = parseArgs(process.argv.slice(2));
  const variant = argString(args, 'variant', 'run');
  if (variant === 'make') {
    const r = await makeDataset();
    emit({ case: 'scale', variant: 'make', seconds: r.seconds, rows: FILES * FILE_ROWS, filesWritten: r.written, datasetMB: r.MB });
    return;
  }
  const rows = argNumber(args, 'rows');
  const engine = argString(args, 'engine', 'js');
  const threads = argNumber(args, 'threads', 2);
  const replicates = argNumber(args, 'replicates', 0);
  const glob = scaleGlob(rows);
  const cli = ['evaluate', '--log', glob, '--estimators', 'ips,snips,dr', '--bootstrap', String(replicates), '--threads', String(threads), '--json'];
  if (replicates === 0) cli.push('--ci', 'normal');
  if (engine !== 'js') cli.push('--engine', engine);
  const r = await runTimed(cli);
  const doc = JSON.parse(r.stdout) as CliDocument;
  if (doc.n !== rows) throw new Error(`evaluated ${doc.n} rows, expected ${rows}`);
  const estimates: Record<string, { value: number; se: number }> = {};
  for (const e of doc.policies[0].estimates) estimates[e.label] = { value: e.value, se: e.se };
  emit({
    case: 'scale',
    variant: `${engine} threads=${threads} B=${replicates}`,
    seconds: r.seconds,
    rows,
    cliMaxRssMB: r.maxRssMB,
    cliCpuSeconds: r.cpuSeconds,
    rowReplicatesPerSecond: replicates > 0 ? (rows * replicates) / r.seconds : undefined,
    estimates,
  });
});
