import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterKeyOf, clusterKeyOfMissing } from '../src/data/cluster-key.js';
import { writeTable } from '../src/data/write-log.js';
import { SQL_ESTIMATORS, expectSame, writeLog } from './helpers/sql-logs.js';
import { UsageError } from '../src/data/errors.js';
import { evaluateLog } from '../src/evaluate-log.js';
import { planEvaluation } from '../src/engine/plan.js';
import { mix32, poissonWeight, replicateKey, seedKey } from '../src/stats/hash.js';
import { clusterHashSql, clusterKeySql, mix32Sql, poissonWeightSql, replicateTableSql, seedKeySql } from '../src/sql/hash.js';
import { compileBanditQueries } from '../src/sql/compile.js';
import { evaluateDuckDb } from '../src/sql/evaluate-duckdb.js';
import { parseEstimatorList } from '../estimators/registry.js';
import { runCli } from './helpers/run-cli.js';

let instance: DuckDBInstance;
let con: DuckDBConnection;
let dir = '';

async function rows(sql: string): Promise<unknown[][]> {
  return (await con.runAndReadAll(sql)).getRows();
}

const ESTIMATORS = SQL_ESTIMATORS;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ope-sql-'));
  instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  con = await instance.connect();
  await writeLog(join(dir, 'clustered.parquet'), { requestsOf: 3, ids: 'int', n: 30000 });
  await writeLog(join(dir, 'rows.parquet'), { requestsOf: 1, ids: 'none', n: 20000 });
  await writeLog(join(dir, 'strings.parquet'), { requestsOf: 2, ids: 'string', n: 10000 });
  await writeLog(join(dir, 'tiny.parquet'), { requestsOf: 1, ids: 'int', n: 4 });
}, 60000);

afterAll(() => {
  con?.closeSync();
  instance?.closeSync();
});

describe('the bootstrap hash in SQL', () => {
  it('mix32 in BIGINT arithmetic equals mix32 on every 32-bit edge and 20000 spread values', async () => {
    const xs = [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 65535, 65536];
    for (let i = 0; i < 20000; i++) xs.push(Math.imul(i, 2654435761) >>> 0);
    const got = await rows(`SELECT x, ${mix32Sql('x')} FROM (SELECT unnest([${xs.join(',')}]::BIGINT[]) AS x)`);
    expect(got.length).toBe(xs.length);
    for (const [x, m] of got) expect(Number(m)).toBe(mix32(Number(x)));
  });

  it('Poisson(1) weights equal poissonWeight exactly for many (seed, cluster, replicate)', async () => {
    for (const seed of [0, 1, 12345, 0xffffffff, 2024]) {
      const [[sk]] = await rows(`SELECT ${seedKeySql(seed)}`);
      expect(Number(sk)).toBe(seedKey(seed));
      const got = await rows(
        `WITH c AS (SELECT (range * 2654435761 + ${seed}) & 4294967295 AS ck FROM range(2000)),
              h AS (SELECT ck, ${clusterHashSql('ck', seed)} AS ch FROM c),
              reps AS (${replicateTableSql(64)})
         SELECT ck, b, rk, ${poissonWeightSql('ch', 'rk')} AS w FROM h CROSS JOIN reps`,
      );
      expect(got.length).toBe(2000 * 64);
      const counts = new Array<number>(13).fill(0);
      let mismatches = 0;
      for (const [ck, b, rk, w] of got) {
        if (Number(rk) !== replicateKey(Number(b)) || Number(w) !== poissonWeight(seed, Number(ck), Number(b))) mismatches++;
        counts[Number(w)]++;
      }
      expect(mismatches).toBe(0);
      // Every count 0..5 occurs, so the CASE's arms are all exercised.
      for (let k = 0; k <= 5; k++) expect(counts[k]).toBeGreaterThan(0);
      // Poisson(1): P(0) = P(1) = 0.368.
      expect(counts[0] / got.length).toBeCloseTo(Math.exp(-1), 1);
    }
  });

  it('cluster keys of integer, string and missing request ids equal cluster-key.ts', async () => {
    const ints = [0, 1, 42, 4294967295, 4294967296, 9007199254740991, 123456789012345, -1, -5, 9007199254740993];
    const got = await rows(`SELECT id, ${clusterKeySql('id', 'integer', 'rn')} FROM (SELECT unnest([${ints.join(',')}]::BIGINT[]) AS id, 7 AS rn)`);
    for (const [id, k] of got) expect(Number(k), String(id)).toBe(clusterKeyOf(id as bigint));
    const strs = ['0', '12', '007', '-3', '1.5', '', 'abc', 'héllo', '€uro', '😀x', 'e\u0301x', '🇫🇷', '👩‍👩‍👧', '9007199254740991', '9007199254740992', '12345678901234567'];
    const lit = strs.map((s) => `'${s}'`).join(',');
    const gotS = await rows(`SELECT id, ${clusterKeySql('id', 'string', 'rn')} FROM (SELECT unnest([${lit}]::VARCHAR[]) AS id, 7 AS rn)`);
    for (const [id, k] of gotS) expect(Number(k), String(id)).toBe(clusterKeyOf(id as string));
    const [[nullKey]] = await rows(`SELECT ${clusterKeySql('id', 'integer', 'rn')} FROM (SELECT NULL::BIGINT AS id, 31337::BIGINT AS rn)`);
    expect(Number(nullKey)).toBe(clusterKeyOfMissing(31337));
  });
});

describe('ope evaluate --engine duckdb', () => {
  for (const [file, what] of [
    ['clustered.parquet', 'integer request ids, 3 rows per request'],
    ['rows.parquet', 'no request id (row ordinals)'],
    ['strings.parquet', 'string request ids, 2 rows per request'],
    ['tiny.parquet', 'four rows: some replicates draw no row and are dropped alike'],
  ] as const) {
    it(`equals the in-process engine: point estimates, delta-method se, bootstrap se and intervals (${what})`, async () => {
      const log = join(dir, file);
      for (const ci of ['percentile', 'normal'] as const) {
        const common = { log, estimators: ESTIMATORS, replicates: 200, seed: 99, ci, alpha: 0.1 };
        const { result: js } = await evaluateLog({ ...common, threads: 1 });
        const { result: sql } = await evaluateDuckDb({ ...common, threads: 2 });
        expectSame(js, sql);
      }
    }, 60000);
  }

  it('without replicates: delta-method se and normal intervals equal', async () => {
    const common = { log: join(dir, 'clustered.parquet'), estimators: ESTIMATORS, replicates: 0 };
    expectSame((await evaluateLog(common)).result, (await evaluateDuckDb(common)).result);
  });

  it('the replicate sums of weights are the exact integers sum_i poissonWeight(seed, key_i, b)', async () => {
    for (const [file, keyed] of [
      ['clustered.parquet', true],
      ['rows.parquet', false],
    ] as const) {
      const path = join(dir, file);
      const plan = planEvaluation(['target'], parseEstimatorList('ips,snips'));
      const src = {
        from: `read_parquet('${path}', file_row_number = true)`,
        ordinal: 'file_row_number',
        propensity: 'propensity',
        requestId: keyed ? { name: 'request_id', type: 'integer' as const } : undefined,
        target: 'target_propensity' as const,
      };
      const B = 50;
      const seed = 4242;
      const q = compileBanditQueries(plan, src, B, seed);
      const got = await rows(q.replicates as string);
      const ids = keyed ? (await rows(`SELECT request_id FROM ${src.from} ORDER BY file_row_number`)).map((r) => Number(r[0])) : undefined;
      const n = keyed ? (ids as number[]).length : 20000;
      const keys = Array.from({ length: n }, (_, i) => (ids !== undefined ? clusterKeyOf(ids[i]) : i));
      expect(got.length).toBe(B);
      for (const r of got) {
        const b = Number(r[0]);
        let N = 0;
        for (const k of keys) N += poissonWeight(seed, k, b);
        expect(Number(r[1])).toBe(N);
      }
    }
  }, 60000);

  it('one file or the same rows split into 10 files (a glob, a folder): the same results, on both engines', async () => {
    const { mkdirSync } = await import('node:fs');
    for (const file of ['clustered', 'rows'] as const) {
      const parts = join(dir, `${file}-parts`);
      mkdirSync(parts);
      const from = `read_parquet('${join(dir, `${file}.parquet`)}', file_row_number = true)`;
      const cols = file === 'rows' ? 'action, reward, propensity, target_propensity, q_hat_logged, q_hat_target' : '* EXCLUDE (file_row_number, part)';
      for (let k = 0; k < 10; k++) {
        // Consecutive, unequal slices in row order (part-0 .. part-9 sort as the files are read).
        const sliced = `(SELECT *, ntile(10) OVER (ORDER BY file_row_number) - 1 AS part FROM ${from})`;
        await con.run(`COPY (SELECT ${cols} FROM ${sliced} WHERE part = ${k} ORDER BY file_row_number) TO '${join(parts, `part-${k}.parquet`)}' (FORMAT parquet)`);
      }
      const common = { estimators: ESTIMATORS, replicates: 100, seed: 3 };
      const one = await evaluateDuckDb({ ...common, log: join(dir, `${file}.parquet`) });
      // Without request ids the bootstrap keys rows by their ordinal across the files: offsets from the footers.
      for (const log of [join(parts, '*.parquet'), parts]) {
        expectSame(one.result, (await evaluateDuckDb({ ...common, log })).result);
        expectSame(one.result, (await evaluateLog({ ...common, log, threads: 1 })).result);
      }
    }
    // A file whose columns differ from the first file's is named.
    mkdirSync(join(dir, 'odd-parts'));
    const odd = join(dir, 'odd-parts', 'part-1.parquet');
    await con.run(`COPY (SELECT * FROM read_parquet('${join(dir, 'rows-parts', 'part-0.parquet')}')) TO '${join(dir, 'odd-parts', 'part-0.parquet')}' (FORMAT parquet)`);
    await con.run(`COPY (SELECT *, 1 AS extra FROM read_parquet('${join(dir, 'rows-parts', 'part-1.parquet')}')) TO '${odd}' (FORMAT parquet)`);
    await expect(evaluateDuckDb({ log: join(dir, 'odd-parts'), estimators: ESTIMATORS, replicates: 0 })).rejects.toThrow(`${odd}: its columns`);
  }, 60000);

  it('a --policy file joined by row order equals the in-process engine, for one file and for a dataset', async () => {
    for (const file of ['clustered', 'rows'] as const) {
      const src = `read_parquet('${join(dir, `${file}.parquet`)}', file_row_number = true)`;
      const logOnly = join(dir, `${file}-log-only.parquet`);
      const policy = join(dir, `${file}-policy.parquet`);
      await con.run(`COPY (SELECT * EXCLUDE (file_row_number, target_propensity, q_hat_target) FROM ${src} ORDER BY file_row_number) TO '${logOnly}' (FORMAT parquet)`);
      await con.run(`COPY (SELECT target_propensity, q_hat_target FROM ${src} ORDER BY file_row_number) TO '${policy}' (FORMAT parquet)`);
      const common = { estimators: ESTIMATORS, replicates: 100, seed: 8 };
      const js = await evaluateLog({ ...common, log: logOnly, policies: { cand: policy }, threads: 1 });
      const sql = await evaluateDuckDb({ ...common, log: logOnly, policy: { name: 'cand', file: policy } });
      expectSame(js.result, sql.result);
      expect(sql.result.policies[0].policy).toBe('cand');
      // The policy's columns replace the log's own: the original log, whose inline target is the same, agrees too.
      expectSame(js.result, (await evaluateDuckDb({ ...common, log: join(dir, `${file}.parquet`), policy: { name: 'cand', file: policy } })).result);
      // A dataset log (10 files) with the policy aligned to its global row order.
      const parts = join(dir, `${file}-parts`);
      const dataset = await evaluateDuckDb({ ...common, log: parts, policy: { name: 'cand', file: policy } });
      expectSame((await evaluateLog({ ...common, log: join(dir, `${file}.parquet`), policies: { cand: policy }, threads: 1 })).result, dataset.result);
    }
    const short = join(dir, 'policy-short.parquet');
    await con.run(`COPY (SELECT target_propensity FROM read_parquet('${join(dir, 'rows-policy.parquet')}') LIMIT 10) TO '${short}' (FORMAT parquet)`);
    await expect(evaluateDuckDb({ log: join(dir, 'rows-log-only.parquet'), estimators: 'ips', replicates: 0, policy: { name: 'p', file: short } })).rejects.toThrow(
      /one row per log row.*it has 10 rows/,
    );
  }, 60000);

  it('ope sql prints one query that DuckDB runs to the same sums as --engine duckdb', async () => {
    const log = join(dir, 'clustered.parquet');
    const r = runCli(['sql', '--log', log, '--estimators', 'ips,snips,dr', '--bootstrap', '20', '--seed', '5']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ope evaluate --from-sums/);
    const statements = r.stdout
      .split(/;\n/)
      .map((x) => x.replace(/^(--.*\n)+/gm, '').trim())
      .filter((x) => x.length > 0);
    expect(statements.length).toBe(1);
    const reader = await con.runAndReadAll(statements[0]);
    const names = reader.columnNames();
    const result = reader.getRows();
    expect(names.slice(0, 5)).toEqual(['part', 'plan', 'b', 'replicate_rows', 'n']);
    expect(result.length).toBe(21);
    expect(result[0][0]).toBe('point');
    expect(Number(result[0][4])).toBe(30000);
    const reps = result.slice(1);
    const { queries } = await evaluateDuckDb({ log, estimators: 'ips,snips,dr', replicates: 20, seed: 5 });
    const again = await rows(queries.replicates as string);
    // The weights are exact integers: the sums of weights agree exactly whether or not rows were grouped first.
    expect(again.map((x) => Number(x[1]))).toEqual(reps.map((x) => Number(x[names.indexOf('nb')])));
  }, 60000);

  it('a usage error names what is not supported', async () => {
    const log = join(dir, 'clustered.parquet');
    // A slate estimator on a bandit log: what it needs, in the in-process engine's words.
    await expect(evaluateDuckDb({ log, estimators: 'ips,iips' })).rejects.toThrow(UsageError);
    await expect(evaluateDuckDb({ log, estimators: 'ips,iips' })).rejects.toThrow(/estimator 'iips' needs propensity_item_position in the log/);
    await expect(evaluateDuckDb({ log, estimators: 'ips', bootstrapKind: 'multinomial' })).rejects.toThrow(/multinomial/);
    await expect(evaluateDuckDb({ log, estimators: 'ips', ci: 'bca' })).rejects.toThrow(/bca/);
    // The reward model is needed as q_hat_logged / q_hat_target, and bad rows stop the run.
    const small = join(dir, 'small.parquet');
    await writeTable(
      small,
      [
        { name: 'reward', kind: 'float64' },
        { name: 'propensity', kind: 'float64' },
        { name: 'target_propensity', kind: 'float64' },
      ],
      [{ n: 3, columns: { reward: Float64Array.of(1, 0, 1), propensity: Float64Array.of(0.5, 0, 0.5), target_propensity: Float64Array.of(0.2, 0.3, 0.4) } }],
    );
    await expect(evaluateDuckDb({ log: small, estimators: 'dr' })).rejects.toThrow(/lacks q_hat_logged \(or q_hat\)/);
    await expect(evaluateDuckDb({ log: small, estimators: 'ips' })).rejects.toThrow(/1 rows with propensity missing or outside/);
    const cli = runCli(['evaluate', '--engine', 'duckdb', '--log', log, '--estimators', 'ips,rips', '--bootstrap', '10']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/estimator 'rips' needs propensity_cascade in the log/);
    const ok = runCli(['evaluate', '--engine', 'duckdb', '--log', log, '--estimators', 'ips,dr', '--bootstrap', '50', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).backend).toMatch(/duckdb/);
  }, 60000);
});
