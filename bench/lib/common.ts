/**
 * Helpers shared by the bench driver (bench/run.ts) and its cases (bench/cases/*.ts).
 *
 * A case is a small program run in its own child process, so that its peak memory
 * (`process.resourceUsage().maxRSS`, read at the very end) belongs to that case alone. It prints
 * exactly one JSON line on stdout: {case, variant, seconds, rows, rowsPerSecond, maxRssMB, ...};
 * a case that builds costly data once and times several variants on it (slate-1e6) prints one
 * line per variant instead, each with the measuring conditions it recorded itself.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** Project root: this file is compiled to dist/bench/lib/common.js. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const OUT_DIR = join(ROOT, 'bench', 'out');
export const DATA_DIR = join(OUT_DIR, 'data');
export const CASES_DIR = fileURLToPath(new URL('../cases/', import.meta.url));
export const OPE_BIN = join(ROOT, 'bin', 'ope.js');

/** `--key value` and bare `--flag` arguments. */
export function parseArgs(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    const key = a.slice(2);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out.set(key, next);
      i++;
    } else {
      out.set(key, 'true');
    }
  }
  return out;
}

export function argString(args: Map<string, string>, key: string, dflt?: string): string {
  const v = args.get(key) ?? dflt;
  if (v === undefined) throw new Error(`missing --${key}`);
  return v;
}

/** Numbers as 1e7, 10000000 or 1_000_000. */
export function argNumber(args: Map<string, string>, key: string, dflt?: number): number {
  const s = args.get(key);
  if (s === undefined) {
    if (dflt === undefined) throw new Error(`missing --${key}`);
    return dflt;
  }
  const v = Number(s.replace(/_/g, ''));
  if (!Number.isFinite(v)) throw new Error(`--${key} needs a number, got '${s}'`);
  return v;
}

/** Wall-clock seconds since `t0` (performance.now() milliseconds). */
export function since(t0: number): number {
  return (performance.now() - t0) / 1000;
}

export function maxRssMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export function rssMB(): number {
  return process.memoryUsage().rss / 1024 / 1024;
}

/** The kernel's high-water mark of this process's RSS (VmHWM of /proc/self/status, Linux) in MB; undefined elsewhere. */
export function peakRssMB(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m === null ? undefined : Number(m[1]) / 1024;
  } catch {
    return undefined;
  }
}

/**
 * Resets VmHWM to the current RSS (Linux 4.0 and later: '5' written to /proc/self/clear_refs), so
 * that peakRssMB() afterwards is the peak of what follows; false where that is not possible.
 * It also lowers what process.resourceUsage().maxRSS reports, so a case that resets must track
 * the process's peak itself (read peakRssMB() before each reset).
 */
export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return peakRssMB() !== undefined;
  } catch {
    return false;
  }
}

/** Runs the V8 collector when the process was started with --expose-gc. */
export function collectGarbage(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) g();
}

export interface CaseResult {
  case: string;
  variant: string;
  seconds: number;
  rows: number;
  rowsPerSecond: number;
  maxRssMB: number;
  [extra: string]: unknown;
}

/** The one stdout line of a case; peak memory is read here, after all work is done. */
export interface CaseOutput {
  case: string;
  variant: string;
  seconds: number;
  rows: number;
  rowsPerSecond?: number;
  /** The process's peak RSS, when the case tracks it itself (see resetPeakRss); default maxRSS read now. */
  maxRssMB?: number;
  [extra: string]: unknown;
}

export function emit(result: CaseOutput): void {
  const cpu = process.cpuUsage();
  const out: CaseResult = {
    ...result,
    rowsPerSecond: result.rowsPerSecond ?? result.rows / result.seconds,
    maxRssMB: round(result.maxRssMB ?? maxRssMB(), 1),
    // CPU time of this process, worker threads included (the driver subtracts it from the machine's busy time).
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Wraps a case's main so that a failure prints one line on stderr and exits 1. */
export function runCase(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`bench case failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

/** Cumulative busy and total jiffies of all CPUs, from /proc/stat (Linux); undefined elsewhere. */
export function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    const total = f.reduce((s, x) => s + x, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Busy CPU cores over the last `ms` milliseconds, from /proc/stat (Linux); undefined elsewhere. */
export async function busyCores(ms = 500): Promise<number | undefined> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  if (a === undefined || b === undefined || b.total === a.total) return undefined;
  const cores = os.cpus().length;
  return ((b.busy - a.busy) / (b.total - a.total)) * cores;
}

/**
 * Cores that processes other than the measured one kept busy over `wallSeconds` between two
 * cpuTimes() readings: the machine's busy core-seconds minus the measured process's own CPU
 * seconds, per second; null when /proc/stat is not there.
 */
export function othersBusyCores(a: ReturnType<typeof cpuTimes>, b: ReturnType<typeof cpuTimes>, wallSeconds: number, ownCpuSeconds: number): number | null {
  if (a === undefined || b === undefined || !(b.total > a.total) || !(wallSeconds > 0)) return null;
  const busyCoreSeconds = ((b.busy - a.busy) / (b.total - a.total)) * os.cpus().length * wallSeconds;
  return round(Math.max(0, busyCoreSeconds - ownCpuSeconds) / wallSeconds, 2);
}

/**
 * Before a measurement: waits while other processes keep more than `maxBusy` cores busy, at most
 * `maxWait` seconds; returns the last busy level (null without /proc/stat) and the seconds waited.
 */
export async function waitForQuiet(maxBusy: number, maxWait: number): Promise<{ busy: number | null; waited: number }> {
  const t0 = Date.now();
  for (;;) {
    const busy = (await busyCores(1000)) ?? null;
    const waited = (Date.now() - t0) / 1000;
    if (busy === null || busy <= maxBusy || waited >= maxWait) return { busy: busy === null ? null : round(busy, 2), waited: round(waited, 1) };
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** 1e7 for 10000000, 2.5e5 for 250000, otherwise the digits. */
export function rowsLabel(rows: number): string {
  const e = Math.floor(Math.log10(rows));
  const m = rows / 10 ** e;
  return Number.isInteger(m) ? (m === 1 ? `1e${e}` : `${m}e${e}`) : String(rows);
}

export const FORMAT_EXT = { arrow: 'arrow', parquet: 'parquet', csv: 'csv', jsonl: 'jsonl' } as const;
export type BenchFormat = keyof typeof FORMAT_EXT;

/** Where the bench keeps its generated log of `rows` rows in `format`. */
export function dataPath(rows: number, format: BenchFormat): string {
  return join(DATA_DIR, `log-${rowsLabel(rows)}.${FORMAT_EXT[format]}`);
}
