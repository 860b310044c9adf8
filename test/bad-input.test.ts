import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompressionType, RecordBatchFileWriter, compressionRegistry, tableFromArrays, tableToIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/data/errors.js';
import { openLog, openPolicy } from '../src/data/read-log.js';
import { validateLog } from '../src/data/validate.js';
import { writeTable, type OutBatch, type OutColumnSpec } from '../src/data/write-log.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-bad-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: string | Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

async function csv(name: string, lines: readonly string[]): Promise<string> {
  return file(name, lines.join('\n') + '\n');
}

async function jsonl(name: string, rows: readonly Record<string, unknown>[]): Promise<string> {
  return file(name, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

interface Expected {
  file: string;
  column?: string;
  row?: number;
  line?: number;
  rule: RegExp | string;
}

/** The whole file is read through validation, as `ope validate` does. */
async function expectInputError(path: string, expected: Omit<Expected, 'file'>, read: () => Promise<unknown> = () => validateLog(openLog(path))): Promise<InputError> {
  const err = await read().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected an InputError').toBeInstanceOf(InputError);
  const e = err as InputError;
  expect(e.file).toBe(path);
  expect(e.column).toBe(expected.column);
  expect(e.row).toBe(expected.row);
  let where = `${path}: `;
  if (expected.column !== undefined || expected.row !== undefined) {
    const parts: string[] = [];
    if (expected.column !== undefined) parts.push(`column '${expected.column}'`);
    if (expected.row !== undefined) parts.push(`row ${expected.row}` + (expected.line !== undefined ? ` (line ${expected.line})` : ''));
    where += parts.join(', ') + ': ';
  }
  expect(e.message.startsWith(where), `${e.message} should start with ${where}`).toBe(true);
  if (typeof expected.rule === 'string') expect(e.message.slice(where.length)).toBe(expected.rule);
  else expect(e.message.slice(where.length)).toMatch(expected.rule);
  expect(e.message).not.toContain('\n');
  return e;
}

const HEADER = 'action,reward,propensity';

describe('bad input: propensity', () => {
  it.each([
    ['zero', '0', 'propensity must be in (0, 1], got 0'],
    ['negative', '-0.2', 'propensity must be in (0, 1], got -0.2'],
    ['above one', '1.5', 'propensity must be in (0, 1], got 1.5'],
    ['NaN', 'nan', 'propensity must be in (0, 1], got NaN'],
    ['missing', '', 'propensity is missing (null)'],
  ])('%s propensity', async (name, value, rule) => {
    const path = await csv(`prop-${name}.csv`, [HEADER, '0,1,0.5', `1,0,${value}`]);
    await expectInputError(path, { column: 'propensity', row: 1, line: 3, rule });
  });

  it('names the alias the file uses', async () => {
    const path = await jsonl('pscore.jsonl', [{ item_id: 0, reward: 1, pscore: 0.5 }, { item_id: 0, reward: 1, pscore: 0 }]);
    await expectInputError(path, { column: 'pscore', row: 1, line: 2, rule: 'propensity must be in (0, 1], got 0' });
  });
});

describe('bad input: reward', () => {
  it('NaN reward in CSV', async () => {
    const path = await csv('nan-reward.csv', [HEADER, '0,NaN,0.5']);
    await expectInputError(path, { column: 'reward', row: 0, line: 2, rule: 'reward must be a finite number, got NaN' });
  });

  it('infinite reward in JSONL and null reward', async () => {
    const inf = await file('inf-reward.jsonl', '{"action":0,"reward":1,"propensity":0.5}\n\n{"action":0,"reward":"inf","propensity":0.5}\n');
    await expectInputError(inf, { column: 'reward', row: 1, line: 3, rule: 'reward must be a finite number, got Infinity' });
    const python = await file('python-nan.jsonl', '{"action": 0, "reward": NaN, "propensity": 0.5}\n');
    await expectInputError(python, { column: 'reward', row: 0, line: 1, rule: 'reward must be a finite number, got NaN' });
    const nul = await jsonl('null-reward.jsonl', [{ action: 0, reward: null, propensity: 0.5 }]);
    await expectInputError(nul, { column: 'reward', row: 0, line: 1, rule: 'reward is missing (null)' });
  });

  it('NaN reward in Arrow and Parquet, in a later batch', async () => {
    const spec: OutColumnSpec[] = [
      { name: 'action', kind: 'int32' },
      { name: 'reward', kind: 'float64' },
      { name: 'propensity', kind: 'float64' },
    ];
    const batch = (rewards: number[]): OutBatch => ({
      n: rewards.length,
      columns: { action: new Int32Array(rewards.length), reward: Float64Array.from(rewards), propensity: new Float64Array(rewards.length).fill(0.5) },
    });
    for (const ext of ['arrow', 'parquet']) {
      const path = join(dir, `nan-reward.${ext}`);
      await writeTable(path, spec, [batch([1, 0, 1]), batch([0, NaN])]);
      await expectInputError(path, { column: 'reward', row: 4, rule: 'reward must be a finite number, got NaN' });
    }
  });
});

describe('bad input: types and columns', () => {
  it('text in a numeric column', async () => {
    const path = await csv('text.csv', [HEADER, '0,1,0.5', '0,one,0.5']);
    await expectInputError(path, { column: 'reward', row: 1, line: 3, rule: "expected a number, got text 'one'" });
    const j = await jsonl('text.jsonl', [{ action: 0, reward: 1, propensity: 'high' }]);
    await expectInputError(j, { column: 'propensity', row: 0, line: 1, rule: "expected a number, got text 'high'" });
    const a = await csv('text-action.csv', [HEADER, '0,1,0.5', 'x,1,0.5']);
    await expectInputError(a, { column: 'action', row: 1, line: 3, rule: "expected a number, got text 'x'" });
  });

  it('missing required column: lists the columns found, the alias and --columns', async () => {
    const path = await csv('missing.csv', ['action,reward,p', '0,1,0.5']);
    await expectInputError(path, {
      column: 'propensity',
      rule: "missing required column 'propensity' (or its alias 'pscore'); columns found: action, reward, p; name another column with --columns propensity=NAME",
    });
  });

  it('empty file, in every format', async () => {
    for (const ext of ['csv', 'jsonl', 'arrow', 'parquet']) {
      const path = await file(`empty.${ext}`, '');
      await expectInputError(path, { rule: 'no rows: the file is empty' });
    }
    const blank = await file('blank.jsonl', '\n\n');
    await expectInputError(blank, { rule: 'no rows: the file is empty' });
  });

  it('header only, and an Arrow or Parquet table without rows', async () => {
    const path = await csv('header.csv', [HEADER]);
    await expectInputError(path, { rule: 'no rows: the file has columns (action, reward, propensity) but no data rows' });
    for (const ext of ['arrow', 'parquet']) {
      const p = join(dir, `norows.${ext}`);
      await writeTable(p, [{ name: 'action', kind: 'int32' }, { name: 'reward', kind: 'float64' }, { name: 'propensity', kind: 'float64' }], []);
      await expectInputError(p, { rule: 'no rows: the file has columns (action, reward, propensity) but no data rows' });
    }
  });

  it('negative position', async () => {
    const path = await csv('position.csv', ['action,reward,propensity,rank_position', '0,1,0.5,0', '0,1,0.5,-1']);
    await expectInputError(path, { column: 'rank_position', row: 1, line: 3, rule: 'position must be a non-negative integer, got -1' });
  });

  it('malformed CSV and JSONL lines', async () => {
    const ragged = await csv('ragged.csv', [HEADER, '0,1,0.5', '0,1']);
    await expectInputError(ragged, { row: 1, line: 3, rule: /^not valid CSV: Invalid Record Length: expect 3, got 2 on line 3$/ });
    const broken = await file('broken.jsonl', '{"action":0,"reward":1,"propensity":0.5}\n{"action":0,\n');
    await expectInputError(broken, { row: 1, line: 2, rule: /^not valid JSON: / });
    const notObject = await file('array.jsonl', '[0,1,0.5]\n');
    await expectInputError(notObject, { row: 0, line: 1, rule: 'each line must be a JSON object ({"column": value, ...})' });
  });

  it('unknown extension and missing file', async () => {
    expect(() => openLog(join(dir, 'log.xlsx'))).toThrow(/log\.xlsx: unsupported file extension '\.xlsx'; supported: \.arrow, \.feather, \.ipc, \.parquet, \.csv, \.jsonl, \.ndjson/);
    const missing = join(dir, 'nope.csv');
    await expectInputError(missing, { rule: 'no such file' });
  });
});

describe('bad input: target policy', () => {
  it('target probability above 1', async () => {
    const path = await csv('target.csv', [`${HEADER},target_propensity`, '0,1,0.5,0.5', '0,1,0.5,1.2']);
    await expectInputError(path, { column: 'target_propensity', row: 1, line: 3, rule: 'target_propensity must be in [0, 1], got 1.2' });
    const policy = await csv('policy.csv', ['target_propensity', '0.5', '-0.1']);
    await expectInputError(policy, { column: 'target_propensity', row: 1, line: 3, rule: 'target_propensity must be in [0, 1], got -0.1' }, async () => {
      for await (const b of openPolicy(policy).batches()) void b;
    });
  });

  it('action_dist not summing to 1, or with a negative entry', async () => {
    const path = await jsonl('dist.jsonl', [
      { action: 0, reward: 1, propensity: 0.5, action_dist: [0.5, 0.5] },
      { action: 0, reward: 1, propensity: 0.5, action_dist: [0.5, 0.4] },
    ]);
    await expectInputError(path, { column: 'action_dist', row: 1, line: 2, rule: 'action_dist row sums to 0.9, not 1 (tolerance 0.000001)' });
    const wide = await csv('dist-wide.csv', [`${HEADER},action_dist_0,action_dist_1`, '0,1,0.5,1.2,-0.2']);
    await expectInputError(wide, { column: 'action_dist_0..action_dist_1', row: 0, line: 2, rule: 'action_dist entry 1 is -0.2; probabilities must be finite and >= 0' });
  });

  it('action out of range of the lists', async () => {
    const path = await jsonl('range.jsonl', [
      { action: 2, reward: 1, propensity: 0.5, action_dist: [0.2, 0.3, 0.5] },
      { action: 3, reward: 1, propensity: 0.5, action_dist: [0.2, 0.3, 0.5] },
    ]);
    await expectInputError(path, { column: 'action', row: 1, line: 2, rule: 'action 3 is out of range 0..2 (K = 3, the width of action_dist)' });
  });

  it('list length mismatch: between rows, and between action_dist and q_hat', async () => {
    const rows = await jsonl('len.jsonl', [
      { action: 0, reward: 1, propensity: 0.5, q_hat: [1, 2, 3] },
      { action: 0, reward: 1, propensity: 0.5, q_hat: [1, 2] },
    ]);
    await expectInputError(rows, { column: 'q_hat', row: 1, line: 2, rule: 'list length 2 differs from K = 3 (the length of row 0)' });
    const spec: OutColumnSpec[] = [
      { name: 'action', kind: 'int32' },
      { name: 'reward', kind: 'float64' },
      { name: 'propensity', kind: 'float64' },
      { name: 'action_dist', kind: 'list', width: 2 },
      { name: 'q_hat', kind: 'list', width: 3 },
    ];
    for (const ext of ['arrow', 'parquet', 'csv']) {
      const path = join(dir, `widths.${ext}`);
      await writeTable(path, spec, [
        { n: 1, columns: { action: Int32Array.of(0), reward: Float64Array.of(1), propensity: Float64Array.of(0.5), action_dist: Float64Array.of(0.5, 0.5), q_hat: Float64Array.of(1, 2, 3) } },
      ]);
      await expectInputError(path, {
        column: ext === 'csv' ? 'q_hat_0..q_hat_2' : 'q_hat',
        row: 0,
        line: ext === 'csv' ? 2 : undefined,
        rule: 'list length 3 differs from K = 2 (the length of action_dist at row 0); action_dist and q_hat must have the same width',
      });
    }
  });

  it('string action ids with list columns', async () => {
    const path = await jsonl('strlist.jsonl', [{ action: 'apple', reward: 1, propensity: 0.5, action_dist: [0.5, 0.5] }]);
    await expectInputError(path, { column: 'action', row: 0, line: 1, rule: 'string action ids are allowed only without list columns: with action_dist the action must be the integer index 0..1 into the list' });
  });

  it('a contract key that first appears late in a JSONL file', async () => {
    const rows = Array.from({ length: 5 }, () => ({ action: 0, reward: 1, propensity: 0.5 }));
    const path = await jsonl('late.jsonl', [...rows, { action: 0, reward: 1, propensity: 0.5, request_id: 'r', debug: 1 }]);
    await expectInputError(
      path,
      { column: 'request_id', row: 5, line: 6, rule: "key 'request_id' first appears after the first 4 rows; write it (null where missing) in the first rows so the column is known" },
      () => validateLog(openLog(path, { batchRows: 4 })),
    );
  });
});

describe('bad input: damaged binary files', () => {
  const spec: OutColumnSpec[] = [
    { name: 'action', kind: 'int32' },
    { name: 'reward', kind: 'float64' },
    { name: 'propensity', kind: 'float64' },
  ];
  const batches = (): OutBatch[] =>
    Array.from({ length: 4 }, (_, b) => ({
      n: 1000,
      columns: { action: new Int32Array(1000), reward: Float64Array.from({ length: 1000 }, (_, i) => b + i), propensity: new Float64Array(1000).fill(0.5) },
    }));

  it('truncated Arrow file (cut in half)', async () => {
    const whole = join(dir, 'whole.arrow');
    await writeTable(whole, spec, batches());
    const bytes = await readFile(whole);
    const cut = await file('cut.arrow', bytes.subarray(0, bytes.length >> 1));
    await expectInputError(cut, { rule: /^file is truncated or not a valid Arrow IPC file \(.+\)$/ });
  });

  it('truncated Arrow stream and a file that is not Arrow at all', async () => {
    const table = tableFromArrays({ action: Int32Array.from([0, 1]), reward: Float64Array.from([1, 0]), propensity: Float64Array.from([0.5, 0.5]) });
    const stream = tableToIPC(table, 'stream');
    const cut = await file('cut-stream.arrows.arrow', stream.subarray(0, stream.length - 40));
    await expectInputError(cut, { rule: /^file is truncated or not a valid Arrow IPC file/ });
    const text = await file('text.arrow', 'action,reward,propensity\n0,1,0.5\n');
    await expectInputError(text, { rule: /^file is truncated or not a valid Arrow IPC file/ });
  });

  it('a compressed Arrow file whose data does not decode names the codec and how to fix it', async () => {
    const table = tableFromArrays({ action: Int32Array.from([0, 1]), reward: Float64Array.from([1, 0]), propensity: Float64Array.from([0.5, 0.5]) });
    // A stand-in ZSTD encoder that writes a bare frame header (shorter than each buffer, so the writer keeps it): not decodable.
    const prev = compressionRegistry.get(CompressionType.ZSTD);
    compressionRegistry.set(CompressionType.ZSTD, { encode: () => Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]), decode: prev?.decode });
    const writer = new RecordBatchFileWriter({ compressionType: CompressionType.ZSTD });
    writer.write(table);
    writer.finish();
    const bytes = writer.toUint8Array(true);
    compressionRegistry.set(CompressionType.ZSTD, prev as never);
    const path = await file('compressed.feather', bytes);
    await expectInputError(path, { rule: /^cannot decompress the Arrow file's ZSTD data \(.+\); the file is corrupt or was not written by Arrow; write it uncompressed/ });
  });

  it('truncated Parquet file', async () => {
    const whole = join(dir, 'whole.parquet');
    await writeTable(whole, spec, batches());
    const bytes = await readFile(whole);
    const cut = await file('cut.parquet', bytes.subarray(0, bytes.length >> 1));
    await expectInputError(cut, { rule: /^file is truncated or not a valid Parquet file \(.+\)$/ });
  });
});

describe('bad input: the ope CLI', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const run = (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [join(root, 'bin', 'ope.js'), ...args], { cwd: root }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
      });
    });

  beforeAll(() => {
    // Type errors anywhere else in the project do not stop tsc from emitting dist/, which is all the CLI needs here.
    spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root });
  });

  it('exits 2 with one line naming file, column and row, and no stack trace', async () => {
    const bad = await csv('cli-bad.csv', [HEADER, '0,1,0.5', '1,0,0']);
    const r = await run(['validate', '--log', bad]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`ope: error: ${bad}: column 'propensity', row 1 (line 3): propensity must be in (0, 1], got 0\n`);
  });

  it('exits 2 on a truncated Arrow file and on a missing column', async () => {
    const whole = join(dir, 'cli-whole.arrow');
    await writeTable(whole, [{ name: 'action', kind: 'int32' }, { name: 'reward', kind: 'float64' }, { name: 'propensity', kind: 'float64' }], [
      { n: 3, columns: { action: Int32Array.from([0, 1, 2]), reward: Float64Array.from([1, 0, 1]), propensity: Float64Array.from([0.5, 0.5, 0.5]) } },
    ]);
    const bytes = await readFile(whole);
    const cut = await file('cli-cut.arrow', bytes.subarray(0, bytes.length >> 1));
    for (const path of [cut, await csv('cli-missing.csv', ['action,reward', '0,1'])]) {
      const r = await run(['validate', '--log', path]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.split('\n')).toHaveLength(2);
      expect(r.stderr.startsWith(`ope: error: ${path}: `)).toBe(true);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('exits 0 on a valid log, with a summary or one JSON document', async () => {
    const good = await csv('cli-good.csv', ['item_id,reward,pscore,rank_position,request_id', '0,1,0.5,0,a', '1,0,0.5,1,a']);
    const text = await run(['validate', '--log', good]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${good}: valid log, 2 rows`);
    const json = await run(['validate', '--log', good, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ rows: 2, K: 2, isRanking: true, requests: 1, contract: { action: 'item_id', propensity: 'pscore', position: 'rank_position' } });
    const mapped = await run(['validate', '--log', good, '--columns', 'reward=nope']);
    expect(mapped.code).toBe(2);
    expect(mapped.stderr).toContain("--columns maps 'reward' to 'nope', but the file has no such column");
  });
});
