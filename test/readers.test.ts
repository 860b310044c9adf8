import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Field, Float64, Int32, Int64, List, Table, TimestampMillisecond, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogBatch, PolicyBatch } from '../src/data/batch.js';
import { clusterKeyOf, clusterKeyOfInteger, clusterKeyOfMissing, fnv1a32 } from '../src/data/cluster-key.js';
import { InputError, UsageError } from '../src/data/errors.js';
import { openLog, openPolicy, type ReadOptions } from '../src/data/read-log.js';
import { writeTable, type OutBatch, type OutColumnSpec } from '../src/data/write-log.js';
import { mix32 } from '../src/stats/hash.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-readers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readAll(path: string, opts?: ReadOptions): Promise<LogBatch[]> {
  const out: LogBatch[] = [];
  for await (const b of openLog(path, opts).batches()) out.push(b);
  return out;
}

async function readPolicy(path: string, opts?: ReadOptions): Promise<(PolicyBatch & { rowOffset: number })[]> {
  const out: (PolicyBatch & { rowOffset: number })[] = [];
  for await (const b of openPolicy(path, opts).batches()) out.push(b);
  return out;
}

const N = 10;
const K = 3;
const SCHEMA: OutColumnSpec[] = [
  { name: 'request_id', kind: 'string' },
  { name: 'position', kind: 'int32' },
  { name: 'action', kind: 'int32' },
  { name: 'reward', kind: 'float64' },
  { name: 'propensity', kind: 'float64' },
  { name: 'target_propensity', kind: 'float64' },
  { name: 'action_dist', kind: 'list', width: K },
  { name: 'q_hat', kind: 'list', width: K },
  { name: 'context', kind: 'list', width: 2 },
  { name: 'event_ts', kind: 'float64' },
  { name: 'policy_id', kind: 'string' },
  { name: 'surface', kind: 'string' },
];

/** Values chosen to stress exact round trips: thirds, tiny and huge magnitudes, -0, quotes and commas. */
function sampleBatch(): OutBatch {
  const dist = [0.2, 0.3, 0.5];
  return {
    n: N,
    columns: {
      request_id: Array.from({ length: N }, (_, i) => `req-${Math.floor(i / 2)}`),
      position: Int32Array.from({ length: N }, (_, i) => i % 2),
      action: Int32Array.from({ length: N }, (_, i) => (i * 2) % K),
      reward: Float64Array.from({ length: N }, (_, i) => [0.1 + 0.2, 1 / 3, -0, 1e-300, 5e-324, 1.7976931348623157e308, 2 / 7, 0, 1, -1.5][i]),
      propensity: Float64Array.from({ length: N }, (_, i) => dist[(i * 2) % K]),
      target_propensity: Float64Array.from({ length: N }, (_, i) => (i % 4) / 3),
      action_dist: Float64Array.from({ length: N * K }, (_, j) => dist[j % K]),
      q_hat: Float64Array.from({ length: N * K }, (_, j) => j / 7 - 1),
      context: Float64Array.from({ length: N * 2 }, (_, j) => Math.sqrt(j)),
      event_ts: Float64Array.from({ length: N }, (_, i) => 1.7e9 + i / 3),
      policy_id: Array.from({ length: N }, (_, i) => (i % 4 === 0 ? null : `pol "${i}", v2`)),
      surface: Array.from({ length: N }, (_, i) => ['home', 'search', ' padded '][i % 3]),
    },
  };
}

const FORMATS = ['arrow', 'feather', 'ipc', 'parquet', 'csv', 'jsonl', 'ndjson'] as const;

function concatF(parts: readonly (Float64Array | undefined)[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + (p?.length ?? 0), 0));
  let o = 0;
  for (const p of parts) {
    if (p === undefined) continue;
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Every LogBatch field of a read, concatenated, as plain arrays for exact (Object.is) comparison. */
function flatten(batches: readonly LogBatch[]): Record<string, unknown> {
  const cat = <T>(pick: (b: LogBatch) => ArrayLike<T> | undefined): T[] | undefined =>
    batches.some((b) => pick(b) === undefined) ? undefined : batches.flatMap((b) => Array.from(pick(b) as ArrayLike<T>));
  const strings: Record<string, (string | null)[]> = {};
  for (const b of batches) for (const [k, v] of b.strings ?? []) (strings[k] ??= []).push(...v);
  return {
    n: batches.reduce((s, b) => s + b.n, 0),
    action: cat((b) => b.action),
    reward: cat((b) => b.reward),
    propensity: cat((b) => b.propensity),
    position: cat((b) => b.position),
    clusterKey: cat((b) => b.clusterKey),
    targetPropensity: cat((b) => b.targetPropensity),
    actionDist: cat((b) => b.actionDist?.values),
    actionDistWidth: batches[0].actionDist?.width,
    qHat: cat((b) => b.qHat?.values),
    qHatWidth: batches[0].qHat?.width,
    context: cat((b) => b.context?.values),
    contextWidth: batches[0].context?.width,
    qHatLogged: cat((b) => b.qHatLogged),
    qHatTarget: cat((b) => b.qHatTarget),
    eventTs: cat((b) => b.eventTs),
    rewardTs: cat((b) => b.rewardTs),
    strings,
  };
}

describe('readers: one log in every format', () => {
  const paths: Record<string, string> = {};
  beforeAll(async () => {
    for (const f of FORMATS) {
      paths[f] = join(dir, `sample.${f}`);
      await writeTable(paths[f], SCHEMA, [sampleBatch()]);
    }
  });

  it('gives identical LogBatch columns across formats, equal to what was written', async () => {
    const reference = flatten(await readAll(paths.arrow));
    const b = sampleBatch().columns;
    expect(reference.n).toBe(N);
    expect(reference.action).toEqual(Array.from(b.action as Int32Array));
    expect(reference.reward).toEqual(Array.from(b.reward as Float64Array));
    expect(reference.actionDist).toEqual(Array.from(b.action_dist as Float64Array));
    expect(reference.actionDistWidth).toBe(K);
    expect(reference.qHatWidth).toBe(K);
    expect(reference.contextWidth).toBe(2);
    expect(reference.eventTs).toEqual(Array.from(b.event_ts as Float64Array));
    expect(reference.clusterKey).toEqual((b.request_id as string[]).map((id) => fnv1a32(id)));
    expect(reference.strings).toEqual({ policy_id: b.policy_id, surface: b.surface });
    for (const f of FORMATS) {
      expect(flatten(await readAll(paths[f])), f).toEqual(reference);
    }
  });

  it('re-slices to exactly batchRows rows per batch (3, 3, 3, 1) with the same concatenation', async () => {
    for (const f of FORMATS) {
      const whole = await readAll(paths[f]);
      const sliced = await readAll(paths[f], { batchRows: 3 });
      expect(sliced.map((b) => b.n), f).toEqual([3, 3, 3, 1]);
      expect(sliced.map((b) => b.rowOffset), f).toEqual([0, 3, 6, 9]);
      expect(sliced.every((b) => b.source === paths[f])).toBe(true);
      expect(flatten(sliced), f).toEqual(flatten(whole));
    }
  });

  it('is re-iterable: every call to batches() reads the file again', async () => {
    const source = openLog(paths.csv, { batchRows: 4 });
    const first: LogBatch[] = [];
    for await (const b of source.batches()) first.push(b);
    const second: LogBatch[] = [];
    for await (const b of source.batches()) second.push(b);
    expect(flatten(second)).toEqual(flatten(first));
  });

  it('stops cleanly when the consumer leaves early', async () => {
    for (const f of FORMATS) {
      for await (const b of openLog(paths[f], { batchRows: 2 }).batches()) {
        expect(b.n).toBe(2);
        break;
      }
    }
  });
});

describe('readers: batches that cross the file chunks', () => {
  it('re-cuts Arrow record batches and Parquet row groups of another size', async () => {
    const spec: OutColumnSpec[] = [
      { name: 'action', kind: 'int32' },
      { name: 'reward', kind: 'float64' },
      { name: 'propensity', kind: 'float64' },
      { name: 'action_dist', kind: 'list', width: 2 },
    ];
    const chunk = (start: number, n: number): OutBatch => ({
      n,
      columns: {
        action: Int32Array.from({ length: n }, (_, i) => (start + i) % 2),
        reward: Float64Array.from({ length: n }, (_, i) => start + i),
        propensity: new Float64Array(n).fill(0.5),
        action_dist: Float64Array.from({ length: 2 * n }, (_, j) => (j % 2 === 0 ? 0.25 : 0.75)),
      },
    });
    const sizes = [7, 1, 13, 5];
    const batches: OutBatch[] = [];
    let start = 0;
    for (const s of sizes) {
      batches.push(chunk(start, s));
      start += s;
    }
    for (const f of ['arrow', 'parquet', 'csv', 'jsonl']) {
      const path = join(dir, `chunks.${f}`);
      await writeTable(path, spec, batches);
      const read = await readAll(path, { batchRows: 4 });
      expect(read.map((b) => b.n), f).toEqual([4, 4, 4, 4, 4, 4, 2]);
      expect(Array.from(concatF(read.map((b) => b.reward))), f).toEqual(Array.from({ length: 26 }, (_, i) => i));
      expect(read[3].actionDist?.values.length).toBe(8);
    }
  });
});

describe('readers: column names', () => {
  it('accepts the release log contract aliases pscore, item_id, rank_position, delayed_reward_ts', async () => {
    const path = join(dir, 'aliases.csv');
    await writeFile(path, 'item_id,reward,pscore,rank_position,slate_id,delayed_reward_ts\n2,1,0.5,0,s1,2024-01-02T00:00:00Z\n0,0,0.25,1,s1,\n');
    const [b] = await readAll(path);
    expect(Array.from(b.action)).toEqual([2, 0]);
    expect(Array.from(b.propensity)).toEqual([0.5, 0.25]);
    expect(Array.from(b.position ?? [])).toEqual([0, 1]);
    expect(Array.from(b.clusterKey ?? [])).toEqual([fnv1a32('s1'), fnv1a32('s1')]);
    expect(b.rewardTs?.[0]).toBe(Date.parse('2024-01-02T00:00:00Z') / 1000);
    expect(Number.isNaN(b.rewardTs?.[1])).toBe(true);
  });

  it('reads event_ts as seconds since the epoch from ISO text (UTC without a zone) or numbers', async () => {
    const path = join(dir, 'ts.csv');
    await writeFile(
      path,
      'action,reward,propensity,event_ts\n' +
        ['2024-01-01T00:00:00', '2024-01-01 00:00:00.5', '2024-01-01T01:00:00+01:00', '1704067200', '2024-01-01', ''].map((t) => `0,1,0.5,${t}`).join('\n') +
        '\n',
    );
    const [b] = await readAll(path);
    expect(Array.from(b.eventTs ?? [])).toEqual([1704067200, 1704067200.5, 1704067200, 1704067200, 1704067200, NaN]);
  });

  it('maps any column with --columns new=old, including list columns in wide form', async () => {
    const path = join(dir, 'mapped.csv');
    await writeFile(path, 'arm,click,p_log,pi_0,pi_1,reward\n1,1,0.5,0.4,0.6,99\n0,0,0.5,0.4,0.6,99\n');
    const [b] = await readAll(path, { columns: { action: 'arm', reward: 'click', propensity: 'p_log', action_dist: 'pi' } });
    expect(Array.from(b.action)).toEqual([1, 0]);
    expect(Array.from(b.reward)).toEqual([1, 0]);
    expect(b.actionDist).toEqual({ width: 2, values: Float64Array.from([0.4, 0.6, 0.4, 0.6]) });
  });

  it('rejects a mapping to a column the file lacks, and unknown contract names', async () => {
    const path = join(dir, 'mapped.csv');
    await expect(readAll(path, { columns: { propensity: 'nope' } })).rejects.toThrow(/--columns maps 'propensity' to 'nope', but the file has no such column; columns found: arm, click/);
    expect(() => openLog(path, { columns: { propensiti: 'p_log' } })).toThrow(UsageError);
  });

  it('reads CSV lists in wide form and gathers x_* columns into context', async () => {
    const path = join(dir, 'wide.csv');
    await writeFile(
      path,
      'action,reward,propensity,x_age,action_dist_0,action_dist_1,action_dist_2,q_hat_0,q_hat_1,q_hat_2,x_score\n' +
        '2,1,0.5,31,0.25,0.25,0.5,0.1,0.2,0.3,0.7\n' +
        '0,0,0.25,,0.5,0.25,0.25,1,2,3,-1\n',
    );
    const [b] = await readAll(path);
    expect(b.actionDist).toEqual({ width: 3, values: Float64Array.from([0.25, 0.25, 0.5, 0.5, 0.25, 0.25]) });
    expect(b.qHat).toEqual({ width: 3, values: Float64Array.from([0.1, 0.2, 0.3, 1, 2, 3]) });
    expect(b.context?.width).toBe(2);
    expect(Array.from(b.context?.values ?? [])).toEqual([31, 0.7, NaN, -1]);
  });

  it('dictionary-encodes string action ids in order of first appearance', async () => {
    const csv = join(dir, 'items.csv');
    await writeFile(csv, 'action,reward,propensity\napple,1,0.5\npear,0,0.5\napple,1,0.5\nfig,0,0.5\n');
    const jsonl = join(dir, 'items.jsonl');
    await writeFile(jsonl, ['apple', 'pear', 'apple', 'fig'].map((a) => JSON.stringify({ item_id: a, reward: 1, pscore: 0.5 })).join('\n') + '\n');
    for (const path of [csv, jsonl]) {
      const read = await readAll(path, { batchRows: 3 });
      expect(read.flatMap((b) => Array.from(b.action))).toEqual([0, 1, 0, 2]);
    }
  });

  it('reads the bare NaN and Infinity that Python writes into JSON lines', async () => {
    const path = join(dir, 'python.jsonl');
    await writeFile(path, '{"action": 0, "reward": 1, "propensity": 0.5, "context": [NaN, -Infinity, 2], "note": "NaN, here"}\n');
    const [b] = await readAll(path);
    expect(Array.from(b.context?.values ?? [])).toEqual([NaN, -Infinity, 2]);
  });
});

describe('readers: cluster keys', () => {
  it('implements FNV-1a 32 and the integer rule exactly', () => {
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(fnv1a32('é')).toBe(fnv1a32Bytes(new TextEncoder().encode('é')));
    expect(fnv1a32('😀x')).toBe(fnv1a32Bytes(new TextEncoder().encode('😀x')));
    expect(clusterKeyOfInteger(5)).toBe((5 ^ mix32(0)) >>> 0);
    expect(clusterKeyOfInteger(2 ** 32 + 7)).toBe((7 ^ mix32(1)) >>> 0);
    expect(clusterKeyOfInteger(2 ** 53 - 1)).toBe((0xffffffff ^ mix32(0x1fffff)) >>> 0);
    // Canonical text: an integer written as text is the same request as the integer.
    expect(clusterKeyOf('123')).toBe(clusterKeyOfInteger(123));
    expect(clusterKeyOf(123n)).toBe(clusterKeyOfInteger(123));
    expect(clusterKeyOf('0123')).toBe(fnv1a32('0123'));
    expect(clusterKeyOf(-5)).toBe(fnv1a32('-5'));
    expect(clusterKeyOf(2n ** 60n)).toBe(fnv1a32((2n ** 60n).toString()));
    expect(clusterKeyOfMissing(4)).toBe(fnv1a32('null#4'));
  });

  it('gives rows of one request one key, the same from typed and text files', async () => {
    const ids = [10, 10, 11, 2 ** 40, 2 ** 40];
    const arrowPath = join(dir, 'ids.arrow');
    const table = new Table({
      request_id: vectorFromArray(ids.map((x) => BigInt(x)), new Int64()),
      action: vectorFromArray([0, 1, 0, 1, 0], new Int32()),
      reward: vectorFromArray([1, 0, 1, 0, 1], new Float64()),
      propensity: vectorFromArray([0.5, 0.5, 0.5, 0.5, 0.5], new Float64()),
    });
    await writeFile(arrowPath, tableToIPC(table, 'file'));
    const csvPath = join(dir, 'ids.csv');
    await writeFile(csvPath, 'request_id,action,reward,propensity\n' + ids.map((id, i) => `${id},${i % 2},${(i + 1) % 2},0.5`).join('\n') + '\n');
    const jsonlPath = join(dir, 'ids.jsonl');
    await writeFile(jsonlPath, ids.map((id, i) => JSON.stringify({ request_id: id, action: i % 2, reward: (i + 1) % 2, propensity: 0.5 })).join('\n') + '\n');
    const expected = ids.map((id) => clusterKeyOfInteger(id));
    for (const path of [arrowPath, csvPath, jsonlPath]) {
      const [b] = await readAll(path);
      expect(Array.from(b.clusterKey ?? []), path).toEqual(expected);
    }
    expect(expected[0]).toBe(expected[1]);
    expect(expected[0]).not.toBe(expected[2]);
  });

  it('has no cluster key without request_id or slate_id; a null id is its own cluster', async () => {
    const path = join(dir, 'noid.csv');
    await writeFile(path, 'action,reward,propensity\n0,1,0.5\n');
    expect((await readAll(path))[0].clusterKey).toBeUndefined();
    const nulls = join(dir, 'nullid.jsonl');
    await writeFile(nulls, '{"request_id":"a","action":0,"reward":1,"propensity":0.5}\n{"request_id":null,"action":0,"reward":1,"propensity":0.5}\n');
    expect(Array.from((await readAll(nulls))[0].clusterKey ?? [])).toEqual([fnv1a32('a'), fnv1a32('null#1')]);
  });
});

describe('readers: Arrow types', () => {
  it('reads the IPC stream format, variable-length lists, Int64, Utf8 and timestamps', async () => {
    const path = join(dir, 'stream.arrow');
    const table = new Table({
      action: vectorFromArray([0n, 1n], new Int64()),
      reward: vectorFromArray([1, 0], new Float64()),
      propensity: vectorFromArray([0.5, 0.5], new Float64()),
      action_dist: vectorFromArray([[0.5, 0.5], [0.25, 0.75]], new List(new Field('item', new Float64(), true))),
      policy_id: vectorFromArray(['a', null], new Utf8()),
      event_ts: vectorFromArray([new Date(1500), null], new TimestampMillisecond()),
    });
    await writeFile(path, tableToIPC(table, 'stream'));
    const [b] = await readAll(path);
    expect(Array.from(b.action)).toEqual([0, 1]);
    expect(b.actionDist).toEqual({ width: 2, values: Float64Array.from([0.5, 0.5, 0.25, 0.75]) });
    expect(b.strings?.get('policy_id')).toEqual(['a', null]);
    expect(b.eventTs?.[0]).toBe(1.5);
    expect(Number.isNaN(b.eventTs?.[1])).toBe(true);
  });

  it('takes Float64 columns without copying them', async () => {
    const path = join(dir, 'sample.arrow');
    const [b] = await readAll(path);
    expect(b.reward.buffer).toBe(b.propensity.buffer);
  });
});

describe('readers: policy files', () => {
  it('reads target_propensity, action_dist and q_hat_target aligned with the log by row', async () => {
    const path = join(dir, 'policy.parquet');
    await writeTable(
      path,
      [
        { name: 'target_propensity', kind: 'float64' },
        { name: 'action_dist', kind: 'list', width: 2 },
        { name: 'q_hat_target', kind: 'float64' },
      ],
      [
        {
          n: 5,
          columns: {
            target_propensity: Float64Array.from([0.1, 0.2, 0.3, 0.4, 0.5]),
            action_dist: Float64Array.from([0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.5, 0.5]),
            q_hat_target: Float64Array.from([1, 2, 3, 4, 5]),
          },
        },
      ],
    );
    const read = await readPolicy(path, { batchRows: 2 });
    expect(read.map((b) => [b.n, b.rowOffset])).toEqual([[2, 0], [2, 2], [1, 4]]);
    expect(Array.from(read[1].targetPropensity ?? [])).toEqual([0.3, 0.4]);
    expect(read[1].actionDist).toEqual({ width: 2, values: Float64Array.from([0.7, 0.3, 0.6, 0.4]) });
    expect(Array.from(read[2].qHatTarget ?? [])).toEqual([5]);
  });

  it('needs target_propensity or action_dist', async () => {
    const path = join(dir, 'nopolicy.csv');
    await writeFile(path, 'q_hat_target\n1\n');
    await expect(readPolicy(path)).rejects.toThrow(InputError);
    await expect(readPolicy(path)).rejects.toThrow(/needs 'target_propensity' or 'action_dist'/);
  });
});

function fnv1a32Bytes(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}
