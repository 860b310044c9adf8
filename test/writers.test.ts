import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC, Type } from 'apache-arrow';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/data/errors.js';
import { openLog } from '../src/data/read-log.js';
import { writeFileAtomic, writeTable, type OutBatch, type OutColumnSpec } from '../src/data/write-log.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-writers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SCHEMA: OutColumnSpec[] = [
  { name: 'x', kind: 'float64' },
  { name: 'k', kind: 'int32' },
  { name: 's', kind: 'string' },
  { name: 'l', kind: 'list', width: 2 },
];

const HARD_NUMBERS = [0.1 + 0.2, 1 / 3, -0, 5e-324, 1.7976931348623157e308, -2.5e-8, 123456789.123456789, 1e21, NaN, Infinity];

function batch(start: number, n: number): OutBatch {
  return {
    n,
    columns: {
      x: Float64Array.from({ length: n }, (_, i) => HARD_NUMBERS[(start + i) % HARD_NUMBERS.length]),
      k: Int32Array.from({ length: n }, (_, i) => start + i - 3),
      s: Array.from({ length: n }, (_, i) => (i % 3 === 0 ? null : `v${start + i},"q"\n`)),
      l: Float64Array.from({ length: 2 * n }, (_, j) => (start * 2 + j) / 3),
    },
  };
}

async function tmpLeftovers(): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.includes('.tmp-'));
}

describe('writeTable: the formats as other tools see them', () => {
  it('Arrow: a file-format IPC table with Float64, Int32, Utf8 and FixedSizeList<Float64>', async () => {
    const path = join(dir, 'out.arrow');
    expect(await writeTable(path, SCHEMA, [batch(0, 4), batch(4, 3)])).toEqual({ rows: 7 });
    const bytes = await readFile(path);
    expect(bytes.subarray(0, 6).toString()).toBe('ARROW1');
    const t = tableFromIPC(bytes);
    expect(t.numRows).toBe(7);
    expect(t.batches.length).toBe(2);
    expect(t.schema.fields.map((f) => [f.name, f.typeId])).toEqual([
      ['x', Type.Float],
      ['k', Type.Int],
      ['s', Type.Utf8],
      ['l', Type.FixedSizeList],
    ]);
    expect(t.getChild('s')?.get(0)).toBeNull();
    expect(t.getChild('s')?.get(1)).toBe('v1,"q"\n');
    expect(Array.from(t.getChild('l')?.get(6) as Iterable<number>)).toEqual([12 / 3, 13 / 3]);
  });

  it('Parquet: one row group per batch, a LIST column, nulls in strings', async () => {
    const path = join(dir, 'out.parquet');
    await writeTable(path, SCHEMA, [batch(0, 4), batch(4, 3), batch(7, 5)]);
    const file = await asyncBufferFromFile(path);
    const meta = await parquetMetadataAsync(file);
    expect(meta.row_groups.map((g) => Number(g.num_rows))).toEqual([4, 3, 5]);
    const rows = await parquetReadObjects({ file });
    expect(rows.length).toBe(12);
    expect(rows[0].s).toBeNull();
    expect(rows[5].l).toEqual([10 / 3, 11 / 3]);
    expect(rows[5].k).toBe(2);
  });

  it('CSV: wide list columns and quoting; JSONL: arrays and null for NaN and infinity', async () => {
    const csv = join(dir, 'out.csv');
    await writeTable(csv, SCHEMA, [batch(0, 2)]);
    const text = await readFile(csv, 'utf8');
    expect(text.split('\n')[0]).toBe('x,k,s,l_0,l_1');
    expect(text).toContain('0.30000000000000004,-3,,0,0.3333333333333333\n');
    expect(text).toContain('0.3333333333333333,-2,"v1,""q""\n",0.6666666666666666,1\n');
    const jsonl = join(dir, 'out.jsonl');
    await writeTable(jsonl, SCHEMA, [batch(8, 2)]);
    const lines = (await readFile(jsonl, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ x: null, k: 5, s: null, l: [16 / 3, 17 / 3] });
    expect(lines[1]).toEqual({ x: null, k: 6, s: 'v9,"q"\n', l: [18 / 3, 19 / 3] });
  });

  it('CSV and JSONL numbers read back bit for bit (shortest round-trip text, -0 kept)', async () => {
    const finite = HARD_NUMBERS.filter((x) => Number.isFinite(x));
    const n = finite.length;
    const spec: OutColumnSpec[] = [
      { name: 'action', kind: 'int32' },
      { name: 'reward', kind: 'float64' },
      { name: 'propensity', kind: 'float64' },
    ];
    const b: OutBatch = { n, columns: { action: new Int32Array(n), reward: Float64Array.from(finite), propensity: new Float64Array(n).fill(1 / 3) } };
    for (const f of ['csv', 'jsonl', 'arrow', 'parquet']) {
      const path = join(dir, `exact.${f}`);
      await writeTable(path, spec, [b]);
      for await (const read of openLog(path).batches()) {
        expect(Array.from(read.reward), f).toEqual(finite);
        expect(Object.is(read.reward[2], -0), f).toBe(true);
      }
    }
  });

  it('accepts a sync iterable and writes a readable empty table when there are no rows', async () => {
    for (const f of ['arrow', 'parquet', 'csv', 'jsonl']) {
      const path = join(dir, `empty.${f}`);
      expect(await writeTable(path, SCHEMA, [])).toEqual({ rows: 0 });
    }
    expect(tableFromIPC(await readFile(join(dir, 'empty.arrow'))).numRows).toBe(0);
    expect(await readFile(join(dir, 'empty.csv'), 'utf8')).toBe('x,k,s,l_0,l_1\n');
  });
});

describe('writeTable: streaming and atomicity', () => {
  it('streams many batches from an async generator', async () => {
    async function* gen(): AsyncGenerator<OutBatch> {
      for (let s = 0; s < 200; s++) yield batch(s * 50, 50);
    }
    for (const f of ['arrow', 'parquet', 'csv', 'jsonl']) {
      const path = join(dir, `many.${f}`);
      expect(await writeTable(path, SCHEMA, gen())).toEqual({ rows: 10000 });
    }
    const meta = await parquetMetadataAsync(await asyncBufferFromFile(join(dir, 'many.parquet')));
    expect(meta.row_groups.length).toBe(200);
    expect(tableFromIPC(await readFile(join(dir, 'many.arrow'))).numRows).toBe(10000);
  });

  it('leaves no partial file when the batches fail midway, and keeps an existing file', async () => {
    for (const f of ['arrow', 'parquet', 'csv', 'jsonl']) {
      const path = join(dir, `atomic.${f}`);
      await writeFile(path, 'previous content');
      async function* failing(): AsyncGenerator<OutBatch> {
        yield batch(0, 3);
        throw new Error('generator failed');
      }
      await expect(writeTable(path, SCHEMA, failing())).rejects.toThrow('generator failed');
      expect(await readFile(path, 'utf8')).toBe('previous content');
      expect(await tmpLeftovers()).toEqual([]);
    }
  });

  it('rejects a batch that does not match the schema', async () => {
    const path = join(dir, 'bad-batch.csv');
    const bad: OutBatch = { n: 2, columns: { x: new Float64Array(2), k: new Int32Array(2), s: [null, null], l: new Float64Array(3) } };
    await expect(writeTable(path, SCHEMA, [bad])).rejects.toThrow("column 'l' has 3 values, expected 4");
    await expect(writeTable(path, [{ name: 'l', kind: 'list' }], [])).rejects.toThrow('positive integer width');
    expect(await tmpLeftovers()).toEqual([]);
  });

  it('names the file when it cannot be written, and refuses an unknown extension', async () => {
    await expect(writeTable(join(dir, 'no-such-dir', 'x.csv'), SCHEMA, [])).rejects.toThrow(InputError);
    await expect(writeTable(join(dir, 'x.xlsx'), SCHEMA, [])).rejects.toThrow(/unsupported file extension '.xlsx'; supported: .arrow, .feather, .ipc, .parquet, .csv, .jsonl, .ndjson/);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file in one step and cleans up after a failure', async () => {
    const path = join(dir, 'doc.json');
    await writeFileAtomic(path, '{"a":1}\n');
    await writeFileAtomic(path, new TextEncoder().encode('{"a":2}\n'));
    expect(await readFile(path, 'utf8')).toBe('{"a":2}\n');
    await expect(writeFileAtomic(join(dir, 'missing', 'doc.json'), 'x')).rejects.toThrow(InputError);
    expect(await tmpLeftovers()).toEqual([]);
  });
});
