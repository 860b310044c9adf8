import { Command, Option } from 'commander';
import { UsageError } from '../../data/errors.js';
import { writeFileAtomic } from '../../data/write-log.js';
import { evaluateLog } from '../../evaluate-log.js';
import { DEFAULTS } from '../../engine/evaluate.js';
import { ESTIMATOR_NAMES } from '../../../estimators/registry.js';
import { INTERVAL_METHODS, type IntervalMethod } from '../../stats/intervals.js';
import { evaluationDocument, toJson, type RunInfo } from '../../report/evaluation-json.js';
import type { EvaluationResult } from '../../engine/results.js';
import { renderEvaluation } from '../../report/evaluation-table.js';
import { parseColumnsMapping, threadOptions } from '../options.js';
import { progressBar } from '../progress.js';
import { parseFloatOption, parseIntOption, parsePolicyOption, parseRange } from '../parse.js';
import { REWARD_MODEL_KINDS, type RewardModelKind } from '../../reward-model/models.js';
import { BACKEND_CHOICES, parseBackendChoice } from '../../tf/backend.js';
import { rewardModelLine, rewardModelJson } from '../../report/reward-model.js';

interface EvaluateFlags {
  log?: string;
  fromSums?: string;
  policy: string[];
  estimators?: string;
  bootstrap: string;
  bootstrapKind: 'poisson' | 'multinomial';
  ci?: IntervalMethod;
  alpha: string;
  seed: string;
  json?: boolean;
  out?: string;
  columns?: string;
  rewardRange?: string;
  maxWeight?: string;
  batchRows?: string;
  threads?: string;
  memoryLimit?: string;
  rewardModel?: RewardModelKind;
  folds: string;
  tfBackend?: string;
  engine: 'js' | 'duckdb';
}

export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description('estimate the value of target policies from a log with propensities, with bootstrap intervals and diagnostics')
    .option('--log <file>', 'log file: .arrow/.feather/.ipc, .parquet, .csv, .jsonl/.ndjson')
    .option('--from-sums <file>', 'instead of --log: the saved result (.csv, .json, .jsonl, .parquet) of the query ope sql prints, run where the log lives')
    .option('--policy <name=file>', "a target policy file aligned with the log by row order (repeatable); default: the log's own target columns", collect, [])
    .option(
      '--estimators <list>',
      `comma-separated, with parameters as switch-dr:tau=5; 'all' (bandit) and 'all-slate' expand to every estimator of the family (default: every one the inputs support; pbm-ips only when given theta0=..,theta1=..). Known: ${ESTIMATOR_NAMES.join(', ')}`,
    )
    .option('--bootstrap <B>', 'bootstrap replicates (0 = delta-method se and normal intervals only)', String(DEFAULTS.replicates))
    .addOption(new Option('--bootstrap-kind <kind>', 'poisson (hash-keyed, split-invariant) or multinomial (classic)').choices(['poisson', 'multinomial']).default(DEFAULTS.bootstrapKind))
    .addOption(new Option('--ci <method>', 'interval reported as ci (default: percentile with --bootstrap > 1, else normal)').choices([...INTERVAL_METHODS]))
    .option('--alpha <a>', 'one minus the confidence level', String(DEFAULTS.alpha))
    .option('--seed <s>', 'seed of the bootstrap (0..4294967295)', String(DEFAULTS.seed))
    .option('--reward-range <lo,hi>', 'a priori reward range for the finite-sample (Bernstein) interval; default [0,1] when all rewards lie in it')
    .option('--max-weight <w>', "a priori largest importance weight (1 / the logger's propensity floor); default from the smallest logged propensity")
    .option('--columns <new=old,...>', 'map contract column names to the names in your files')
    .option(
      '--threads <n>',
      'worker threads for the bootstrap and for decoding Parquet/Arrow logs and policies (default: all cores; reading a log under 32 MB stays on one); results do not depend on it',
    )
    .option('--batch-rows <n>', 'rows per read batch (memory only; results do not depend on it)')
    .addOption(new Option('--reward-model <kind>', 'fit a cross-fitted reward model on the log for dm and the DR family (replaces any q_hat given)').choices([...REWARD_MODEL_KINDS]))
    .option('--folds <k>', 'cross-fitting folds of --reward-model (by request_id when present)', '3')
    .option('--tf-backend <name>', `TF.js backend for --reward-model: ${BACKEND_CHOICES.join(', ')} (default: OPE_TF_BACKEND, else the fastest that loads)`)
    .addOption(
      new Option('--engine <name>', 'js (in-process) or duckdb (embedded DuckDB runs the estimators as SQL over a Parquet log with inline target columns)').choices(['js', 'duckdb']).default('js'),
    )
    .option('--memory-limit <size>', "--engine duckdb: DuckDB's memory limit; above it DuckDB spills to a temporary directory, slowly (default: 80% of RAM)")
    .option('--json', 'print one JSON document to stdout')
    .option('--out <file>', 'also write the JSON document to this file (atomically)')
    .action(async (flags: EvaluateFlags, cmd: Command) => {
      if (flags.fromSums !== undefined) {
        await runFromSums(flags, flags.fromSums, cmd);
        return;
      }
      if (flags.log === undefined) throw new UsageError("required option '--log <file>' not specified (or --from-sums FILE)");
      const log = flags.log;
      const policies: Record<string, string> = {};
      for (const p of flags.policy) {
        const [name, file] = parsePolicyOption(p);
        if (name in policies) throw new UsageError(`--policy: the name '${name}' is given twice`);
        policies[name] = file;
      }
      const replicates = parseIntOption('--bootstrap', flags.bootstrap, 0);
      const { threads, readThreads } = await threadOptions(flags.threads, flags.log);
      const started = Date.now();
      if (flags.engine === 'duckdb') {
        await runDuckDb(flags, log, replicates, threads, started);
        return;
      }
      if (flags.memoryLimit !== undefined) throw new UsageError('--memory-limit applies to --engine duckdb (the in-process engine streams the log in bounded memory by itself)');
      const progress = progressBar('evaluating', undefined);
      let outcome;
      try {
        outcome = await evaluateLog({
          log,
          policies,
          ...estimationOptions(flags, replicates),
          read: {
            columns: flags.columns === undefined ? undefined : parseColumnsMapping(flags.columns),
            batchRows: flags.batchRows === undefined ? undefined : parseIntOption('--batch-rows', flags.batchRows, 1),
            threads: readThreads,
          },
          onProgress: (rows) => progress.update(rows),
          threads,
          rewardModel:
            flags.rewardModel === undefined
              ? undefined
              : {
                  kind: flags.rewardModel,
                  folds: parseIntOption('--folds', flags.folds, 2, 20),
                  seed: parseIntOption('--seed', flags.seed, 0),
                  backend: flags.tfBackend === undefined ? undefined : parseBackendChoice(flags.tfBackend, '--tf-backend'),
                  onProgress: (stage) => {
                    if (process.stderr.isTTY) process.stderr.write(`reward model: ${stage}\n`);
                  },
                },
        });
      } finally {
        progress.stop();
      }
      const { result, skipped, rewardModel } = outcome;
      const backend = rewardModel === undefined ? 'js (typed arrays; no reward model fitted)' : `js (typed arrays); reward model on ${rewardModel.backend}`;
      const info = { command: 'evaluate', log, backend, threads };
      const doc = evaluationDocument(result, info);
      if (rewardModel !== undefined) rewardModelJson(doc, rewardModel);
      if (skipped.length > 0) doc.skipped_estimators = { names: skipped, reason: SKIPPED_REASON };
      if (flags.out !== undefined) await writeFileAtomic(flags.out, toJson(doc));
      if (flags.json === true) {
        process.stdout.write(toJson(doc));
        return;
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const slateLog = result.policies.some((p) => p.slate !== undefined);
      const footer = [
        `n = ${result.n} rows; ${result.bootstrap.replicates} ${result.bootstrap.kind} bootstrap replicates${result.bootstrap.clustered ? (slateLog ? ' (whole slates)' : ' (whole requests)') : ''}, seed ${result.seed}; ${threads} threads; ${seconds}s; backend: ${info.backend}`,
      ];
      if (skipped.length > 0) footer.push(`not run (the inputs lack what they need): ${skipped.join(', ')}`);
      if (rewardModel !== undefined) footer.push(rewardModelLine(rewardModel));
      // The bounds only feed the finite-sample interval, which slate logs do not get.
      if (result.bounds !== undefined && result.policies.some((p) => p.valueInterval !== undefined))
        footer.push(`finite-sample bounds: reward in [${result.bounds.rewardMin}, ${result.bounds.rewardMax}], max weight ${result.bounds.maxWeight.toPrecision(4)} (${result.bounds.source})`);
      if (flags.out !== undefined) footer.push(`JSON written to ${flags.out}`);
      process.stdout.write(renderEvaluation(result, footer));
      void cmd;
    });
}

/** The estimator and interval options every engine takes, parsed from the flags. */
function estimationOptions(flags: EvaluateFlags, replicates: number) {
  return {
    estimators: flags.estimators,
    replicates,
    bootstrapKind: flags.bootstrapKind,
    seed: parseIntOption('--seed', flags.seed, 0),
    ci: flags.ci,
    alpha: parseFloatOption('--alpha', flags.alpha),
    rewardRange: flags.rewardRange === undefined ? undefined : parseRange('--reward-range', flags.rewardRange),
    maxWeight: flags.maxWeight === undefined ? undefined : parseFloatOption('--max-weight', flags.maxWeight),
  };
}

/** `--engine duckdb`: the SQL path (src/sql), for the options it supports; a usage error names the rest. */
async function runDuckDb(flags: EvaluateFlags, log: string, replicates: number, threads: number, started: number): Promise<void> {
  const unsupported: string[] = [];
  if (flags.policy.length > 1) unsupported.push('more than one --policy (evaluate them one at a time)');
  if (flags.rewardModel !== undefined) unsupported.push('--reward-model');
  if (flags.columns !== undefined) unsupported.push('--columns');
  if (unsupported.length > 0) throw new UsageError(`--engine duckdb does not support ${unsupported.join(', ')} yet; use --engine js`);
  const { evaluateDuckDb } = await import('../../sql/evaluate-duckdb.js');
  const policy = flags.policy.length === 1 ? parsePolicyOption(flags.policy[0]) : undefined;
  const { result, skipped } = await evaluateDuckDb({
    log,
    policy: policy === undefined ? undefined : { name: policy[0], file: policy[1] },
    ...estimationOptions(flags, replicates),
    threads,
    memoryLimit: flags.memoryLimit,
  });
  await reportSqlResult(flags, result, skipped, { command: 'evaluate', log, backend: 'duckdb (embedded, @duckdb/node-api; estimators compiled to SQL)', threads }, started);
}

/**
 * `--from-sums FILE`: the saved result of the `ope sql` query, summarized as `--engine duckdb`
 * summarizes its own. The estimators, replicates and seed are the plan's (in the file), so the
 * flags that would choose them are refused rather than silently ignored.
 */
async function runFromSums(flags: EvaluateFlags, file: string, cmd: Command): Promise<void> {
  const started = Date.now();
  const fromPlan = ['log', 'estimators', 'bootstrap', 'bootstrapKind', 'seed', 'engine', 'rewardModel', 'columns', 'batchRows', 'threads'].filter((k) => cmd.getOptionValueSource(k) === 'cli');
  if (fromPlan.length > 0 || flags.policy.length > 0) {
    const names = [...fromPlan.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())), ...(flags.policy.length > 0 ? ['--policy'] : [])];
    throw new UsageError(`--from-sums takes the log, estimators, replicates and seed from the plan in ${file} (chosen by ope sql); drop ${names.join(', ')}`);
  }
  const { evaluateFromSums } = await import('../../sql/sums.js');
  const { ci, alpha, rewardRange, maxWeight } = estimationOptions(flags, 0);
  const { result, sumsPlan } = await evaluateFromSums({ file, ci, alpha, rewardRange, maxWeight });
  await reportSqlResult(flags, result, [], { command: 'evaluate', log: file, backend: `from sums (${file}, dialect ${sumsPlan.dialect})`, threads: 1 }, started);
}

/** The table or JSON of the SQL paths (`--engine duckdb`, `--from-sums`), and the atomic `--out`. */
async function reportSqlResult(flags: EvaluateFlags, result: EvaluationResult, skipped: readonly string[], info: RunInfo, started: number): Promise<void> {
  const doc = evaluationDocument(result, info);
  if (skipped.length > 0) doc.skipped_estimators = { names: skipped, reason: SKIPPED_REASON };
  if (flags.out !== undefined) await writeFileAtomic(flags.out, toJson(doc));
  if (flags.json === true) {
    process.stdout.write(toJson(doc));
    return;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const footer = [
    `n = ${result.n} rows; ${result.bootstrap.replicates} poisson bootstrap replicates${result.bootstrap.clustered ? (result.policies.some((p) => p.slate !== undefined) ? ' (whole slates)' : ' (whole requests)') : ''}, seed ${result.seed}; ${info.threads} threads; ${seconds}s; backend: ${info.backend}`,
  ];
  if (skipped.length > 0) footer.push(`not run (the inputs lack what they need): ${skipped.join(', ')}`);
  if (result.bounds !== undefined && result.policies.some((p) => p.valueInterval !== undefined))
    footer.push(`finite-sample bounds: reward in [${result.bounds.rewardMin}, ${result.bounds.rewardMax}], max weight ${result.bounds.maxWeight.toPrecision(4)} (${result.bounds.source})`);
  if (flags.out !== undefined) footer.push(`JSON written to ${flags.out}`);
  process.stdout.write(renderEvaluation(result, footer));
}

const SKIPPED_REASON = 'the inputs lack what they need: q_hat for dm, the DR family and cascade-dr; the slate columns propensity_item_position (iips, pi) or propensity_cascade (rips, cascade-dr)';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
