/**
 * The three ways the point cases run a log: read only, the library pipeline, and the CLI.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseEstimatorList } from '../../estimators/registry.js';
import { openLog } from '../../src/data/read-log.js';
import { alignPolicies } from '../../src/engine/align.js';
import { evaluateStream } from '../../src/engine/evaluate.js';
import type { EvaluationResult } from '../../src/engine/results.js';
import { OPE_BIN, since } from './common.js';

export const ESTIMATORS = 'ips,snips,dr';

export interface Estimates {
  [estimator: string]: { value: number; se: number };
}

/** openLog iteration only: every batch the engine would see, touched but not used. */
export async function readOnly(file: string): Promise<{ rows: number; batches: number; checksum: number }> {
  let rows = 0;
  let batches = 0;
  let checksum = 0;
  for await (const b of openLog(file).batches()) {
    rows += b.n;
    batches++;
    checksum += b.reward[0] + b.propensity[b.n - 1];
  }
  return { rows, batches, checksum };
}

/**
 * End-to-end point estimates as the library runs them: openLog -> alignPolicies (the log's own
 * target columns) -> evaluateStream with no bootstrap replicates (delta-method se, normal CI).
 */
export async function pointEstimates(file: string, threads: number): Promise<{ rows: number; estimates: Estimates; result: EvaluationResult }> {
  const source = openLog(file);
  const result = await evaluateStream(alignPolicies(source.batches(), [{ name: 'target', kind: 'inline' }]), {
    estimators: parseEstimatorList(ESTIMATORS),
    policyNames: ['target'],
    replicates: 0,
    ci: 'normal',
    threads,
  });
  return { rows: result.n, estimates: estimatesOf(result), result };
}

export function estimatesOf(result: EvaluationResult): Estimates {
  const out: Estimates = {};
  for (const e of result.estimates) out[e.label] = { value: e.value, se: e.se };
  return out;
}

interface CliDocument {
  n: number;
  policies: { estimates: { label: string; value: number; se: number }[] }[];
}

/**
 * `ope evaluate --log FILE --estimators ips,snips,dr --bootstrap 0 --json` as a user runs it: a
 * fresh node process (startup and module loading included). Peak memory of that process from GNU
 * time's %M when /usr/bin/time exists, else from polling /proc/<pid>/status VmHWM.
 */
export async function runCli(file: string, extra: readonly string[] = []): Promise<{ seconds: number; maxRssMB: number | null; cpuSeconds: number | null; rows: number; estimates: Estimates; rssSource: string }> {
  const cliArgs = [OPE_BIN, 'evaluate', '--log', file, '--estimators', ESTIMATORS, '--bootstrap', '0', '--json', ...extra];
  const useTime = existsSync('/usr/bin/time');
  const MARK = '__BENCH_TIME__';
  // The driver's --profile passes node flags for the CLI's process here (--cpu-prof is not allowed in NODE_OPTIONS).
  const nodeArgs = (process.env.BENCH_CLI_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const nodeCmd = [...nodeArgs, ...cliArgs];
  const [cmd, args] = useTime ? ['/usr/bin/time', ['-f', `${MARK} %e %M %U %S`, process.execPath, ...nodeCmd]] : [process.execPath, nodeCmd];
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let polledKB = 0;
  const poll = useTime
    ? undefined
    : setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
          if (m !== null) polledKB = Math.max(polledKB, Number(m[1]));
        } catch {
          // the process has exited
        }
      }, 20);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const seconds = since(t0);
  if (poll !== undefined) clearInterval(poll);
  if (code !== 0) throw new Error(`ope evaluate exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  let maxRssMB: number | null = polledKB > 0 ? polledKB / 1024 : null;
  let cpuSeconds: number | null = null;
  if (useTime) {
    const m = new RegExp(`${MARK} ([\\d.]+) (\\d+) ([\\d.]+) ([\\d.]+)`).exec(stderr);
    maxRssMB = m === null ? null : Number(m[2]) / 1024;
    cpuSeconds = m === null ? null : Number(m[3]) + Number(m[4]);
  }
  const doc = JSON.parse(stdout) as CliDocument;
  const estimates: Estimates = {};
  for (const e of doc.policies[0].estimates) estimates[e.label] = { value: e.value, se: e.se };
  return { seconds, maxRssMB, cpuSeconds, rows: doc.n, estimates, rssSource: useTime ? 'GNU time %M' : '/proc VmHWM polled every 20 ms' };
}
