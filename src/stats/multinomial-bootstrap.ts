import seedrandom from 'seedrandom';
import type { ClusterTotals } from './cluster-runs.js';

/**
 * The classic (Efron 1979) bootstrap, for comparison with other tools: each replicate draws G
 * clusters with replacement (whole requests when a request id exists, else rows). It needs every
 * cluster's totals in memory and its draws depend on G, so unlike the Poisson bootstrap it cannot
 * be split across batches, threads or engines and give the same replicates.
 * Output layout as the Poisson bootstrap: per replicate [sum of weights, weighted sums...].
 */
export function multinomialReplicateSums(store: ClusterTotals, M: number, bootstrapColumns: readonly number[], replicates: number, seed: number): Float64Array {
  const G = store.count;
  const Mb = bootstrapColumns.length;
  const out = new Float64Array(replicates * (Mb + 1));
  // Alea: seedrandom's fast generator; the seed string namespaces it from other uses of the seed.
  const rng = seedrandom.alea(`ope-multinomial:${seed}`);
  const counts = new Uint32Array(G);
  for (let b = 0; b < replicates; b++) {
    counts.fill(0);
    for (let g = 0; g < G; g++) counts[Math.floor(rng() * G)]++;
    const o = b * (Mb + 1);
    for (let c = 0; c < G; c++) {
      const k = counts[c];
      if (k === 0) continue;
      out[o] += k * store.sizes[c];
      const base = c * M;
      for (let j = 0; j < Mb; j++) out[o + 1 + j] += k * store.totals[base + bootstrapColumns[j]];
    }
  }
  return out;
}
