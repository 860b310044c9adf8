import { CELL_SHIFT, POISSON1_CELLS, POISSON1_THRESHOLDS, MIX_MUL_1, MIX_MUL_2, clusterHash, replicateKey, seedKey } from './hash.js';

/**
 * Poisson bootstrap over one canonical block (Hanley & MacGibbon 2006; Chamandy et al. 2012,
 * "Estimating uncertainty for massive data streams"). Replicate b gives every cluster c the weight
 * W_cb ~ Poisson(1) from the counter-based hash of (seed, cluster key, b) in hash.ts, so the same
 * seed gives the same weights whatever the split of the data; a replicate's estimate is
 * f(sum_i W_ib t_i / sum_i W_ib).
 */
export interface PoissonPlan {
  readonly replicates: number;
  readonly seed: number;
  /** replicateKey(b) for b < replicates, computed once. */
  readonly repKeys: Uint32Array;
  readonly seedK: number;
}

export function poissonPlan(replicates: number, seed: number): PoissonPlan {
  const repKeys = new Uint32Array(replicates);
  for (let b = 0; b < replicates; b++) repKeys[b] = replicateKey(b);
  return { replicates, seed, repKeys, seedK: seedKey(seed) };
}

/**
 * Per-row cluster hashes of a block: the row's 32-bit cluster key (request id hash) when present,
 * else its global row ordinal (mod 2^32).
 */
export function blockClusterHashes(plan: PoissonPlan, n: number, rowOffset: number, clusterKey: Uint32Array | undefined, out: Uint32Array): void {
  for (let i = 0; i < n; i++) {
    const key = clusterKey !== undefined ? clusterKey[i] : (rowOffset + i) >>> 0;
    out[i] = clusterHash(plan.seedK, key);
  }
}

/**
 * out[b * (M + 1)] = sum_i W_ib, out[b * (M + 1) + 1 + j] = sum_i W_ib cols[j][i], each summed in
 * row order. `weights` is scratch of length >= n.
 */
export function poissonBlockSums(plan: PoissonPlan, hashes: Uint32Array, n: number, cols: readonly Float64Array[], weights: Float64Array, out: Float64Array): void {
  const M = cols.length;
  const stride = M + 1;
  const cells = POISSON1_CELLS;
  const shift = CELL_SHIFT;
  const thresholds = POISSON1_THRESHOLDS;
  const { repKeys, replicates } = plan;
  for (let b = 0; b < replicates; b++) {
    const k = repKeys[b];
    let count = 0;
    for (let i = 0; i < n; i++) {
      // mix32(hashes[i] ^ k), inlined: this loop runs n * B times.
      let x = (hashes[i] ^ k) >>> 0;
      x = (x ^ (x >>> 16)) >>> 0;
      x = Math.imul(x, MIX_MUL_1) >>> 0;
      x = (x ^ (x >>> 15)) >>> 0;
      x = Math.imul(x, MIX_MUL_2) >>> 0;
      x = (x ^ (x >>> 16)) >>> 0;
      let w = cells[x >>> shift];
      if (w === 255) {
        w = 0;
        while (x >= thresholds[w]) w++;
      }
      weights[i] = w;
      count += w;
    }
    const o = b * stride;
    out[o] = count;
    for (let j = 0; j < M; j++) {
      const col = cols[j];
      let s = 0;
      for (let i = 0; i < n; i++) s += weights[i] * col[i];
      out[o + 1 + j] = s;
    }
  }
}
