/**
 * `npm run notebook -- <name>`: runs notebooks/<name>.ts (in this process, under tsx). Sizes and
 * the output folder come from OPE_NOTEBOOK_SIZE and OPE_NOTEBOOK_OUT (notebooks/lib/env.ts). The
 * notebooks import the package entry point `ope-toolkit`, i.e. the built dist/ (`npm install` builds
 * it; after changing src/, run `npm run build`).
 */
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { notebookSize } from './lib/env.js';

const here = fileURLToPath(new URL('.', import.meta.url));
/** Every notebooks/<name>.ts but this runner. */
function notebookNames(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
    .map((f) => f.slice(0, -'.ts'.length))
    .sort();
}

const names = notebookNames();
const name = process.argv[2];
if (name === undefined || !names.includes(name)) {
  console.error(`${name === undefined ? 'no notebook given' : `unknown notebook '${name}'`}; usage: npm run notebook -- <name>, one of: ${names.join(', ')}`);
  process.exit(2);
}
if (!existsSync(fileURLToPath(new URL('../dist/src/index.js', import.meta.url)))) {
  console.error("the notebooks import 'ope-toolkit' from dist/, which is missing: run `npm run build` first");
  process.exit(2);
}
// Checked here too, so that a bad value fails before the notebook loads the library.
notebookSize();
await import(`./${name}.ts`);
