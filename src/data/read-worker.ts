import { parentPort } from 'node:worker_threads';
import { InputError } from './errors.js';
import type { PieceReply, PieceRequest, WorkerFailure } from './read-pool.js';
import type { ArrowFile } from './readers/arrow.js';
import type { ParquetFile } from './readers/parquet.js';
import { portableChunk } from './readers/portable.js';
import type { RawChunk } from './readers/raw.js';

/**
 * A read worker decodes the pieces it is sent (a Parquet row range, an Arrow record batch) with the
 * same reader code as the main thread, one at a time in the order received, and moves the columns
 * back. The file last read stays open: a worker is mostly sent consecutive pieces of one file. Each
 * format's reader loads on first use, so a worker reading Parquet starts without loading Arrow.
 */
let parquet: ParquetFile | undefined;
let arrow: { path: string; file: ArrowFile } | undefined;

async function decode(req: PieceRequest): Promise<RawChunk> {
  if (req.piece.kind === 'range') {
    const { openParquet, readParquetRange } = await import('./readers/parquet.js');
    if (parquet?.path !== req.path) parquet = await openParquet(req.path);
    return readParquetRange(parquet, req.wanted, req.piece.rowStart, req.piece.rowEnd);
  }
  const { openArrow, readArrowBatch } = await import('./readers/arrow.js');
  if (arrow?.path !== req.path) {
    await arrow?.file.close();
    arrow = undefined;
    arrow = { path: req.path, file: await openArrow(req.path) };
  }
  return readArrowBatch(arrow.file, req.path, req.piece.index);
}

function failure(err: unknown): WorkerFailure {
  if (err instanceof InputError) return { kind: 'input', rule: err.rule, file: err.file, column: err.column, row: err.row };
  return { kind: 'bug', message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined };
}

// Requests are handled strictly one after the other, so replies come back in request order.
let queue = Promise.resolve();
parentPort?.on('message', (req: PieceRequest) => {
  queue = queue.then(async () => {
    let reply: PieceReply;
    let transfer: ArrayBuffer[] = [];
    try {
      const p = portableChunk(await decode(req), req.wanted);
      reply = { id: req.id, chunk: p.chunk };
      transfer = p.transfer;
    } catch (err) {
      reply = { id: req.id, failure: failure(err) };
    }
    parentPort?.postMessage(reply, transfer);
  });
});
