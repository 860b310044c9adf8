import { toJson } from '../../report/evaluation-json.js';
import { TOOL_VERSION } from '../../version.js';
import type { Command } from 'commander';
import { openLog } from '../../data/read-log.js';
import { validateLog, type ValidationReport } from '../../data/validate.js';
import { parseColumnsMapping, threadOptions } from '../options.js';

interface ValidateFlags {
  log: string;
  columns?: string;
  threads?: string;
  json?: boolean;
}

/**
 * `ope validate --log FILE`: exit 0 when the log satisfies the contract (warnings allowed); a
 * contract violation is an InputError, which the CLI prints as one line and turns into exit 2.
 */
export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a log against the log data contract: columns, types, propensities, rewards, lists, duplicates')
    .requiredOption('--log <file>', 'log file: .arrow/.feather/.ipc, .parquet, .csv, .jsonl/.ndjson')
    .option('--columns <new=old,...>', 'map contract column names to the names in your file (e.g. propensity=p_log)')
    .option('--threads <n>', 'worker threads for decoding Parquet/Arrow logs (default: all cores for a log of 32 MB or more, else one); the report does not depend on it')
    .option('--json', 'print one JSON document to stdout')
    .action(async (flags: ValidateFlags) => {
      const { readThreads } = await threadOptions(flags.threads, flags.log);
      const source = openLog(flags.log, { columns: flags.columns === undefined ? undefined : parseColumnsMapping(flags.columns), threads: readThreads });
      const report = await validateLog(source);
      process.stdout.write(flags.json === true ? toJson({ tool: 'ope-toolkit', version: TOOL_VERSION, command: 'validate', valid: true, ...report }) : renderValidation(report));
    });
}

export function renderValidation(r: ValidationReport): string {
  const yes = (flag: boolean, detail: string): string => (flag ? `yes (${detail})` : 'no');
  const from = (...names: string[]): string =>
    names
      .filter((c) => r.contract[c] !== undefined)
      .map((c) => r.contract[c])
      .join(', ');
  const renamed = Object.entries(r.contract).filter(([k, v]) => k !== v);
  const lines = [
    `${r.file}: valid log, ${r.rows} rows`,
    `  columns       ${r.columns.join(', ')}`,
    ...(renamed.length > 0 ? [`  read as       ${renamed.map(([k, v]) => `${k} <- ${v}`).join('; ')}`] : []),
    `  actions (K)   ${r.K}`,
    `  target        ${yes(r.hasTarget, from('target_propensity', 'action_dist'))}`,
    `  reward model  ${yes(r.hasRewardModel, from('q_hat', 'q_hat_logged', 'q_hat_target'))}`,
    `  ranking       ${yes(r.isRanking, from('position'))}`,
    ...(r.requests !== undefined ? [`  requests      ${r.requests}`] : []),
    ...(r.slates !== undefined ? [`  slates        ${r.slates} (positions, joint and cascade propensities consistent)`] : []),
    `  log contract  ${(100 * r.contractShare).toFixed(1)}% of rows carry the full release log contract`,
  ];
  if (r.warnings.length === 0) {
    lines.push('no warnings');
  } else {
    lines.push(`${r.warnings.length} warning${r.warnings.length === 1 ? '' : 's'}:`);
    for (const w of r.warnings) lines.push(`  - ${w.message}`);
  }
  return lines.join('\n') + '\n';
}
