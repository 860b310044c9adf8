import { Worker } from 'node:worker_threads';
import { compiledWorker } from '../data/worker-file.js';

export interface WorkerSetup {
  readonly replicates: number;
  readonly seed: number;
  readonly columns: number;
  /** This worker's replicates: [from, to). */
  readonly from: number;
  readonly to: number;
}

/** A block in shared memory: every worker reads the same bytes, nothing is copied per worker. */
export type WorkerMessage = { readonly type: 'block'; readonly hashes: SharedArrayBuffer; readonly n: number; readonly cols: readonly SharedArrayBuffer[] } | { readonly type: 'finish' };

export type WorkerReply = { readonly type: 'ack' } | { readonly type: 'totals'; readonly totals: Float64Array };

/** Blocks a worker may have queued before the main thread waits: bounds memory on long logs. */
const MAX_QUEUED_BLOCKS = 32;

/**
 * Worker threads for the Poisson bootstrap, split by replicate: worker k computes replicates
 * [kB/T, (k+1)B/T) over every block. The split is even whatever the log's length, and each
 * replicate is summed exactly as on one thread, so results are bit-identical for any thread count.
 */
export class BootstrapPool {
  private readonly workers: Worker[];
  private readonly ranges: readonly (readonly [number, number])[];
  private readonly queued: number[];
  private readonly waiters: (() => void)[] = [];
  private readonly totals: (Float64Array | undefined)[];
  private readonly failures: Error[] = [];
  private finished?: Promise<void>;
  private finishResolve?: () => void;
  private readonly stride: number;

  constructor(threads: number, replicates: number, seed: number, columns: number) {
    const T = Math.max(1, Math.min(threads, replicates));
    this.stride = columns + 1;
    this.ranges = Array.from({ length: T }, (_, k) => [Math.floor((k * replicates) / T), Math.floor(((k + 1) * replicates) / T)] as const);
    this.queued = new Array<number>(T).fill(0);
    this.totals = new Array<Float64Array | undefined>(T).fill(undefined);
    this.workers = this.ranges.map(([from, to], k) => {
      const setup: WorkerSetup = { replicates, seed, columns, from, to };
      const w = new Worker(compiledWorker(import.meta.url, 'bootstrap-worker'), { workerData: setup });
      w.on('message', (r: WorkerReply) => {
        if (r.type === 'ack') {
          this.queued[k]--;
          this.wake();
        } else {
          this.totals[k] = r.totals;
          if (this.totals.every((t) => t !== undefined)) this.finishResolve?.();
        }
      });
      w.on('error', (e) => {
        this.failures.push(e);
        this.wake();
        this.finishResolve?.();
      });
      return w;
    });
  }

  private wake(): void {
    for (const f of this.waiters.splice(0)) f();
  }

  /** Sends one canonical block (in block order) to every worker; waits while their queues are full. */
  async addBlock(hashes: Uint32Array, n: number, cols: readonly Float64Array[]): Promise<void> {
    while (this.failures.length === 0 && this.queued.some((q) => q >= MAX_QUEUED_BLOCKS)) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failures.length > 0) throw this.failures[0];
    const shared = (src: Float64Array | Uint32Array): SharedArrayBuffer => {
      const buf = new SharedArrayBuffer(n * src.BYTES_PER_ELEMENT);
      const view = src instanceof Float64Array ? new Float64Array(buf) : new Uint32Array(buf);
      view.set(src.subarray(0, n) as never);
      return buf;
    };
    const msg: WorkerMessage = { type: 'block', hashes: shared(hashes), n, cols: cols.map(shared) };
    this.workers.forEach((w, k) => {
      this.queued[k]++;
      w.postMessage(msg);
    });
  }

  /** Every replicate's totals, B x (columns + 1), in replicate order. */
  async result(): Promise<Float64Array> {
    this.finished ??= new Promise<void>((resolve) => {
      this.finishResolve = resolve;
    });
    const finish: WorkerMessage = { type: 'finish' };
    for (const w of this.workers) w.postMessage(finish);
    await this.finished;
    if (this.failures.length > 0) throw this.failures[0];
    const B = this.ranges[this.ranges.length - 1][1];
    const out = new Float64Array(B * this.stride);
    this.ranges.forEach(([from], k) => out.set(this.totals[k] as Float64Array, from * this.stride));
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
