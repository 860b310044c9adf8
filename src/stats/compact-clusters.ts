import { clusterHash } from './hash.js';

/**
 * Runs of adjacent rows with one cluster key (a request's rows, a slate's slots) share one bootstrap
 * weight, so the bootstrap kernel can work on their column sums instead of on every row: for slates
 * of length L, L times fewer kernel rows (Sum_rows W_c(row) v_row = Sum_runs W_run Sum_{row in run} v_row).
 * The run sums are taken in row order and the runs follow the canonical block, so the results stay
 * the same whatever the batching or threads. A run's length rides along as one more column, whose
 * weighted sum is the replicate's row count (the normalizer); the kernel's own count would count runs.
 */
export function compactClusterRuns(
  seedK: number,
  n: number,
  clusterKey: Uint32Array,
  cols: readonly Float64Array[],
  outCols: readonly Float64Array[],
  outLength: Float64Array,
  outHashes: Uint32Array,
): number {
  const M = cols.length;
  let r = -1;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const key = clusterKey[i];
    if (r < 0 || key !== prev) {
      r++;
      prev = key;
      outHashes[r] = clusterHash(seedK, key);
      outLength[r] = 0;
      for (let j = 0; j < M; j++) outCols[j][r] = 0;
    }
    outLength[r]++;
    for (let j = 0; j < M; j++) outCols[j][r] += cols[j][i];
  }
  return r + 1;
}

/**
 * Replicate sums from compacted runs, B x (1 + M + 1) with the run lengths last, back to the
 * engine's layout B x (1 + M): the length column's weighted sum replaces the run count.
 */
export function fromCompactedLayout(raw: Float64Array, B: number, M: number): Float64Array {
  const src = M + 2;
  const dst = M + 1;
  const out = new Float64Array(B * dst);
  for (let b = 0; b < B; b++) {
    out[b * dst] = raw[b * src + M + 1];
    for (let j = 0; j < M; j++) out[b * dst + 1 + j] = raw[b * src + 1 + j];
  }
  return out;
}
