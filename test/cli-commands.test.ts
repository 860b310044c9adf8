import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/run-cli.js';

/** The CLI loads only the command it runs (src/cli/commands/index.ts); help and errors still see them all. */
describe('ope: commands loaded on demand', () => {
  it('ope --help lists every command, in order', () => {
    const r = runCli(['--help']);
    expect(r.code).toBe(0);
    const names = [...r.stdout.matchAll(/^ {2}([a-z]+) \[/gm)].map((m) => m[1]);
    expect(names).toEqual(['validate', 'evaluate', 'fit', 'synth', 'demo', 'simulate', 'gate', 'filter', 'replay', 'predictive', 'sql', 'help']);
  });

  it('a named command parses its own options; ope help X, --version and an unknown command behave as before', () => {
    const ev = runCli(['evaluate', '--help']);
    expect(ev.code).toBe(0);
    expect(ev.stdout).toMatch(/^Usage: ope evaluate \[options\]/);
    expect(ev.stdout).toContain('--estimators');
    const help = runCli(['help', 'gate']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: ope gate \[options\]/);
    const bad = runCli(['nosuch']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown command 'nosuch'");
    const ver = runCli(['--version']);
    expect(ver.code).toBe(0);
    expect(ver.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const opt = runCli(['validate', '--log', 'x.csv', '--nope']);
    expect(opt.code).toBe(2);
    expect(opt.stderr).toContain("unknown option '--nope'");
  });
});
