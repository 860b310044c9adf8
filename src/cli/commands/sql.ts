import { Command, Option } from 'commander';
import { UsageError } from '../../data/errors.js';
import { DEFAULTS } from '../../engine/evaluate.js';
import type { DialectName } from '../../sql/hash.js';
import { parseIntOption, parsePolicyOption } from '../parse.js';

interface SqlFlags {
  log?: string;
  dialect: DialectName;
  table?: string;
  schema?: string;
  rowId?: string;
  policy?: string;
  estimators?: string;
  bootstrap: string;
  seed: string;
}

/**
 * `ope sql` (issue 10 item 4): prints one query whose result holds every sum the evaluation needs
 * (the point sums, cross-moments and diagnostics, and B x (1 + Mb) sums under the toolkit's exact
 * Poisson hash weights), with the plan in the result itself, in the dialect of the engine where the
 * log lives. The user runs it there, saves the result, and `ope evaluate --from-sums FILE` turns it
 * into estimates, intervals and diagnostics.
 */
export function registerSql(program: Command): void {
  program
    .command('sql')
    .description('print one SQL query that computes every sum of the evaluation where the log lives (DuckDB, Spark SQL, Trino, BigQuery); then ope evaluate --from-sums its saved result')
    .addOption(new Option('--dialect <name>', 'SQL dialect').choices(['duckdb', 'spark', 'trino', 'bigquery']).default('duckdb'))
    .option('--log <file>', "duckdb: the Parquet log (file or quoted glob), read in place; warehouses: a local Parquet sample with the table's schema")
    .option('--table <name>', 'warehouses: the table or view holding the log, inserted into FROM verbatim (e.g. db.logs, `project.dataset.logs`)')
    .option(
      '--schema <columns>',
      "warehouses, instead of --log: the table's columns, 'name[:integer|string|double|list],...' (double by default; list: action_dist, q_hat), e.g. 'request_id:string,reward,propensity,target_propensity'",
    )
    .option('--row-id <column>', 'warehouses: an integer column numbering the rows, keying the rows without a request_id (required when the table has no request_id or slate_id)')
    .option('--policy <name=file>', 'duckdb: a target policy file (Parquet) joined to the log by row order, as ope evaluate --engine duckdb --policy joins it')
    .option('--estimators <list>', 'comma-separated estimators, bandit or slate (default: every one the columns support)')
    .option('--bootstrap <B>', 'bootstrap replicates (0: no replicate rows)', String(DEFAULTS.replicates))
    .option('--seed <s>', 'seed of the bootstrap (0..4294967295)', String(DEFAULTS.seed))
    .action(async (flags: SqlFlags) => {
      const { compileSums } = await import('../../sql/sums.js');
      const replicates = parseIntOption('--bootstrap', flags.bootstrap, 0);
      const seed = parseIntOption('--seed', flags.seed, 0);
      const policy = flags.policy === undefined ? undefined : parsePolicyOption(flags.policy);
      if (seed > 0xffffffff) throw new UsageError(`--seed must be in 0..4294967295, got ${seed}`);
      const { sql, plan, skipped } = await compileSums({
        dialect: flags.dialect,
        log: flags.log,
        table: flags.table,
        schema: flags.schema,
        rowId: flags.rowId,
        policy: policy === undefined ? undefined : { name: policy[0], file: policy[1] },
        estimators: flags.estimators,
        replicates,
        seed,
      });
      const columns = plan.columns.map((c, j) => `--   t${j} = ${c.stat.key}${c.bootstrap ? ` (bootstrapped: rs${plan.bootstrapIndex[j]})` : ''}`);
      const out = [
        `-- ope sql --dialect ${flags.dialect}: estimators ${plan.slots.map((s) => s.estimator.label).join(', ')}; ${replicates} Poisson bootstrap replicates, seed ${seed}`,
        ...(skipped.length > 0 ? [`-- not compiled (the columns lack what they need): ${skipped.join(', ')}`] : []),
        `-- Run this query where the ${flags.dialect === 'duckdb' ? 'log' : 'table'} lives and save its whole result (${replicates > 0 ? `${replicates} + 1 rows at most` : 'one row'}) as CSV, JSON (lines or an array) or Parquet, unchanged; then:`,
        `--   ope evaluate --from-sums sums.csv        (also --ci, --alpha, --reward-range, --max-weight, --json, --out)`,
        '-- Result columns: part (point | replicate), plan (the point row: this plan as JSON), b (replicate), replicate_rows,',
        '--   n, s<j> = sum t<j>, ss<j> = sum t<j>^2, diagnostics, pp<p> = sum over clusters of T<j> T<k>, nw<j>, nn, clusters (the point row),',
        '--   nb = sum_i W_ib, rs<k> = sum_i W_ib t_i (the replicate rows; W_ib the Poisson(1) hash weight, exact in 64-bit integers).',
        '-- Per-row statistics:',
        ...columns,
        sql + ';',
      ];
      process.stdout.write(out.join('\n') + '\n');
    });
}
