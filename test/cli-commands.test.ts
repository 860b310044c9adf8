import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

/** The CLI loads only the command it runs (src/cli/commands/index.ts); help and errors still see them all. */
describe('ope: commands loaded on demand', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const ope = (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [join(root, 'bin', 'ope.js'), ...args], { cwd: root }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
      });
    });

  beforeAll(() => {
    spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root });
  });

  it('ope --help lists every command, in order', async () => {
    const r = await ope(['--help']);
    expect(r.code).toBe(0);
    const names = [...r.stdout.matchAll(/^ {2}([a-z]+) \[/gm)].map((m) => m[1]);
    expect(names).toEqual(['validate', 'evaluate', 'fit', 'synth', 'demo', 'simulate', 'gate', 'filter', 'replay', 'predictive', 'sql', 'help']);
  });

  it('a named command parses its own options; ope help X and an unknown command behave as before', async () => {
    const ev = await ope(['evaluate', '--help']);
    expect(ev.code).toBe(0);
    expect(ev.stdout).toMatch(/^Usage: ope evaluate \[options\]/);
    expect(ev.stdout).toContain('--estimators');
    const help = await ope(['help', 'gate']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: ope gate \[options\]/);
    const bad = await ope(['nosuch']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown command 'nosuch'");
    const ver = await ope(['--version']);
    expect(ver.code).toBe(0);
    expect(ver.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const opt = await ope(['validate', '--log', 'x.csv', '--nope']);
    expect(opt.code).toBe(2);
    expect(opt.stderr).toContain("unknown option '--nope'");
  });
});
