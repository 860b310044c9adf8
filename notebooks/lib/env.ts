/**
 * The two settings every notebook reads from the environment:
 * - OPE_NOTEBOOK_SIZE: `full` (default; the documented sizes, run by hand, output committed) or
 *   `smoke` (tiny sizes that finish in seconds; CI runs these);
 * - OPE_NOTEBOOK_OUT: the folder the notebook writes into (default notebooks/out/<name>/; the smoke
 *   test points it at a temporary folder so the committed output is never overwritten).
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type NotebookSize = 'full' | 'smoke';

/** OPE_NOTEBOOK_SIZE, `full` when unset; anything else than full or smoke ends the run with exit 2. */
export function notebookSize(): NotebookSize {
  const v = process.env.OPE_NOTEBOOK_SIZE ?? 'full';
  if (v === '' || v === 'full') return 'full';
  if (v === 'smoke') return 'smoke';
  console.error(`OPE_NOTEBOOK_SIZE must be 'full' or 'smoke', got '${v}'`);
  process.exit(2);
}

/** OPE_NOTEBOOK_OUT, or notebooks/out/<name>/; created if missing. */
export function notebookOut(name: string): string {
  const v = process.env.OPE_NOTEBOOK_OUT;
  const dir = v !== undefined && v !== '' ? v : fileURLToPath(new URL(`../out/${name}/`, import.meta.url));
  mkdirSync(dir, { recursive: true });
  return dir;
}
