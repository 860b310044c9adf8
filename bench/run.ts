/**
 * The bench driver (`npm run build && npm run bench`). Runs every case in its own child process
 * (node dist/bench/cases/<case>.js ...), so peak memory is per case, repeats each measurement
 * (default 3 times) and reports the median, prints a table and merges the results into
 * bench/out/results.json. Data files are generated once into bench/out/data/ and reused.
 *
 *   --quick            smoke sizes: 1e6-row Arrow log for the point case, 1e5 rows (slate-1e6: 1e5 slates) elsewhere
 *   --only <case,...>  point-1e7-arrow, bootstrap-dr-1e6, bootstrap-dr-naive-1e6, point-1e6-formats, slate-1e6, reward-model-1e5, simulate, replay-1e6;
 *                      bootstrap-kernel (a diagnostic: the kernel and the worker pool alone) and scale (1e6 to
 *                      1e8 rows of Parquet, each engine; about half an hour) run only when named
 *   --repeats <n>      measurements per variant (default 3; the median is reported)
 *   --max-busy <c>     before each measurement wait while other processes keep more than c cores
 *                      busy (default 0.5) ...
 *   --max-wait <s>     ... but at most s seconds (default 60); the busy level is recorded either way
 *   --max-others <c>   after each measurement, the cores other processes kept busy during it are
 *                      computed (/proc/stat busy time minus the case's own CPU time); above c
 *                      (default 0.3) the run is discarded and redone, at most --retries times
 *                      (default 2); discarded runs stay in results.json
 *   --naive-columns    also time the naive bootstrap that recomputes DR from the raw columns
 *   --profile          instead of timing, run each variant once under `node --cpu-prof` and print
 *                      where the time goes (profiles in bench/out/prof/)
 *
 * A case whose data is costly to build (slate-1e6) times several variants in one child process
 * (Job.variants): the child prints one JSON line per variant with the measuring conditions it
 * recorded around that variant, and a redo reruns the child for the discarded variants only.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cpuTimes, CASES_DIR, dataPath, othersBusyCores, OUT_DIR, parseArgs, ROOT, round, waitForQuiet, type BenchFormat, type CaseResult } from './lib/common.js';
import { formatSummary, summarizeProfile } from './prof-summary.js';

const CASES = ['point-1e7-arrow', 'bootstrap-dr-1e6', 'bootstrap-dr-naive-1e6', 'point-1e6-formats', 'slate-1e6', 'reward-model-1e5', 'simulate', 'replay-1e6', 'bootstrap-kernel', 'scale'] as const;
/** Cases run only when named with --only: a diagnostic, and the 1e8-row scale case (2.5 GB of data, about half an hour). */
const OPT_IN: readonly string[] = ['bootstrap-kernel', 'scale'];
type CaseName = (typeof CASES)[number];
const FORMATS: readonly BenchFormat[] = ['arrow', 'parquet', 'csv', 'jsonl'];

interface Job {
  case: CaseName;
  variant: string;
  rows: number;
  script: string;
  args: string[];
  /** Run with python3 instead of node (the numpy reference loop). */
  python?: boolean;
  /** Seconds to beat, from issue 3. */
  target?: number;
  /**
   * Several variants timed in one child process, which builds its data once: the child gets
   * `--variants a,b,...` (those still to measure) and prints one JSON line per variant, whose
   * `variant` is the name given here, with its own busyCoresBefore, othersDuring, load1Before and
   * waitedSeconds. `variant` above is then only the job's label.
   */
  variants?: readonly string[];
}

interface Measurement extends CaseResult {
  busyCoresBefore: number | null;
  /** Cores kept busy by other processes while the case ran. */
  othersDuring: number | null;
  load1Before: number;
  waitedSeconds: number;
  discarded?: boolean;
}

interface Summary {
  case: string;
  /** The driver's name for the variant (the key in results.json); `variant` is the case's own label. */
  job: string;
  variant: string;
  rows: number;
  runs: number;
  medianSeconds: number;
  minSeconds: number;
  maxSeconds: number;
  rowsPerSecond: number;
  MBPerSecond?: number;
  fileMB?: number;
  peakMB: number;
  target?: number;
  busyCoresBefore: (number | null)[];
  othersDuring: (number | null)[];
  load1Before: number[];
  /** Every run, in order: seconds, peak memory and (naive case) the same-process ratio. */
  perRun: Record<string, unknown>[];
  measuredAt: string;
  extra: Record<string, unknown>;
}

const args = parseArgs(process.argv.slice(2));
const quick = args.has('quick');
const only = args
  .get('only')
  ?.split(',')
  .map((s) => s.trim());
const repeats = Number(args.get('repeats') ?? 3);
const maxBusy = Number(args.get('max-busy') ?? 0.5);
const maxWait = Number(args.get('max-wait') ?? 60);
const profile = args.has('profile');
const maxOthers = Number(args.get('max-others') ?? 0.3);
const retries = Number(args.get('retries') ?? 2);
for (const c of only ?? []) if (!(CASES as readonly string[]).includes(c)) throw new Error(`--only: unknown case '${c}'; cases: ${CASES.join(', ')}`);
const wanted = (c: CaseName): boolean => (only === undefined ? !OPT_IN.includes(c) : only.includes(c));

const POINT_ROWS = quick ? 1e6 : 1e7;
const SMALL_ROWS = quick ? 1e5 : 1e6;
const SLATES = quick ? 1e5 : 1e6;
const SLATE_LENGTH = 5;
/** The variants of slate-1e6 (bench/cases/slate-1e6.ts maps the names to estimator lists). */
const SLATE_VARIANTS = [...['slate-ips', 'iips', 'rips', 'pi', 'pbm-ips', 'cascade-dr'].map((e) => `${e} threads=2`), 'all threads=1', 'all threads=2'];
const REPLICATES = 1000;
const script = (name: string): string => join(CASES_DIR, `${name}.js`);

function jobs(): Job[] {
  const out: Job[] = [];
  if (wanted('point-1e7-arrow')) {
    const file = dataPath(POINT_ROWS, 'arrow');
    for (const variant of ['raw', 'raw-fresh', 'read', 'lib', 'cli']) {
      out.push({
        case: 'point-1e7-arrow',
        variant,
        rows: POINT_ROWS,
        script: script('point-1e7-arrow'),
        args: ['--file', file, '--variant', variant, '--rows', String(POINT_ROWS)],
        target: variant === 'lib' || variant === 'cli' ? 2 : undefined,
      });
    }
  }
  if (wanted('bootstrap-dr-1e6')) {
    for (const threads of [1, 2]) {
      out.push({
        case: 'bootstrap-dr-1e6',
        variant: `threads=${threads}`,
        rows: SMALL_ROWS,
        script: script('bootstrap-dr-1e6'),
        args: ['--rows', String(SMALL_ROWS), '--replicates', String(REPLICATES), '--threads', String(threads)],
        target: 1.5,
      });
    }
  }
  if (wanted('bootstrap-dr-naive-1e6')) {
    out.push({
      case: 'bootstrap-dr-naive-1e6',
      variant: 'naive',
      rows: SMALL_ROWS,
      script: script('bootstrap-dr-naive-1e6'),
      args: ['--rows', String(SMALL_ROWS), '--replicates', String(REPLICATES), '--mode', 'terms'],
    });
    if (args.has('naive-columns')) {
      out.push({
        case: 'bootstrap-dr-naive-1e6',
        variant: 'naive-columns',
        rows: SMALL_ROWS,
        script: script('bootstrap-dr-naive-1e6'),
        args: ['--rows', String(SMALL_ROWS), '--replicates', String(REPLICATES), '--mode', 'columns'],
      });
    }
    if (hasNumpy()) {
      out.push({
        case: 'bootstrap-dr-naive-1e6',
        variant: 'numpy',
        rows: SMALL_ROWS,
        script: join(ROOT, 'bench', 'naive_numpy.py'),
        args: ['--csv', dataPath(SMALL_ROWS, 'csv'), '--replicates', String(REPLICATES)],
        python: true,
      });
    } else {
      process.stderr.write('python3 with numpy not found: skipping the numpy reference loop of bootstrap-dr-naive-1e6\n');
    }
  }
  if (wanted('bootstrap-kernel')) {
    out.push({ case: 'bootstrap-kernel', variant: 'interleaved', rows: SMALL_ROWS, script: script('bootstrap-kernel'), args: ['--rows', String(SMALL_ROWS), '--replicates', String(REPLICATES)] });
  }
  if (wanted('slate-1e6')) {
    out.push({
      case: 'slate-1e6',
      variant: 'slate estimators',
      rows: SLATES * SLATE_LENGTH,
      script: script('slate-1e6'),
      args: ['--slates', String(SLATES), '--replicates', String(REPLICATES), '--max-busy', String(maxBusy), '--max-wait', String(maxWait)],
      variants: SLATE_VARIANTS,
    });
  }
  if (wanted('reward-model-1e5')) {
    // Issue 5: the cross-fitted reward model on 1e5 rows, 10 actions, 10 features; wasm against cpu.
    const rows = quick ? 2e4 : 1e5;
    for (const kind of ['logistic', 'mlp']) {
      for (const backend of ['wasm', 'cpu']) {
        out.push({
          case: 'reward-model-1e5',
          variant: `${kind} ${backend}`,
          rows,
          script: script('reward-model-1e5'),
          args: ['--rows', String(rows), '--kind', kind, '--backend', backend],
          target: 60,
        });
      }
    }
  }
  if (wanted('replay-1e6')) {
    // Issue 8: rejection replay of LinUCB over 1e6 logged events, K = 20, 10 features, uniform logger.
    const rows = quick ? 1e5 : 1e6;
    out.push({ case: 'replay-1e6', variant: 'linucb K=20 d=10', rows, script: script('replay-1e6'), args: ['--rows', String(rows)] });
  }
  if (wanted('simulate')) {
    // Issue 6: the default configuration under 60 s; issue 10: a 100x larger world, its embedding
    // tables trained with lazy (row-wise) Adam.
    const sizes = quick
      ? [{ users: 200, items: 200, rounds: 3, scenarios: 'topk,softmax', optimizer: 'adam', target: undefined }]
      : [
          { users: 1000, items: 1000, rounds: 10, scenarios: 'topk,softmax', optimizer: 'adam', target: 60 },
          { users: 100_000, items: 10_000, rounds: 2, scenarios: 'topk', optimizer: 'lazy-adam', target: undefined },
        ];
    for (const z of sizes) {
      out.push({
        case: 'simulate',
        variant: `${z.users}x${z.items} L=10 ${z.rounds} rounds ${z.scenarios}${z.optimizer === 'adam' ? '' : ` ${z.optimizer}`}`,
        rows: z.users * 10 * z.rounds * z.scenarios.split(',').length,
        script: script('simulate'),
        args: ['--users', String(z.users), '--items', String(z.items), '--rounds', String(z.rounds), '--scenarios', z.scenarios, '--optimizer', z.optimizer],
        target: z.target,
      });
    }
  }
  if (wanted('scale')) {
    // Issue 10: 1e6 to 1e8 rows of Parquet (1e6-row files), each engine, with and without replicates.
    const plan: { rows: number; engine: string; threads: number; replicates: number; ids?: boolean }[] = [];
    for (const rows of quick ? [1e6] : [1e6, 1e7, 1e8]) {
      plan.push({ rows, engine: 'js', threads: 1, replicates: 0 }, { rows, engine: 'js', threads: 2, replicates: 0 }, { rows, engine: 'duckdb', threads: 2, replicates: 0 });
      plan.push({ rows, engine: 'js', threads: 2, replicates: 100 }, { rows, engine: 'js', threads: 2, replicates: 1000 }, { rows, engine: 'duckdb', threads: 2, replicates: 100 });
      // DuckDB's bootstrap costs about 30 ns per (row, replicate): 1000 replicates of 1e8 rows would take most of an hour.
      if (rows < 1e8) plan.push({ rows, engine: 'js', threads: 1, replicates: 1000 }, { rows, engine: 'duckdb', threads: 2, replicates: 1000 }, { rows, engine: 'duckdb', threads: 1, replicates: 0 });
      // With request ids (each row its own request): DuckDB's delta method groups by request id, the in-process engine takes runs.
      if (rows < 1e8) plan.push({ rows, engine: 'js', threads: 2, replicates: 0, ids: true }, { rows, engine: 'duckdb', threads: 2, replicates: 0, ids: true });
    }
    for (const v of plan) {
      out.push({
        case: 'scale',
        variant: `${v.engine} threads=${v.threads} B=${v.replicates}${v.ids === true ? ' ids' : ''}`,
        rows: v.rows,
        script: script('scale'),
        args: ['--rows', String(v.rows), '--engine', v.engine, '--threads', String(v.threads), '--replicates', String(v.replicates), '--ids', v.ids === true ? 'yes' : 'no'],
      });
    }
  }
  if (wanted('point-1e6-formats')) {
    for (const format of FORMATS) {
      for (const variant of ['read', 'lib']) {
        out.push({
          case: 'point-1e6-formats',
          variant: `${format} ${variant}`,
          rows: SMALL_ROWS,
          script: script('point-1e6-formats'),
          args: ['--file', dataPath(SMALL_ROWS, format), '--variant', variant],
        });
      }
    }
  }
  // The targets are for the full sizes only.
  if (quick) for (const j of out) j.target = undefined;
  return out;
}

function hasNumpy(): boolean {
  return spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
}

function dataNeeded(): { rows: number; format: BenchFormat }[] {
  const need: { rows: number; format: BenchFormat }[] = [];
  if (wanted('point-1e7-arrow')) need.push({ rows: POINT_ROWS, format: 'arrow' });
  if (wanted('bootstrap-dr-naive-1e6') && hasNumpy()) need.push({ rows: SMALL_ROWS, format: 'csv' });
  if (wanted('point-1e6-formats')) for (const format of FORMATS) if (!need.some((d) => d.rows === SMALL_ROWS && d.format === format)) need.push({ rows: SMALL_ROWS, format });
  return need;
}

/** Runs one case child (node, or python3 for the numpy loop); returns its JSON lines (most cases print one). */
function runChild(file: string, childArgs: readonly string[], nodeArgs: readonly string[] = [], env?: NodeJS.ProcessEnv, python = false): Promise<CaseResult[]> {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = python ? ['python3', [file, ...childArgs]] : [process.execPath, ['--expose-gc', ...nodeArgs, file, ...childArgs]];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = stdout
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'));
      if (code !== 0 || lines.length === 0) {
        reject(new Error(`${file} ${childArgs.join(' ')} exited with ${code}\n${stderr.trim()}`));
        return;
      }
      resolve(lines.map((l) => JSON.parse(l) as CaseResult));
    });
  });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The CLI process's peak for the cli variant; a variant's own peak when the case measured it (slate-1e6); else the case process's. */
const peakOf = (r: CaseResult): number => (typeof r.cliMaxRssMB === 'number' ? r.cliMaxRssMB : typeof r.variantPeakMB === 'number' ? r.variantPeakMB : r.maxRssMB);

function summarize(job: Job, runs: Measurement[], discarded: Measurement[]): Summary {
  const secs = runs.map((r) => r.seconds);
  const med = median(secs);
  // The run whose time is the median carries the case's other numbers.
  const mid = runs[secs.indexOf([...secs].sort((a, b) => a - b)[(secs.length - 1) >> 1])];
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(mid)) {
    if (!['case', 'variant', 'seconds', 'rows', 'rowsPerSecond', 'maxRssMB', 'busyCoresBefore', 'othersDuring', 'load1Before', 'waitedSeconds', 'MBPerSecond', 'fileMB'].includes(k)) extra[k] = v;
  }
  if (job.variant.startsWith('naive')) extra.medianRatioSameProcess = median(runs.map((r) => r.ratioSameProcess as number));
  const fileMB = typeof mid.fileMB === 'number' ? mid.fileMB : undefined;
  return {
    case: job.case,
    job: job.variant,
    variant: mid.variant ?? job.variant,
    rows: mid.rows,
    runs: runs.length,
    medianSeconds: med,
    minSeconds: Math.min(...secs),
    maxSeconds: Math.max(...secs),
    rowsPerSecond: mid.rows / med,
    MBPerSecond: fileMB === undefined ? undefined : fileMB / med,
    fileMB,
    peakMB: Math.max(...runs.map(peakOf)),
    target: job.target,
    busyCoresBefore: runs.map((r) => r.busyCoresBefore),
    othersDuring: runs.map((r) => r.othersDuring),
    load1Before: runs.map((r) => r.load1Before),
    perRun: [...discarded, ...runs].map((r) => {
      const o: Record<string, unknown> = {
        seconds: round(r.seconds, 4),
        peakMB: peakOf(r),
        busyCoresBefore: r.busyCoresBefore,
        othersDuring: r.othersDuring,
        load1Before: r.load1Before,
        discarded: r.discarded === true,
      };
      if (r.ratioSameProcess !== undefined) Object.assign(o, { oursSecondsSameProcess: r.oursSecondsSameProcess, ratioSameProcess: r.ratioSameProcess, replicatesRun: r.replicatesRun });
      return o;
    }),
    measuredAt: new Date().toISOString(),
    extra,
  };
}

function fmtRate(x: number | undefined, unit: string): string {
  if (x === undefined) return '';
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)}M${unit}`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(0)}k${unit}`;
  return `${x.toFixed(1)}${unit}`;
}

function table(rows: readonly Summary[]): string {
  const head = ['case', 'variant', 'rows', 'median s', 'min-max s', 'rows/s', 'MB/s', 'peak MB', 'target', 'other cores busy'];
  const body = rows.map((s) => [
    s.case,
    s.variant,
    s.rows.toExponential(0).replace('+', ''),
    s.medianSeconds.toFixed(3),
    `${s.minSeconds.toFixed(2)}-${s.maxSeconds.toFixed(2)}`,
    fmtRate(s.rowsPerSecond, ''),
    s.MBPerSecond === undefined ? '' : s.MBPerSecond.toFixed(0),
    s.peakMB.toFixed(0),
    s.target === undefined ? '' : s.medianSeconds <= s.target ? `< ${s.target} s ok` : `> ${s.target} s MISS x${(s.medianSeconds / s.target).toFixed(2)}`,
    s.othersDuring.map((b) => (b === null ? '?' : b.toFixed(2))).join(' '),
  ]);
  const widths = head.map((h, j) => Math.max(h.length, ...body.map((r) => r[j].length)));
  const line = (cells: readonly string[]) => cells.map((c, j) => c.padEnd(widths[j])).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function git(args: readonly string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  const dirty = git(['status', '--porcelain', '--untracked-files=no']);
  return {
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommittedFiles: dirty === undefined ? undefined : dirty.split('\n').filter((l) => l !== '').length,
    cores: cpus.length,
    cpuModel: cpus[0]?.model,
    memoryGB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadavg: os.loadavg().map((x) => round(x, 2)),
  };
}

async function prepareData(): Promise<void> {
  if (wanted('scale')) {
    process.stderr.write('the scale datasets (bench/out/data/scale: 100 Parquet files of 1e6 rows; scale-ids: 10 of them with request ids; kept between runs) ...\n');
    const r = (await runChild(script('scale'), ['--variant', 'make'])).pop() as CaseResult;
    process.stderr.write(`  ${r.filesWritten as number} files written, ${(r.datasetMB as number).toFixed(0)} MB in all, ${r.seconds.toFixed(1)} s\n`);
  }
  for (const d of dataNeeded()) {
    const path = dataPath(d.rows, d.format);
    if (existsSync(path)) continue;
    process.stderr.write(`generating ${path} ...\n`);
    const r = (await runChild(script('make-data'), ['--rows', String(d.rows), '--format', d.format])).pop() as CaseResult;
    process.stderr.write(`  ${r.rows} rows, ${(r.fileMB as number).toFixed(0)} MB in ${r.seconds.toFixed(1)} s\n`);
  }
}

/** One job per variant; a multi-variant job becomes one child per variant (each builds its data again). */
function singleVariantJobs(list: readonly Job[]): Job[] {
  return list.flatMap((job) => (job.variants === undefined ? [job] : job.variants.map((v) => ({ ...job, variant: v, args: [...job.args, '--variants', v], variants: undefined }))));
}

async function runProfiles(list: readonly Job[]): Promise<void> {
  const base = join(OUT_DIR, 'prof');
  for (const job of singleVariantJobs(list)) {
    if (job.python === true) continue;
    const dir = join(base, `${job.case}-${job.variant.replace(/[^\w=.-]+/g, '_')}-${job.rows}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const q = await waitForQuiet(maxBusy, maxWait);
    // node refuses --cpu-prof in NODE_OPTIONS; the cli variant passes BENCH_CLI_NODE_ARGS to the CLI's process.
    const prof = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
    const r = (await runChild(job.script, job.args, prof, { ...process.env, BENCH_CLI_NODE_ARGS: prof.join(' ') })).pop() as CaseResult;
    process.stdout.write(`\n=== ${job.case} ${job.variant}: ${r.seconds.toFixed(3)} s under the profiler (busy cores before: ${q.busy ?? '?'})\n`);
    for (const f of readdirSync(dir)
      .filter((x) => x.endsWith('.cpuprofile'))
      .sort()) {
      const s = summarizeProfile(join(dir, f), 20);
      if (s.wallMs < 50) continue;
      process.stdout.write(formatSummary(s) + '\n');
    }
  }
}

async function main(): Promise<void> {
  mkdirSync(OUT_DIR, { recursive: true });
  const list = jobs();
  const started = machine();
  const variantCount = list.reduce((s, j) => s + (j.variants?.length ?? 1), 0);
  process.stderr.write(`bench: ${variantCount} variants x ${profile ? 1 : repeats}; ${started.cores} cores, node ${started.node}, load ${(started.loadavg as number[]).join(' ')}\n`);
  await prepareData();
  if (profile) {
    await runProfiles(list);
    return;
  }
  const summaries: Summary[] = [];
  for (const job of list) {
    const names = job.variants ?? [job.variant];
    const runs = new Map<string, Measurement[]>(names.map((v) => [v, []]));
    const discarded = new Map<string, Measurement[]>(names.map((v) => [v, []]));
    for (let k = 0; k < repeats; k++) {
      // Variants still to measure in this repeat: all of them, then the discarded ones.
      let pending: readonly string[] = names;
      for (let attempt = 0; pending.length > 0; attempt++) {
        // A multi-variant child waits for a quiet machine before each variant itself.
        const q = job.variants === undefined ? await waitForQuiet(maxBusy, maxWait) : { busy: null, waited: 0 };
        const load1Before = round(os.loadavg()[0], 2);
        const a = cpuTimes();
        const t0 = performance.now();
        const childArgs = job.variants === undefined ? job.args : [...job.args, '--variants', pending.join(',')];
        const lines = await runChild(job.script, childArgs, [], undefined, job.python);
        const wall = (performance.now() - t0) / 1000;
        const b = cpuTimes();
        let measured: Measurement[];
        if (job.variants === undefined) {
          const r = lines[lines.length - 1];
          const othersDuring = othersBusyCores(a, b, wall, Number(r.cpuSeconds ?? 0) + Number(r.cliCpuSeconds ?? 0));
          measured = [{ ...r, busyCoresBefore: q.busy, othersDuring, load1Before, waitedSeconds: q.waited }];
        } else {
          // The child measured each variant's conditions itself (its data took a while to build).
          measured = lines.map((r) => r as Measurement);
          const got = measured.map((m) => m.variant);
          const missing = pending.filter((v) => !got.includes(v));
          if (missing.length > 0 || got.some((v) => !pending.includes(v))) throw new Error(`${job.script}: asked for ${pending.join(', ')}, got ${got.join(', ')}`);
        }
        const redo: string[] = [];
        for (const m of measured) {
          const name = job.variants === undefined ? job.variant : m.variant;
          const noisy = m.othersDuring !== null && m.othersDuring > maxOthers;
          process.stderr.write(
            `  ${job.case} ${name} #${k + 1}: ${m.seconds.toFixed(3)} s, peak ${peakOf(m).toFixed(0)} MB (other cores busy: ${m.busyCoresBefore ?? '?'} before, ${m.othersDuring ?? '?'} during; load1 ${m.load1Before})` +
              (noisy ? (attempt < retries ? ' -> discarded, redo' : ' -> kept (out of retries)') : '') +
              '\n',
          );
          if (noisy && attempt < retries) {
            discarded.get(name)?.push({ ...m, discarded: true });
            redo.push(name);
          } else {
            runs.get(name)?.push(m);
          }
        }
        pending = redo;
      }
    }
    for (const v of names) summaries.push(summarize({ ...job, variant: v }, runs.get(v) ?? [], discarded.get(v) ?? []));
  }
  const finished = machine();
  process.stdout.write('\n' + table(summaries) + '\n');
  for (const s of summaries) {
    if (s.case !== 'bootstrap-kernel') continue;
    const v = s.extra.variants as Record<string, { median: number; min: number; nsPerRowReplicate: number }>;
    process.stdout.write(`\nbootstrap-kernel (median run; each variant's median over ${String(s.extra.rounds)} interleaved rounds):\n`);
    for (const [k, x] of Object.entries(v)) process.stdout.write(`  ${k.padEnd(12)} ${x.median.toFixed(3)} s (min ${x.min.toFixed(3)}), ${x.nsPerRowReplicate.toFixed(2)} ns per row-replicate\n`);
  }

  const ratios: Record<string, number> = {};
  const find = (c: string, v: string) => summaries.find((s) => s.case === c && s.variant.startsWith(v));
  const naive = find('bootstrap-dr-naive-1e6', 'naive JS') ?? find('bootstrap-dr-naive-1e6', 'naive');
  if (naive !== undefined) {
    ratios.naiveOverOursSameProcess = naive.extra.medianRatioSameProcess as number;
    const t1 = find('bootstrap-dr-1e6', 'threads=1');
    const t2 = find('bootstrap-dr-1e6', 'threads=2');
    if (t1 !== undefined) ratios.naiveOverOursThreads1 = naive.medianSeconds / t1.medianSeconds;
    if (t2 !== undefined) ratios.naiveOverOursThreads2 = naive.medianSeconds / t2.medianSeconds;
    const numpy = find('bootstrap-dr-naive-1e6', 'numpy');
    if (numpy !== undefined && t1 !== undefined) ratios.numpyOverOursThreads1 = numpy.medianSeconds / t1.medianSeconds;
    if (numpy !== undefined && t2 !== undefined) ratios.numpyOverOursThreads2 = numpy.medianSeconds / t2.medianSeconds;
    process.stdout.write(
      `\nnaive / ours (1000 replicates of dr, ${naive.rows} rows${naive.extra.scaled === true ? `; naive ran ${String(naive.extra.replicatesRun)} and was scaled` : ''}): ` +
        Object.entries(ratios)
          .map(([k, v]) => `${k} ${v.toFixed(1)}x`)
          .join(', ') +
        '\n',
    );
  }

  // Merge into results.json by (case, variant, rows): --only and --quick runs update their own entries.
  const file = join(OUT_DIR, 'results.json');
  let previous: { results?: Record<string, Summary> } = {};
  if (existsSync(file)) {
    try {
      previous = JSON.parse(readFileSync(file, 'utf8')) as typeof previous;
    } catch {
      previous = {};
    }
  }
  const results: Record<string, Summary> = { ...(previous.results ?? {}) };
  for (const s of summaries) results[`${s.case} | ${s.job} | ${s.rows}`] = s;
  const doc = { updatedAt: new Date().toISOString(), machine: { ...started, loadavgAtStart: started.loadavg, loadavgAtEnd: finished.loadavg }, repeats, quick, ratios, results };
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  process.stdout.write(`\nload average at start ${(started.loadavg as number[]).join(' ')}, at end ${(finished.loadavg as number[]).join(' ')}; results in ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
