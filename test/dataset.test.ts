import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateLog } from '../src/evaluate-log.js';
import { runCli } from './helpers/run-cli.js';

/**
 * Logs as datasets (issue 10, item 2): a folder (Hive-partitioned) or a glob of files read as one
 * log, file after file, with results bit-identical to the same rows in one file.
 */

let dir: string;
let rows: string[];
let header: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-dataset-'));
  const r = runCli(['synth', '--out', join(dir, 'one'), '--n', '12000', '--format', 'csv', '--seed', '9']);
  expect(r.code, r.stderr).toBe(0);
  const lines = (await readFile(join(dir, 'one', 'log.csv'), 'utf8')).trimEnd().split('\n');
  header = lines[0];
  rows = lines.slice(1);
  // Three days of unequal size, as a partitioned dataset.
  const cuts = [0, 5000, 5001, rows.length];
  for (let k = 0; k < 3; k++) {
    await mkdir(join(dir, 'ds', `day=${k + 1}`), { recursive: true });
    await writeFile(join(dir, 'ds', `day=${k + 1}`, 'part-0.csv'), [header, ...rows.slice(cuts[k], cuts[k + 1])].join('\n') + '\n');
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a log given as a folder or a glob', () => {
  it('gives the same estimates, standard errors and intervals as the rows in one file, bit for bit', async () => {
    const policies = { t: join(dir, 'one', 'policy-softmax-0.5.csv') };
    const opts = { policies, estimators: 'ips,snips,dr,switch-dr:tau=20', replicates: 200, seed: 3 };
    const one = await evaluateLog({ ...opts, log: join(dir, 'one', 'log.csv') });
    for (const log of [join(dir, 'ds'), join(dir, 'ds', 'day=*', '*.csv'), join(dir, '**', 'part-*.csv')]) {
      const many = await evaluateLog({ ...opts, log });
      expect(many.result.n).toBe(rows.length);
      expect(JSON.stringify(many.result.estimates)).toBe(JSON.stringify(one.result.estimates));
      expect(JSON.stringify(many.result.policies)).toBe(JSON.stringify(one.result.policies));
    }
  });

  it('ope validate reads a folder; errors name the file: no match, other columns', async () => {
    const v = runCli(['validate', '--log', join(dir, 'ds')]);
    expect(v.code, v.stderr).toBe(0);
    const none = runCli(['evaluate', '--log', join(dir, 'nothing-*', '*.csv'), '--estimators', 'ips']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no log file matches the pattern');
    await mkdir(join(dir, 'bad', 'a'), { recursive: true });
    await mkdir(join(dir, 'bad', 'b'), { recursive: true });
    await writeFile(join(dir, 'bad', 'a', 'p.csv'), 'action,reward,propensity,target_propensity\n0,1,0.5,0.5\n');
    await writeFile(join(dir, 'bad', 'b', 'p.csv'), 'action,reward,propensity,target_propensity,extra\n0,1,0.5,0.5,1\n');
    const bad = runCli(['evaluate', '--log', join(dir, 'bad'), '--estimators', 'ips']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/b[/\\]p\.csv.*columns .* differ from the dataset's first file's/);
  });

  it('string action ids mean one action across the files (one dictionary)', async () => {
    await mkdir(join(dir, 'str'), { recursive: true });
    // 'x' is first seen in file 1 and 'y' in file 2; the one-file log sees them in the same order.
    const a = 'action,reward,propensity,target_propensity\nx,1,0.5,1\nx,0,0.5,1\n';
    const b = 'action,reward,propensity,target_propensity\ny,1,0.5,0\nx,1,0.5,1\n';
    await writeFile(join(dir, 'str', '1.csv'), a);
    await writeFile(join(dir, 'str', '2.csv'), b);
    await writeFile(join(dir, 'str-one.csv'), a + b.split('\n').slice(1).join('\n'));
    const opts = { estimators: 'ips', replicates: 0 };
    const many = await evaluateLog({ ...opts, log: join(dir, 'str') });
    const one = await evaluateLog({ ...opts, log: join(dir, 'str-one.csv') });
    // ips = (2 + 0 + 0 + 2) / 4 = 1
    expect(many.result.estimates[0].value).toBe(1);
    expect(many.result.estimates[0].value).toBe(one.result.estimates[0].value);
  });
});
