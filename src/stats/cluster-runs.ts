import { TreeSum } from './tree-sum.js';

/**
 * Per-cluster totals T_c = sum_{i in c} t_i of the per-row statistics, for the delta method and the
 * jackknife. A cluster is a run of consecutive rows with the same cluster key (rows of one request
 * are written together in every log we know; a request split across the log counts as several
 * clusters, which only makes the variance a little smaller). Without a cluster key every row is its
 * own cluster.
 *
 * Streaming sums (always): for each requested pair (j, k) sum_c T_cj T_ck, and sum_c n_c T_cj,
 * sum_c n_c^2, from which the delta-method variance of any smooth f of the means follows:
 *   Var f ~ (1/N^2) sum_c (g . (T_c - n_c mu))^2, g = grad f(mu)      (cluster-robust, Liang & Zeger 1986).
 * Stored totals (on request, O(clusters x M) memory): for the exact jackknife (BCa) and the
 * multinomial bootstrap.
 */
export interface ClusterTotals {
  /** Number of clusters. */
  readonly count: number;
  /** Rows per cluster. */
  readonly sizes: Float64Array;
  /** Row-major totals, count x M. */
  readonly totals: Float64Array;
}

export class ClusterRuns {
  private readonly M: number;
  private readonly pairs: Int32Array;
  private readonly moments: TreeSum;
  private readonly blockMoments: Float64Array;
  private readonly current: Float64Array;
  private currentSize = 0;
  private currentKey = -1;
  private readonly store: boolean;
  private sizes: Float64Array;
  private totals: Float64Array;
  private stored = 0;

  /** `pairs` lists (j, k) index pairs, flattened. */
  constructor(M: number, pairs: Int32Array, store: boolean) {
    this.M = M;
    this.pairs = pairs;
    // layout: [pair products P][n_c T_cj, j < M][n_c^2][clusters]
    this.moments = new TreeSum(pairs.length / 2 + M + 2);
    this.blockMoments = new Float64Array(this.moments.size);
    this.current = new Float64Array(M);
    this.store = store;
    this.sizes = new Float64Array(store ? 1024 : 0);
    this.totals = new Float64Array(store ? 1024 * M : 0);
  }

  /** Adds one canonical block; cols[j][i] is statistic j of row i. */
  addBlock(n: number, rowOffset: number, keys: Uint32Array | undefined, cols: readonly Float64Array[]): void {
    if (keys === undefined && !this.store) {
      this.addSingletonBlock(n, cols);
      return;
    }
    const M = this.M;
    const cur = this.current;
    for (let i = 0; i < n; i++) {
      // Without keys the ordinal is unique per row, so every row closes the previous cluster.
      const key = keys !== undefined ? keys[i] : rowOffset + i;
      if (key !== this.currentKey && this.currentSize > 0) this.closeCluster();
      this.currentKey = key;
      for (let j = 0; j < M; j++) cur[j] += cols[j][i];
      this.currentSize++;
    }
    this.moments.addBlock(this.blockMoments);
    this.blockMoments.fill(0);
  }

  /**
   * Without cluster keys every row is a cluster (T_c = t_i, n_c = 1): the same sums, computed a
   * column pair at a time instead of a row at a time, which is several times faster.
   */
  private addSingletonBlock(n: number, cols: readonly Float64Array[]): void {
    const M = this.M;
    const bm = this.blockMoments;
    const pairs = this.pairs;
    const P = pairs.length / 2;
    for (let p = 0; p < P; p++) {
      const a = cols[pairs[2 * p]];
      const b = cols[pairs[2 * p + 1]];
      let s = 0;
      for (let i = 0; i < n; i++) s += a[i] * b[i];
      bm[p] = s;
    }
    for (let j = 0; j < M; j++) {
      const c = cols[j];
      let s = 0;
      for (let i = 0; i < n; i++) s += c[i];
      bm[P + j] = s;
    }
    bm[P + M] = n;
    bm[P + M + 1] = n;
    this.moments.addBlock(bm);
    bm.fill(0);
  }

  private closeCluster(): void {
    const M = this.M;
    const cur = this.current;
    const bm = this.blockMoments;
    const pairs = this.pairs;
    const P = pairs.length / 2;
    for (let p = 0; p < P; p++) bm[p] += cur[pairs[2 * p]] * cur[pairs[2 * p + 1]];
    const nc = this.currentSize;
    for (let j = 0; j < M; j++) bm[P + j] += nc * cur[j];
    bm[P + M] += nc * nc;
    bm[P + M + 1] += 1;
    if (this.store) this.storeCurrent();
    cur.fill(0);
    this.currentSize = 0;
  }

  private storeCurrent(): void {
    const M = this.M;
    if (this.stored === this.sizes.length) {
      const sizes = new Float64Array(this.sizes.length * 2);
      sizes.set(this.sizes);
      this.sizes = sizes;
      const totals = new Float64Array(this.sizes.length * M);
      totals.set(this.totals);
      this.totals = totals;
    }
    this.sizes[this.stored] = this.currentSize;
    this.totals.set(this.current, this.stored * M);
    this.stored++;
  }

  /** Closes the last cluster; returns the moment sums (layout above). */
  finish(): { pairProducts: Float64Array; sizeWeighted: Float64Array; sizeSquares: number; clusters: number; stored?: ClusterTotals } {
    if (this.currentSize > 0) {
      this.closeCluster();
      this.moments.addBlock(this.blockMoments);
      this.blockMoments.fill(0);
    }
    const m = this.moments.result();
    const P = this.pairs.length / 2;
    return {
      pairProducts: m.subarray(0, P),
      sizeWeighted: m.subarray(P, P + this.M),
      sizeSquares: m[P + this.M],
      clusters: m[P + this.M + 1],
      stored: this.store ? { count: this.stored, sizes: this.sizes.subarray(0, this.stored), totals: this.totals.subarray(0, this.stored * this.M) } : undefined,
    };
  }
}
