/**
 * Case slate-1e6 (issue 4): every slate estimator with 1000 Poisson-bootstrap replicates over a
 * synthetic slate log in memory, 1e6 slates of length 5 (5e6 rows) in the full run.
 *
 *   --slates N --replicates B --variants 'slate-ips threads=2,all threads=1,...'
 *   [--max-busy C --max-wait S]
 *
 * The log is built once, untimed (buildSeconds), by the library's generator
 * (simulators/slate-batches.ts slateSynthAligned: a Plackett-Luce logger at temperature 1, one
 * Plackett-Luce target at temperature 0.7, 10 items, cascade clicks, exact item-position
 * marginals) and converted batch by batch to the O(n) scalar contract: the K-wide lists q_hat,
 * action_dist and context are dropped, the log gets q_hat_logged and the policy q_hat_target (the
 * sums the engine would form from the lists, in the same order: the estimates are the same bits).
 * Kept per row: action, reward, propensity, position, cluster key, the item-position and cascade
 * propensities and the width-L item marginals (pbm-ips) of the logger and of the target, 164
 * bytes, so 782 MiB for 5e6 rows.
 *
 * Then the variants are timed in turn in this process, one evaluateStream each (point pass,
 * replicates, percentile CI), each printed as its own JSON line. A variant is `NAME threads=T`,
 * NAME an estimator (slate-ips, iips, rips, pi, pbm-ips with theta_j = 1/(j+1), cascade-dr) or
 * `all` (the six in one pass, as `ope evaluate` runs them on a slate log).
 *
 *  - Before the first variant, one untimed warm-up pass over the first batch (8192 slates, all six
 *    estimators, threads 1 and 2) compiles the engine's main-thread code, so that the variant
 *    timed first is not penalized. Each evaluateStream with threads > 1 still starts its own
 *    workers, as in bootstrap-dr-1e6.
 *  - Before each variant the case waits for a quiet machine (--max-busy / --max-wait, as the
 *    driver does) and resets the kernel's peak-RSS mark, so each line carries the peak RSS of its
 *    own variant (variantPeakMB, the resident log included), the cores other processes kept busy
 *    during it (othersDuring) and, as maxRssMB / processPeakMB, the process's peak so far (the
 *    build included).
 *  - After the timed run the same estimators run once more without replicates (pointSeconds, not
 *    part of `seconds`): the point pass alone, so seconds - pointSeconds is what the bootstrap adds.
 *  - sampleTruth: the generator's exact expected slate reward under the target (and the logger),
 *    averaged over the logged contexts, to check the estimates against.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseEstimatorList } from '../../estimators/registry.js';
import { slateSynthAligned } from '../../simulators/slate-batches.js';
import { marginalErrorStatement, resolveSlateConfig } from '../../simulators/slate-config.js';
import { SlateSampleTruthAccumulator } from '../../simulators/slate-truth.js';
import type { SlateSynthConfig } from '../../simulators/slate-world.js';
import type { ListColumn, LogBatch, PolicyBatch } from '../../src/data/batch.js';
import { evaluateStream } from '../../src/engine/evaluate.js';
import { planEvaluation } from '../../src/engine/plan.js';
import { BLOCK_ROWS, type AlignedBatch } from '../../src/engine/reblock.js';
import { SEED } from '../lib/bootstrap.js';
import { argNumber, argString, collectGarbage, cpuTimes, emit, othersBusyCores, parseArgs, peakRssMB, resetPeakRss, round, rssMB, runCase, since, waitForQuiet } from '../lib/common.js';

const L = 5;
/** pbm-ips needs one examination probability per position: theta_j = 1/(j+1). */
const PBM = `pbm-ips:${Array.from({ length: L }, (_, j) => `theta${j}=${1 / (j + 1)}`).join(',')}`;
/** Variant name -> estimator list. */
const SLATE_ESTIMATORS: Readonly<Record<string, string>> = {
  'slate-ips': 'slate-ips',
  iips: 'iips',
  rips: 'rips',
  pi: 'pi',
  'pbm-ips': PBM,
  'cascade-dr': 'cascade-dr',
  all: `all-slate,${PBM}`,
};

/**
 * 10 items, so that the item-position marginals are exact (a lattice of 386 prefix sets, about
 * 60 us per slate to generate). With 20 items exact marginals cost about 1.2 ms per slate (20 min
 * for 1e6 slates) and Monte Carlo ones (100 samples, 70 us per slate) put a few far too small
 * logged marginals into 5e6 rows: item-position weights in the hundreds and iips / pi estimates
 * of 2.4 and 3.5 for a value of 0.83. The engine's work per row does not depend on the number of
 * items once q_hat and action_dist are reduced to scalars.
 */
function slateConfig(slates: number): SlateSynthConfig {
  return {
    n: slates,
    actions: 10,
    slateLength: L,
    dim: 5,
    logger: 'plackett-luce',
    reward: 'cascade',
    clickBias: -2,
    loggingTemperature: 1,
    qHatNoise: 0.1,
    targets: [{ kind: 'plackett-luce', temperature: 0.7 }],
    marginals: 'exact',
    populationSamples: 2,
    seed: 1,
  };
}

function listOf(c: ListColumn | undefined, what: string): ListColumn {
  if (c === undefined) throw new Error(`the generator gave no ${what}`);
  return c;
}

/**
 * One generated batch in the O(n) scalar contract: q_hat_logged = q_hat[a_i] on the log and, per
 * policy, q_hat_target = sum_a action_dist[a] q_hat[a] (the sum resolveBanditColumns forms from
 * the lists, in the same order); q_hat, action_dist and context are not kept.
 */
function scalarContract(b: AlignedBatch): AlignedBatch {
  const log = b.log;
  const n = log.n;
  const qHat = listOf(log.qHat, 'q_hat');
  const K = qHat.width;
  const qv = qHat.values;
  const qHatLogged = new Float64Array(n);
  for (let i = 0; i < n; i++) qHatLogged[i] = qv[i * K + log.action[i]];
  const scalarLog: LogBatch = {
    source: log.source,
    rowOffset: log.rowOffset,
    n,
    action: log.action,
    reward: log.reward,
    propensity: log.propensity,
    position: log.position,
    clusterKey: log.clusterKey,
    propensityItemPosition: log.propensityItemPosition,
    propensityCascade: log.propensityCascade,
    propensityItemPositions: log.propensityItemPositions,
    qHatLogged,
  };
  const policies = b.policies.map((p): PolicyBatch => {
    const dist = listOf(p.actionDist, 'action_dist');
    if (dist.width !== K) throw new Error(`action_dist has width ${dist.width}, q_hat ${K}`);
    const pv = dist.values;
    const qHatTarget = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      const o = i * K;
      for (let a = 0; a < K; a++) s += pv[o + a] * qv[o + a];
      qHatTarget[i] = s;
    }
    return {
      n,
      targetPropensity: p.targetPropensity,
      targetPropensityItemPosition: p.targetPropensityItemPosition,
      targetPropensityCascade: p.targetPropensityCascade,
      targetPropensityItemPositions: p.targetPropensityItemPositions,
      qHatTarget,
    };
  });
  return { log: scalarLog, policies };
}

/** Bytes held by the typed arrays of the kept batches. */
function bytesOf(batches: readonly AlignedBatch[]): number {
  let s = 0;
  const add = (x: unknown): void => {
    if (ArrayBuffer.isView(x)) s += x.byteLength;
    else if (x !== null && typeof x === 'object' && 'values' in x) add((x as ListColumn).values);
  };
  for (const b of batches) {
    Object.values(b.log).forEach(add);
    for (const p of b.policies) Object.values(p).forEach(add);
  }
  return s;
}

function parseVariant(v: string): { name: string; spec: string; threads: number } {
  const m = /^(\S+) threads=(\d+)$/.exec(v.trim());
  const spec = m === null ? undefined : SLATE_ESTIMATORS[m[1]];
  if (m === null || spec === undefined) throw new Error(`variant '${v}': expected 'NAME threads=T' with NAME one of ${Object.keys(SLATE_ESTIMATORS).join(', ')}`);
  return { name: m[1], spec, threads: Number(m[2]) };
}

runCase(async () => {
  const args = parseArgs(process.argv.slice(2));
  const slates = argNumber(args, 'slates', 1e6);
  const replicates = argNumber(args, 'replicates', 1000);
  const maxBusy = argNumber(args, 'max-busy', 0.5);
  const maxWait = argNumber(args, 'max-wait', 60);
  const variants = argString(args, 'variants', [...Object.keys(SLATE_ESTIMATORS).map((e) => `${e} threads=2`), 'all threads=1'].join(','))
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  const parsed = variants.map(parseVariant);

  collectGarbage();
  const rssBeforeBuildMB = round(rssMB(), 1);
  const t0 = performance.now();
  // Batches of BLOCK_ROWS slates are L whole canonical blocks each, which the engine takes as
  // zero-copy views (like the one-batch logs of the other bootstrap cases).
  const config = slateConfig(slates);
  const truth = new SlateSampleTruthAccumulator(marginalErrorStatement(resolveSlateConfig(config)));
  const { names, batches } = slateSynthAligned(config, (b) => truth.add(b), BLOCK_ROWS);
  const aligned: AlignedBatch[] = [];
  for (const b of batches) aligned.push(scalarContract(b));
  const buildSeconds = since(t0);
  const sample = truth.result();
  // The generator's exact values for the logged contexts: the mean over slates of E[sum_k r_k | x]
  // under the target and under the logger (what the estimators estimate, up to their own noise).
  const sampleTruth = { target: sample.targets[0].value, logger: sample.logging.value, meanLoggedSlateReward: sample.meanSlateReward };
  collectGarbage();
  const rssAfterBuildMB = round(rssMB(), 1);
  const logMB = round(bytesOf(aligned) / 2 ** 20, 1);
  const rows = aligned.reduce((s, b) => s + b.log.n, 0);
  const buildPeakMB = peakRssMB();
  let processPeakMB = buildPeakMB ?? 0;

  // Untimed warm-up over the first batch (all six estimators, both thread paths), so that the
  // variant timed first does not also pay for compiling the engine's code on the main thread.
  const t3 = performance.now();
  for (const threads of [1, 2])
    await evaluateStream(aligned.slice(0, 1), { estimators: parseEstimatorList(SLATE_ESTIMATORS.all), policyNames: names, replicates, seed: SEED, threads, ci: 'percentile' });
  const warmupSeconds = since(t3);

  for (const v of parsed) {
    const estimators = parseEstimatorList(v.spec);
    const bootstrapColumns = planEvaluation(names, estimators).bootstrapColumns.length;
    collectGarbage();
    const q = await waitForQuiet(maxBusy, maxWait);
    const load1Before = round(os.loadavg()[0], 2);
    processPeakMB = Math.max(processPeakMB, peakRssMB() ?? 0);
    const reset = resetPeakRss();
    const rssBeforeMB = round(rssMB(), 1);
    const a = cpuTimes();
    const cpu0 = process.cpuUsage();
    const t1 = performance.now();
    const result = await evaluateStream(aligned, { estimators, policyNames: names, replicates, seed: SEED, threads: v.threads, ci: 'percentile' });
    const seconds = since(t1);
    const cpu = process.cpuUsage(cpu0);
    const b = cpuTimes();
    const variantCpuSeconds = (cpu.user + cpu.system) / 1e6;
    const variantPeakMB = reset ? round(peakRssMB() ?? 0, 1) : undefined;
    processPeakMB = Math.max(processPeakMB, peakRssMB() ?? 0);

    collectGarbage();
    const t2 = performance.now();
    const point = await evaluateStream(aligned, { estimators, policyNames: names, replicates: 0, ci: 'normal', threads: 1 });
    const pointSeconds = since(t2);
    processPeakMB = Math.max(processPeakMB, peakRssMB() ?? 0);
    for (const e of result.estimates) {
      const p = point.estimates.find((x) => x.label === e.label);
      if (p?.value !== e.value) throw new Error(`${e.label}: the point pass gave ${p?.value}, the bootstrap run ${e.value}`);
    }

    emit({
      case: 'slate-1e6',
      variant: `${v.name} threads=${v.threads}`,
      seconds,
      rows,
      slates,
      slateLength: L,
      replicates,
      threads: v.threads,
      estimators: v.spec,
      bootstrapColumns,
      slatesPerSecond: slates / seconds,
      slateReplicatesPerSecond: (slates * replicates) / seconds,
      nsPerRowReplicate: (seconds * 1e9) / (rows * replicates),
      pointSeconds,
      bootstrapSeconds: seconds - pointSeconds,
      variantCpuSeconds,
      buildSeconds,
      warmupSeconds,
      items: slateConfig(1).actions,
      logMB,
      rssBeforeBuildMB,
      rssAfterBuildMB,
      buildPeakMB: buildPeakMB === undefined ? undefined : round(buildPeakMB, 1),
      rssBeforeMB,
      variantPeakMB,
      processPeakMB: round(processPeakMB, 1),
      maxRssMB: processPeakMB,
      busyCoresBefore: q.busy,
      waitedSeconds: q.waited,
      load1Before,
      othersDuring: othersBusyCores(a, b, seconds, variantCpuSeconds),
      sampleTruth,
      estimates: Object.fromEntries(result.estimates.map((e) => [e.label, { value: e.value, se: e.se, ci: [e.ci.lower, e.ci.upper] }])),
      warnings: result.warnings,
    });
  }
});
