import { Worker } from 'node:worker_threads';
import { InputError } from './errors.js';
import { formatOf } from './formats.js';
import { openArrow } from './readers/arrow.js';
import { openParquet, parquetRanges } from './readers/parquet.js';
import { rawChunk, type PortableChunk } from './readers/portable.js';
import type { ColumnSelector, RawChunk } from './readers/raw.js';
import { compiledWorker } from './worker-file.js';

/** A piece of a file that decodes on its own: a Parquet row range, an Arrow IPC record batch. */
export type Piece = { readonly kind: 'range'; readonly rowStart: number; readonly rowEnd: number } | { readonly kind: 'batch'; readonly index: number };

export interface PieceRequest {
  readonly id: number;
  readonly path: string;
  readonly wanted: readonly string[];
  readonly piece: Piece;
}

/** An error while decoding, as it crosses back: an InputError is rebuilt as one, naming the same file, column and row. */
export type WorkerFailure =
  | { readonly kind: 'input'; readonly rule: string; readonly file?: string; readonly column?: string; readonly row?: number }
  | { readonly kind: 'bug'; readonly message: string; readonly stack?: string };

export type PieceReply = { readonly id: number; readonly chunk: PortableChunk } | { readonly id: number; readonly failure: WorkerFailure };

/** How a file is read: in pieces by the workers, or by the reader on the main thread. */
type FilePlan = { readonly kind: 'in-thread' } | { readonly kind: 'pieces'; readonly columns: readonly string[]; readonly wanted: readonly string[]; readonly pieces: readonly Piece[] };

const IN_THREAD: FilePlan = { kind: 'in-thread' };

interface Slot {
  readonly reply: Promise<PieceReply>;
  resolve(r: PieceReply): void;
  reject(e: Error): void;
}

interface PoolWorker {
  readonly worker: Worker;
  /** Pieces sent and not yet answered. */
  busy: number;
}

/**
 * Read-ahead for one pass over a log's files (issue 10): worker threads decode the pieces of the
 * Parquet and Arrow IPC files, several at a time, and the main thread takes the decoded chunks
 * strictly in file and piece order. Everything after decoding (the contract mapper with its
 * string-id dictionary, row numbers, re-chunking, alignment, the sums) stays on the main thread and
 * sees the very chunks the in-thread reader yields, so results and errors do not depend on the
 * thread count. At most `threads + 1` pieces are decoded ahead of the one being consumed, so
 * memory stays flat however long the log.
 *
 * CSV, JSONL and Arrow stream-format files are read by their in-thread readers (their rows can only
 * be found by reading from the start), and so is any file whose footer cannot be read ahead: the
 * in-thread reader then meets the error where the single-threaded pass would.
 */
export class ReadPool {
  private readonly workers: PoolWorker[] = [];
  private readonly plans: Promise<FilePlan>[] = [];
  private readonly slots = new Map<string, Slot>();
  private readonly sent = new Map<number, { readonly slot: Slot; readonly worker: PoolWorker }>();
  private readonly ahead: number;
  /** The next piece to send: file index, piece index. */
  private file = 0;
  private piece = 0;
  /** Pieces sent and not yet taken. */
  private inFlight = 0;
  private pumping = false;
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;

  constructor(
    private readonly threads: number,
    private readonly files: readonly string[],
    /** The columns the contract reads from a file with these columns; throws when it lacks one it needs. */
    private readonly wanted: (path: string, columns: readonly string[]) => readonly string[],
  ) {
    this.ahead = threads + 1;
  }

  /**
   * The raw chunks of file `index` (taken in file order), decoded by the workers, or by `inThread`,
   * the file's own reader, when the file is not read in pieces.
   */
  async *chunks(index: number, selector: ColumnSelector, inThread: () => AsyncGenerator<RawChunk>): AsyncGenerator<RawChunk> {
    const plan = await this.plan(index);
    if (plan.kind === 'in-thread') {
      yield* inThread();
      return;
    }
    const wanted = selector.select(plan.columns);
    if (wanted.join('\u0000') !== plan.wanted.join('\u0000')) throw new Error(`the read-ahead of ${this.files[index]} decoded other columns than the contract reads`);
    for (let k = 0; k < plan.pieces.length; k++) yield rawChunk(await this.take(index, k), plan.columns);
    if (plan.pieces.length === 0) yield { columns: plan.columns, n: 0, column: () => undefined };
  }

  /**
   * Stops the workers, without waiting for them: terminating a worker in the middle of a read can
   * leave terminate()'s promise unsettled (seen on Node 20), and a wait for it would then end the
   * process with that wait pending. Unref'd, a worker still stopping cannot keep the process alive.
   */
  close(): void {
    this.closed = true;
    for (const w of this.workers) {
      w.worker.unref();
      void w.worker.terminate();
    }
  }

  private plan(index: number): Promise<FilePlan> {
    this.plans[index] ??= this.planFile(this.files[index]);
    return this.plans[index];
  }

  /** Lists a file's pieces from its footer; any failure leaves the file to the in-thread reader. */
  private async planFile(path: string): Promise<FilePlan> {
    try {
      let columns: readonly string[];
      let pieces: Piece[];
      const format = formatOf(path);
      if (format === 'parquet') {
        const pq = await openParquet(path);
        columns = pq.columns;
        pieces = parquetRanges(pq.metadata).map(([rowStart, rowEnd]) => ({ kind: 'range', rowStart, rowEnd }));
      } else if (format === 'arrow') {
        const arrow = await openArrow(path);
        try {
          if (!arrow.reader.isFile()) return IN_THREAD;
          columns = arrow.columns;
          pieces = Array.from({ length: arrow.reader.numRecordBatches }, (_, index) => ({ kind: 'batch', index }));
        } finally {
          await arrow.close();
        }
      } else {
        return IN_THREAD;
      }
      // One piece of a one-file log gains nothing from a worker.
      if (this.files.length === 1 && pieces.length < 2) return IN_THREAD;
      return { kind: 'pieces', columns, wanted: this.wanted(path, columns), pieces };
    } catch {
      return IN_THREAD;
    }
  }

  private slot(file: number, piece: number): Slot {
    const key = `${file}:${piece}`;
    let slot = this.slots.get(key);
    if (slot === undefined) {
      let resolve!: (r: PieceReply) => void;
      let reject!: (e: Error) => void;
      const reply = new Promise<PieceReply>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A slot no one takes any more (the pass stopped early) must not fail as an unhandled rejection.
      reply.catch(() => undefined);
      slot = { reply, resolve, reject };
      if (this.failure !== undefined) slot.reject(this.failure);
      this.slots.set(key, slot);
    }
    return slot;
  }

  private async take(file: number, piece: number): Promise<PortableChunk> {
    const slot = this.slot(file, piece);
    void this.pump();
    let reply: PieceReply;
    try {
      reply = await slot.reply;
    } finally {
      this.slots.delete(`${file}:${piece}`);
    }
    this.inFlight--;
    void this.pump();
    if ('chunk' in reply) return reply.chunk;
    const f = reply.failure;
    if (f.kind === 'input') throw new InputError(f.rule, { file: f.file, column: f.column, row: f.row });
    const err = new Error(f.message);
    if (f.stack !== undefined) err.stack = f.stack;
    throw err;
  }

  /** Sends pieces in order until `ahead` are in flight. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closed && this.failure === undefined && this.inFlight < this.ahead && this.file < this.files.length) {
        const plan = await this.plan(this.file);
        if (plan.kind === 'in-thread' || this.piece >= plan.pieces.length) {
          this.file++;
          this.piece = 0;
          continue;
        }
        this.send(this.file, this.piece, plan.wanted, plan.pieces[this.piece]);
        this.piece++;
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.pumping = false;
    }
  }

  private send(file: number, index: number, wanted: readonly string[], piece: Piece): void {
    const slot = this.slot(file, index);
    const w = this.idleWorker();
    const req: PieceRequest = { id: this.nextId++, path: this.files[file], wanted, piece };
    this.sent.set(req.id, { slot, worker: w });
    // A worker with work keeps the process alive; an idle one does not, so a pass abandoned
    // without closing the pool cannot hang the process.
    if (w.busy++ === 0) w.worker.ref();
    this.inFlight++;
    w.worker.postMessage(req);
  }

  private idleWorker(): PoolWorker {
    const idle = this.workers.find((w) => w.busy === 0);
    if (idle !== undefined) return idle;
    if (this.workers.length < this.threads) return this.startWorker();
    return this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  private startWorker(): PoolWorker {
    const w: PoolWorker = { worker: new Worker(compiledWorker(import.meta.url, 'read-worker')), busy: 0 };
    w.worker.unref();
    w.worker.on('message', (reply: PieceReply) => {
      const s = this.sent.get(reply.id);
      if (s === undefined) return;
      this.sent.delete(reply.id);
      if (--w.busy === 0) w.worker.unref();
      s.slot.resolve(reply);
    });
    w.worker.on('error', (err) => this.fail(err));
    w.worker.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`a read worker stopped (exit code ${code})`));
    });
    this.workers.push(w);
    return w;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const s of this.slots.values()) s.reject(this.failure);
  }
}
