#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` / `npm install` (the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('ope: the compiled CLI is missing; run `npm run build` in the ope-toolkit folder\n');
  process.exit(1);
}
const { run } = await import(main.href);
process.exitCode = await run(process.argv);
