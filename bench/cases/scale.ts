/**
 * Case scale (issue 10): `ope evaluate` over a partitioned Parquet dataset of up to 1e8 rows, as a
 * user runs it (a fresh CLI process per measurement; peak memory is that process's, from GNU time).
 *
 *   --variant make     writes the datasets: bench/out/data/scale/part-NNNN.parquet, FILES files of
 *                      FILE_ROWS rows each (bench/lib/synth-log.ts with seed 1000 + file; no request
 *                      ids, so each row is its own bootstrap cluster), and scale-ids/, the first
 *                      ID_FILES of them with a request_id column numbering the rows across files;
 *                      existing parts are kept
 *   --variant run      --rows R (1e6, 1e7 or 1e8: the first R / FILE_ROWS parts, as a glob)
 *                      --engine js|duckdb --threads T --replicates B [--ids yes]
 *
 * Estimators ips, snips, dr (as point-1e7-arrow). Percentile intervals when B > 0, normal when B = 0.
 * The estimates are emitted too, so runs with other engines, thread counts and row counts can be
 * checked against each other.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeTable, type OutBatch } from '../../src/data/write-log.js';
import { argNumber, argString, DATA_DIR, emit, OPE_BIN, parseArgs, runCase, since } from '../lib/common.js';
import { SCHEMA, synthBatches } from '../lib/synth-log.js';

export const SCALE_DIR = join(DATA_DIR, 'scale');
/** The first ID_FILES parts again with a request_id column (the rows numbered across files). */
export const SCALE_IDS_DIR = join(DATA_DIR, 'scale-ids');
const ID_FILES = 10;
export const FILE_ROWS = 1_000_000;
export const FILES = 100;

function partPath(dir: string, k: number): string {
  return join(dir, `part-${String(k).padStart(4, '0')}.parquet`);
}

/** The glob of the first rows / FILE_ROWS parts of a dataset: part-0000 alone, part-000?, part-00??. */
export function scaleGlob(rows: number, ids = false): string {
  const files = rows / FILE_ROWS;
  const digits = Math.round(Math.log10(files));
  const most = ids ? ID_FILES : FILES;
  if (!(Number.isInteger(files) && 10 ** digits === files && files <= most)) throw new Error(`--rows must be ${FILE_ROWS} times a power of 10 up to ${most} files, got ${rows}`);
  return join(ids ? SCALE_IDS_DIR : SCALE_DIR, `part-${'0'.repeat(4 - digits)}${'?'.repeat(digits)}.parquet`);
}

/** File k's rows (seed 1000 + k), with request ids numbering the rows across files when asked. */
function* partRows(k: number, ids: boolean): Generator<OutBatch> {
  let next = k * FILE_ROWS;
  for (const b of synthBatches(FILE_ROWS, 1000 + k)) {
    if (!ids) {
      yield b;
      continue;
    }
    const id = new Int32Array(b.n);
    for (let i = 0; i < b.n; i++) id[i] = next++;
    yield { n: b.n, columns: { request_id: id, ...b.columns } };
  }
}

async function makeDataset(): Promise<{ written: number; seconds: number; MB: number }> {
  const t0 = performance.now();
  let written = 0;
  let MB = 0;
  for (const [dir, files, ids] of [
    [SCALE_DIR, FILES, false],
    [SCALE_IDS_DIR, ID_FILES, true],
  ] as const) {
    mkdirSync(dir, { recursive: true });
    for (let k = 0; k < files; k++) {
      const path = partPath(dir, k);
      if (!existsSync(path)) {
        await writeTable(path, ids ? [{ name: 'request_id', kind: 'int32' }, ...SCHEMA] : SCHEMA, partRows(k, ids));
        written++;
        process.stderr.write(`\r${dir}: part ${k + 1}/${files}`);
      }
      MB += statSync(path).size / 1e6;
    }
  }
  if (written > 0) process.stderr.write('\n');
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
  const ids = argString(args, 'ids', 'no') === 'yes';
  const glob = scaleGlob(rows, ids);
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
    variant: `${engine} threads=${threads} B=${replicates}${ids ? ' ids' : ''}`,
    seconds: r.seconds,
    rows,
    cliMaxRssMB: r.maxRssMB,
    cliCpuSeconds: r.cpuSeconds,
    rowReplicatesPerSecond: replicates > 0 ? (rows * replicates) / r.seconds : undefined,
    estimates,
  });
});
