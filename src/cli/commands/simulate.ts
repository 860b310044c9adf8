import { slateLoggerSchema, slateTargetSchema } from '../../../simulators/write-slate-synth.js';
import { readdir, readFile, rm } from 'node:fs/promises';
import { readJsonOption } from '../../data/read-json.js';
import { join } from 'node:path';
import type { Command } from 'commander';
import { resolveFeedbackWorldConfig, type FeedbackWorldConfig } from '../../../simulators/feedback-config.js';
import { checkpointDir, readCheckpoint, readHistory, writeCheckpoint, writeHistory } from '../../../simulators/feedback-checkpoint.js';
import {
  FEEDBACK_LOOP_MODEL_DEFAULTS,
  resolveScenario,
  runFeedbackLoop,
  SCENARIO_PRESETS,
  BASELINE_PRESETS,
  type FeedbackLoopConfig,
  type FeedbackRoundMetrics,
  type FeedbackRoundRows,
  type ScenarioPreset,
  trainingLogOf,
  type FeedbackLoopCheckpoint,
  type FeedbackLoopTiming,
} from '../../../simulators/feedback-loop.js';
import { createOutputDir } from '../../../simulators/synth-output.js';
import { UsageError } from '../../data/errors.js';
import { writeFileAtomic, writeTable, type OutBatch, type OutColumnSpec } from '../../data/write-log.js';
import { loadTf, parseBackendChoice, BACKEND_CHOICES } from '../../tf/backend.js';
import { simulateReportHtml } from '../../report/simulate-report.js';
import { runReleases } from './simulate-releases.js';
import { TOOL_VERSION } from '../../version.js';
import { parseIntOption } from '../parse.js';
import { progressBar } from '../progress.js';

/**
 * `ope simulate` (issue 6, item 5): runs the feedback loop of simulators/feedback-loop.ts and writes
 * DIR/config.json (the resolved config), one slate-contract log per (scenario, round) under
 * DIR/logs/<scenario>/ (logger = the served policy, target = the next round's policy),
 * DIR/metrics.csv (one row per (scenario, round), the loop's metric columns; rewritten after every
 * round), DIR/report.html (self-contained: a plot per metric over rounds, one line per scenario;
 * src/report/simulate-report.ts) and DIR/checkpoint/ (simulators/feedback-checkpoint.ts), from which `--resume` continues
 * an interrupted run at its last completed round: the same command, the same outputs byte for byte
 * (or a longer run with a larger --rounds).
 */

const SIMULATE_FORMATS = ['parquet', 'arrow'] as const;

export interface SimulateFlags {
  out: string;
  config?: string;
  scenario?: string;
  rounds?: string;
  seed?: string;
  format: string;
  tfBackend?: string;
  opeOn?: string;
  json?: boolean;
  resume?: boolean;
  actionDist?: boolean;
  releases?: boolean;
}

/** The keys --config may set (FeedbackLoopConfig's, JSON-able). */
const CONFIG_KEYS = ['world', 'rounds', 'slateSize', 'scenarios', 'logging', 'model', 'estimators', 'homogenizationPairs', 'headShare', 'opeOn', 'actionDist'] as const;
const WORLD_KEYS = [
  'users',
  'items',
  'dim',
  'slateSize',
  'examinationDecay',
  'popularityExponent',
  'affinityWeight',
  'qualityWeight',
  'popularityWeight',
  'clickBias',
  'preferenceDrift',
  'usersPerRound',
  'seed',
] as const;
const MODEL_KEYS = [
  'dim',
  'hidden',
  'itemBias',
  'positions',
  'learningRate',
  'batchSize',
  'epochs',
  'l2',
  'temperature',
  'removeAccidentalHits',
  'initScale',
  'embeddingGradient',
  'optimizer',
] as const;

/** The CLI's default: OPE on an independent holdout log (on the training log the next policy's estimates are biased upward). */
const DEFAULT_OPE_ON = 'holdout';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(where: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new UsageError(`${where}: unknown key '${key}'; known: ${allowed.join(', ')}`);
  }
}

function parseScenarioList(where: string, names: readonly unknown[]): ScenarioPreset[] {
  if (names.length === 0) throw new UsageError(`${where}: no scenario given`);
  const out: ScenarioPreset[] = [];
  const known = [...SCENARIO_PRESETS, ...BASELINE_PRESETS];
  for (const name of names) {
    const preset = known.find((p) => p === name);
    if (preset === undefined) throw new UsageError(`${where}: unknown scenario '${String(name)}'; known: ${known.join(', ')}`);
    if (out.includes(preset)) throw new UsageError(`${where}: scenario '${preset}' is given twice`);
    out.push(preset);
  }
  return out;
}

/** Reads --config: a JSON object with FeedbackLoopConfig's keys; unknown keys are a usage error. */
async function readConfigFile(path: string): Promise<FeedbackLoopConfig> {
  const doc = await readJsonOption(path, '--config');
  if (!isObject(doc)) throw new UsageError(`--config: '${path}' must hold a JSON object`);
  checkKeys('--config', doc, CONFIG_KEYS);
  if (doc.world !== undefined) {
    if (!isObject(doc.world)) throw new UsageError('--config: world must be an object');
    checkKeys('--config world', doc.world, WORLD_KEYS);
  }
  if (doc.model !== undefined) {
    if (!isObject(doc.model)) throw new UsageError('--config: model must be an object');
    checkKeys('--config model', doc.model, MODEL_KEYS);
  }
  if (doc.scenarios !== undefined) {
    if (!Array.isArray(doc.scenarios)) throw new UsageError('--config: scenarios must be an array of preset names');
    parseScenarioList('--config scenarios', doc.scenarios);
  }
  return doc as FeedbackLoopConfig;
}

/** Flags over --config over the defaults; checks what can be checked before the run (UsageError). */
async function configFromFlags(flags: SimulateFlags): Promise<FeedbackLoopConfig> {
  const file = flags.config === undefined ? {} : await readConfigFile(flags.config);
  const world: FeedbackWorldConfig = { ...file.world };
  if (flags.seed !== undefined) world.seed = parseIntOption('--seed', flags.seed, 0);
  let opeOn = file.opeOn ?? DEFAULT_OPE_ON;
  if (flags.opeOn !== undefined) {
    if (flags.opeOn !== 'log' && flags.opeOn !== 'holdout') throw new UsageError(`--ope-on must be 'log' or 'holdout', got '${flags.opeOn}'`);
    opeOn = flags.opeOn;
  }
  const config: FeedbackLoopConfig = {
    ...file,
    world,
    rounds: flags.rounds !== undefined ? parseIntOption('--rounds', flags.rounds, 1, 100_000) : file.rounds,
    scenarios:
      flags.scenario !== undefined
        ? parseScenarioList(
            '--scenario',
            flags.scenario.split(',').map((s) => s.trim()),
          )
        : (file.scenarios ?? ['topk', 'softmax']),
    opeOn,
    actionDist: flags.actionDist === true ? true : (file.actionDist ?? false),
  };
  if (typeof config.actionDist !== 'boolean') throw new UsageError(`--config: actionDist must be true or false, got ${JSON.stringify(config.actionDist)}`);
  try {
    resolvedWorld(config);
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(`--config world: ${err.message}`);
    throw err;
  }
  return config;
}

function resolvedWorld(config: FeedbackLoopConfig): ReturnType<typeof resolveFeedbackWorldConfig> {
  return resolveFeedbackWorldConfig({ ...config.world, ...(config.slateSize !== undefined ? { slateSize: config.slateSize } : {}) });
}

function roundLogSchema(L: number, items: number, actionDist: boolean): OutColumnSpec[] {
  return [...slateLoggerSchema(L), { name: 'user_id', kind: 'int32' }, ...slateTargetSchema(L), ...(actionDist ? [{ name: 'action_dist', kind: 'list', width: items } as const] : [])];
}

/**
 * Slates per written batch (a Parquet row group, an Arrow record batch) of a round log. The Parquet
 * writer holds a batch's list columns as JavaScript arrays while it encodes them (about 100 bytes a
 * row each), so one batch of a 100,000-user round (1e6 rows) cost hundreds of MB; batches of whole
 * slates bound that whatever the round's size. Rounds of at most this many slates (the default world's
 * 1,000) are still one batch, the same file as before.
 */
const ROUND_LOG_BATCH_SLATES = 16_384;

/** @internal The round's rows in batches of `slatesPerBatch` whole slates (views, no copies), with the schema they are written with. */
export function roundLogBatches(r: FeedbackRoundRows, slatesPerBatch = ROUND_LOG_BATCH_SLATES): { schema: OutColumnSpec[]; batches: Generator<OutBatch> } {
  const schema = roundLogSchema(r.rows.L, r.rows.n, r.rows.targets[0].actionDist !== null);
  return { schema, batches: sliceSlates(r, schema, slatesPerBatch) };
}

function* sliceSlates(r: FeedbackRoundRows, schema: readonly OutColumnSpec[], slatesPerBatch: number): Generator<OutBatch> {
  const all = roundLogBatch(r);
  const L = r.rows.L;
  for (let from = 0; from < r.rows.slates; from += slatesPerBatch) {
    const to = Math.min(r.rows.slates, from + slatesPerBatch);
    const columns: Record<string, Float64Array | Int32Array> = {};
    for (const c of schema) {
      const width = L * (c.width ?? 1);
      columns[c.name] = (all.columns[c.name] as Float64Array | Int32Array).subarray(from * width, to * width);
    }
    yield { n: (to - from) * L, columns };
  }
}

/** The round's slate-contract rows; slate_id groups a slate's rows (the bootstrap's cluster), user_id is carried. */
function roundLogBatch(r: FeedbackRoundRows): OutBatch {
  const { rows } = r;
  const t = rows.targets[0];
  const userId = new Int32Array(rows.rows);
  for (let s = 0; s < rows.slates; s++) userId.fill(r.users[s], s * rows.L, (s + 1) * rows.L);
  return {
    n: rows.rows,
    columns: {
      slate_id: rows.slateId,
      position: rows.position,
      action: rows.action,
      reward: rows.reward,
      propensity: rows.propensity,
      propensity_item_position: rows.propensityItemPosition,
      propensity_cascade: rows.propensityCascade,
      propensity_item_positions: rows.propensityItemPositions,
      user_id: userId,
      target_propensity: t.targetPropensity,
      target_propensity_item_position: t.targetPropensityItemPosition,
      target_propensity_cascade: t.targetPropensityCascade,
      target_propensity_item_positions: t.targetPropensityItemPositions,
      ...(t.actionDist !== null ? { action_dist: t.actionDist } : {}),
    },
  };
}

/** metrics.csv: exactly the loop's columns, in its order. */
function metricsBatch(metrics: readonly FeedbackRoundMetrics[]): { schema: OutColumnSpec[]; batch: OutBatch } {
  const names = Object.keys(metrics[0]);
  const schema: OutColumnSpec[] = names.map((name) => ({ name, kind: name === 'scenario' ? 'string' : name === 'round' ? 'int32' : 'float64' }));
  const columns: Record<string, Float64Array | Int32Array | string[]> = {};
  for (const c of schema) {
    const values = metrics.map((m) => (m as unknown as Record<string, unknown>)[c.name]);
    columns[c.name] = c.kind === 'string' ? values.map(String) : c.kind === 'int32' ? Int32Array.from(values as number[]) : Float64Array.from(values as number[]);
  }
  return { schema, batch: { n: metrics.length, columns } };
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toPrecision(4) : String(v);
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('run the multi-round recommender feedback loop and write per-round slate logs, metrics.csv, report.html and config.json')
    .requiredOption('--out <dir>', 'output directory')
    .option('--config <file>', 'JSON overriding the defaults (world, rounds, slateSize, scenarios, logging, model, estimators, homogenizationPairs, headShare, opeOn)')
    .option('--scenario <list>', `comma-separated presets: ${SCENARIO_PRESETS.join(', ')}; baselines ${BASELINE_PRESETS.join(', ')} (default topk,softmax)`)
    .option('--rounds <n>', 'rounds, round 0 included (default 10)')
    .option('--seed <s>', 'seed of the world, its arrivals, clicks and models (default 12345)')
    .option('--format <fmt>', `round logs: ${SIMULATE_FORMATS.join(' or ')}`, 'parquet')
    .option('--tf-backend <name>', `TF.js backend for the two-tower models: ${BACKEND_CHOICES.join(', ')} (default: OPE_TF_BACKEND, else the fastest that loads)`)
    .option('--ope-on <log>', "where the next policy is evaluated: 'holdout' (an independent log of the served policy) or 'log' (the training log; biased upward)")
    .option('--json', 'print one JSON document to stdout instead of the summary line')
    .option('--action-dist', "also write the next policy's per-position action_dist (rows x items numbers) into the round logs")
    .option('--resume', "continue the interrupted run in --out from its last completed round (the same command; outputs equal an uninterrupted run's, byte for byte)")
    .option('--releases', 'instead of the loop: twelve candidate releases with offline deltas (OPE estimators, recall@L, nDCG@L) and true online deltas, as DIR/releases.csv for ope predictive')
    .action(async (flags: SimulateFlags) => {
      if (flags.releases === true) {
        const config = await configFromFlags(flags);
        const r = await runReleases(flags.out, config.world ?? {}, flags.tfBackend === undefined ? undefined : parseBackendChoice(flags.tfBackend, '--tf-backend'));
        process.stdout.write(
          flags.json === true ? JSON.stringify({ tool: 'ope-toolkit', version: TOOL_VERSION, command: 'simulate --releases', out: flags.out, files: r.files }, null, 2) + '\n' : r.summary + '\n',
        );
        return;
      }
      const doc = await runSimulate(flags);
      if (flags.json === true) {
        const { summary: _summary, ...rest } = doc;
        process.stdout.write(JSON.stringify(rest, null, 2) + '\n');
      } else process.stdout.write(doc.summary + '\n');
    });
}

/** What `ope simulate --json` prints (the summary line is what it prints without --json). */
export interface SimulateOutcome {
  tool: 'ope-toolkit';
  version: string;
  command: 'simulate';
  out: string;
  backend: string;
  config: string;
  metrics: string;
  report: string;
  /** Completed rounds found in --out by --resume; null for a fresh run. */
  resumedAt: number | null;
  /** The round logs written by this call, relative to out. */
  logs: string[];
  seconds: number;
  /**
   * Wall-clock seconds by stage, summed over scenarios (feedback-loop.ts FeedbackLoopTiming: serve,
   * log, train, metrics, ope), plus the oracle's values that the scenarios share and the report.
   * `train` (the two-tower retraining) is apart from serving and metrics.
   */
  secondsByStage: Record<string, number>;
  summary: string;
}

/** `ope simulate` without the printing: runs the loop into flags.out and returns what it wrote (bench/ calls it in-process). */
export async function runSimulate(flags: SimulateFlags): Promise<SimulateOutcome> {
  const format = SIMULATE_FORMATS.find((f) => f === flags.format);
  if (format === undefined) throw new UsageError(`--format must be one of ${SIMULATE_FORMATS.join(', ')}, got '${flags.format}'`);
  const backendChoice = flags.tfBackend === undefined ? undefined : parseBackendChoice(flags.tfBackend, '--tf-backend');
  const config = await configFromFlags(flags);
  const world = resolvedWorld(config);
  const scenarios = (config.scenarios ?? []).map(resolveScenario);
  const rounds = config.rounds ?? 10;
  const rt = await loadTf(backendChoice);
  const outDir = flags.out;
  await createOutputDir(outDir);
  const resolved = {
    tool: 'ope-toolkit',
    version: TOOL_VERSION,
    command: 'simulate',
    backend: rt.description,
    format,
    world,
    rounds,
    logging: config.logging ?? 'uniform',
    opeOn: config.opeOn,
    scenarios,
    model: { ...FEEDBACK_LOOP_MODEL_DEFAULTS, ...config.model },
    estimators: config.estimators ?? 'slate-ips,iips,rips',
    homogenizationPairs: config.homogenizationPairs ?? 2000,
    headShare: config.headShare ?? 0.2,
    actionDist: config.actionDist,
  };
  let checkpoint: FeedbackLoopCheckpoint | null = null;
  if (flags.resume === true) {
    checkSameRun(await readPreviousConfig(outDir), resolved);
    await removeStaleTemporaries(outDir);
    checkpoint = await readCheckpoint(outDir);
    if (checkpoint !== null && checkpoint.rounds > rounds)
      throw new UsageError(`--resume: ${outDir} already holds ${checkpoint.rounds} rounds; --rounds ${rounds} would drop some (give --rounds ${checkpoint.rounds} or more)`);
  } else {
    // A fresh run: the checkpoint and round logs of an earlier run in this folder do not belong to it.
    await rm(checkpointDir(outDir), { recursive: true, force: true });
    if (await isSimulateOutput(outDir)) await rm(join(outDir, 'logs'), { recursive: true, force: true });
  }
  await writeFileAtomic(join(outDir, 'config.json'), JSON.stringify(resolved, null, 2) + '\n');

  const started = performance.now();
  const logFiles: string[] = [];
  const done0 = (checkpoint?.rounds ?? 0) * scenarios.length;
  const bar = progressBar('simulate', scenarios.length * rounds, '(scenario, round)s');
  bar.update(done0);
  let result;
  try {
    result = await runFeedbackLoop(rt, config, {
      resume: checkpoint === null ? undefined : { checkpoint, history: (scenario, round) => readHistory(outDir, scenario, round) },
      onRound: async (r) => {
        const dir = join(outDir, 'logs', r.scenario);
        await createOutputDir(dir);
        const file = join('logs', r.scenario, `round-${String(r.round).padStart(3, '0')}.${format}`);
        const { schema, batches } = roundLogBatches(r);
        await writeTable(join(outDir, file), schema, batches);
        await writeHistory(outDir, r.scenario, r.round, trainingLogOf(r));
        logFiles.push(file);
        bar.update(done0 + logFiles.length);
      },
      onCheckpoint: async (cp) => {
        const { schema, batch } = metricsBatch(cp.metrics);
        await writeTable(join(outDir, 'metrics.csv'), schema, [batch]);
        await writeCheckpoint(outDir, cp);
      },
    });
  } catch (err) {
    // The loop's own checks of the config (estimators, logging, ...) come before any round.
    if (err instanceof RangeError && logFiles.length === 0) throw new UsageError(`--config: ${err.message}`);
    throw err;
  } finally {
    bar.stop();
  }
  const reportStarted = performance.now();
  const report = await simulateReportHtml({ config: resolved, backend: rt.description, metrics: result.metrics as unknown as Record<string, string | number>[] });
  await writeFileAtomic(join(outDir, 'report.html'), report);
  const timing = { ...totalTiming(Object.values(result.timings)), oracle: result.sharedTiming.oracle, report: performance.now() - reportStarted };
  const seconds = (performance.now() - started) / 1000;
  const doc: SimulateOutcome = {
    tool: 'ope-toolkit',
    version: TOOL_VERSION,
    command: 'simulate',
    out: outDir,
    backend: rt.description,
    config: 'config.json',
    metrics: 'metrics.csv',
    report: 'report.html',
    resumedAt: checkpoint?.rounds ?? null,
    logs: logFiles,
    seconds,
    secondsByStage: Object.fromEntries(Object.entries(timing).map(([k, v]) => [k, v / 1000])),
    summary: '',
  };
  const last = result.metrics.filter((m) => m.round === rounds - 1);
  const lastLine = last.map((m) => `${m.scenario} ctr ${fmt(m.ctr_true)} (oracle ${fmt(m.ctr_oracle)}), coverage ${fmt(m.coverage_at_k)}`).join('; ');
  const split = Object.entries(timing)
    .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
    .join(', ');
  const resumedNote = checkpoint === null ? '' : ` (resumed after round ${checkpoint.rounds - 1})`;
  doc.summary =
    `ope simulate: ${scenarios.length} scenarios x ${rounds} rounds (${world.users} users, ${world.items} items, L=${world.slateSize}, seed ${world.seed}, OPE on the ${config.opeOn}) ` +
    `to ${outDir}: config.json, metrics.csv, report.html and ${logFiles.length} round logs${resumedNote}, in ${seconds.toFixed(1)} s on ${rt.description} (${split}). Last round: ${lastLine}.`;
  return doc;
}

/** Sum of the scenarios' stage timings (ms). */
function totalTiming(timings: readonly FeedbackLoopTiming[]): FeedbackLoopTiming {
  const total: FeedbackLoopTiming = { serve: 0, log: 0, train: 0, metrics: 0, ope: 0 };
  for (const t of timings) for (const k of Object.keys(total) as (keyof FeedbackLoopTiming)[]) total[k] += t[k];
  return total;
}

/** Whether dir holds a config.json of ope simulate (so its logs/ folder is ours to replace). */
async function isSimulateOutput(dir: string): Promise<boolean> {
  try {
    const doc: unknown = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    return isObject(doc) && doc.tool === 'ope-toolkit' && doc.command === 'simulate';
  } catch {
    return false;
  }
}

async function readPreviousConfig(outDir: string): Promise<Record<string, unknown>> {
  const file = join(outDir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UsageError(`--resume: ${outDir} holds no config.json, so no run to resume; run without --resume`);
  }
  try {
    const doc: unknown = JSON.parse(text);
    if (isObject(doc)) return doc;
  } catch {
    // reported below
  }
  throw new UsageError(`--resume: ${file} is not a config.json written by ope simulate`);
}

/**
 * --resume continues the same run: every resolved setting but the number of rounds must match, and
 * so must the tool version and the TF.js backend (another backend rounds differently, so the outputs
 * would not equal an uninterrupted run's).
 */
function checkSameRun(previous: Record<string, unknown>, now: Record<string, unknown>): void {
  if (previous.command !== 'simulate') throw new UsageError('--resume: the config.json in --out was not written by ope simulate');
  for (const key of new Set([...Object.keys(previous), ...Object.keys(now)])) {
    if (key === 'rounds') continue;
    const [a, b] = [JSON.stringify(previous[key]), JSON.stringify(now[key])];
    if (a !== b) {
      const hint =
        key === 'backend' ? ' (pass --tf-backend to load the same one)' : key === 'version' ? ' (finish it with that version)' : ' (give the same options and --config as the interrupted run)';
      throw new UsageError(`--resume: '${key}' differs from the interrupted run's: ${a ?? 'unset'} then, ${b ?? 'unset'} now${hint}`);
    }
  }
}

/** Temporary files of writes a kill interrupted (write-log.ts writeFileAtomic's `<file>.tmp-<pid>`). */
async function removeStaleTemporaries(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /\.tmp-\d+$/.test(entry.name)) await rm(join(entry.parentPath, entry.name), { force: true });
  }
}
