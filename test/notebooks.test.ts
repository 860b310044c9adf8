import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Every notebook at its smoke size, through the documented command (`npm run notebook -- <name>`),
 * each writing into a temporary folder (OPE_NOTEBOOK_OUT) so the committed output stays untouched.
 * The notebooks import 'ope-toolkit', i.e. dist/ (npm test builds it first). Two at a time: 2 cores.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const names = readdirSync(join(root, 'notebooks'))
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -'.ts'.length))
  .sort();
const tmp = mkdtempSync(join(tmpdir(), 'ope-notebooks-'));

interface Run {
  code: number | null;
  output: string;
  seconds: number;
}

function runNotebook(name: string, extraEnv: Record<string, string> = {}): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'notebook', '--', name], {
      cwd: root,
      env: { ...process.env, OPE_NOTEBOOK_SIZE: 'smoke', OPE_NOTEBOOK_OUT: join(tmp, name), ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output, seconds: (performance.now() - started) / 1000 }));
  });
}

const runs = new Map<string, Run>();

beforeAll(async () => {
  const queue = [...names];
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) runs.set(name, await runNotebook(name));
  };
  await Promise.all([worker(), worker()]);
}, 110_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('notebooks at the smoke size (npm run notebook -- <name>)', () => {
  it('finds the notebooks, including the ones issue 9 asks for', () => {
    expect(names).toEqual(expect.arrayContaining(['estimator-accuracy', 'feedback-loop', 'replay-vs-online', 'quickstart', 'slates-and-reward-models']));
  });

  it.each(names)('%s exits 0 and writes README.md with at least one SVG or CSV', (name) => {
    const r = runs.get(name);
    expect(r, `${name} did not run`).toBeDefined();
    expect(r?.code, r?.output).toBe(0);
    const files = readdirSync(join(tmp, name));
    expect(files).toContain('README.md');
    expect(files.some((f) => f.endsWith('.svg') || f.endsWith('.csv'))).toBe(true);
  });

  it('estimator-accuracy writes the bandit and slate tables and figures', () => {
    const files = readdirSync(join(tmp, 'estimator-accuracy'));
    expect(files).toEqual(expect.arrayContaining(['bandit.csv', 'slate.csv', 'bandit-rmse-vs-n.svg', 'slate-rmse-vs-n.svg']));
  });

  it('an unknown notebook name exits 2 and lists the notebooks', async () => {
    const r = await runNotebook('no-such-notebook');
    expect(r.code).toBe(2);
    expect(r.output).toContain("unknown notebook 'no-such-notebook'");
    for (const n of names) expect(r.output).toContain(n);
  });

  it('a bad OPE_NOTEBOOK_SIZE exits 2 naming it', async () => {
    const r = await runNotebook('quickstart', { OPE_NOTEBOOK_SIZE: 'huge' });
    expect(r.code).toBe(2);
    expect(r.output).toContain('OPE_NOTEBOOK_SIZE');
  });
});
