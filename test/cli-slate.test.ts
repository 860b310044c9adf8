import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/run-cli.js';

/**
 * The slate path as a user types it: `ope synth --slate` prints the `ope evaluate` command for its
 * output; that command runs every slate estimator on every target, with slate diagnostics in the
 * JSON, and the same log as Arrow or as wide CSV gives the same numbers.
 */

interface Estimate {
  estimator: string;
  label: string;
  value: number;
  se: number;
  diagnostics: Record<string, number>;
}

interface PolicyDoc {
  name: string;
  diagnostics: Record<string, number | null | object>;
  estimates: Estimate[];
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-cli-slate-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Synthesizes into dir/<name> and returns the printed evaluate command's arguments (after `npx ope`). */
function synth(name: string, format: string): string[] {
  const out = join(dir, name);
  const r = runCli(['synth', '--slate', '--out', out, '--n', '4000', '--slate-reward', 'additive', '--format', format, '--seed', '5']);
  expect(r.code, r.stderr).toBe(0);
  const line = r.stdout.split('\n').find((l) => l.startsWith('Evaluate with: npx ope evaluate '));
  expect(line, r.stdout).toBeDefined();
  return (line as string).slice('Evaluate with: npx ope '.length).split(' ');
}

describe('ope synth --slate, then ope evaluate', () => {
  it('runs all six slate estimators per target, with slate diagnostics, identically from Arrow and CSV', async () => {
    const arrowArgs = synth('arrow', 'arrow');
    const csvArgs = synth('csv', 'csv');
    const run = (args: string[]) => {
      const r = runCli([...args, '--bootstrap', '200', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { policies: PolicyDoc[] };
    };
    const fromArrow = run(arrowArgs);
    const fromCsv = run(csvArgs);
    expect(fromCsv.policies).toEqual(fromArrow.policies);

    const truth = JSON.parse(await readFile(join(dir, 'arrow', 'truth.json'), 'utf8')) as { targets: { name: string; value_sample: number }[]; examination: number[] };
    expect(fromArrow.policies.map((p) => p.name)).toEqual(truth.targets.map((t) => t.name));
    for (const p of fromArrow.policies) {
      expect(p.estimates.map((e) => e.estimator)).toEqual(['slate-ips', 'iips', 'rips', 'pi', 'cascade-dr', 'pbm-ips']);
      expect(p.diagnostics.slates).toBe(4000);
      expect(p.diagnostics.slate_ess as number).toBeGreaterThan(0);
      const value = truth.targets.find((t) => t.name === p.name)?.value_sample as number;
      for (const e of p.estimates) {
        expect(e.diagnostics.weight_ess, e.label).toBeGreaterThan(0);
        // Additive (position-based) rewards: every estimator but pi (which needs a factorized
        // logger; this one is Plackett-Luce) is unbiased, so within 4 standard errors.
        if (e.estimator !== 'pi') expect(Math.abs(e.value - value), `${p.name} ${e.label}`).toBeLessThan(4 * e.se);
      }
      expect(p.estimates.find((e) => e.estimator === 'pbm-ips')?.label).toBe('pbm-ips:' + truth.examination.map((t, j) => `theta${j}=${t}`).join(','));
    }
  });
});
