import type { Command } from 'commander';
import { writeFileAtomic } from '../../data/write-log.js';
import { PREDICTIVE_DEFAULTS, PREDICTIVE_RULES, runPredictive, type PredictiveRules } from '../../predictive/protocol.js';
import { predictiveReportHtml, predictiveTable } from '../../report/predictive-report.js';
import { parseFloatOption, parseIntOption } from '../parse.js';

/**
 * `ope predictive` (issue 9): does a metric's offline delta predict the online delta of the same
 * release? Spearman, Pearson and sign agreement per metric and lag with bootstrap intervals over
 * releases, and a verdict per metric (gate / supporting / drop). Exit 0, 2 bad input, 1 internal.
 */

interface PredictiveFlags {
  releases: string;
  bootstrap?: string;
  seed?: string;
  alpha?: string;
  minReleases?: string;
  minSpearmanLower?: string;
  minSignAgreementLower?: string;
  allowUnstableDirection?: boolean;
  out?: string;
  report?: string;
  json?: boolean;
}

export function registerPredictive(program: Command): void {
  program
    .command('predictive')
    .description(
      'does offline predict online? Spearman, Pearson and sign agreement of offline against online release deltas per metric and lag, with bootstrap intervals, and a verdict per metric (gate / supporting / drop)',
    )
    .requiredOption('--releases <file>', 'one row per (release, metric): release_id, metric, delta_offline, delta_online, optional lag_days (.csv, .json, .jsonl, .arrow, .parquet)')
    .option('--bootstrap <B>', `bootstrap replicates over releases (default ${PREDICTIVE_DEFAULTS.bootstrap})`)
    .option('--seed <s>', `bootstrap seed (default ${PREDICTIVE_DEFAULTS.seed})`)
    .option('--alpha <a>', `intervals at level 1 - alpha (default ${PREDICTIVE_DEFAULTS.alpha})`)
    .option('--min-releases <n>', `releases a gate needs at the primary lag (default ${PREDICTIVE_RULES.minReleases})`)
    .option('--min-spearman-lower <r>', `a gate's Spearman lower bound must exceed this (default ${PREDICTIVE_RULES.spearmanLower})`)
    .option('--min-sign-agreement-lower <p>', `a gate's sign agreement lower bound must exceed this (default ${PREDICTIVE_RULES.signAgreementLower})`)
    .option('--allow-unstable-direction', 'do not require Spearman > 0 at every lag for a gate')
    .option('--out <file>', 'also write the JSON result to this file (atomically)')
    .option('--report <file>', 'also write the self-contained HTML report (table and a scatter plot per metric)')
    .option('--json', 'print the JSON result instead of the table')
    .action(async (flags: PredictiveFlags) => {
      const rules: Partial<PredictiveRules> = {
        ...(flags.minReleases !== undefined ? { minReleases: parseIntOption('--min-releases', flags.minReleases, 2) } : {}),
        ...(flags.minSpearmanLower !== undefined ? { spearmanLower: parseFloatOption('--min-spearman-lower', flags.minSpearmanLower) } : {}),
        ...(flags.minSignAgreementLower !== undefined ? { signAgreementLower: parseFloatOption('--min-sign-agreement-lower', flags.minSignAgreementLower) } : {}),
        ...(flags.allowUnstableDirection === true ? { stableDirection: false } : {}),
      };
      const result = await runPredictive(flags.releases, {
        bootstrap: flags.bootstrap === undefined ? undefined : parseIntOption('--bootstrap', flags.bootstrap, 0, 1_000_000),
        seed: flags.seed === undefined ? undefined : parseIntOption('--seed', flags.seed, 0, 4294967295),
        alpha: flags.alpha === undefined ? undefined : parseFloatOption('--alpha', flags.alpha),
        rules,
      });
      const json = JSON.stringify(result, null, 2) + '\n';
      if (flags.out !== undefined) await writeFileAtomic(flags.out, json);
      if (flags.report !== undefined) await writeFileAtomic(flags.report, await predictiveReportHtml(result));
      process.stdout.write(flags.json === true ? json : predictiveTable(result));
    });
}
