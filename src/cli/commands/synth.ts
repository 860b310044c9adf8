import { join } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { TargetSpec } from '../../../simulators/bandit-policies.js';
import { resolveBanditConfig, type BanditSynthConfig, type ResolvedBanditSynthConfig } from '../../../simulators/bandit-world.js';
import {
  SLATE_LOGGERS,
  SLATE_REWARDS,
  resolveSlateConfig,
  type MarginalMethodChoice,
  type ResolvedSlateSynthConfig,
  type SlateSynthConfig,
  type SlateTargetSpec,
} from '../../../simulators/slate-config.js';
import { SYNTH_FORMATS, writeBanditSynth, type BanditSynthResult, type BanditSynthTruth, type SynthFormat } from '../../../simulators/write-bandit-synth.js';
import { writeSlateSynth, type SlateSynthResult, type SlateSynthTruth } from '../../../simulators/write-slate-synth.js';
import { UsageError } from '../../data/errors.js';

/** Option values as commander delivers them (strings); a missing one takes its SYNTH_DEFAULTS value. */
export interface SynthOptions {
  n?: string;
  actions?: string;
  dim?: string;
  reward?: string;
  rewardNoise?: string;
  loggingTemperature?: string;
  loggingPerturbation?: string;
  minPropensity?: string;
  targets?: string;
  qhatNoise?: string;
  requestsOf?: string;
  populationSamples?: string;
  seed?: string;
  format?: string;
  batchRows?: string;
}

export const SYNTH_DEFAULTS: Readonly<Required<SynthOptions>> = {
  n: '100000',
  actions: '10',
  dim: '5',
  reward: 'logistic',
  rewardNoise: '0.5',
  loggingTemperature: '1',
  loggingPerturbation: '0.5',
  minPropensity: '0',
  targets: 'softmax:0.1,softmax:0.5,softmax:1,eps:0.1,uniform',
  qhatNoise: '0.1',
  requestsOf: '1',
  populationSamples: '1000000',
  seed: '12345',
  format: 'arrow',
  batchRows: '20000',
};

const MAX_BATCH_ROWS = 10_000_000;

/** Config field -> flag, so that the generator's range errors name what the user typed. */
const FLAG_OF: Readonly<Record<string, string>> = {
  n: '--n',
  actions: '--actions',
  dim: '--dim',
  reward: '--reward',
  rewardNoise: '--reward-noise',
  loggingTemperature: '--logging-temperature',
  loggingPerturbation: '--logging-perturbation',
  minPropensity: '--min-propensity',
  qHatNoise: '--qhat-noise',
  requestsOf: '--requests-of',
  populationSamples: '--population-samples',
  seed: '--seed',
};

function parseNumber(flag: string, text: string): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(value)) throw new UsageError(`${flag} must be a number, got '${text}'`);
  return value;
}

function parseInteger(flag: string, text: string): number {
  const value = parseNumber(flag, text);
  if (!Number.isSafeInteger(value)) throw new UsageError(`${flag} must be an integer, got '${text}'`);
  return value;
}

/**
 * `softmax:T`, `eps:E` (or `epsilon-greedy:E`) and `uniform`, comma-separated, each optionally
 * named as `NAME=SPEC` (the default name is the spec with ':' replaced by '-').
 */
export function parseTargetList(text: string): TargetSpec[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--targets: empty entry in '${text}'`);
  return items.map((item) => {
    const eq = item.indexOf('=');
    const name = eq >= 0 ? item.slice(0, eq).trim() : undefined;
    const spec = eq >= 0 ? item.slice(eq + 1).trim() : item;
    const [kind, param, ...extra] = spec.split(':');
    const named = <T extends TargetSpec>(t: T): T => (name === undefined ? t : { ...t, name });
    if (extra.length > 0) throw new UsageError(`--targets: too many ':' in '${item}'`);
    if (kind === 'uniform' && param === undefined) return named({ kind: 'uniform' });
    if (kind === 'softmax' && param !== undefined) return named({ kind: 'softmax', temperature: parseNumber(`--targets (${item})`, param) });
    if ((kind === 'eps' || kind === 'epsilon-greedy') && param !== undefined) {
      return named({ kind: 'epsilon-greedy', epsilon: parseNumber(`--targets (${item})`, param) });
    }
    throw new UsageError(`--targets: unknown target '${item}'; use softmax:T, eps:E or uniform, optionally as NAME=SPEC`);
  });
}

/** Parses and checks everything but --out, --format and --batch-rows; throws UsageError. */
export function synthConfigFromOptions(options: SynthOptions): ResolvedBanditSynthConfig {
  const o: Required<SynthOptions> = { ...SYNTH_DEFAULTS, ...definedOnly(options) };
  const reward = o.reward;
  if (reward !== 'logistic' && reward !== 'linear') throw new UsageError(`--reward must be 'logistic' or 'linear', got '${reward}'`);
  const config: BanditSynthConfig = {
    n: parseInteger('--n', o.n),
    actions: parseInteger('--actions', o.actions),
    dim: parseInteger('--dim', o.dim),
    reward,
    rewardNoise: parseNumber('--reward-noise', o.rewardNoise),
    loggingTemperature: parseNumber('--logging-temperature', o.loggingTemperature),
    loggingPerturbation: parseNumber('--logging-perturbation', o.loggingPerturbation),
    minPropensity: parseNumber('--min-propensity', o.minPropensity),
    targets: parseTargetList(o.targets),
    qHatNoise: parseNumber('--qhat-noise', o.qhatNoise),
    requestsOf: parseInteger('--requests-of', o.requestsOf),
    populationSamples: parseInteger('--population-samples', o.populationSamples),
    seed: parseInteger('--seed', o.seed),
  };
  try {
    return resolveBanditConfig(config);
  } catch (err) {
    throw asUsageError(err);
  }
}

export function parseSynthFormat(text: string): SynthFormat {
  const format = SYNTH_FORMATS.find((f) => f === text);
  if (format === undefined) throw new UsageError(`--format must be one of ${SYNTH_FORMATS.join(', ')}, got '${text}'`);
  return format;
}

function definedOnly(options: SynthOptions): SynthOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as SynthOptions;
}

function asUsageError(err: unknown): unknown {
  if (!(err instanceof RangeError)) return err;
  const field = /^\w+/.exec(err.message)?.[0];
  const flag = field !== undefined ? FLAG_OF[field] : undefined;
  // Every other range check in resolveBanditConfig is about the targets.
  return new UsageError(flag !== undefined ? flag + err.message.slice(field?.length ?? 0) : `--targets: ${err.message}`);
}

function fmt(v: number): string {
  return v.toPrecision(6);
}

export function synthSummary(outDir: string, truth: BanditSynthTruth, seconds: number): string {
  const c = truth.config;
  const values = [
    `logging ${fmt(truth.logging_value)} / ${fmt(truth.logging_value_population)} ± ${truth.logging_value_population_se.toPrecision(2)}`,
    ...truth.targets.map((t) => `${t.name} ${fmt(t.value_sample)} / ${fmt(t.value_population)} ± ${t.value_population_se.toPrecision(2)}`),
  ];
  return (
    `ope synth: wrote ${truth.n} rows (K=${truth.K}, d=${truth.d}, ${c.reward} rewards, seed ${truth.seed}) to ${outDir}: ` +
    `${truth.log_file}, ${truth.targets.length} policy files (${truth.targets.map((t) => t.file).join(', ')}) and truth.json, ` +
    `in ${seconds.toFixed(1)} s. Mean observed reward ${fmt(truth.mean_reward)}. ` +
    `True values (sample truth on the logged contexts / population truth ± Monte Carlo se over ${truth.population_samples} fresh contexts): ` +
    `${values.join('; ')}.\n`
  );
}

// ---------------------------------------------------------------- --slate (issue 4, item 3)

/** Slate-only option values as commander delivers them; a missing one takes its SLATE_SYNTH_DEFAULTS value. */
export interface SlateSynthOptions {
  slateLength?: string;
  slateLogger?: string;
  slateReward?: string;
  examinationDecay?: string;
  marginals?: string;
  marginalSamples?: string;
  /** Empty: the logger family's default targets. */
  slateTargets?: string;
  clickBias?: string;
}

export const SLATE_SYNTH_DEFAULTS: Readonly<Required<SlateSynthOptions>> = {
  slateLength: '5',
  slateLogger: 'plackett-luce',
  slateReward: 'independent',
  examinationDecay: '1',
  marginals: 'auto',
  marginalSamples: '1000',
  slateTargets: '',
  clickBias: '0',
};

/** Bandit-only flags, rejected with --slate (option key -> flag). */
const BANDIT_ONLY_FLAGS: Readonly<Record<string, string>> = {
  reward: '--reward',
  rewardNoise: '--reward-noise',
  minPropensity: '--min-propensity',
  targets: '--targets',
  requestsOf: '--requests-of',
};

/** Slate-only flags, rejected without --slate. */
const SLATE_ONLY_FLAGS: Readonly<Record<string, string>> = {
  slateLength: '--slate-length',
  slateLogger: '--slate-logger',
  slateReward: '--slate-reward',
  examinationDecay: '--examination-decay',
  marginals: '--marginals',
  marginalSamples: '--marginal-samples',
  slateTargets: '--slate-targets',
  clickBias: '--click-bias',
};

/** Slate config field -> flag, so that the generator's range errors name what the user typed. */
const SLATE_FLAG_OF: Readonly<Record<string, string>> = {
  n: '--n',
  actions: '--actions',
  slateLength: '--slate-length',
  dim: '--dim',
  logger: '--slate-logger',
  reward: '--slate-reward',
  examinationDecay: '--examination-decay',
  loggingTemperature: '--logging-temperature',
  loggingPerturbation: '--logging-perturbation',
  qHatNoise: '--qhat-noise',
  clickBias: '--click-bias',
  marginals: '--marginals',
  marginalSamples: '--marginal-samples',
  populationSamples: '--population-samples',
  seed: '--seed',
};

const SLATE_TARGET_KINDS: Readonly<Record<string, Pick<SlateTargetSpec, 'kind' | 'scores'>>> = {
  pl: { kind: 'plackett-luce', scores: 'true' },
  'plackett-luce': { kind: 'plackett-luce', scores: 'true' },
  'pl-logger': { kind: 'plackett-luce', scores: 'logging' },
  factorized: { kind: 'factorized', scores: 'true' },
  'factorized-logger': { kind: 'factorized', scores: 'logging' },
};

/**
 * `pl:T` (Plackett-Luce over the true scores at temperature T), `pl-logger:T` (over the logger's
 * scores; at the logging temperature it is the logger), `factorized:T`, `factorized-logger:T`,
 * comma-separated, each optionally named as `NAME=SPEC`.
 */
export function parseSlateTargetList(text: string): SlateTargetSpec[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--slate-targets: empty entry in '${text}'`);
  return items.map((item) => {
    const eq = item.indexOf('=');
    const name = eq >= 0 ? item.slice(0, eq).trim() : undefined;
    const spec = eq >= 0 ? item.slice(eq + 1).trim() : item;
    const [kind, param, ...extra] = spec.split(':');
    const family = Object.hasOwn(SLATE_TARGET_KINDS, kind) ? SLATE_TARGET_KINDS[kind] : undefined;
    if (family === undefined || param === undefined || extra.length > 0) {
      throw new UsageError(`--slate-targets: unknown target '${item}'; use pl:T, pl-logger:T, factorized:T or factorized-logger:T, optionally as NAME=SPEC`);
    }
    const temperature = parseNumber(`--slate-targets (${item})`, param);
    const target: SlateTargetSpec = family.scores === 'logging' ? { kind: family.kind, temperature, scores: 'logging' } : { kind: family.kind, temperature };
    return name === undefined ? target : { ...target, name };
  });
}

function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  const value = allowed.find((a) => a === text);
  if (value === undefined) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got '${text}'`);
  return value;
}

/** Parses and checks the slate run's options (shared ones from SYNTH_DEFAULTS); throws UsageError. */
export function slateSynthConfigFromOptions(options: SynthOptions & SlateSynthOptions): ResolvedSlateSynthConfig {
  const o = { ...SYNTH_DEFAULTS, ...SLATE_SYNTH_DEFAULTS, ...definedOnly(options) };
  const config: SlateSynthConfig = {
    n: parseInteger('--n', o.n),
    actions: parseInteger('--actions', o.actions),
    slateLength: parseInteger('--slate-length', o.slateLength),
    dim: parseInteger('--dim', o.dim),
    logger: oneOf('--slate-logger', o.slateLogger, SLATE_LOGGERS),
    reward: oneOf('--slate-reward', o.slateReward, SLATE_REWARDS),
    examinationDecay: parseNumber('--examination-decay', o.examinationDecay),
    loggingTemperature: parseNumber('--logging-temperature', o.loggingTemperature),
    loggingPerturbation: parseNumber('--logging-perturbation', o.loggingPerturbation),
    targets: o.slateTargets.trim() === '' ? undefined : parseSlateTargetList(o.slateTargets),
    qHatNoise: parseNumber('--qhat-noise', o.qhatNoise),
    clickBias: parseNumber('--click-bias', o.clickBias),
    marginals: oneOf<MarginalMethodChoice>('--marginals', o.marginals, ['auto', 'exact', 'monte-carlo']),
    marginalSamples: parseInteger('--marginal-samples', o.marginalSamples),
    populationSamples: parseInteger('--population-samples', o.populationSamples),
    seed: parseInteger('--seed', o.seed),
  };
  try {
    return resolveSlateConfig(config);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    const field = /^\w+/.exec(err.message)?.[0];
    const flag = field !== undefined ? SLATE_FLAG_OF[field] : undefined;
    // Every other range check in resolveSlateConfig is about the targets.
    throw new UsageError(flag !== undefined ? flag + err.message.slice(field?.length ?? 0) : `--slate-targets: ${err.message}`);
  }
}

export function slateSynthSummary(outDir: string, truth: SlateSynthTruth, seconds: number): string {
  const m = truth.marginals;
  const marginals =
    m.method === 'exact'
      ? `exact (${m.prefix_sets > 0 ? `${m.prefix_sets} unordered prefixes` : 'closed form'})`
      : `Monte Carlo (${m.samples} slates per context and policy; every one within ${m.max_abs_error_bound.toPrecision(3)} of exact with probability ${m.confidence})`;
  const se = (v: number): string => (truth.value_sample_exact ? '' : ` ± ${v.toPrecision(2)}`);
  const values = [
    `logging ${fmt(truth.logging_value)}${se(truth.logging_value_se)} / ${fmt(truth.logging_value_population)} ± ${truth.logging_value_population_se.toPrecision(2)}`,
    ...truth.targets.map((t) => `${t.name} ${fmt(t.value_sample)}${se(t.value_sample_se)} / ${fmt(t.value_population)} ± ${t.value_population_se.toPrecision(2)}`),
  ];
  return (
    `ope synth --slate: wrote ${truth.n} slates (${truth.n_rows} rows; K=${truth.K}, L=${truth.L}, d=${truth.d}, ${truth.logger.kind} logger, ` +
    `${truth.reward_structure} rewards, seed ${truth.seed}) to ${outDir}: ${truth.log_file}, ${truth.targets.length} policy files ` +
    `(${truth.targets.map((t) => t.file).join(', ')}) and truth.json, in ${seconds.toFixed(1)} s. Item-position marginals: ${marginals}. ` +
    `Mean slate reward ${fmt(truth.mean_slate_reward)}. True values (sample truth on the logged contexts${truth.value_sample_exact ? ', exact' : ' ± Monte Carlo se'} / ` +
    `population truth ± se over ${truth.population_samples} fresh contexts): ${values.join('; ')}.\n` +
    `Evaluate with: ${slateEvaluateCommand(outDir, truth)}\n`
  );
}

/** The `ope evaluate` line for this run: every target, every slate estimator (pbm-ips with the true examination). */
export function slateEvaluateCommand(outDir: string, truth: SlateSynthTruth): string {
  const policies = truth.targets.map((t) => `--policy ${t.name}=${join(outDir, t.file)}`).join(' ');
  const theta = truth.examination === null ? '' : ',pbm-ips:' + truth.examination.map((t, j) => `theta${j}=${t}`).join(',');
  return `npx ope evaluate --log ${join(outDir, truth.log_file)} ${policies} --estimators all-slate${theta}`;
}

type SynthCommandOptions = SynthOptions & SlateSynthOptions & { out: string; slate?: boolean };

/** A flag the user typed (not a commander default) that this mode does not use is a usage error. */
function rejectFlags(command: Command, flags: Readonly<Record<string, string>>, why: (flag: string) => string): void {
  for (const [key, flag] of Object.entries(flags)) {
    const source = command.getOptionValueSource(key);
    if (source === 'cli' || source === 'env') throw new UsageError(why(flag));
  }
}

function progressBar(unit: string): cliProgress.SingleBar | undefined {
  return process.stderr.isTTY
    ? new cliProgress.SingleBar({ stream: process.stderr, format: `synth [{bar}] {percentage}% | {value}/{total} ${unit} | eta {eta_formatted}`, hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
}

function parseOutputOptions(options: SynthOptions): { format: SynthFormat; batchRows: number } {
  const format = parseSynthFormat(options.format ?? SYNTH_DEFAULTS.format);
  const batchRows = parseInteger('--batch-rows', options.batchRows ?? SYNTH_DEFAULTS.batchRows);
  // Larger batches only cost memory (~600 bytes a row at K=10 with five targets).
  if (batchRows < 1 || batchRows > MAX_BATCH_ROWS) throw new UsageError(`--batch-rows must be in [1, ${MAX_BATCH_ROWS}], got ${batchRows}`);
  return { format, batchRows };
}

async function runSlateSynth(options: SynthCommandOptions, command: Command): Promise<void> {
  rejectFlags(command, BANDIT_ONLY_FLAGS, (flag) => `${flag} does not apply to --slate (see --slate-reward, --slate-targets)`);
  const config = slateSynthConfigFromOptions(options);
  const { format, batchRows } = parseOutputOptions(options);
  const bar = progressBar('slates');
  const started = performance.now();
  bar?.start(config.n, 0);
  let result: SlateSynthResult;
  try {
    result = await writeSlateSynth(config, {
      outDir: options.out,
      format,
      // --batch-rows counts rows; a batch holds whole slates.
      batchSlates: Math.max(1, Math.ceil(batchRows / config.slateLength)),
      onProgress: bar === undefined ? undefined : (done) => bar.update(done),
    });
  } finally {
    bar?.stop();
  }
  process.stdout.write(slateSynthSummary(options.out, result.truth, (performance.now() - started) / 1000));
}

export function registerSynth(program: Command): void {
  const d = SYNTH_DEFAULTS;
  const s = SLATE_SYNTH_DEFAULTS;
  program
    .command('synth')
    .description('Write synthetic contextual-bandit (or, with --slate, slate) logs with known ground truth (log, one policy file per target, truth.json)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--n <rows>', 'number of logged rows', d.n)
    .option('--actions <K>', 'number of actions', d.actions)
    .option('--dim <d>', 'context dimension', d.dim)
    .option('--reward <model>', 'expected reward model: logistic (Bernoulli rewards) or linear (gaussian noise)', d.reward)
    .option('--reward-noise <sd>', 'linear rewards: sd of the reward noise', d.rewardNoise)
    .option('--logging-temperature <t>', 'temperature of the softmax logging policy', d.loggingTemperature)
    .option('--logging-perturbation <s>', "how far the logger's reward model is from the truth (relative)", d.loggingPerturbation)
    .option('--min-propensity <p>', 'floor on every logging probability, at most 1/K', d.minPropensity)
    .option('--targets <list>', 'target policies: softmax:T, eps:E, uniform, optionally NAME=SPEC', d.targets)
    .option('--qhat-noise <sd>', 'sd of the gaussian noise in q_hat', d.qhatNoise)
    .option('--requests-of <m>', 'rows per request_id (sharing one context)', d.requestsOf)
    .option('--population-samples <m>', 'fresh contexts for the Monte Carlo population truth', d.populationSamples)
    .option('--format <fmt>', `output format: ${SYNTH_FORMATS.join(', ')}`, d.format)
    .option('--seed <int>', 'random seed', d.seed)
    .option('--batch-rows <rows>', 'rows per written batch (the output does not depend on it)', d.batchRows)
    .option('--slate', 'write a slate (ranking) log instead: one row per (slate, position); --n counts slates, --actions is K')
    .option('--slate-length <L>', 'slate: slots per slate (at most --actions)', s.slateLength)
    .option('--slate-logger <kind>', `slate: logging policy, ${SLATE_LOGGERS.join(' or ')}`, s.slateLogger)
    .option('--slate-reward <structure>', `slate: per-slot reward structure, ${SLATE_REWARDS.join(', ')}`, s.slateReward)
    .option('--examination-decay <eta>', 'slate, additive rewards: examination probability 1/(k+1)^eta at slot k', s.examinationDecay)
    .option('--marginals <method>', 'slate: Plackett-Luce item-position marginals, auto, exact or monte-carlo', s.marginals)
    .option('--marginal-samples <m>', 'slate: Monte Carlo slates per context and policy for the marginals', s.marginalSamples)
    .option('--slate-targets <list>', "slate: targets pl:T, pl-logger:T, factorized:T, factorized-logger:T, optionally NAME=SPEC (default: three of the logger's family)")
    .option('--click-bias <b>', 'slate: added to the true score inside the click probability sigmoid(s + b)', s.clickBias)
    .action(async (options: SynthCommandOptions, command: Command) => {
      if (options.slate === true) {
        await runSlateSynth(options, command);
        return;
      }
      rejectFlags(command, SLATE_ONLY_FLAGS, (flag) => `${flag} needs --slate`);
      const config = synthConfigFromOptions(options);
      const { format, batchRows } = parseOutputOptions(options);
      const bar = progressBar('rows');
      const started = performance.now();
      bar?.start(config.n, 0);
      let result: BanditSynthResult;
      try {
        result = await writeBanditSynth(config, {
          outDir: options.out,
          format,
          batchRows,
          onProgress: bar === undefined ? undefined : (done) => bar.update(done),
        });
      } finally {
        bar?.stop();
      }
      process.stdout.write(synthSummary(options.out, result.truth, (performance.now() - started) / 1000));
    });
}
