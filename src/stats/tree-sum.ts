import { CHUNK_BLOCKS } from '../engine/reblock.js';

/**
 * Sums vectors of per-block totals along the canonical reduction tree: blocks (already summed in
 * row order) add into their chunk in block order, chunks add into the total in chunk order. Any
 * producer that emits the same block totals in the same block order gets bit-identical totals.
 */
export class TreeSum {
  readonly size: number;
  private readonly chunk: Float64Array;
  private readonly total: Float64Array;
  private blocksInChunk = 0;

  constructor(size: number) {
    this.size = size;
    this.chunk = new Float64Array(size);
    this.total = new Float64Array(size);
  }

  /** Adds one block's totals (call once per canonical block, in block order). */
  addBlock(blockTotals: ArrayLike<number>): void {
    const c = this.chunk;
    for (let j = 0; j < this.size; j++) c[j] += blockTotals[j];
    if (++this.blocksInChunk === CHUNK_BLOCKS) this.flushChunk();
  }

  /** Adds a whole chunk's totals computed elsewhere (a worker), in chunk order. */
  addChunk(chunkTotals: ArrayLike<number>): void {
    if (this.blocksInChunk !== 0) throw new Error('TreeSum.addChunk called inside a partial chunk');
    const t = this.total;
    for (let j = 0; j < this.size; j++) t[j] += chunkTotals[j];
  }

  private flushChunk(): void {
    const c = this.chunk;
    const t = this.total;
    for (let j = 0; j < this.size; j++) {
      t[j] += c[j];
      c[j] = 0;
    }
    this.blocksInChunk = 0;
  }

  /** The totals; a trailing partial chunk is flushed first. */
  result(): Float64Array {
    if (this.blocksInChunk > 0) this.flushChunk();
    return this.total;
  }
}
