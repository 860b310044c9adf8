import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { TargetSpec } from '../../../simulators/bandit-policies.js';
import { resolveBanditConfig, type BanditSynthConfig, type ResolvedBanditSynthConfig } from '../../../simulators/bandit-world.js';
import { SYNTH_FORMATS, writeBanditSynth, type BanditSynthResult, type BanditSynthTruth, type SynthFormat } from '../../../simulators/write-bandit-synth.js';
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

export function registerSynth(program: Command): void {
  const d = SYNTH_DEFAULTS;
  program
    .command('synth')
    .description('Write synthetic contextual-bandit logs with known ground truth (log, one policy file per target, truth.json)')
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
    .action(async (options: SynthOptions & { out: string }) => {
      const config = synthConfigFromOptions(options);
      const format = parseSynthFormat(options.format ?? d.format);
      const batchRows = parseInteger('--batch-rows', options.batchRows ?? d.batchRows);
      // Larger batches only cost memory (~600 bytes a row at K=10 with five targets).
      if (batchRows < 1 || batchRows > MAX_BATCH_ROWS) throw new UsageError(`--batch-rows must be in [1, ${MAX_BATCH_ROWS}], got ${batchRows}`);
      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar({ stream: process.stderr, format: 'synth [{bar}] {percentage}% | {value}/{total} rows | eta {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
        : undefined;
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
