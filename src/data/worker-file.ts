import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The compiled worker module `name` next to the calling module (pass its import.meta.url). Run
 * from TypeScript sources (tests, tsx), the caller is a .ts file and worker threads cannot load
 * TypeScript, so the worker comes from dist/ (`npm test` builds first).
 */
export function compiledWorker(caller: string, name: string): string {
  const at = caller.lastIndexOf('/src/');
  const url = caller.endsWith('.ts') && at >= 0 ? new URL(`${name}.js`, caller.slice(0, at) + '/dist' + caller.slice(at)) : new URL(`./${name}.js`, caller);
  const path = fileURLToPath(url);
  if (!existsSync(path)) throw new Error(`the worker ${path} is missing: run \`npm run build\``);
  return path;
}
