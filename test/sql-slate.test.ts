import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, UsageError } from '../src/data/errors.js';
import { evaluateLog } from '../src/evaluate-log.js';
import { literal } from '../src/sql/compile.js';
import { evaluateDuckDb } from '../src/sql/evaluate-duckdb.js';
import { compileSums, evaluateFromSums } from '../src/sql/sums.js';
import { expectSame } from './helpers/sql-logs.js';
import { runCli } from './helpers/run-cli.js';

/**
 * The slate estimators on the SQL path (issue 10 item 3): the same estimates, standard errors,
 * bootstrap intervals and weight diagnostics as the in-process engine, on a slate log from
 * `ope synth --slate` (log.parquet plus a policy file aligned by row order, and the same rows with
 * the target inline; one file, and whole slates split over several files).
 */

let instance: DuckDBInstance;
let con: DuckDBConnection;
let dir = '';
let log = '';
let policy = '';
/** The log with the target's columns inline. */
let inline = '';
/** `inline` split into 4 files of whole slates. */
let parts = '';

const PBM = 'pbm-ips:theta0=1,theta1=0.5,theta2=0.33,theta3=0.25,theta4=0.2';
const ALL = `all-slate,${PBM}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ope-sql-slate-'));
  const out = join(dir, 'synth');
  const r = runCli(['synth', '--slate', '--out', out, '--n', '1500', '--format', 'parquet', '--seed', '11']);
  expect(r.code, r.stderr).toBe(0);
  log = join(out, 'log.parquet');
  policy = join(out, 'policy-pl-1.parquet');
  instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  con = await instance.connect();
  inline = join(dir, 'inline.parquet');
  const joined =
    `SELECT l.* EXCLUDE (file_row_number), p.* EXCLUDE (file_row_number) FROM read_parquet(${literal(log)}, file_row_number = true) AS l` +
    ` JOIN read_parquet(${literal(policy)}, file_row_number = true) AS p ON l.file_row_number = p.file_row_number ORDER BY l.file_row_number`;
  await con.run(`COPY (${joined}) TO ${literal(inline)} (FORMAT parquet)`);
  parts = join(dir, 'parts');
  mkdirSync(parts);
  // Unequal runs of whole slates, in log order (part-0 .. part-3 sort as the files are read).
  const bounds = [0, 200, 700, 1100, 1500];
  for (let k = 0; k < 4; k++) {
    await con.run(
      `COPY (SELECT * EXCLUDE (file_row_number) FROM read_parquet(${literal(inline)}, file_row_number = true) WHERE slate_id >= ${bounds[k]} AND slate_id < ${bounds[k + 1]} ORDER BY file_row_number) TO ${literal(join(parts, `part-${k}.parquet`))} (FORMAT parquet)`,
    );
  }
}, 120000);

afterAll(() => {
  con?.closeSync();
  instance?.closeSync();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('slate estimators on --engine duckdb', () => {
  it('each estimator alone equals the in-process engine (a policy file joined by row order; percentile and normal intervals)', async () => {
    for (const estimators of ['slate-ips', 'iips', 'rips', 'pi', 'cascade-dr', PBM]) {
      for (const ci of ['percentile', 'normal'] as const) {
        const common = { log, estimators, replicates: 200, seed: 17, ci, alpha: 0.1 };
        const js = await evaluateLog({ ...common, policies: { 'pl-1': policy }, threads: 1 });
        const sql = await evaluateDuckDb({ ...common, policy: { name: 'pl-1', file: policy } });
        expectSame(js.result, sql.result);
        // The weight diagnostics are real numbers, not NaN from a missing maximum.
        for (const e of sql.result.estimates) expect(Number.isFinite(e.diagnostics.max_weight), e.label).toBe(true);
      }
    }
  }, 120000);

  it('all-slate with pbm-ips: one file with the target inline, and the same slates in four files (a folder)', async () => {
    const common = { estimators: ALL, replicates: 300, seed: 5 };
    const js = (await evaluateLog({ ...common, log: inline, threads: 1 })).result;
    expect(js.estimates.map((e) => e.estimator)).toEqual(['slate-ips', 'iips', 'rips', 'pi', 'cascade-dr', 'pbm-ips']);
    expect(js.bootstrap.clustered).toBe(true);
    const one = await evaluateDuckDb({ ...common, log: inline });
    expectSame(js, one.result);
    expect(one.result.policies[0].slate?.slates).toBe(1500);
    expectSame(js, (await evaluateDuckDb({ ...common, log: parts })).result);
    expectSame(js, (await evaluateLog({ ...common, log: parts, threads: 1 })).result);
    // Without replicates: delta-method se and normal intervals.
    const delta = { estimators: ALL, replicates: 0 };
    expectSame((await evaluateLog({ ...delta, log: inline })).result, (await evaluateDuckDb({ ...delta, log: inline })).result);
  }, 120000);

  it('without --estimators, the slate estimators the log supports, as the in-process engine chooses them', async () => {
    const common = { log: inline, replicates: 50, seed: 2 };
    const js = await evaluateLog(common);
    const sql = await evaluateDuckDb(common);
    expect(sql.result.estimates.map((e) => e.label)).toEqual(js.result.estimates.map((e) => e.label));
    expectSame(js.result, sql.result);
  }, 120000);

  it('ope sql --dialect duckdb, saved and read back by --from-sums, gives the same numbers', async () => {
    const common = { estimators: ALL, replicates: 200, seed: 23 };
    const { sql } = await compileSums({ dialect: 'duckdb', log: inline, ...common });
    const saved = join(dir, 'slate.sums.csv');
    await con.run(`COPY (${sql}) TO ${literal(saved)} (HEADER)`);
    const { result } = await evaluateFromSums({ file: saved, ci: 'percentile' });
    expectSame((await evaluateLog({ ...common, log: inline, threads: 1 })).result, result);
    expectSame((await evaluateDuckDb({ ...common, log: inline })).result, result);
  }, 120000);

  it('a slate out of position order is an input error on both engines; estimators that read one row at a time need no order', async () => {
    const shuffled = join(dir, 'shuffled.parquet');
    // Slate 7's rows in reverse position order.
    await con.run(
      `COPY (SELECT * EXCLUDE (file_row_number) FROM read_parquet(${literal(inline)}, file_row_number = true) ORDER BY slate_id, CASE WHEN slate_id = 7 THEN -position ELSE position END) TO ${literal(shuffled)} (FORMAT parquet)`,
    );
    for (const estimators of ['pi', 'cascade-dr']) {
      await expect(evaluateLog({ log: shuffled, estimators, replicates: 0 })).rejects.toThrow(InputError);
      const sql = evaluateDuckDb({ log: shuffled, estimators, replicates: 0 });
      await expect(sql).rejects.toThrow(InputError);
      await expect(sql).rejects.toThrow(/4 rows out of place in their slate/);
    }
    // A slate's rows apart from each other (slate 3's last row moved to the end of the log).
    const apart = join(dir, 'apart.parquet');
    await con.run(
      `COPY (SELECT * EXCLUDE (file_row_number) FROM read_parquet(${literal(inline)}, file_row_number = true) ORDER BY slate_id = 3 AND position = 4, file_row_number) TO ${literal(apart)} (FORMAT parquet)`,
    );
    await expect(evaluateDuckDb({ log: apart, estimators: 'pi', replicates: 0 })).rejects.toThrow(/1 rows out of place/);
    const common = { log: shuffled, estimators: 'iips,rips', replicates: 50, seed: 1 };
    expectSame((await evaluateLog(common)).result, (await evaluateDuckDb(common)).result);
  }, 120000);

  it('bad slate inputs and missing columns are named', async () => {
    const bad = join(dir, 'bad.parquet');
    await con.run(
      `COPY (SELECT * EXCLUDE (file_row_number) REPLACE (CASE WHEN file_row_number = 12 THEN 0 ELSE propensity_item_position END AS propensity_item_position) FROM read_parquet(${literal(inline)}, file_row_number = true) ORDER BY file_row_number) TO ${literal(bad)} (FORMAT parquet)`,
    );
    await expect(evaluateDuckDb({ log: bad, estimators: 'iips', replicates: 0 })).rejects.toThrow(/1 rows with a slate column missing or out of range/);
    const noCascade = join(dir, 'no-cascade.parquet');
    await con.run(`COPY (SELECT * EXCLUDE (propensity_cascade) FROM read_parquet(${literal(inline)})) TO ${literal(noCascade)} (FORMAT parquet)`);
    const missing = evaluateDuckDb({ log: noCascade, estimators: 'rips', replicates: 0 });
    await expect(missing).rejects.toThrow(UsageError);
    await expect(missing).rejects.toThrow(/estimator 'rips' needs propensity_cascade in the log/);
    // pbm-ips with more examination probabilities than the slates have positions: every row is bad.
    await expect(evaluateDuckDb({ log: inline, estimators: `${PBM},theta5=0.1`, replicates: 0 })).rejects.toThrow(/7500 rows with a slate column/);
  }, 120000);
});

describe('ope sql for warehouses', () => {
  it('spark, trino and bigquery queries for the slate estimators use none of DuckDB-only spellings', async () => {
    const schema =
      'slate_id:integer,position:integer,action:integer,reward,propensity,propensity_item_position,propensity_cascade,propensity_item_positions:list,q_hat:list,' +
      'target_propensity,target_propensity_item_position,target_propensity_cascade,target_propensity_item_positions:list,action_dist:list';
    for (const dialect of ['spark', 'trino', 'bigquery'] as const) {
      const { sql, sumsPlan } = await compileSums({ dialect, table: 'logs.slates', schema, estimators: ALL, replicates: 100, seed: 3 });
      expect(sumsPlan.estimators).toEqual(['slate-ips', 'iips', 'rips', 'pi', 'cascade-dr', PBM]);
      expect(sql).toMatch(/PARTITION BY g_id, g_row ORDER BY pos, ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING/);
      for (const duckOnly of [/list_reduce/, /list_transform/, /\bxor\(/, /FILTER \(WHERE/, /\bisfinite/, /TRY_CAST/, /::/, /\blen\(/, /\[0 \+ 1\]/, /file_row_number/]) {
        expect(sql, `${dialect}: ${duckOnly}`).not.toMatch(duckOnly);
      }
      if (dialect !== 'trino') expect(sql).not.toMatch(/"(position|propensity_item_positions|slate_id)"/);
    }
  });
});
