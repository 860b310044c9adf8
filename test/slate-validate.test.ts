import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLog } from '../src/data/read-log.js';
import { InputError } from '../src/data/errors.js';
import { validateLog } from '../src/data/validate.js';
import { generateSlateLog } from '../simulators/slate-world.js';
import { writeSlateSynth } from '../simulators/write-slate-synth.js';
import { runCli } from './helpers/run-cli.js';

const HEADER = 'slate_id,position,action,reward,propensity,propensity_item_position,propensity_cascade';
// Two slates of length 2; the joint propensity is the last cascade propensity of each.
const GOOD = [HEADER, '7,0,1,1,0.12,0.4,0.4', '7,1,3,0,0.12,0.3,0.12', '8,1,0,1,0.2,0.5,0.2', '8,0,2,0,0.2,0.5,0.5'];

function file(lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ope-slate-validate-'));
  const path = join(dir, 'slates.csv');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

describe('ope validate: the slate log contract', () => {
  it('accepts a consistent slate log (positions in any order within a slate) and counts its slates', async () => {
    const report = await validateLog(openLog(file(GOOD)));
    expect(report.slates).toBe(2);
  });

  const bad: [string, string[], RegExp][] = [
    ['a repeated position', [HEADER, '7,0,1,1,0.12,0.4,0.4', '7,0,3,0,0.12,0.3,0.12'], /slates\.csv: column 'position', row 1.*\(slate_id, position\) = \(7, 0\)/],
    ['a missing position', [HEADER, '7,0,1,1,0.12,0.4,0.4', '7,2,3,0,0.12,0.3,0.12'], /slate 7, position 2: position 2 is out of range/],
    [
      'an increasing cascade propensity',
      [HEADER, '7,0,1,1,0.3,0.4,0.2', '7,1,3,0,0.3,0.3,0.3'],
      /slates\.csv: column 'propensity_cascade', row 1: slate 7, position 1: propensity_cascade 0.3 is larger than at position 0/,
    ],
    [
      'a joint propensity that is not the last cascade one',
      [HEADER, '7,0,1,1,0.1,0.4,0.4', '7,1,3,0,0.1,0.3,0.12'],
      /slates\.csv: column 'propensity', row 1: slate 7, position 1: propensity 0.1 must equal the last propensity_cascade of the slate \(0.12\)/,
    ],
    ['a joint propensity that differs within the slate', [HEADER, '7,0,1,1,0.12,0.4,0.4', '7,1,3,0,0.13,0.3,0.13'], /slate 7, position 1: propensity is the probability of the whole slate/],
    ['slates of different lengths', [...GOOD, '9,0,1,1,0.5,0.5,0.5'], /slate 9, position 0: the slate has 1 positions but earlier slates have 2/],
    ['a slate whose rows are not adjacent', [...GOOD, '7,1,3,0,0.12,0.3,0.12'], /column 'position', row 4.*\(slate_id, position\) = \(7, 1\)/],
  ];
  for (const [what, lines, message] of bad) {
    it(`rejects ${what}, naming file, slate and position`, async () => {
      await expect(validateLog(openLog(file(lines)))).rejects.toThrow(message);
    });
  }

  it('the CLI exits 2 with one line', () => {
    const r = runCli(['validate', '--log', file(bad[2][1])]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/slate 7, position 1/);
  });
});

describe('ope validate: slate lists and slate-aware warnings', () => {
  const LISTS = `${HEADER},propensity_item_positions_0,propensity_item_positions_1,propensity_item_positions_2`;

  it('checks that propensity_item_positions has one entry per position of the slate (width L), naming file, slate and position', async () => {
    // Slates of L = 2 with lists of 3: every row passes the reader's rules, the slate does not.
    const path = file([LISTS, '7,0,1,1,0.12,0.4,0.4,0.4,0.3,0.1', '7,1,3,0,0.12,0.3,0.12,0.2,0.3,0.1']);
    const err = await validateLog(openLog(path)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    const e = err as InputError;
    expect({ file: e.file, column: e.column, row: e.row }).toEqual({ file: path, column: 'propensity_item_positions', row: 0 });
    expect(e.message).toBe(
      `${path}: column 'propensity_item_positions', row 0: slate 7, position 0: propensity_item_positions has 3 entries per row but the slate has L = 2 positions: it holds the item's probability at every position 0..L-1`,
    );
    // The target's inline lists too.
    const target = file([
      `${HEADER},target_propensity,target_propensity_item_positions_0,target_propensity_item_positions_1,target_propensity_item_positions_2`,
      '7,0,1,1,0.12,0.4,0.4,0.1,0.4,0.3,0.1',
      '7,1,3,0,0.12,0.3,0.12,0.1,0.2,0.3,0.1',
    ]);
    await expect(validateLog(openLog(target))).rejects.toThrow(
      /column 'target_propensity_item_positions', row 0: slate 7, position 0: target_propensity_item_positions has 3 entries per row but the slate has L = 2/,
    );
    // Width L is accepted, and the slates are counted.
    const good = file([
      `${HEADER},propensity_item_positions_0,propensity_item_positions_1`,
      '7,0,1,1,0.12,0.4,0.4,0.4,0.3',
      '7,1,3,0,0.12,0.3,0.12,0.2,0.3',
      '8,0,0,1,0.2,0.5,0.5,0.5,0.1',
      '8,1,2,0,0.2,0.5,0.2,0.1,0.5',
    ]);
    expect((await validateLog(openLog(good))).slates).toBe(2);
  });

  it('does not warn about the tiny joint slate propensity when the item-position propensities are reasonable', async () => {
    // Joint 2e-5 and 1e-5 (below the 1e-4 threshold), item-position propensities >= 0.2.
    const path = file([HEADER, '1,0,1,1,0.00002,0.3,0.3', '1,1,3,0,0.00002,0.2,0.00002', '2,0,2,0,0.00001,0.25,0.25', '2,1,0,1,0.00001,0.4,0.00001']);
    const report = await validateLog(openLog(path));
    expect(report.slates).toBe(2);
    expect(report.warnings.map((w) => w.code)).not.toContain('tiny-propensity');
  });

  it('warns when item-position propensities are tiny, and says it is about them', async () => {
    const path = file([HEADER, '1,0,1,1,0.00002,0.3,0.3', '1,1,3,0,0.00002,0.00005,0.00002', '2,0,2,0,0.00001,0.25,0.25', '2,1,0,1,0.00001,0.4,0.00001']);
    const report = await validateLog(openLog(path));
    const tiny = report.warnings.find((w) => w.code === 'tiny-propensity');
    expect(tiny).toEqual({
      code: 'tiny-propensity',
      count: 1,
      value: 0.00005,
      message: '1 rows (25.0%) have an item-position propensity (propensity_item_position) below 0.0001 (min 0.00005): their item-position weights can reach 20000 and dominate iips and pbm-ips',
    });
  });

  it("without item-position propensities, looks at the first slot's propensity (propensity_cascade at position 0)", async () => {
    const header = 'slate_id,position,action,reward,propensity,propensity_cascade';
    // Slate 1 starts with 0.3 and slate 2 with 0.00005: only slate 2 counts, though every joint is tiny.
    const path = file([header, '1,0,1,1,0.00002,0.3', '1,1,3,0,0.00002,0.00002', '2,0,2,0,0.00001,0.00005', '2,1,0,1,0.00001,0.00001']);
    const tiny = (await validateLog(openLog(path))).warnings.find((w) => w.code === 'tiny-propensity');
    expect(tiny).toMatchObject({ count: 1, value: 0.00005 });
    expect(tiny?.message).toMatch(/^1 slates \(50\.0%\) have a first-slot propensity \(propensity_cascade at position 0\) below 0\.0001 \(min 0\.00005\)/);
    const fine = file([header, '1,0,1,1,0.00002,0.3', '1,1,3,0,0.00002,0.00002', '2,0,2,0,0.00001,0.5', '2,1,0,1,0.00001,0.00001']);
    expect((await validateLog(openLog(fine))).warnings.map((w) => w.code)).not.toContain('tiny-propensity');
  });

  it('calls large weights on a slate log joint slate weights and points to iips, rips and pi; --json keeps the warning fields', async () => {
    const path = file([`${HEADER},target_propensity`, '1,0,1,1,0.00002,0.3,0.3,0.5', '1,1,3,0,0.00002,0.2,0.00002,0.5', '2,0,2,0,0.2,0.4,0.4,0.1', '2,1,0,1,0.2,0.5,0.2,0.1']);
    const report = await validateLog(openLog(path));
    const heavy = report.warnings.find((w) => w.code === 'large-weight');
    expect(heavy).toMatchObject({ count: 2, value: 0.5 / 0.00002 });
    expect(heavy?.message).toMatch(/^2 rows \(50\.0%\) have a joint slate weight above 1000 \(max 25000\): these are weights of whole slates/);
    expect(heavy?.message).toContain('iips, rips and pi');
    const r = runCli(['validate', '--log', path, '--json']);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as { warnings: Record<string, unknown>[] };
    expect(json.warnings.map((w) => Object.keys(w).sort())).toEqual(json.warnings.map(() => ['code', 'count', 'message', 'value']));
    expect(json.warnings.find((w) => w.code === 'large-weight')).toEqual(heavy);
  });

  it('validates what ope synth --slate writes (K = 10, L = 5) without a tiny-propensity warning, though its joint propensities are tiny', async () => {
    const config = {
      n: 200,
      actions: 10,
      slateLength: 5,
      dim: 3,
      logger: 'plackett-luce' as const,
      reward: 'independent' as const,
      loggingTemperature: 1,
      qHatNoise: 0.1,
      seed: 3,
      populationSamples: 100,
    };
    let minJoint = Infinity;
    let minItemPosition = Infinity;
    for (const b of generateSlateLog(config)) {
      for (let r = 0; r < b.n; r++) {
        minJoint = Math.min(minJoint, b.propensity[r]);
        minItemPosition = Math.min(minItemPosition, b.propensityItemPosition[r]);
      }
    }
    expect(minJoint).toBeLessThan(1e-4);
    expect(minItemPosition).toBeGreaterThan(1e-4);
    const dir = mkdtempSync(join(tmpdir(), 'ope-slate-validate-synth-'));
    const { truth } = await writeSlateSynth(config, { outDir: dir, format: 'parquet' });
    const report = await validateLog(openLog(join(dir, truth.log_file)));
    expect(report.slates).toBe(200);
    expect(report.warnings.map((w) => w.code)).not.toContain('tiny-propensity');
  });
});
