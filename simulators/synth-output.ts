import { mkdir } from 'node:fs/promises';
import { InputError } from '../src/data/errors.js';
import type { OutBatch } from '../src/data/write-log.js';

/** A bad --out is the user's mistake (exit 2, one line), like an unwritable file in writeTable. */
export async function createOutputDir(outDir: string): Promise<void> {
  try {
    await mkdir(outDir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? String(err);
    throw new InputError(`cannot create the output directory (${code})`, { file: outDir });
  }
}

export async function* mapBatches<T>(batches: AsyncIterable<T>, toOut: (b: T) => OutBatch): AsyncGenerator<OutBatch, void, undefined> {
  for await (const b of batches) yield toOut(b);
}
