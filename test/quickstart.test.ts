import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('README library example (notebooks/quickstart.ts)', () => {
  it('runs against the package entry point and prints estimates beside the truth', () => {
    const script = fileURLToPath(new URL('../notebooks/quickstart.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));
    // The report goes to a temporary folder, not over the committed notebooks/out/quickstart/.
    const out = mkdtempSync(join(tmpdir(), 'ope-quickstart-out-'));
    const r = spawnSync(process.execPath, [tsx, script], { encoding: 'utf8', env: { ...process.env, OPE_NOTEBOOK_OUT: out, OPE_NOTEBOOK_SIZE: 'full' } });
    rmSync(out, { recursive: true, force: true });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.filter((l) => / (covers|misses) truth /.test(l)).length).toBe(8);
    expect(lines.filter((l) => /ESS \d+ of 20000/.test(l)).length).toBe(2);
  });
});
