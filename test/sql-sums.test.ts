import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, UsageError } from '../src/data/errors.js';
import { evaluateLog } from '../src/evaluate-log.js';
import { evaluateDuckDb } from '../src/sql/evaluate-duckdb.js';
import { compileSums, evaluateFromSums } from '../src/sql/sums.js';
import { literal } from '../src/sql/compile.js';
import { SQL_ESTIMATORS, expectSame, writeLog } from './helpers/sql-logs.js';
import { runCli } from './helpers/run-cli.js';

let instance: DuckDBInstance;
let con: DuckDBConnection;
let dir = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ope-sums-'));
  instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  con = await instance.connect();
  await writeLog(join(dir, 'clustered.parquet'), { requestsOf: 3, ids: 'int', n: 12000 });
  await writeLog(join(dir, 'strings.parquet'), { requestsOf: 2, ids: 'string', n: 8000 });
  await writeLog(join(dir, 'rows.parquet'), { requestsOf: 1, ids: 'none', n: 8000 });
}, 60000);

afterAll(() => {
  con?.closeSync();
  instance?.closeSync();
});

/** Runs the `ope sql` query on DuckDB and saves its result as `ope sql`'s users would (COPY ... TO). */
async function saveSums(sql: string, path: string, format: 'csv' | 'jsonl' | 'json-array' | 'parquet'): Promise<void> {
  const options = { csv: '(HEADER)', jsonl: '(FORMAT json)', 'json-array': '(FORMAT json, ARRAY true)', parquet: '(FORMAT parquet)' }[format];
  await con.run(`COPY (${sql}) TO ${literal(path)} ${options}`);
}

describe('ope sql --dialect duckdb, then ope evaluate --from-sums', () => {
  for (const [file, what] of [
    ['clustered.parquet', 'integer request ids'],
    ['strings.parquet', 'string request ids'],
    ['rows.parquet', 'no request id'],
  ] as const) {
    it(`the saved result (CSV, JSON lines, JSON array, Parquet) gives --engine duckdb's and the in-process engine's numbers (${what})`, async () => {
      const log = join(dir, file);
      const common = { log, estimators: SQL_ESTIMATORS, replicates: 200, seed: 99, ci: 'percentile' as const, alpha: 0.1 };
      const { sql, sumsPlan } = await compileSums({ dialect: 'duckdb', log, estimators: SQL_ESTIMATORS, replicates: 200, seed: 99 });
      expect(sumsPlan.clustered).toBe(file !== 'rows.parquet');
      const { result: js } = await evaluateLog({ ...common, threads: 1 });
      const { result: duck } = await evaluateDuckDb({ ...common, threads: 2 });
      for (const format of ['csv', 'jsonl', 'json-array', 'parquet'] as const) {
        const saved = join(dir, `${file}.sums.${format === 'json-array' ? 'json' : format}`);
        await saveSums(sql, saved, format);
        const { result } = await evaluateFromSums({ file: saved, ci: 'percentile', alpha: 0.1 });
        expectSame(duck, result);
        expectSame(js, result);
      }
      // The CLI: the same JSON document as --engine duckdb's, but for the backend.
      const csv = join(dir, `${file}.sums.csv`);
      const fromCli = runCli(['evaluate', '--from-sums', csv, '--ci', 'percentile', '--alpha', '0.1', '--json']);
      expect(fromCli.code, fromCli.stderr).toBe(0);
      const duckCli = runCli(['evaluate', '--engine', 'duckdb', '--log', log, '--estimators', SQL_ESTIMATORS, '--bootstrap', '200', '--seed', '99', '--ci', 'percentile', '--alpha', '0.1', '--json']);
      expect(duckCli.code, duckCli.stderr).toBe(0);
      const [a, b] = [JSON.parse(fromCli.stdout), JSON.parse(duckCli.stdout)];
      expect(a.backend).toBe(`from sums (${csv}, dialect duckdb)`);
      const estimates = (doc: { policies: { estimates: { label: string; value: number; se: number; ci: { lower: number; upper: number } }[] }[] }) =>
        doc.policies[0].estimates.map((e) => [e.label, e.value, e.se, e.ci.lower, e.ci.upper] as const);
      const [ea, eb] = [estimates(a), estimates(b)];
      expect(ea.map((e) => e[0])).toEqual(eb.map((e) => e[0]));
      ea.forEach((e, k) => {
        for (let f = 1; f < 5; f++) expect(Math.abs((e[f] as number) - (eb[k][f] as number))).toBeLessThanOrEqual(1e-12 * Math.abs(eb[k][f] as number));
      });
      // The table output and the atomic --out.
      const out = join(dir, `${file}.out.json`);
      const table = runCli(['evaluate', '--from-sums', csv, '--out', out]);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/backend: from sums/);
      expect(JSON.parse(readFileSync(out, 'utf8')).n).toBe(js.n);
    }, 120000);
  }

  it('with a --policy file joined by row order: the saved result equals --engine duckdb --policy and the in-process engine', async () => {
    const src = `read_parquet(${literal(join(dir, 'clustered.parquet'))}, file_row_number = true)`;
    const log = join(dir, 'policy-log.parquet');
    const policy = join(dir, 'policy-cand.parquet');
    await con.run(`COPY (SELECT * EXCLUDE (file_row_number, target_propensity, q_hat_target) FROM ${src} ORDER BY file_row_number) TO ${literal(log)} (FORMAT parquet)`);
    await con.run(`COPY (SELECT target_propensity, q_hat_target FROM ${src} ORDER BY file_row_number) TO ${literal(policy)} (FORMAT parquet)`);
    const { sql, sumsPlan } = await compileSums({ dialect: 'duckdb', log, policy: { name: 'cand', file: policy }, estimators: 'ips,snips,dr', replicates: 100, seed: 2 });
    expect(sumsPlan.policy).toBe('cand');
    const saved = join(dir, 'policy-sums.csv');
    await saveSums(sql, saved, 'csv');
    const { result } = await evaluateFromSums({ file: saved });
    const common = { log, estimators: 'ips,snips,dr', replicates: 100, seed: 2 };
    expectSame((await evaluateLog({ ...common, policies: { cand: policy } })).result, result);
    expectSame((await evaluateDuckDb({ ...common, policy: { name: 'cand', file: policy } })).result, result);
    await expect(compileSums({ dialect: 'trino', table: 't', log, policy: { name: 'cand', file: policy }, estimators: 'ips', replicates: 0, seed: 1 })).rejects.toThrow(
      /--policy is for --dialect duckdb/,
    );
  }, 60000);

  it('without replicates: one row, delta-method se and normal intervals', async () => {
    const log = join(dir, 'clustered.parquet');
    const { sql } = await compileSums({ dialect: 'duckdb', log, estimators: 'ips,snips,dr', replicates: 0, seed: 1 });
    const saved = join(dir, 'b0.csv');
    await saveSums(sql, saved, 'csv');
    expect(readFileSync(saved, 'utf8').trim().split('\n').length).toBe(2);
    const { result } = await evaluateFromSums({ file: saved });
    expectSame((await evaluateLog({ log, estimators: 'ips,snips,dr', replicates: 0 })).result, result);
  }, 60000);
});

describe('--from-sums refuses a damaged result', () => {
  let lines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    const log = join(dir, 'clustered.parquet');
    const { sql } = await compileSums({ dialect: 'duckdb', log, estimators: 'ips,snips', replicates: 20, seed: 3 });
    const saved = join(dir, 'good.jsonl');
    await saveSums(sql, saved, 'jsonl');
    lines = readFileSync(saved, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }, 60000);

  function damaged(name: string, edit: (rows: Record<string, unknown>[]) => void): string {
    const rows = lines.map((r) => ({ ...r }));
    edit(rows);
    const path = join(dir, `${name}.jsonl`);
    writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    return path;
  }

  it('a missing column, a wrong plan version, a replicate out of range, a non-numeric cell, a truncated save: input errors naming file, column and row; exit 2', async () => {
    const cases: [string, (rows: Record<string, unknown>[]) => void, RegExp][] = [
      ['missing', (rows) => rows.forEach((r) => delete r.nn), /missing\.jsonl: column 'nn': no column 'nn'/],
      ['version', (rows) => (rows[0].plan = String(rows[0].plan).replace('"version":1', '"version":2')), /version\.jsonl: column 'plan', row 0: plan version 2, but this ope reads version 1/],
      ['range', (rows) => (rows[5].b = 20), /range\.jsonl: column 'b', row 5: replicate 20 is not an integer in 0\.\.19/],
      ['text', (rows) => (rows[0].s0 = 'abc'), /text\.jsonl: column 's0', row 0: expected a finite number, got "abc"/],
      ['truncated', (rows) => rows.splice(10), /9 replicate rows, but the query returned 20/],
      ['no-point', (rows) => rows.shift(), /expected one row with part = 'point', found 0/],
    ];
    for (const [name, edit, message] of cases) {
      const path = damaged(name, edit);
      await expect(evaluateFromSums({ file: path })).rejects.toThrow(InputError);
      await expect(evaluateFromSums({ file: path })).rejects.toThrow(message);
      const cli = runCli(['evaluate', '--from-sums', path]);
      expect(cli.code, name).toBe(2);
      expect(cli.stderr).toMatch(message);
    }
    // The plan fixes the estimators, replicates and seed: flags that would change them are refused.
    const good = damaged('good-copy', () => undefined);
    const cli = runCli(['evaluate', '--from-sums', good, '--bootstrap', '50', '--estimators', 'ips']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/drop --estimators, --bootstrap/);
  }, 60000);
});

const SCHEMA = 'request_id:string,reward,propensity,target_propensity,q_hat_logged,q_hat_target';

describe('ope sql --dialect spark|trino|bigquery', () => {
  /** Each dialect's spellings, and spellings of the others it must not contain. */
  const spellings: Record<'spark' | 'trino' | 'bigquery', { has: (string | RegExp)[]; not: (string | RegExp)[] }> = {
    spark: {
      has: ['shiftright(', ' ^ ', 'count_if(', 'aggregate(', "encode(`request_id`, 'UTF-8')", 'conv(ope_x, 16, 10)', 'try_cast(', 'SELECT id AS b FROM range(200)', 'AS STRING', 'isnan('],
      not: ['xor(', 'FILTER (WHERE', 'bitwise_', 'list_reduce', 'COUNTIF', 'INT64', 'FLOAT64', '::', '"request_id"', 'isfinite', 'TEMP FUNCTION'],
    },
    trino: {
      has: ['bitwise_xor(', 'bitwise_and(', 'bitwise_right_shift(', 'count_if(', 'reduce(', 'to_utf8("request_id")', 'from_base(ope_x, 16)', 'UNNEST(sequence(0, 199))', 'is_finite(', 'AS VARCHAR'],
      not: [/[^_]xor\(/, 'FILTER (WHERE', 'shiftright', ' ^ ', 'list_reduce', 'aggregate(', 'COUNTIF', 'INT64', '::', '`', 'TEMP FUNCTION'],
    },
    bigquery: {
      has: [
        'CREATE TEMP FUNCTION ope_fnv1a32',
        'LANGUAGE js',
        'Math.imul',
        ' ^ ',
        ' >> ',
        'COUNTIF(',
        'GENERATE_ARRAY(0, 199)',
        'TO_CODE_POINTS(CAST(`request_id` AS BYTES))',
        'SAFE_CAST(',
        'IS_NAN(',
        'IS_INF(',
        'AS INT64',
        'AS FLOAT64',
      ],
      not: ['xor(', 'FILTER (WHERE', 'bitwise_', 'shiftright', 'list_reduce', 'aggregate(', 'count_if', 'AS DOUBLE', 'AS BIGINT', '::', '"request_id"'],
    },
  };
  for (const dialect of ['spark', 'trino', 'bigquery'] as const) {
    it(`${dialect}: the dialect's spellings and none of the others'`, async () => {
      const { sql, sumsPlan } = await compileSums({ dialect, table: 'logs.bandit', schema: SCHEMA, estimators: SQL_ESTIMATORS, replicates: 200, seed: 5 });
      expect(sumsPlan.dialect).toBe(dialect);
      expect(sumsPlan.ordinal).toBe('none');
      expect(sql).toMatch(/FROM logs\.bandit\n/);
      for (const s of spellings[dialect].has) expect(sql, `${dialect} has ${String(s)}`).toMatch(typeof s === 'string' ? new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : s);
      for (const s of spellings[dialect].not) expect(sql, `${dialect} lacks ${String(s)}`).not.toMatch(typeof s === 'string' ? new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : s);
    });
  }

  it('the CLI prints the query with the from-sums command; a sample Parquet file gives the same query as --schema', async () => {
    const log = join(dir, 'strings.parquet');
    const bySample = runCli(['sql', '--dialect', 'trino', '--table', 'logs.bandit', '--log', log, '--estimators', 'ips,dr', '--bootstrap', '10']);
    expect(bySample.code, bySample.stderr).toBe(0);
    expect(bySample.stdout).toMatch(/-- {3}ope evaluate --from-sums sums\.csv/);
    const bySchema = runCli(['sql', '--dialect', 'trino', '--table', 'logs.bandit', '--schema', `${SCHEMA},action:integer`, '--estimators', 'ips,dr', '--bootstrap', '10']);
    expect(bySchema.code, bySchema.stderr).toBe(0);
    expect(bySchema.stdout).toBe(bySample.stdout);
    // Trino's sequence() holds at most 10000 entries: larger B crosses two of them.
    const { sql } = await compileSums({ dialect: 'trino', table: 't', schema: SCHEMA, estimators: 'ips', replicates: 25000, seed: 5 });
    expect(sql).toMatch(/UNNEST\(sequence\(0, 2\)\) AS reps_h \(hi\) CROSS JOIN UNNEST\(sequence\(0, 9999\)\) AS reps_l \(lo\) WHERE hi \* 10000 \+ lo < 25000/);
  }, 60000);

  it('a table without request ids needs --row-id (tables have no stable row order); with it the rows are keyed by that column', async () => {
    const schema = 'reward,propensity,target_propensity';
    await expect(compileSums({ dialect: 'spark', table: 't', schema, estimators: 'ips', replicates: 10, seed: 1 })).rejects.toThrow(UsageError);
    await expect(compileSums({ dialect: 'spark', table: 't', schema, estimators: 'ips', replicates: 10, seed: 1 })).rejects.toThrow(/no stable row order.*--row-id COLUMN/);
    const cli = runCli(['sql', '--dialect', 'bigquery', '--table', 't', '--schema', schema, '--estimators', 'ips']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/--row-id/);
    const { sql, sumsPlan } = await compileSums({ dialect: 'spark', table: 't', schema: `${schema},row_idx:integer`, rowId: 'row_idx', estimators: 'ips', replicates: 10, seed: 1 });
    expect(sumsPlan.ordinal).toBe('defined');
    expect(sql).toMatch(/\(CAST\(`row_idx` AS BIGINT\) & 4294967295\) AS ck/);
    await expect(compileSums({ dialect: 'trino', table: 't', schema, rowId: 'nope', estimators: 'ips', replicates: 10, seed: 1 })).rejects.toThrow(/--row-id nope is not a column/);
    await expect(compileSums({ dialect: 'trino', schema, estimators: 'ips', replicates: 10, seed: 1 })).rejects.toThrow(/--table NAME/);
    await expect(compileSums({ dialect: 'duckdb', log: join(dir, 'rows.parquet'), table: 't', estimators: 'ips', replicates: 10, seed: 1 })).rejects.toThrow(/warehouse dialects/);
  });

  it('NULL request ids: keyed by the row ordinal where the source defines one, refused where it does not (a warehouse table without --row-id)', async () => {
    // A NULL request id on a source without a row ordinal: the point row counts it and --from-sums refuses.
    const parquet = join(dir, 'null-ids.parquet');
    await con.run(
      `COPY (SELECT CASE WHEN request_id = 5 THEN NULL ELSE request_id END AS request_id, action, reward, propensity, target_propensity FROM read_parquet(${literal(join(dir, 'clustered.parquet'))})) TO ${literal(parquet)} (FORMAT parquet)`,
    );
    const { sql } = await compileSums({ dialect: 'duckdb', log: parquet, estimators: 'ips', replicates: 10, seed: 1 });
    const withOrdinal = join(dir, 'null-ids.csv');
    await saveSums(sql, withOrdinal, 'csv');
    const ok = await evaluateFromSums({ file: withOrdinal });
    expectSame((await evaluateLog({ log: parquet, estimators: 'ips', replicates: 10, seed: 1 })).result, ok.result);
    // The same plan marked as a warehouse table's (no ordinal): refused, naming --row-id.
    const text = readFileSync(withOrdinal, 'utf8').replace('""ordinal"":""defined""', '""ordinal"":""none""');
    const noOrdinal = join(dir, 'null-ids-none.csv');
    writeFileSync(noOrdinal, text);
    await expect(evaluateFromSums({ file: noOrdinal })).rejects.toThrow(/3 rows have no request_id.*--row-id COLUMN/);
  }, 60000);
});

describe('--engine duckdb on the lists action_dist and q_hat', () => {
  it('pi = action_dist[action], q = q_hat[action], qpi = sum_a action_dist[a] q_hat[a]: the in-process engine to 1e-12, here and through --from-sums', async () => {
    const lists = join(dir, 'lists.parquet');
    const scalars = join(dir, 'scalars.parquet');
    await writeLog(lists, { requestsOf: 3, ids: 'int', n: 9000, lists: true });
    await writeLog(scalars, { requestsOf: 3, ids: 'int', n: 9000 });
    const common = { estimators: SQL_ESTIMATORS, replicates: 100, seed: 11, ci: 'percentile' as const, alpha: 0.1 };
    const { result: js } = await evaluateLog({ ...common, log: lists, threads: 1 });
    const { result: duck } = await evaluateDuckDb({ ...common, log: lists, threads: 2 });
    expectSame(js, duck);
    // The same rows with the scalars the lists imply (the generator sums qpi in action order, as both engines do).
    expectSame((await evaluateDuckDb({ ...common, log: scalars, threads: 2 })).result, duck);
    // Every estimator is chosen by default: the lists carry the reward model.
    const { result: all } = await evaluateDuckDb({ log: lists, replicates: 0 });
    expect(all.estimates.map((e) => e.label)).toEqual(expect.arrayContaining(['dm', 'dr', 'sndr']));
    const { sql } = await compileSums({ dialect: 'duckdb', log: lists, estimators: SQL_ESTIMATORS, replicates: 100, seed: 11 });
    expect(sql).toMatch(/"action_dist"\[CAST\("action" AS BIGINT\) \+ 1\]/);
    const saved = join(dir, 'lists.sums.csv');
    await saveSums(sql, saved, 'csv');
    expectSame(js, (await evaluateFromSums({ file: saved, ci: 'percentile', alpha: 0.1 })).result);
  }, 120000);

  it('an action outside the lists stops the run with an input error (as the in-process engine does), a negative one too', async () => {
    for (const [name, action] of [
      ['past-end', 'CASE WHEN file_row_number = 7 THEN 5 ELSE action END'],
      ['negative', 'CASE WHEN file_row_number = 7 THEN -1 ELSE action END'],
    ] as const) {
      const path = join(dir, `${name}.parquet`);
      await con.run(
        `COPY (SELECT request_id, (${action})::INTEGER AS action, reward, propensity, action_dist, q_hat FROM read_parquet(${literal(join(dir, 'lists.parquet'))}, file_row_number = true) ORDER BY file_row_number) TO ${literal(path)} (FORMAT parquet)`,
      );
      await expect(evaluateDuckDb({ log: path, estimators: 'ips,dr' })).rejects.toThrow(InputError);
      await expect(evaluateDuckDb({ log: path, estimators: 'ips,dr' })).rejects.toThrow(/1 rows with the target probability \(target_propensity, or action_dist at the action\) missing/);
      await expect(evaluateLog({ log: path, estimators: 'ips,dr' })).rejects.toThrow(/column 'action', row 7/);
    }
  }, 60000);

  it('the warehouse dialects spell the list lookups and the ordered dot product their own way', async () => {
    const schema = 'request_id:integer,action:integer,reward,propensity,action_dist:list,q_hat:list';
    const spelled = {
      spark: ['try_element_at(`action_dist`, CAST(`action` AS BIGINT) + 1)', 'aggregate(zip_with(`action_dist`, `q_hat`'],
      trino: ['element_at("action_dist", CAST("action" AS BIGINT) + 1)', 'reduce(zip_with("action_dist", "q_hat"'],
      bigquery: ['`action_dist`[SAFE_OFFSET(CAST(`action` AS INT64))]', 'ARRAY_LENGTH(`action_dist`) = ARRAY_LENGTH(`q_hat`)'],
    };
    for (const dialect of ['spark', 'trino', 'bigquery'] as const) {
      const { sql } = await compileSums({ dialect, table: 't', schema, estimators: 'ips,dr', replicates: 10, seed: 1 });
      for (const s of spelled[dialect]) expect(sql, `${dialect}: ${s}`).toContain(s);
    }
  });
});
