import { startScan, type Estimator } from '../../estimators/estimator.js';
import { weightStatistics } from '../../estimators/slate-statistics.js';
import { resolveBanditColumns, type BanditColumns } from '../data/bandit-columns.js';
import { UsageError } from '../data/errors.js';
import { TreeSum } from '../stats/tree-sum.js';
import { compactClusterRuns, fromCompactedLayout } from '../stats/compact-clusters.js';
import { ClusterRuns, type ClusterTotals } from '../stats/cluster-runs.js';
import { blockClusterHashes, poissonBlockSums, poissonPlan, type PoissonPlan } from '../stats/poisson-bootstrap.js';
import { multinomialReplicateSums } from '../stats/multinomial-bootstrap.js';
import { type IntervalMethod } from '../stats/intervals.js';
import { BootstrapPool } from './bootstrap-pool.js';
import { BLOCK_ROWS, canonicalBlocks, type AlignedBatch, type Block } from './reblock.js';
import { planEvaluation, type EvaluationPlan } from './plan.js';
import type { EvaluationResult, KnownBounds } from './results.js';
import { ClippedMoments } from '../stats/clipped-bounds.js';
import { summarize } from './summarize.js';

export interface EvaluateOptions {
  readonly estimators: readonly Estimator[];
  /** Names of the target policies, in the order of `AlignedBatch.policies`. */
  readonly policyNames: readonly string[];
  /** Bootstrap replicates; 0 gives delta-method standard errors and normal intervals only. */
  readonly replicates?: number;
  readonly bootstrapKind?: 'poisson' | 'multinomial';
  readonly seed?: number;
  /** Default: percentile with replicates, normal without. */
  readonly ci?: IntervalMethod;
  readonly alpha?: number;
  /** A priori reward range; default [0, 1] when every observed reward lies in it (and said so). */
  readonly rewardRange?: readonly [number, number];
  /** A priori largest weight for the Bernstein interval; default max target prob / smallest logged propensity. */
  readonly maxWeight?: number;
  readonly onProgress?: (rowsDone: number) => void;
  /** Worker threads for the Poisson bootstrap (default 1); results are bit-identical for any count. */
  readonly threads?: number;
  /** Paired differences candidate - baseline (policy names) under every estimator: EvaluationResult.differences. */
  readonly contrasts?: readonly { readonly candidate: string; readonly baseline: string }[];
}

export const DEFAULTS = { replicates: 1000, bootstrapKind: 'poisson', seed: 12345, ci: 'percentile', alpha: 0.05 } as const;

/** Sums gathered in the pass over the log; everything reported is a function of these. */
export interface PassTotals {
  readonly n: number;
  /** Per column: sum, then sum of squares (2 x M). */
  readonly sums: Float64Array;
  readonly sumSquares: Float64Array;
  /** B x (1 + Mb): sum of weights, then the bootstrapped columns' weighted sums. */
  readonly replicateSums?: Float64Array;
  readonly moments: ReturnType<ClusterRuns['finish']>;
  readonly maxWeight: Float64Array;
  readonly rowsWeightAbove1000: Float64Array;
  readonly minPropensity: number;
  readonly rewardMin: number;
  readonly rewardMax: number;
  /** Per policy with action_dist: mean target probability of actions never logged. */
  readonly unsupportedMass: ReadonlyArray<number | undefined>;
  readonly clustered: boolean;
  /** Per policy: the ClippedMoments sums for the finite-sample value interval. */
  readonly clippedSums: readonly Float64Array[];
  /** Per estimator slot with a weight diagnostic: the largest unit weight. */
  readonly unitWeightMax: ReadonlyArray<number | undefined>;
}

/**
 * The bootstrap and interval options with their defaults, checked (UsageError naming the bad one);
 * shared by every engine (in-process and SQL).
 */
export function resolveBootstrapOptions(opts: Pick<EvaluateOptions, 'replicates' | 'bootstrapKind' | 'seed' | 'ci' | 'alpha' | 'threads'>): {
  replicates: number;
  kind: 'poisson' | 'multinomial';
  seed: number;
  ci: IntervalMethod;
  alpha: number;
} {
  const replicates = opts.replicates ?? DEFAULTS.replicates;
  const kind = opts.bootstrapKind ?? DEFAULTS.bootstrapKind;
  const seed = opts.seed ?? DEFAULTS.seed;
  // Without replicates the default interval is the delta method's, not an error.
  const ci = opts.ci ?? (replicates >= 2 ? DEFAULTS.ci : 'normal');
  const alpha = opts.alpha ?? DEFAULTS.alpha;
  if (!(alpha > 0 && alpha < 1)) throw new UsageError(`alpha must be in (0, 1), got ${alpha}`);
  if (!Number.isInteger(replicates) || replicates < 0) throw new UsageError(`bootstrap replicates must be a whole number >= 0, got ${replicates}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`seed must be a whole number in 0..4294967295, got ${seed}`);
  if ((ci === 'percentile' || ci === 'bca') && replicates < 2) throw new UsageError(`--ci ${ci} needs bootstrap replicates (--bootstrap >= 2); use --ci normal or bernstein without them`);
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) throw new UsageError(`threads must be a whole number >= 1, got ${opts.threads}`);
  return { replicates, kind, seed, ci, alpha };
}

/**
 * One pass over aligned (log, policies) batches: every estimator for every policy, the bootstrap
 * for all of them on shared weights, and the diagnostics. Memory is O(block x columns + B x
 * columns), plus O(clusters x columns) only for BCa and the multinomial bootstrap.
 */
export async function evaluateStream(input: AsyncIterable<AlignedBatch> | Iterable<AlignedBatch>, opts: EvaluateOptions): Promise<EvaluationResult> {
  const { replicates, kind, seed, ci, alpha } = resolveBootstrapOptions(opts);
  if (opts.estimators.length === 0) throw new UsageError('no estimator given');
  if (opts.policyNames.length === 0) throw new UsageError('no target policy: give --policy NAME=FILE or target columns in the log');

  const contrasts = (opts.contrasts ?? []).map(({ candidate, baseline }) => {
    const c = opts.policyNames.indexOf(candidate);
    const b = opts.policyNames.indexOf(baseline);
    if (c < 0 || b < 0) throw new UsageError(`contrast ${candidate} - ${baseline}: no policy named '${c < 0 ? candidate : baseline}'; policies: ${opts.policyNames.join(', ')}`);
    if (c === b) throw new UsageError(`contrast ${candidate} - ${baseline}: a policy against itself`);
    return [c, b] as const;
  });
  const plan = planEvaluation(opts.policyNames, opts.estimators, contrasts);
  const storeClusters = ci === 'bca' || (kind === 'multinomial' && replicates > 0);
  const totals = await runPass(input, plan, {
    poisson: kind === 'poisson' && replicates > 0 ? poissonPlan(replicates, seed) : undefined,
    storeClusters,
    onProgress: opts.onProgress,
    threads: opts.threads ?? 1,
  });
  let replicateSums = totals.replicateSums;
  if (kind === 'multinomial' && replicates > 0) {
    replicateSums = multinomialReplicateSums(totals.moments.stored as ClusterTotals, plan.columns.length, plan.bootstrapColumns, replicates, seed);
  }
  const bounds = chooseBounds(opts, totals);
  return summarize(plan, { ...totals, replicateSums }, { replicates, kind, seed, ci, alpha, bounds });
}

export function chooseBounds(opts: EvaluateOptions, t: PassTotals): (KnownBounds & { source: string }) | undefined {
  let rewardMin: number;
  let rewardMax: number;
  const notes: string[] = [];
  if (opts.rewardRange !== undefined) {
    [rewardMin, rewardMax] = opts.rewardRange;
    notes.push('reward range given');
  } else if (t.rewardMin >= 0 && t.rewardMax <= 1) {
    rewardMin = 0;
    rewardMax = 1;
    notes.push('reward range [0, 1] assumed because every reward lies in it (set --reward-range)');
  } else {
    return undefined;
  }
  let maxWeight: number;
  if (opts.maxWeight !== undefined) {
    maxWeight = opts.maxWeight;
    notes.push('max weight given');
  } else {
    maxWeight = 1 / t.minPropensity;
    notes.push(`max weight 1/${t.minPropensity.toPrecision(4)} from the smallest logged propensity (set --max-weight to the logger's floor)`);
  }
  return { rewardMin, rewardMax, maxWeight, source: notes.join('; ') };
}

interface PassOptions {
  readonly poisson?: PoissonPlan;
  readonly storeClusters: boolean;
  readonly onProgress?: (rowsDone: number) => void;
  readonly threads: number;
}

async function runPass(input: AsyncIterable<AlignedBatch> | Iterable<AlignedBatch>, plan: EvaluationPlan, po: PassOptions): Promise<PassTotals> {
  const M = plan.columns.length;
  const P = plan.policies.length;
  const cols = plan.columns.map(() => new Float64Array(BLOCK_ROWS));
  // Prefix-scan statistics (pi, cascade-dr) carry a slate's running state from block to block.
  const scans = plan.columns.map((c) => startScan(c.stat));
  const weightMax = plan.slots.map((s) => s.estimator.weights?.max());
  const bootCols = plan.bootstrapColumns.map((j) => cols[j]);
  const pointTree = new TreeSum(2 * M);
  const blockPoint = new Float64Array(2 * M);
  const runs = new ClusterRuns(M, plan.pairs, po.storeClusters);
  const B = po.poisson?.replicates ?? 0;
  const Mb = plan.bootstrapColumns.length;
  // Decided on the first block (a fixed function of the data): compact runs of one cluster.
  let compact: { cols: Float64Array[]; length: Float64Array } | undefined;
  let bootTree: TreeSum | undefined;
  let blockBoot = new Float64Array(0);
  const hashes = new Uint32Array(BLOCK_ROWS);
  const maxWeight = new Float64Array(P);
  const clipped = plan.policies.map(() => new ClippedMoments());
  const above1000 = new Float64Array(P);
  let minPropensity = Infinity;
  let rewardMin = Infinity;
  let rewardMax = -Infinity;
  let n = 0;
  let clustered: boolean | undefined;
  // Target mass per action (canonical sums) and logged-action counts, for the overlap diagnostic.
  let massTrees: (TreeSum | undefined)[] | undefined;
  let loggedCounts: Float64Array | undefined;

  // Threaded bootstrap: every block goes to every worker, each owning a range of replicates.
  let pool: BootstrapPool | undefined;
  let replicateSums: Float64Array | undefined;
  try {
    for await (const block of canonicalBlocks(input)) {
      const log = block.log;
      const bn = log.n;
      if (clustered === undefined) clustered = log.clusterKey !== undefined;
      const resolved: BanditColumns[] = [];
      for (let p = 0; p < P; p++) {
        const c = resolveBanditColumns(log, block.policies[p], plan.policies[p]);
        if (plan.needsRewardModel[p] && (c.q === undefined || c.qpi === undefined)) {
          throw new UsageError(
            `policy '${plan.policies[p]}': the chosen estimators need a reward model; give q_hat (a list over actions) in the log, or q_hat_logged in the log and q_hat_target in the policy file, or drop dm/dr/sndr/switch-dr/dr-os`,
          );
        }
        resolved.push(c);
        clipped[p].addBlock(c.w, c.r, bn);
        let mw = maxWeight[p];
        let over = 0;
        for (let i = 0; i < bn; i++) {
          const w = c.w[i];
          if (w > mw) mw = w;
          if (w > 1000) over++;
        }
        maxWeight[p] = mw;
        above1000[p] += over;
      }
      if (block.index === 0) checkInputs(plan, resolved);
      for (let i = 0; i < bn; i++) {
        const pr = log.propensity[i];
        if (pr < minPropensity) minPropensity = pr;
        const r = log.reward[i];
        if (r < rewardMin) rewardMin = r;
        if (r > rewardMax) rewardMax = r;
      }
      for (let j = 0; j < M; j++) {
        const out = cols[j].subarray(0, bn);
        scans[j](resolved[plan.columns[j].policy], out);
        let s = 0;
        let s2 = 0;
        for (let i = 0; i < bn; i++) {
          const v = out[i];
          s += v;
          s2 += v * v;
        }
        blockPoint[j] = s;
        blockPoint[M + j] = s2;
      }
      plan.slots.forEach((slot, k) => weightMax[k]?.add(resolved[slot.policy]));
      pointTree.addBlock(blockPoint);
      const views = cols.map((c) => c.subarray(0, bn));
      runs.addBlock(bn, log.rowOffset, log.clusterKey, views);
      if (B > 0 && po.poisson !== undefined) {
        if (block.index === 0) {
          if (log.clusterKey !== undefined && worthCompacting(log.clusterKey, bn)) compact = { cols: bootCols.map(() => new Float64Array(BLOCK_ROWS)), length: new Float64Array(BLOCK_ROWS) };
          const width = Mb + 1 + (compact !== undefined ? 1 : 0);
          bootTree = new TreeSum(B * width);
          blockBoot = new Float64Array(B * width);
        }
        let units = bn;
        let unitCols: readonly Float64Array[] = bootCols;
        if (compact !== undefined) {
          if (log.clusterKey === undefined) throw new Error('a block without cluster keys in a clustered log');
          units = compactClusterRuns(po.poisson.seedK, bn, log.clusterKey, bootCols, compact.cols, compact.length, hashes);
          unitCols = [...compact.cols, compact.length];
        } else {
          blockClusterHashes(po.poisson, bn, log.rowOffset, log.clusterKey, hashes);
        }
        if (po.threads > 1) {
          pool ??= new BootstrapPool(po.threads, po.poisson.replicates, po.poisson.seed, unitCols.length);
          await pool.addBlock(hashes, units, unitCols);
        } else {
          poissonBlockSums(po.poisson, hashes, units, unitCols, blockBoot);
          (bootTree as TreeSum).addBlock(blockBoot);
        }
      }
      ({ massTrees, loggedCounts } = accumulateActionMass(block, massTrees, loggedCounts));
      n += bn;
      po.onProgress?.(n);
    }
    replicateSums = pool !== undefined ? await pool.result() : bootTree?.result();
    if (replicateSums !== undefined && compact !== undefined) replicateSums = fromCompactedLayout(replicateSums, B, Mb);
  } finally {
    await pool?.close();
  }
  if (n === 0) throw new UsageError('the log has no rows');
  const sums = pointTree.result();
  return {
    n,
    sums: sums.subarray(0, M),
    sumSquares: sums.subarray(M, 2 * M),
    replicateSums,
    moments: runs.finish(),
    maxWeight,
    rowsWeightAbove1000: above1000,
    minPropensity,
    rewardMin,
    rewardMax,
    unsupportedMass: unsupportedMass(massTrees, loggedCounts, n, P),
    clustered: clustered ?? false,
    clippedSums: clipped.map((c) => c.result()),
    unitWeightMax: weightMax.map((t) => t?.value()),
  };
}

/**
 * Compacting pays when clusters span several rows (slates, multi-row requests); with one row per
 * request it would only add a column. Judged on the first block, so the choice is fixed by the data.
 */
function worthCompacting(clusterKey: Uint32Array, n: number): boolean {
  let runs = n > 0 ? 1 : 0;
  for (let i = 1; i < n; i++) if (clusterKey[i] !== clusterKey[i - 1]) runs++;
  return runs <= 0.75 * n;
}

/** Every estimator's statistics can be computed from the inputs, or a usage error says what is missing. */
function checkInputs(plan: EvaluationPlan, resolved: readonly BanditColumns[]): void {
  for (const slot of plan.slots) {
    const w = slot.estimator.weights;
    for (const stat of [...slot.estimator.stats, ...(w !== undefined ? weightStatistics(w) : [])]) {
      const why = stat.missing?.(resolved[slot.policy]);
      if (why !== undefined) throw new UsageError(`policy '${plan.policies[slot.policy]}': estimator '${slot.estimator.label}' needs ${why}`);
    }
  }
}

function accumulateActionMass(block: Block, trees: (TreeSum | undefined)[] | undefined, counts: Float64Array | undefined): { massTrees?: (TreeSum | undefined)[]; loggedCounts?: Float64Array } {
  const dists = block.policies.map((p) => p.actionDist);
  if (dists.every((d) => d === undefined)) return { massTrees: trees, loggedCounts: counts };
  const K = Math.max(...dists.map((d) => d?.width ?? 0));
  const t = trees ?? dists.map((d) => (d !== undefined ? new TreeSum(d.width) : undefined));
  const c = counts ?? new Float64Array(K);
  const log = block.log;
  for (let i = 0; i < log.n; i++) {
    const a = log.action[i];
    if (a >= 0 && a < K) c[a]++;
  }
  dists.forEach((d, p) => {
    if (d === undefined) return;
    const w = d.width;
    const mass = new Float64Array(w);
    for (let i = 0; i < log.n; i++) {
      const o = i * w;
      for (let a = 0; a < w; a++) mass[a] += d.values[o + a];
    }
    t[p]?.addBlock(mass);
  });
  return { massTrees: t, loggedCounts: c };
}

function unsupportedMass(trees: (TreeSum | undefined)[] | undefined, counts: Float64Array | undefined, n: number, P: number): (number | undefined)[] {
  const out: (number | undefined)[] = new Array<number | undefined>(P).fill(undefined);
  if (trees === undefined || counts === undefined) return out;
  trees.forEach((tree, p) => {
    if (tree === undefined) return;
    const mass = tree.result();
    let s = 0;
    for (let a = 0; a < mass.length; a++) if (!(counts[a] > 0)) s += mass[a];
    out[p] = s / n;
  });
  return out;
}
