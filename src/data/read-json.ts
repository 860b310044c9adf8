import { readFile } from 'node:fs/promises';
import { UsageError } from './errors.js';

/** A JSON file given to an option (`--config`): unreadable or malformed is a usage error naming the option and the file. */
export async function readJsonOption(path: string, option: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${option}: cannot read '${path}' (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${option}: '${path}' is not valid JSON (${(err as Error).message})`);
  }
}
