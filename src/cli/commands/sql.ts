import { Command, Option } from 'commander';
import { UsageError } from '../../data/errors.js';
import { DEFAULTS } from '../../engine/evaluate.js';
import { parseIntOption } from '../parse.js';

interface SqlFlags {
  log: string;
  dialect: string;
  estimators?: string;
  bootstrap: string;
  seed: string;
}

/**
 * `ope sql`: prints the SQL that `ope evaluate --engine duckdb` runs (issue 10 item 4, first part):
 * the point query (sums, sums of squares, cluster cross-moments, diagnostics) and the replicate
 * query (B x (1 + Mb) weighted sums under the toolkit's Poisson hash weights).
 */
export function registerSql(program: Command): void {
  program
    .command('sql')
    .description("print the SQL that computes the estimators' sums where the log lives (DuckDB today; the bootstrap weights are the toolkit's exact hash)")
    .requiredOption('--log <file>', 'Parquet log with inline target columns (target_propensity; q_hat_logged, q_hat_target for dm and the DR family)')
    .addOption(new Option('--dialect <name>', 'SQL dialect').choices(['duckdb', 'spark', 'trino', 'bigquery']).default('duckdb'))
    .option('--estimators <list>', 'comma-separated bandit estimators (default: every one the log supports)')
    .option('--bootstrap <B>', 'bootstrap replicates (0: no replicate query)', String(DEFAULTS.replicates))
    .option('--seed <s>', 'seed of the bootstrap (0..4294967295)', String(DEFAULTS.seed))
    .action(async (flags: SqlFlags) => {
      if (flags.dialect !== 'duckdb') {
        throw new UsageError(
          `--dialect ${flags.dialect} is not implemented yet (xor, lambda folds over UTF-8 bytes and the Parquet row ordinal differ by engine; see README "SQL pushdown"); use --dialect duckdb`,
        );
      }
      const { compileForParquet } = await import('../../sql/evaluate-duckdb.js');
      const replicates = parseIntOption('--bootstrap', flags.bootstrap, 0);
      const seed = parseIntOption('--seed', flags.seed, 0);
      if (seed > 0xffffffff) throw new UsageError(`--seed must be in 0..4294967295, got ${seed}`);
      const { queries, plan } = await compileForParquet({ log: flags.log, estimators: flags.estimators, replicates, seed });
      const columns = plan.columns.map((c, j) => `--   t${j} = ${c.stat.key}${c.bootstrap ? ` (bootstrapped: rs${plan.bootstrapIndex[j]})` : ''}`);
      const out = [
        `-- ope sql --dialect duckdb: estimators ${plan.slots.map((s) => s.estimator.label).join(', ')}`,
        '-- per-row statistics:',
        ...columns,
        '-- 1. point query: n, s<j> = sum t<j>, ss<j> = sum t<j>^2, diagnostics, pp<p> = sum over clusters of T<j> T<k>, nw<j>, nn, clusters',
        queries.point + ';',
      ];
      if (queries.replicates !== undefined) out.push(`-- 2. replicate query: b, nb = sum_i W_ib, rs<k> = sum_i W_ib t_i (seed ${seed}, ${replicates} replicates)`, queries.replicates + ';');
      process.stdout.write(out.join('\n') + '\n');
    });
}
