/**
 * The two bootstraps compared by the bench, on the same in-memory rows:
 *  - ours: the engine's one-pass Poisson bootstrap (evaluateStream with replicates = B);
 *  - naive: what Open Bandit Pipeline's estimate_confidence_interval_by_bootstrap does, written
 *    as a tight JS loop: per replicate draw n row indices with replacement from a seeded RNG
 *    (seedrandom Alea, like numpy's choice(n, size=n)), then the DR estimate of the resampled rows.
 *    mode 'terms' (OBP's way, the default): the per-row DR terms qpi + w (r - q) are computed once
 *    and each replicate averages the resampled terms (for DR that is exactly DR recomputed on the
 *    resampled rows). mode 'columns': each replicate recomputes DR from the resampled raw columns
 *    (five random reads per row instead of one; slower, shown for comparison).
 */
import { performance } from 'node:perf_hooks';
import seedrandom from 'seedrandom';
import { parseEstimatorList } from '../../estimators/registry.js';
import { evaluateStream } from '../../src/engine/evaluate.js';
import type { AlignedBatch } from '../../src/engine/reblock.js';
import { since } from './common.js';
import type { SynthColumns } from './synth-log.js';

export const SEED = 12345;

export interface BootstrapSummary {
  value: number;
  se: number;
  ci: [number, number];
}

export async function oursBootstrapDr(aligned: AlignedBatch, replicates: number, threads: number): Promise<{ seconds: number; summary: BootstrapSummary }> {
  const t0 = performance.now();
  const result = await evaluateStream([aligned], {
    estimators: parseEstimatorList('dr'),
    policyNames: ['target'],
    replicates,
    seed: SEED,
    threads,
    ci: 'percentile',
  });
  const seconds = since(t0);
  const e = result.estimates[0];
  return { seconds, summary: { value: e.value, se: e.se, ci: [e.ci.lower, e.ci.upper] } };
}

/** Type-7 quantile (R, numpy) of sorted values. */
function quantile7(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export interface NaiveRun {
  /** Seconds for `replicates` replicates: measured, or scaled from `replicatesRun` when the budget was hit. */
  seconds: number;
  measuredSeconds: number;
  replicates: number;
  replicatesRun: number;
  scaled: boolean;
  drawSeconds: number;
  estimateSeconds: number;
  summary: BootstrapSummary;
}

/**
 * If the first `probe` replicates project past `budgetSeconds` for all of them, stops after
 * `fallback` replicates and scales the time (said in the result).
 */
export type NaiveMode = 'terms' | 'columns';

export function naiveBootstrapDr(c: SynthColumns, replicates: number, mode: NaiveMode = 'terms', budgetSeconds = 60, probe = 10, fallback = 100): NaiveRun {
  const n = c.n;
  const { reward: r, propensity: p, targetPropensity: tp, qHatLogged: q, qHatTarget: qpi } = c;
  const t0 = performance.now();
  const terms = new Float64Array(n);
  let point = 0;
  for (let i = 0; i < n; i++) {
    terms[i] = qpi[i] + (tp[i] / p[i]) * (r[i] - q[i]);
    point += terms[i];
  }
  point /= n;
  const rng = seedrandom.alea(`naive-bootstrap:${SEED}`);
  const idx = new Int32Array(n);
  const estimates: number[] = [];
  let limit = replicates;
  let drawMs = 0;
  let estimateMs = 0;
  for (let b = 0; b < limit; b++) {
    const ta = performance.now();
    for (let i = 0; i < n; i++) idx[i] = Math.floor(rng() * n);
    const tb = performance.now();
    let s = 0;
    if (mode === 'terms') {
      for (let i = 0; i < n; i++) s += terms[idx[i]];
    } else {
      for (let i = 0; i < n; i++) {
        const j = idx[i];
        s += qpi[j] + (tp[j] / p[j]) * (r[j] - q[j]);
      }
    }
    estimates.push(s / n);
    const tc = performance.now();
    drawMs += tb - ta;
    estimateMs += tc - tb;
    if (b + 1 === probe && limit > fallback && (since(t0) / probe) * replicates > budgetSeconds) limit = fallback;
  }
  const measuredSeconds = since(t0);
  const sorted = Float64Array.from(estimates).sort();
  const mean = estimates.reduce((a, x) => a + x, 0) / estimates.length;
  const se = Math.sqrt(estimates.reduce((a, x) => a + (x - mean) ** 2, 0) / (estimates.length - 1));
  const scale = replicates / limit;
  return {
    seconds: measuredSeconds * scale,
    measuredSeconds,
    replicates,
    replicatesRun: limit,
    scaled: limit < replicates,
    drawSeconds: (drawMs / 1000) * scale,
    estimateSeconds: (estimateMs / 1000) * scale,
    summary: { value: point, se, ci: [quantile7(sorted, 0.025), quantile7(sorted, 0.975)] },
  };
}
