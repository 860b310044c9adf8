import type { Command } from 'commander';
import { UsageError } from '../../data/errors.js';
import { writeFileAtomic } from '../../data/write-log.js';
import { GATE_DEFAULTS, readGateConfig, type GateConfig } from '../../gate/config.js';
import { runGate } from '../../gate/run-gate.js';
import { GATE_EXIT_CODES } from '../../gate/types.js';
import { gateReportHtml } from '../../report/gate-html.js';
import { gateMemoMarkdown } from '../../report/gate-memo.js';
import { gateSummary } from '../../report/gate-summary.js';
import { parseColumnsMapping, threadOptions } from '../options.js';
import { parseIntOption, parsePolicyOption } from '../parse.js';

/**
 * `ope gate` (issue 7): the OPE sanity gate of a release pipeline. Exit codes: 0 green, 3 yellow,
 * 4 red; 2 bad input or usage, 1 internal error.
 */

interface GateFlags {
  log: string;
  candidate: string;
  baseline: string;
  config?: string;
  sliceBy?: string;
  json?: boolean;
  out?: string;
  report?: string;
  memo?: string;
  releaseId?: string;
  scope?: string;
  nextReviewAt?: string;
  bootstrap?: string;
  seed?: string;
  threads?: string;
  columns?: string;
}

export function registerGate(program: Command): void {
  program
    .command('gate')
    .description('the OPE sanity gate: candidate against baseline on a log, every check green / yellow / red, and a verdict (exit 0 green, 3 yellow, 4 red)')
    .requiredOption('--log <file>', 'the log')
    .requiredOption('--candidate <name=file>', 'the candidate policy file, aligned with the log by row order')
    .requiredOption('--baseline <name=file>', 'the baseline policy file (usually the production policy)')
    .option('--config <file>', 'gate.json with thresholds overriding the defaults (see README)')
    .option('--slice-by <columns>', 'comma-separated string columns (surface, stage, ...): an estimate per slice, and a check that none is significantly worse')
    .option('--bootstrap <B>', `bootstrap replicates (default ${GATE_DEFAULTS.bootstrap}; overrides the config)`)
    .option('--seed <s>', `bootstrap seed (default ${GATE_DEFAULTS.seed}; overrides the config)`)
    .option(
      '--threads <n>',
      'worker threads for the bootstrap and for decoding Parquet/Arrow logs and policies (default: all cores; reading a log under 32 MB stays on one); results are identical for any count',
    )
    .option('--columns <new=old,...>', 'map contract names to your column names')
    .option('--out <file>', 'also write the JSON result to this file (atomically)')
    .option('--report <file>', 'also write the self-contained HTML report (estimates, weights, slices as plots)')
    .option('--memo <file>', 'also write the one-page Markdown release memo')
    .option('--release-id <id>', 'release id for the memo')
    .option('--scope <text>', 'scope of the release, for the memo')
    .option('--next-review-at <when>', 'when the decision is reviewed next, for the memo')
    .option('--json', 'print the JSON result instead of the summary')
    .action(async (flags: GateFlags) => {
      let config: GateConfig = flags.config === undefined ? GATE_DEFAULTS : await readGateConfig(flags.config);
      if (flags.bootstrap !== undefined) config = { ...config, bootstrap: parseIntOption('--bootstrap', flags.bootstrap, 0, 1_000_000) };
      if (flags.seed !== undefined) config = { ...config, seed: parseIntOption('--seed', flags.seed, 0, 4294967295) };
      const [cName, cFile] = parsePolicyOption(flags.candidate, '--candidate');
      const [bName, bFile] = parsePolicyOption(flags.baseline, '--baseline');
      const sliceBy =
        flags.sliceBy === undefined
          ? []
          : flags.sliceBy
              .split(',')
              .map((s) => s.trim())
              .filter((s) => s !== '');
      if (new Set(sliceBy).size !== sliceBy.length) throw new UsageError('--slice-by: a column is given twice');
      const { threads, readThreads } = await threadOptions(flags.threads, flags.log);
      const result = await runGate({
        log: flags.log,
        candidate: { name: cName, file: cFile },
        baseline: { name: bName, file: bFile },
        config,
        sliceBy,
        read: { columns: flags.columns === undefined ? undefined : parseColumnsMapping(flags.columns), threads: readThreads },
        threads,
      });
      const json = JSON.stringify(result, null, 2) + '\n';
      if (flags.out !== undefined) await writeFileAtomic(flags.out, json);
      if (flags.report !== undefined) await writeFileAtomic(flags.report, await gateReportHtml(result));
      if (flags.memo !== undefined) await writeFileAtomic(flags.memo, gateMemoMarkdown(result, { releaseId: flags.releaseId, scope: flags.scope, nextReviewAt: flags.nextReviewAt }));
      process.stdout.write(flags.json === true ? json : gateSummary(result));
      process.exitCode = GATE_EXIT_CODES[result.verdict.colour];
    });
}
