import { Command, Option } from 'commander';
import { UsageError } from '../../data/errors.js';
import { SUPPORTED_EXTENSIONS } from '../../data/formats.js';
import { toJson } from '../../report/evaluation-json.js';
import { rewardModelDocument, rewardModelLine } from '../../report/reward-model.js';
import { REWARD_MODEL_KINDS, type RewardModelKind } from '../../reward-model/models.js';
import { writeFittedLog, type WriteFittedResult } from '../../reward-model/write-fitted.js';
import { BACKEND_CHOICES, parseBackendChoice } from '../../tf/backend.js';
import { TOOL_VERSION } from '../../version.js';
import { parseColumnsMapping } from '../options.js';
import { parseIntOption, parsePolicyOption } from '../parse.js';
import { progressBar, type Progress } from '../progress.js';

interface FitFlags {
  log: string;
  out: string;
  policy: string[];
  rewardModel: RewardModelKind;
  folds: string;
  seed: string;
  tfBackend?: string;
  scalars?: boolean;
  columns?: string;
  batchRows?: string;
  json?: boolean;
}

const HELP_AFTER = `
The copy holds every column of the log contract the readers know (action, reward, propensity,
position, request_id or slate_id, event_ts, reward_ts, the target and slate columns, context, the
string columns policy_id ... feature_snapshot_id), under their contract names: aliases, --columns
mappings and x_* features are written as propensity, context, ... Columns outside the contract are
not copied. Any q_hat, q_hat_logged or q_hat_target in the inputs is replaced by the fitted one.

--scalars (for large K): the log copy gets q_hat_logged, q_hat at the logged action; each
--policy gets a copy with q_hat_target, sum_a action_dist[a] q_hat[a]. Without --policy only
q_hat_logged is written (q_hat_target needs a target's action_dist), unless the log carries its
own action_dist, whose q_hat_target then goes into the log copy.

The q_hat written is exactly what \`ope evaluate --reward-model\` computes (same folds, seed and
TF.js backend), so \`ope evaluate --log OUT\` gives the same dm and DR estimates, bit for bit.
Formats by extension: ${SUPPORTED_EXTENSIONS.join(' ')}.`;

export function registerFit(program: Command): void {
  program
    .command('fit')
    .description('fit a cross-fitted reward model on a log and write a copy of the log with its q_hat, for reuse (what `ope evaluate --reward-model` computes)')
    .requiredOption('--log <file>', 'log file: .arrow/.feather/.ipc, .parquet, .csv, .jsonl/.ndjson')
    .requiredOption('--out <file>', 'the copy with q_hat, written atomically; its extension picks the format (never the log itself)')
    .addOption(new Option('--reward-model <kind>', 'the model').choices([...REWARD_MODEL_KINDS]).default('logistic'))
    .option('--folds <k>', 'cross-fitting folds (by request_id when present)', '3')
    .option('--seed <s>', 'seeds the folds, the validation split, the initial weights and the batch order', '12345')
    .option('--tf-backend <name>', `TF.js backend: ${BACKEND_CHOICES.join(', ')} (default: OPE_TF_BACKEND, else the fastest that loads)`)
    .option(
      '--policy <name=file>',
      "a target policy file with action_dist, aligned with the log by row order (repeatable): its width is K; with --scalars a copy of it plus q_hat_target is written next to --out (fitted.arrow -> fitted.policy-NAME.arrow); default: the log's own action_dist, if any",
      collect,
      [],
    )
    .option('--scalars', 'write the O(n) scalars instead of the K-wide q_hat list: q_hat_logged in the log copy, q_hat_target in each policy copy')
    .option('--columns <new=old,...>', 'map contract column names to the names in your files')
    .option('--batch-rows <n>', 'rows per read batch (memory only; results do not depend on it)')
    .option('--json', 'print one JSON document to stdout')
    .addHelpText('after', HELP_AFTER)
    .action(async (flags: FitFlags) => {
      const policies: Record<string, string> = {};
      for (const p of flags.policy) {
        const [name, file] = parsePolicyOption(p);
        if (name in policies) throw new UsageError(`--policy: the name '${name}' is given twice`);
        policies[name] = file;
      }
      const folds = parseIntOption('--folds', flags.folds, 2, 20);
      const seed = parseIntOption('--seed', flags.seed, 0);
      const backend = flags.tfBackend === undefined ? undefined : parseBackendChoice(flags.tfBackend, '--tf-backend');
      // The bar starts with the writing, after the fit's stage lines.
      let progress: Progress | undefined;
      let result: WriteFittedResult;
      try {
        result = await writeFittedLog({
          log: flags.log,
          out: flags.out,
          policies,
          scalars: flags.scalars === true,
          rewardModel: {
            kind: flags.rewardModel,
            folds,
            seed,
            backend,
            onProgress: (stage) => {
              if (process.stderr.isTTY) process.stderr.write(`reward model: ${stage}\n`);
            },
          },
          read: {
            columns: flags.columns === undefined ? undefined : parseColumnsMapping(flags.columns),
            batchRows: flags.batchRows === undefined ? undefined : parseIntOption('--batch-rows', flags.batchRows, 1),
          },
          onProgress: (rows) => (progress ??= progressBar('writing', undefined)).update(rows),
        });
      } finally {
        progress?.stop();
      }
      if (flags.json === true) {
        process.stdout.write(toJson(fitDocument(flags, result)));
        return;
      }
      process.stdout.write(summaryLine(result) + '\n');
    });
}

/** `ope fit --json`: what was written, and the model in the same fields as `ope evaluate --json`. */
function fitDocument(flags: FitFlags, r: WriteFittedResult): Record<string, unknown> {
  return {
    tool: 'ope-toolkit',
    version: TOOL_VERSION,
    command: 'fit',
    log: flags.log,
    out: flags.out,
    output: r.output,
    rows: r.rows,
    actions: r.actions,
    files: r.files.map((f) => ({ path: f.path, kind: f.kind, policy: f.policy ?? null, from: f.from, rows: f.rows, columns: f.columns })),
    backend: r.rewardModel.backend,
    replaced: r.replaced,
    not_copied: r.notCopied,
    notes: r.notes,
    reward_model: rewardModelDocument(r.rewardModel),
  };
}

/** One line: what was written where, what it replaced, and the model line of `ope evaluate`. */
function summaryLine(r: WriteFittedResult): string {
  const [log, ...copies] = r.files;
  const what = r.output === 'list' ? `q_hat, ${r.actions} per row` : log.columns.includes('q_hat_target') ? 'q_hat_logged, q_hat_target' : 'q_hat_logged';
  const written = [`${log.path} (${r.rows} rows; the log's contract columns + ${what})`, ...copies.map((c) => `${c.path} (policy '${c.policy}' + q_hat_target)`)];
  const parts = [`ope fit: wrote ${written.length === 1 ? written[0] : `${written.slice(0, -1).join(', ')} and ${written[written.length - 1]}`}`];
  if (r.replaced.length > 0) parts.push(`replaced ${r.replaced.join(', ')}`);
  if (r.notCopied.length > 0) parts.push(`not copied (outside the contract): ${r.notCopied.join(', ')}`);
  parts.push(...r.notes);
  parts.push(rewardModelLine(r.rewardModel));
  return parts.join('; ');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
