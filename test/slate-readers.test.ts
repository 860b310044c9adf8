import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLog, openPolicy } from '../src/data/read-log.js';
import type { ListColumn, LogBatch, PolicyBatch } from '../src/data/batch.js';
import { InputError } from '../src/data/errors.js';
import { writeTable, type OutColumnSpec } from '../src/data/write-log.js';
import { alignPolicies, inlinePolicy } from '../src/engine/align.js';
import { canonicalBlocks } from '../src/engine/reblock.js';
import { generateSlateLog, type SlateSynthConfig } from '../simulators/slate-world.js';
import { writeSlateSynth } from '../simulators/write-slate-synth.js';

const config: SlateSynthConfig = {
  n: 300,
  actions: 6,
  slateLength: 3,
  dim: 2,
  logger: 'plackett-luce',
  reward: 'independent',
  loggingTemperature: 1,
  qHatNoise: 0.1,
  seed: 4,
  populationSamples: 1000,
};

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const cat = (parts: (Float64Array | undefined)[]) => Float64Array.from(parts.flatMap((p) => Array.from(p ?? [])));

/** Concatenated list values, and every part's width (undefined where a part lacks the list). */
function catList(parts: (ListColumn | undefined)[]): { widths: (number | undefined)[]; values: Float64Array } {
  return { widths: [...new Set(parts.map((p) => p?.width))], values: cat(parts.map((p) => p?.values)) };
}

/** Runs `f` and returns the InputError it throws (fails the test if it throws nothing or something else). */
async function inputError(f: () => Promise<unknown>): Promise<InputError> {
  try {
    await f();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError, but nothing was thrown');
}

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'ope-slate-lists-')), name);
  writeFileSync(path, text);
  return path;
}

describe('slate columns in the readers (DESIGN.md §2 slate logs)', () => {
  it('read back exactly what ope synth --slate wrote, in Arrow, Parquet, CSV (wide lists) and JSONL', async () => {
    const gen = [...generateSlateLog(config)];
    const want = {
      ip: cat(gen.map((b) => b.propensityItemPosition)),
      cascade: cat(gen.map((b) => b.propensityCascade)),
      tip: cat(gen.map((b) => b.targets[0].targetPropensityItemPosition)),
      tcascade: cat(gen.map((b) => b.targets[0].targetPropensityCascade)),
      ips: cat(gen.map((b) => b.propensityItemPositions)),
      tips: cat(gen.map((b) => b.targets[0].targetPropensityItemPositions)),
    };
    expect(want.ips.length).toBe(config.n * config.slateLength * config.slateLength);
    for (const format of ['arrow', 'parquet', 'csv', 'jsonl'] as const) {
      const dir = mkdtempSync(join(tmpdir(), `ope-slate-${format}-`));
      const { truth } = await writeSlateSynth(config, { outDir: dir, format });
      const log: LogBatch[] = await all(openLog(join(dir, truth.log_file), { batchRows: 100 }).batches());
      const pol: PolicyBatch[] = await all(openPolicy(join(dir, truth.targets[0].file), { batchRows: 100 }).batches());
      expect(cat(log.map((b) => b.propensityItemPosition))).toEqual(want.ip);
      expect(cat(log.map((b) => b.propensityCascade))).toEqual(want.cascade);
      expect(cat(pol.map((b) => b.targetPropensityItemPosition))).toEqual(want.tip);
      expect(cat(pol.map((b) => b.targetPropensityCascade))).toEqual(want.tcascade);
      expect(catList(log.map((b) => b.propensityItemPositions)), format).toEqual({ widths: [config.slateLength], values: want.ips });
      expect(catList(pol.map((b) => b.targetPropensityItemPositions)), format).toEqual({ widths: [config.slateLength], values: want.tips });
      expect(log[0].clusterKey).toBeDefined(); // slate_id clusters the bootstrap
    }
  });

  it('a zero cascade propensity is an input error naming file, column and row', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ope-slate-bad-'));
    const file = join(dir, 'log.csv');
    writeFileSync(file, 'slate_id,position,action,reward,propensity,propensity_item_position,propensity_cascade\n0,0,1,1,0.1,0.5,0.5\n0,1,2,0,0.1,0.2,0\n');
    await expect(all(openLog(file).batches())).rejects.toThrow(/log\.csv: column 'propensity_cascade', row 1 \(line 3\): propensity_cascade must be in \(0, 1\], got 0/);
  });
});

// ------------------------------------------------------------ propensity_item_positions (pbm-ips)

const LIST_HEADER = 'slate_id,position,action,reward,propensity,propensity_item_position,propensity_item_positions_0,propensity_item_positions_1';
/** Two slates of length 2; entry `position` of each list is the row's propensity_item_position. */
const LIST_ROWS = ['0,0,1,1,0.1,0.4,0.4,0.2', '0,1,2,0,0.1,0.3,0.1,0.3', '1,0,3,0,0.2,0.5,0.5,0.25', '1,1,1,1,0.2,0.4,0.35,0.4'];
const WIDE = 'propensity_item_positions_0..propensity_item_positions_1';

describe('propensity_item_positions and target_propensity_item_positions', () => {
  it('read as lists of width L from native lists and wide CSV columns, and carry through --columns, inline targets, alignment and canonical blocks', async () => {
    const csv = tempFile('log.csv', [LIST_HEADER, ...LIST_ROWS].join('\n') + '\n');
    const [b] = await all(openLog(csv).batches());
    expect(b.propensityItemPositions).toEqual({ width: 2, values: Float64Array.from([0.4, 0.2, 0.1, 0.3, 0.5, 0.25, 0.35, 0.4]) });

    const mapped = tempFile('mapped.csv', 'slate_id,position,action,reward,propensity,pip_0,pip_1\n0,0,1,1,0.1,0.4,0.2\n0,1,2,0,0.1,0.1,0.3\n');
    const [m] = await all(openLog(mapped, { columns: { propensity_item_positions: 'pip' } }).batches());
    expect(m.propensityItemPositions).toEqual({ width: 2, values: Float64Array.from([0.4, 0.2, 0.1, 0.3]) });

    // Inline target lists (JSONL, native lists), 8 rows read in batches of 3 and re-cut into blocks of 5.
    const rows = Array.from({ length: 8 }, (_, i) => ({
      slate_id: i >> 1,
      position: i & 1,
      action: i % 3,
      reward: i % 2,
      propensity: 0.1,
      target_propensity: 0.05 * (i + 1),
      propensity_item_positions: [0.5 - 0.01 * i, 0.25 + 0.01 * i],
      target_propensity_item_positions: [i / 8, 0],
    }));
    const jsonl = tempFile('inline.jsonl', rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const wantLogged = Float64Array.from(rows.flatMap((r) => r.propensity_item_positions));
    const wantTarget = Float64Array.from(rows.flatMap((r) => r.target_propensity_item_positions));
    const batches = await all(openLog(jsonl, { batchRows: 3 }).batches());
    expect(batches.map((x) => inlinePolicy(x)?.targetPropensityItemPositions?.width)).toEqual([2, 2, 2]);
    const blocks = await all(canonicalBlocks(alignPolicies(openLog(jsonl, { batchRows: 3 }).batches(), [{ name: 'inline', kind: 'inline' }]), 5));
    expect(blocks.map((x) => x.log.n)).toEqual([5, 3]);
    expect(catList(blocks.map((x) => x.log.propensityItemPositions))).toEqual({ widths: [2], values: wantLogged });
    expect(catList(blocks.map((x) => x.log.targetPropensityItemPositions))).toEqual({ widths: [2], values: wantTarget });
    expect(catList(blocks.map((x) => x.policies[0].targetPropensityItemPositions))).toEqual({ widths: [2], values: wantTarget });

    // The same target lists from a policy file aligned by row order.
    const policy = tempFile(
      'policy.csv',
      ['target_propensity,target_propensity_item_positions_0,target_propensity_item_positions_1', ...rows.map((r) => [r.target_propensity, ...r.target_propensity_item_positions].join(','))].join(
        '\n',
      ) + '\n',
    );
    const fromFile = await all(
      canonicalBlocks(alignPolicies(openLog(jsonl, { batchRows: 3 }).batches(), [{ name: 'file', kind: 'file', path: policy, batches: () => openPolicy(policy, { batchRows: 3 }).batches() }]), 5),
    );
    expect(catList(fromFile.map((x) => x.policies[0].targetPropensityItemPositions))).toEqual({ widths: [2], values: wantTarget });
  });

  it('rule: every entry is a finite probability in [0, 1] (CSV wide, Parquet and JSONL lists), naming file, column and row', async () => {
    const csv = tempFile('log.csv', [LIST_HEADER, LIST_ROWS[0], '0,1,2,0,0.1,0.3,1.5,0.3'].join('\n') + '\n');
    const e1 = await inputError(() => all(openLog(csv).batches()));
    expect({ file: e1.file, column: e1.column, row: e1.row }).toEqual({ file: csv, column: WIDE, row: 1 });
    expect(e1.message).toBe(`${csv}: column '${WIDE}', row 1 (line 3): propensity_item_positions entry 0 is 1.5; probabilities must be finite and in [0, 1]`);

    const parquet = join(mkdtempSync(join(tmpdir(), 'ope-slate-lists-')), 'log.parquet');
    const spec: OutColumnSpec[] = [
      { name: 'position', kind: 'int32' },
      { name: 'action', kind: 'int32' },
      { name: 'reward', kind: 'float64' },
      { name: 'propensity', kind: 'float64' },
      { name: 'propensity_item_positions', kind: 'list', width: 2 },
    ];
    const columns = {
      position: Int32Array.from([0, 1, 0]),
      action: Int32Array.from([0, 1, 2]),
      reward: Float64Array.from([1, 0, 1]),
      propensity: Float64Array.from([0.1, 0.1, 0.2]),
      propensity_item_positions: Float64Array.from([0.4, 0.2, 0.1, 0.3, 0.5, -0.25]),
    };
    await writeTable(parquet, spec, [{ n: 3, columns }]);
    const e2 = await inputError(() => all(openLog(parquet).batches()));
    expect({ file: e2.file, column: e2.column, row: e2.row }).toEqual({ file: parquet, column: 'propensity_item_positions', row: 2 });
    expect(e2.rule).toBe('propensity_item_positions entry 1 is -0.25; probabilities must be finite and in [0, 1]');

    const jsonl = tempFile(
      'log.jsonl',
      '{"position":0,"action":1,"reward":1,"propensity":0.1,"propensity_item_positions":[0.4,0.2]}\n{"position":1,"action":2,"reward":0,"propensity":0.1,"propensity_item_positions":[0.1,Infinity]}\n',
    );
    const e3 = await inputError(() => all(openLog(jsonl).batches()));
    expect({ file: e3.file, column: e3.column, row: e3.row }).toEqual({ file: jsonl, column: 'propensity_item_positions', row: 1 });
    expect(e3.rule).toBe('propensity_item_positions entry 1 is Infinity; probabilities must be finite and in [0, 1]');

    // The target's lists obey the same rule, in a policy file too.
    const policy = tempFile('policy.csv', 'target_propensity,target_propensity_item_positions_0,target_propensity_item_positions_1\n0.1,0.5,0.5\n0.1,0.5,1.25\n');
    const e4 = await inputError(() => all(openPolicy(policy).batches()));
    expect({ file: e4.file, column: e4.column, row: e4.row }).toEqual({ file: policy, column: 'target_propensity_item_positions_0..target_propensity_item_positions_1', row: 1 });
    expect(e4.rule).toBe('target_propensity_item_positions entry 1 is 1.25; probabilities must be finite and in [0, 1]');
  });

  it('rule: every row has the same width (and the logger and target lists share it), naming file, column and row', async () => {
    const jsonl = tempFile(
      'log.jsonl',
      [
        '{"position":0,"action":1,"reward":1,"propensity":0.1,"propensity_item_positions":[0.4,0.2]}',
        '{"position":1,"action":2,"reward":0,"propensity":0.1,"propensity_item_positions":[0.1,0.3,0.2]}',
      ].join('\n') + '\n',
    );
    const e1 = await inputError(() => all(openLog(jsonl).batches()));
    expect({ file: e1.file, column: e1.column, row: e1.row }).toEqual({ file: jsonl, column: 'propensity_item_positions', row: 1 });
    expect(e1.rule).toBe('list length 3 differs from L = 2 (the length of row 0); every row has one entry per position of the slate');

    const both = tempFile(
      'both.jsonl',
      '{"position":0,"action":1,"reward":1,"propensity":0.1,"target_propensity":0.1,"propensity_item_positions":[0.4,0.2],"target_propensity_item_positions":[0.4,0.2,0.1]}\n',
    );
    const e2 = await inputError(() => all(openLog(both).batches()));
    expect({ file: e2.file, column: e2.column, row: e2.row }).toEqual({ file: both, column: 'target_propensity_item_positions', row: 0 });
    expect(e2.rule).toMatch(/^list length 3 differs from L = 2 \(the length of propensity_item_positions at row 0\).*must have the same width$/);
  });

  it("rule: the row's position is inside the list, naming file, column and row", async () => {
    const csv = tempFile('log.csv', [LIST_HEADER, LIST_ROWS[0], '0,2,2,0,0.1,0.3,0.1,0.3'].join('\n') + '\n');
    const e = await inputError(() => all(openLog(csv).batches()));
    expect({ file: e.file, column: e.column, row: e.row }).toEqual({ file: csv, column: WIDE, row: 1 });
    expect(e.rule).toBe('position 2 is out of range of propensity_item_positions, which has 2 entries (positions 0..1); its width must be the slate length L');
  });

  it("rule: the logger's entry at the row's position is > 0 (the target's may be 0), naming file, column and row", async () => {
    const header = 'slate_id,position,action,reward,propensity,propensity_item_positions_0,propensity_item_positions_1';
    const csv = tempFile('log.csv', [header, '0,0,1,1,0.1,0.4,0.2', '0,1,2,0,0.1,0.1,0'].join('\n') + '\n');
    const e = await inputError(() => all(openLog(csv).batches()));
    expect({ file: e.file, column: e.column, row: e.row }).toEqual({ file: csv, column: WIDE, row: 1 });
    expect(e.rule).toBe("propensity_item_positions entry 1 (at the row's position) is 0; the logger's probability of the logged item at its position must be > 0");
    // A zero at another position is fine, and so is a target's zero at the row's position.
    const ok = tempFile(
      'ok.csv',
      [`${header},target_propensity,target_propensity_item_positions_0,target_propensity_item_positions_1`, '0,0,1,1,0.1,0.4,0,0,0,0', '0,1,2,0,0.1,0,0.3,0,0,0'].join('\n') + '\n',
    );
    const [b] = await all(openLog(ok).batches());
    expect(b.targetPropensityItemPositions).toEqual({ width: 2, values: new Float64Array(4) });
  });

  it("rule: the entry at the row's position equals propensity_item_position within 1e-9 relative, naming file, column and row", async () => {
    const csv = tempFile('log.csv', [LIST_HEADER, LIST_ROWS[0], '0,1,2,0,0.1,0.31,0.1,0.3'].join('\n') + '\n');
    const e = await inputError(() => all(openLog(csv).batches()));
    expect({ file: e.file, column: e.column, row: e.row }).toEqual({ file: csv, column: WIDE, row: 1 });
    expect(e.rule).toBe("propensity_item_positions entry 1 (at the row's position) is 0.3 but propensity_item_position is 0.31; they must be equal within 1e-9 relative");
    // Within the tolerance (3e-11 relative) is accepted.
    const close = tempFile('close.csv', [LIST_HEADER, LIST_ROWS[0], '0,1,2,0,0.1,0.30000000001,0.1,0.3'].join('\n') + '\n');
    await expect(all(openLog(close).batches())).resolves.toHaveLength(1);
  });

  it("rule: the target's entry at the row's position equals target_propensity_item_position, inline or in a policy file", async () => {
    const header = 'slate_id,position,action,reward,propensity,target_propensity,target_propensity_item_position,target_propensity_item_positions_0,target_propensity_item_positions_1';
    const csv = tempFile('log.csv', [header, '0,0,1,1,0.1,0.2,0.5,0.5,0.1', '0,1,2,0,0.1,0.2,0.4,0.2,0.45'].join('\n') + '\n');
    const e1 = await inputError(() => all(openLog(csv).batches()));
    expect({ file: e1.file, column: e1.column, row: e1.row }).toEqual({ file: csv, column: 'target_propensity_item_positions_0..target_propensity_item_positions_1', row: 1 });
    expect(e1.rule).toBe("target_propensity_item_positions entry 1 (at the row's position) is 0.45 but target_propensity_item_position is 0.4; they must be equal within 1e-9 relative");

    // A policy file has no positions: the check runs when it is aligned with the log.
    const log = tempFile('log.csv', [LIST_HEADER, ...LIST_ROWS].join('\n') + '\n');
    const policy = tempFile(
      'policy.csv',
      [
        'target_propensity,target_propensity_item_position,target_propensity_item_positions_0,target_propensity_item_positions_1',
        '0.2,0.5,0.5,0.1',
        '0.2,0.4,0.2,0.4',
        '0.3,0.6,0.6,0',
        '0.3,0.5,0.1,0.55',
      ].join('\n') + '\n',
    );
    const input = { name: 'p', kind: 'file' as const, path: policy, batches: () => openPolicy(policy, { batchRows: 2 }).batches() };
    const e2 = await inputError(() => all(alignPolicies(openLog(log, { batchRows: 2 }).batches(), [input])));
    expect({ file: e2.file, column: e2.column, row: e2.row }).toEqual({ file: policy, column: 'target_propensity_item_positions', row: 3 });
    expect(e2.rule).toBe("target_propensity_item_positions entry 1 (at the log row's position) is 0.55 but target_propensity_item_position is 0.5; they must be equal within 1e-9 relative");
    // ... and so does the width check against the log's positions.
    const narrow = tempFile('narrow.csv', ['target_propensity,target_propensity_item_positions_0', '0.2,0.5', '0.2,0.2', '0.3,0.6', '0.3,0.1'].join('\n') + '\n');
    const e3 = await inputError(() => all(alignPolicies(openLog(log).batches(), [{ ...input, path: narrow, batches: () => openPolicy(narrow).batches() }])));
    expect({ file: e3.file, column: e3.column, row: e3.row }).toEqual({ file: narrow, column: 'target_propensity_item_positions', row: 1 });
    expect(e3.rule).toMatch(/^the log's position 1 is out of range of target_propensity_item_positions, which has 1 entries/);
  });
});

describe("Open Bandit Pipeline's column names", () => {
  it('read as the contract columns (pscore_item_position, pscore_cascade, evaluation_policy_*)', async () => {
    const header = (names: string[]) => names.join(',') + '\n';
    const rows = ['0,0,1,1,0.2,0.5,0.5,0.3,0.6,0.6', '0,1,2,0,0.2,0.4,0.2,0.3,0.2,0.3', '1,0,0,1,0.1,0.25,0.25,0.05,0.5,0.5', '1,1,3,1,0.1,0.5,0.1,0.05,0.25,0.05'].join('\n') + '\n';
    const contract = tempFile(
      'contract.csv',
      header([
        'slate_id',
        'position',
        'action',
        'reward',
        'propensity',
        'propensity_item_position',
        'propensity_cascade',
        'target_propensity',
        'target_propensity_item_position',
        'target_propensity_cascade',
      ]) + rows,
    );
    const obp = tempFile(
      'obp.csv',
      header([
        'slate_id',
        'position',
        'item_id',
        'reward',
        'pscore',
        'pscore_item_position',
        'pscore_cascade',
        'evaluation_policy_pscore',
        'evaluation_policy_pscore_item_position',
        'evaluation_policy_pscore_cascade',
      ]) + rows,
    );
    const read = async (path: string) => (await all(openLog(path).batches()))[0];
    const a = await read(contract);
    const b = await read(obp);
    expect({ ...b, source: '' }).toEqual({ ...a, source: '' });
    expect(Array.from(b.targetPropensityCascade ?? [])).toEqual([0.6, 0.3, 0.5, 0.05]);
  });
});
