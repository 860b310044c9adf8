import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLog } from '../src/data/read-log.js';
import { validateLog } from '../src/data/validate.js';
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
