import seedrandom from 'seedrandom';

/**
 * Rows are generated in fixed blocks, each drawing from its own stream keyed by (seed, purpose,
 * block). A row's values therefore depend only on its global index, never on how the rows are cut
 * into batches, and one purpose (say q_hat noise) can change without shifting the draws of another
 * (actions and rewards).
 */
export const BLOCK_ROWS = 4096;

/** Uniforms and standard normals from one seeded stream (Alea: ~8 ns a draw, 2^-32 resolution). */
export class RandomStream {
  private readonly next: seedrandom.PRNG;
  /** The polar method yields normals in pairs; the second waits here for the next call. */
  private spare = 0;
  private hasSpare = false;

  constructor(key: string) {
    this.next = seedrandom.alea(key);
  }

  /** Uniform on [0, 1). */
  uniform(): number {
    return this.next();
  }

  /** Marsaglia's polar method: no trigonometry, ~40% faster here than Box-Muller. */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.next() - 1;
      v = 2 * this.next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * f;
    this.hasSpare = true;
    return u * f;
  }
}

export function blockStream(seed: number, purpose: string, block: number): RandomStream {
  return new RandomStream(`${seed}:${purpose}:${block}`);
}
