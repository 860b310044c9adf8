import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTable, type OutBatch, type OutColumnSpec } from '../src/data/write-log.js';
import { BIN } from './helpers/run-cli.js';

/**
 * Reading with worker threads (issue 10): `--threads N` decodes Parquet row groups and Arrow record
 * batches, across the files of a dataset too, in worker threads, and the main thread takes them in
 * order. The JSON of `ope evaluate` must not change by one bit with the thread count, and an error
 * must name the same file, column and row, with the workers closed after it.
 */

const K = 4;
const N = 24000;
const THREADS = ['1', '2', '3'];

let dir: string;

/** Deterministic rows (a small LCG): 2 rows per request, a logger and a target over K actions, q_hat. */
function rows(n: number, seed: number) {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const requestId = new Int32Array(n);
  const action = new Int32Array(n);
  const reward = new Float64Array(n);
  const propensity = new Float64Array(n);
  const qHat = new Float64Array(n * K);
  const dist = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    requestId[i] = i >> 1;
    const mu = Array.from({ length: K }, () => 0.2 + rand());
    const z = mu.reduce((a, b) => a + b, 0);
    let u = rand() * z;
    let a = 0;
    while (a < K - 1 && u >= mu[a]) u -= mu[a++];
    action[i] = a;
    propensity[i] = mu[a] / z;
    for (let k = 0; k < K; k++) qHat[i * K + k] = rand();
    reward[i] = rand() < qHat[i * K + a] ? 1 : 0;
    const pi = Array.from({ length: K }, () => rand() ** 2);
    const zp = pi.reduce((x, y) => x + y, 0);
    for (let k = 0; k < K; k++) dist[i * K + k] = pi[k] / zp;
  }
  return { requestId, action, reward, propensity, qHat, dist };
}

const LOG_SCHEMA: OutColumnSpec[] = [
  { name: 'request_id', kind: 'int32' },
  { name: 'action', kind: 'int32' },
  { name: 'reward', kind: 'float64' },
  { name: 'propensity', kind: 'float64' },
  { name: 'q_hat', kind: 'list', width: K },
];
const POLICY_SCHEMA: OutColumnSpec[] = [{ name: 'action_dist', kind: 'list', width: K }];

/** Rows from..to in batches of `size` (one Parquet row group or Arrow record batch each). */
function* cut(from: number, to: number, size: number, columns: (a: number, b: number) => OutBatch['columns']): Generator<OutBatch> {
  for (let a = from; a < to; a += size) {
    const b = Math.min(to, a + size);
    yield { n: b - a, columns: columns(a, b) };
  }
}

type Rows = ReturnType<typeof rows>;

function logColumns(r: Rows, a: number, b: number): OutBatch['columns'] {
  return {
    request_id: r.requestId.subarray(a, b),
    action: r.action.subarray(a, b),
    reward: r.reward.subarray(a, b),
    propensity: r.propensity.subarray(a, b),
    q_hat: r.qHat.subarray(a * K, b * K),
  };
}

/** String action and request ids, a target propensity inline: no list column (string actions allow none). */
function stringColumns(r: Rows, a: number, b: number): OutBatch['columns'] {
  const ids = Array.from(r.action.subarray(a, b), (x) => `item-${'abcd'[x]}`);
  const pi = new Float64Array(b - a);
  for (let i = a; i < b; i++) pi[i - a] = r.dist[i * K + r.action[i]];
  return {
    request_id: Array.from(r.requestId.subarray(a, b), (x) => `req-${x}`),
    action: ids,
    reward: r.reward.subarray(a, b),
    propensity: r.propensity.subarray(a, b),
    target_propensity: pi,
  };
}
const STRING_SCHEMA: OutColumnSpec[] = [
  { name: 'request_id', kind: 'string' },
  { name: 'action', kind: 'string' },
  { name: 'reward', kind: 'float64' },
  { name: 'propensity', kind: 'float64' },
  { name: 'target_propensity', kind: 'float64' },
];

let slateArgs: string[];

/**
 * Runs node with these arguments without blocking the test's event loop (a long spawnSync starves
 * vitest's own messages), as runCli does: no TTY, no debug output.
 */
function node(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000, env: { ...process.env, OPE_DEBUG: '' } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
    child.stdin?.end();
  });
}

const runCli = (args: readonly string[]) => node([BIN, ...args]);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-read-threads-'));
  const r = rows(N, 7);
  const policy = (a: number, b: number) => ({ action_dist: r.dist.subarray(a * K, b * K) });
  await writeTable(
    join(dir, 'log.parquet'),
    LOG_SCHEMA,
    cut(0, N, 2500, (a, b) => logColumns(r, a, b)),
  );
  await writeTable(
    join(dir, 'log.arrow'),
    LOG_SCHEMA,
    cut(0, N, 2500, (a, b) => logColumns(r, a, b)),
  );
  // The policy file is cut differently from the log: its rows are re-cut to the log's batches.
  await writeTable(join(dir, 'policy.parquet'), POLICY_SCHEMA, cut(0, N, 3700, policy));
  await writeTable(join(dir, 'policy.arrow'), POLICY_SCHEMA, cut(0, N, 3700, policy));
  await writeTable(
    join(dir, 'strings.parquet'),
    STRING_SCHEMA,
    cut(0, N, 2500, (a, b) => stringColumns(r, a, b)),
  );
  // The same rows as 10 files of unequal size, each of several row groups.
  await mkdir(join(dir, 'ds'));
  await mkdir(join(dir, 'ds-strings'));
  const bounds = Array.from({ length: 11 }, (_, k) => (k === 10 ? N : k * 2300));
  for (let k = 0; k < 10; k++) {
    const name = `part-${String(k).padStart(2, '0')}.parquet`;
    await writeTable(
      join(dir, 'ds', name),
      LOG_SCHEMA,
      cut(bounds[k], bounds[k + 1], 1000, (a, b) => logColumns(r, a, b)),
    );
    await writeTable(
      join(dir, 'ds-strings', name),
      STRING_SCHEMA,
      cut(bounds[k], bounds[k + 1], 1000, (a, b) => stringColumns(r, a, b)),
    );
  }
  // Ten files again, with a propensity out of range at row 1234 of file 7 (rows of an error count in its file).
  await mkdir(join(dir, 'bad'));
  const badRows = rows(N, 7);
  badRows.propensity[6 * 2300 + 1234] = 1.5;
  for (let k = 0; k < 10; k++) {
    await writeTable(
      join(dir, 'bad', `part-${String(k).padStart(2, '0')}.parquet`),
      LOG_SCHEMA,
      cut(bounds[k], bounds[k + 1], 1000, (a, b) => logColumns(badRows, a, b)),
    );
  }
  const synth = await runCli(['synth', '--slate', '--out', join(dir, 'slate'), '--n', '3000', '--format', 'parquet', '--batch-rows', '2000', '--slate-reward', 'additive', '--seed', '5']);
  expect(synth.code, synth.stderr).toBe(0);
  const line = synth.stdout.split('\n').find((l) => l.startsWith('Evaluate with: npx ope evaluate '));
  expect(line, synth.stdout).toBeDefined();
  slateArgs = (line as string).slice('Evaluate with: npx ope '.length).split(' ');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `ope evaluate --json` at each thread count: the documents, with the thread count (the one field that names it) left out. */
async function evaluateAt(args: readonly string[]): Promise<string[]> {
  const docs: string[] = [];
  for (const t of THREADS) {
    const r = await runCli([...args, '--threads', t, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { threads: number };
    expect(doc.threads).toBe(Number(t));
    docs.push(JSON.stringify({ ...doc, threads: undefined }));
  }
  return docs;
}

function expectAllEqual(docs: readonly string[]): void {
  for (const d of docs.slice(1)) expect(d).toBe(docs[0]);
}

describe('ope evaluate --threads: the same JSON, bit for bit, for 1, 2 and 3 threads', () => {
  it('one Parquet file of many row groups, a Parquet policy file: every bandit estimator, Poisson and multinomial bootstrap', async () => {
    for (const kind of ['poisson', 'multinomial']) {
      const docs = await evaluateAt([
        'evaluate',
        '--log',
        join(dir, 'log.parquet'),
        '--policy',
        `t=${join(dir, 'policy.parquet')}`,
        '--estimators',
        'all',
        '--bootstrap',
        '200',
        '--bootstrap-kind',
        kind,
      ]);
      expectAllEqual(docs);
      const doc = JSON.parse(docs[0]) as { n: number; policies: { estimates: unknown[] }[] };
      expect(doc.n).toBe(N);
      expect(doc.policies[0].estimates.length).toBeGreaterThan(5);
    }
  });

  it('the same rows as 10 Parquet files in a folder, and as an Arrow IPC file: the same JSON as the one Parquet file', async () => {
    const [one] = await evaluateAt(['evaluate', '--log', join(dir, 'log.parquet'), '--policy', `t=${join(dir, 'policy.parquet')}`, '--estimators', 'all', '--bootstrap', '200']);
    const folder = await evaluateAt(['evaluate', '--log', join(dir, 'ds'), '--policy', `t=${join(dir, 'policy.parquet')}`, '--estimators', 'all', '--bootstrap', '200']);
    const arrow = await evaluateAt(['evaluate', '--log', join(dir, 'log.arrow'), '--policy', `t=${join(dir, 'policy.arrow')}`, '--estimators', 'all', '--bootstrap', '200']);
    // The documents name the log; the estimates, intervals and diagnostics must match bit for bit.
    const body = (d: string): string => JSON.stringify({ ...(JSON.parse(d) as object), log: undefined });
    for (const d of [...folder, ...arrow]) expect(body(d)).toBe(body(one));
    const multinomial = await evaluateAt([
      'evaluate',
      '--log',
      join(dir, 'ds'),
      '--policy',
      `t=${join(dir, 'policy.parquet')}`,
      '--estimators',
      'all',
      '--bootstrap',
      '200',
      '--bootstrap-kind',
      'multinomial',
    ]);
    expectAllEqual(multinomial);
  });

  it('string action and request ids: one dictionary, in file and row order, in one file and across 10', async () => {
    const one = await evaluateAt(['evaluate', '--log', join(dir, 'strings.parquet'), '--estimators', 'ips,snips', '--bootstrap', '200']);
    const folder = await evaluateAt(['evaluate', '--log', join(dir, 'ds-strings'), '--estimators', 'ips,snips', '--bootstrap', '200']);
    const body = (d: string): string => JSON.stringify({ ...(JSON.parse(d) as object), log: undefined });
    for (const d of [...one, ...folder]) expect(body(d)).toBe(body(one[0]));
    expect((JSON.parse(one[0]) as { bootstrap: { clustered: boolean } }).bootstrap.clustered).toBe(true);
  });

  it('a slate log and its policies in Parquet: every slate estimator', async () => {
    const docs = await evaluateAt([...slateArgs, '--bootstrap', '200']);
    expectAllEqual(docs);
    const doc = JSON.parse(docs[0]) as { policies: { estimates: { estimator: string }[] }[] };
    expect(doc.policies[0].estimates.map((e) => e.estimator)).toContain('cascade-dr');
  });

  it('ope validate reads the folder the same way', async () => {
    const out = await Promise.all(THREADS.map((t) => runCli(['validate', '--log', join(dir, 'ds-strings'), '--threads', t, '--json'])));
    for (const r of out) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(out[0].stdout);
    }
  });
});

/** Runs a pass in a child process on the compiled library, reporting its error and the worker handles left open afterwards. */
async function pass(script: string, threads: number): Promise<{ error?: string; open: string[] }> {
  const lib = fileURLToPath(new URL('../dist/src/', import.meta.url));
  const code = `
    const { openLog } = await import(${JSON.stringify(join(lib, 'data/read-log.js'))});
    const { evaluateLog } = await import(${JSON.stringify(join(lib, 'evaluate-log.js'))});
    const threads = ${threads};
    let error;
    try { ${script} } catch (e) { error = e.message; }
    // Workers stop shortly after the pool is closed; never, if it is not.
    const workers = () => process.getActiveResourcesInfo().filter((h) => /Worker|MessagePort/.test(h));
    for (let i = 0; i < 100 && workers().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    console.log(JSON.stringify({ error, open: workers() }));
  `;
  const file = join(dir, `pass-${threads}-${script.length}.mjs`);
  await writeFile(file, code);
  const r = await node([file]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { error?: string; open: string[] };
}

describe('errors with read threads', () => {
  it('a bad row in file 7 of 10: the same file, column and row for any thread count, and the process exits', async () => {
    const policy = `t=${join(dir, 'policy.parquet')}`;
    const results = await Promise.all(THREADS.map((t) => runCli(['evaluate', '--log', join(dir, 'bad'), '--policy', policy, '--estimators', 'ips', '--bootstrap', '0', '--threads', t])));
    for (const r of results) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toBe(results[0].stderr);
    }
    expect(results[0].stderr).toContain(`${join(dir, 'bad', 'part-06.parquet')}: column 'propensity', row 1234: propensity must be in (0, 1], got 1.5`);
  });

  it('the workers are closed after an error and after a pass that stops early', async () => {
    const bad = JSON.stringify(join(dir, 'bad'));
    const policies = JSON.stringify({ t: join(dir, 'policy.parquet') });
    const failed = await Promise.all(THREADS.map((t) => pass(`await evaluateLog({ log: ${bad}, policies: ${policies}, estimators: 'ips', replicates: 0, threads });`, Number(t))));
    for (const f of failed) {
      expect(f.error).toBe(failed[0].error);
      expect(f.open).toEqual([]);
    }
    expect(failed[0].error).toContain("part-06.parquet: column 'propensity'");
    const first = await pass(`for await (const b of openLog(${JSON.stringify(join(dir, 'ds'))}, { threads }).batches()) { void b; break; }`, 3);
    expect(first).toEqual({ open: [] });
  });
});
