import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

export interface WorkerSetup {
  readonly replicates: number;
  readonly seed: number;
  readonly columns: number;
}

export interface BlockInput {
  readonly hashes: Uint32Array;
  readonly n: number;
  readonly cols: Float64Array[];
}

export interface ChunkJob {
  readonly id: number;
  readonly blocks: readonly BlockInput[];
}

export interface ChunkResult {
  readonly id: number;
  readonly totals: Float64Array;
}

/**
 * The compiled worker. Run from TypeScript sources (tests, tsx), this module is a .ts file and
 * worker threads cannot load TypeScript, so the worker comes from dist/ (`npm test` builds first).
 */
function workerFile(): string {
  const here = import.meta.url;
  const file = here.endsWith('.ts') ? new URL('../../dist/src/engine/bootstrap-worker.js', here) : new URL('./bootstrap-worker.js', here);
  const path = fileURLToPath(file);
  if (!existsSync(path)) throw new Error(`the bootstrap worker ${path} is missing: run \`npm run build\``);
  return path;
}

/**
 * Worker threads for the Poisson bootstrap: chunks go out round-robin, results come back keyed by
 * chunk id and are consumed strictly in chunk order, so totals are bit-identical to one thread.
 * At most `2 x threads` chunks are in flight, which bounds memory.
 */
export class BootstrapPool {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, { resolve: (r: Float64Array) => void; reject: (e: Error) => void }>();
  private readonly failures: Error[] = [];
  private next = 0;

  constructor(threads: number, setup: WorkerSetup) {
    this.workers = Array.from({ length: threads }, () => {
      const w = new Worker(workerFile(), { workerData: setup });
      w.on('message', (r: ChunkResult) => {
        const pending = this.waiting.get(r.id);
        this.waiting.delete(r.id);
        pending?.resolve(r.totals);
      });
      w.on('error', (e) => {
        this.failures.push(e);
        for (const p of this.waiting.values()) p.reject(e);
        this.waiting.clear();
      });
      return w;
    });
  }

  /** Sends one chunk; the returned promise resolves with its replicate totals. */
  submit(blocks: BlockInput[]): Promise<Float64Array> {
    const id = this.next++;
    const worker = this.workers[id % this.workers.length];
    const done = new Promise<Float64Array>((resolve, reject) => {
      if (this.failures.length > 0) reject(this.failures[0]);
      else this.waiting.set(id, { resolve, reject });
    });
    const transfer = blocks.flatMap((b) => [b.hashes.buffer, ...b.cols.map((c) => c.buffer)]) as ArrayBuffer[];
    const job: ChunkJob = { id, blocks };
    worker.postMessage(job, transfer);
    return done;
  }

  get maxInFlight(): number {
    return 2 * this.workers.length;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    if (this.failures.length > 0) throw this.failures[0];
  }
}
