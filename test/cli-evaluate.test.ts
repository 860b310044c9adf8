import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/run-cli.js';

let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ope-cli-'));
  const r = runCli(['synth', '--out', dir, '--n', '3000', '--actions', '4', '--targets', 'a=softmax:0.5,b=uniform', '--population-samples', '20000', '--seed', '3']);
  expect(r.code, r.stderr).toBe(0);
});

describe('ope evaluate', () => {
  it('prints a table with every estimator for every policy, and the truth is in the log folder', () => {
    const r = runCli(['evaluate', '--log', join(dir, 'log.arrow'), '--policy', `a=${join(dir, 'policy-a.arrow')}`, '--policy', `b=${join(dir, 'policy-b.arrow')}`, '--bootstrap', '100', '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    for (const est of ['dm', 'ips', 'snips', 'clipped-ips:clip=100', 'sg-ips:lambda=0.01', 'dr', 'sndr', 'switch-dr:tau=100', 'dr-os:lambda=10000']) {
      for (const policy of ['a', 'b']) expect(r.stdout.split('\n').some((l) => l.split(/\s+/).slice(0, 2).join(' ') === `${policy} ${est}`), `${policy} ${est}`).toBe(true);
    }
    expect(r.stdout).toMatch(/95% CI \(percentile\)/);
    expect(r.stderr).toBe(''); // no progress bar without a TTY
  });

  it('--json is one document with the DESIGN.md shape, identical for any thread count; --out writes it atomically', () => {
    const base = ['evaluate', '--log', join(dir, 'log.arrow'), '--policy', `a=${join(dir, 'policy-a.arrow')}`, '--estimators', 'ips,snips,dr,switch-dr:tau=5', '--bootstrap', '200', '--seed', '9', '--json'];
    const out = join(dir, 'result.json');
    const one = runCli([...base, '--threads', '1', '--out', out]);
    const two = runCli([...base, '--threads', '2', '--batch-rows', '777']);
    expect(one.code, one.stderr).toBe(0);
    const doc = JSON.parse(one.stdout);
    const doc2 = JSON.parse(two.stdout);
    expect(doc.seed).toBe(9);
    expect(doc.backend).toMatch(/js/);
    expect(doc.policies[0].name).toBe('a');
    const e = doc.policies[0].estimates.find((x: { label: string }) => x.label === 'switch-dr:tau=5');
    expect(e).toMatchObject({ estimator: 'switch-dr', params: { tau: 5 }, ci: { method: 'percentile', alpha: 0.05 } });
    expect(e.ci.lower).toBeLessThan(e.value);
    expect(e.ci.upper).toBeGreaterThan(e.value);
    expect(typeof doc.policies[0].diagnostics.ess).toBe('number');
    // Same numbers with 2 threads and another batch size.
    expect(doc2.policies).toEqual(doc.policies);
    expect(JSON.parse(readFileSync(out, 'utf8')).policies).toEqual(doc.policies);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('runs every format the same way', () => {
    const d2 = mkdtempSync(join(tmpdir(), 'ope-cli-fmt-'));
    const values: string[] = [];
    for (const format of ['arrow', 'parquet', 'csv', 'jsonl']) {
      const sub = join(d2, format);
      expect(runCli(['synth', '--out', sub, '--n', '500', '--actions', '3', '--targets', 'a=softmax:1', '--population-samples', '1000', '--format', format, '--seed', '5']).code).toBe(0);
      const ext = format;
      const r = runCli(['evaluate', '--log', join(sub, `log.${ext}`), '--policy', `a=${join(sub, `policy-a.${ext}`)}`, '--bootstrap', '50', '--json']);
      expect(r.code, r.stderr).toBe(0);
      values.push(JSON.stringify(JSON.parse(r.stdout).policies));
    }
    expect(new Set(values).size).toBe(1);
  });

  it('bad usage exits 2 with one line and no stack trace', () => {
    const cases: [string[], RegExp][] = [
      [['evaluate', '--log', join(dir, 'log.arrow'), '--policy', `a=${join(dir, 'policy-a.arrow')}`, '--estimators', 'ips,bogus'], /unknown estimator 'bogus'/],
      [['evaluate', '--log', join(dir, 'log.arrow'), '--policy', `a=${join(dir, 'policy-a.arrow')}`, '--bootstrap', '-3'], /--bootstrap needs a whole number/],
      [['evaluate', '--log', join(dir, 'log.arrow'), '--policy', 'a'], /--policy needs NAME=FILE/],
      [['evaluate', '--log', join(dir, 'nope.arrow'), '--policy', `a=${join(dir, 'policy-a.arrow')}`], /nope\.arrow/],
      [['evaluate', '--log', join(dir, 'log.arrow'), '--policy', `a=${join(dir, 'policy-a.arrow')}`, '--bootstrap', '0', '--ci', 'bca'], /needs bootstrap replicates/],
    ];
    for (const [args, msg] of cases) {
      const r = runCli(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n').length, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('a policy file shorter than the log is an input error naming the policy file', () => {
    const d3 = mkdtempSync(join(tmpdir(), 'ope-cli-short-'));
    expect(runCli(['synth', '--out', d3, '--n', '200', '--actions', '3', '--targets', 'a=softmax:1', '--population-samples', '1000', '--seed', '5']).code).toBe(0);
    const r = runCli(['evaluate', '--log', join(dir, 'log.arrow'), '--policy', `a=${join(d3, 'policy-a.arrow')}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('policy-a.arrow');
    expect(existsSync(join(d3, 'truth.json'))).toBe(true);
  });

  it('--help exits 0', () => {
    const r = runCli(['evaluate', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--bootstrap-kind');
  });
});
