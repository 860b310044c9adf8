import { extname } from 'node:path';
import { InputError } from './errors.js';

/** The four table formats the toolkit reads and writes, chosen by file extension (DESIGN.md §4). */
export type TableFormat = 'arrow' | 'parquet' | 'csv' | 'jsonl';

const EXTENSIONS: Readonly<Record<string, TableFormat>> = {
  '.arrow': 'arrow',
  '.feather': 'arrow',
  '.ipc': 'arrow',
  '.parquet': 'parquet',
  '.csv': 'csv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
};

export const SUPPORTED_EXTENSIONS: readonly string[] = Object.keys(EXTENSIONS);

export function formatOf(path: string): TableFormat {
  const ext = extname(path).toLowerCase();
  const format = EXTENSIONS[ext];
  if (format === undefined) {
    throw new InputError(
      `unsupported file extension '${ext === '' ? '(none)' : ext}'; supported: ${SUPPORTED_EXTENSIONS.join(', ')}`,
      { file: path },
    );
  }
  return format;
}
