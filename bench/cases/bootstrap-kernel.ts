/**
 * Case bootstrap-kernel (a diagnostic, run with --only bootstrap-kernel): the single-thread
 * Poisson-bootstrap kernel of src/stats/poisson-bootstrap.ts without the rest of the engine, on the
 * DR term and the weight w of the bench's rows (1e6 in the full run), 1000 replicates. The variants
 * run in turn, --rounds times (default 5), in one process, so slow spells of a shared machine hit
 * them alike; the line reports each variant's median and min.
 *
 *   kernel-2col   poissonBlockSums over all 8192-row blocks, columns [w, dr] (what `dr` bootstraps)
 *   kernel-1col   the same with [dr] only (the cost of bootstrapping w for the mean-weight interval)
 *
 * `seconds` is kernel-2col's median; hashes and column copies are prepared before timing. (Only the
 * kernel's stable API is used here, not the worker pool's, which is free to change.)
 */
import { performance } from 'node:perf_hooks';
import { BLOCK_ROWS } from '../../src/engine/reblock.js';
import { blockClusterHashes, poissonBlockSums, poissonPlan, type PoissonPlan } from '../../src/stats/poisson-bootstrap.js';
import { argNumber, emit, parseArgs, runCase, since } from '../lib/common.js';
import { SEED } from '../lib/bootstrap.js';
import { synthColumns } from '../lib/synth-log.js';

interface KernelBlock {
  readonly hashes: Uint32Array;
  readonly n: number;
  readonly cols: Float64Array[];
}

function blocksOf(plan: PoissonPlan, rows: number, cols: readonly Float64Array[]): KernelBlock[] {
  const out: KernelBlock[] = [];
  for (let s = 0; s < rows; s += BLOCK_ROWS) {
    const m = Math.min(BLOCK_ROWS, rows - s);
    const hashes = new Uint32Array(m);
    blockClusterHashes(plan, m, s, undefined, hashes);
    out.push({ hashes, n: m, cols: cols.map((col) => col.slice(s, s + m)) });
  }
  return out;
}

function kernel(plan: PoissonPlan, blocks: readonly KernelBlock[], columns: number): number {
  const out = new Float64Array(plan.replicates * (columns + 1));
  const t0 = performance.now();
  for (const b of blocks) poissonBlockSums(plan, b.hashes, b.n, b.cols, out);
  return since(t0);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

runCase(async () => {
  const args = parseArgs(process.argv.slice(2));
  const rows = argNumber(args, 'rows', 1e6);
  const replicates = argNumber(args, 'replicates', 1000);
  const rounds = argNumber(args, 'rounds', 5);
  const c = synthColumns(rows);
  const w = new Float64Array(rows);
  const dr = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    w[i] = c.targetPropensity[i] / c.propensity[i];
    dr[i] = c.qHatTarget[i] + w[i] * (c.reward[i] - c.qHatLogged[i]);
  }
  const plan = poissonPlan(replicates, SEED);
  const times: Record<string, number[]> = { 'kernel-2col': [], 'kernel-1col': [] };
  const both = blocksOf(plan, rows, [w, dr]);
  const drOnly = blocksOf(plan, rows, [dr]);
  for (let r = 0; r < rounds; r++) {
    times['kernel-2col'].push(kernel(plan, both, 2));
    times['kernel-1col'].push(kernel(plan, drOnly, 1));
  }
  const summary: Record<string, { median: number; min: number; nsPerRowReplicate: number }> = {};
  for (const [k, v] of Object.entries(times)) summary[k] = { median: median(v), min: Math.min(...v), nsPerRowReplicate: (median(v) * 1e9) / (rows * replicates) };
  emit({
    case: 'bootstrap-kernel',
    variant: 'interleaved',
    seconds: summary['kernel-2col'].median,
    rows,
    replicates,
    rounds,
    variants: summary,
    all: times,
  });
});
