import seedrandom from 'seedrandom';
import { UsageError } from '../data/errors.js';
import { quantileSorted } from '../stats/quantile.js';
import { midRanks, pearson, signAgreement } from '../stats/rank-correlation.js';
import { TOOL_VERSION } from '../version.js';
import { readReleases, type ReleaseRecord } from './read-releases.js';

/*
 * The predictive-validation protocol (issue 9): does a metric's offline delta predict the online
 * delta of the same release? Per metric and per lag present (0, 7, 14 days, ...): Spearman's rank
 * correlation (mid-ranks for ties), Pearson's correlation and the sign agreement, each with a
 * percentile bootstrap interval over releases, and a verdict per metric.
 *
 * Verdict rules (thresholds in PredictiveRules, overridable):
 *   - The rules read the primary lag: 0 when present, else the smallest lag present.
 *   - gate: n >= minReleases (8) releases at the primary lag, AND the lower bound of Spearman's
 *     interval > spearmanLower (0), AND the lower bound of the sign agreement's interval >
 *     signAgreementLower (0.5), AND (stableDirection) Spearman's point estimate is > 0 at every
 *     lag present (a NaN correlation at a lag counts as unstable: its direction is unknown).
 *   - supporting: Spearman's point estimate at the primary lag is > 0, but a gate rule fails.
 *   - drop: otherwise (no positive rank correlation, or none computable).
 * Rationale: a release gate acts on the ranking and the direction of the offline delta, not on its
 * scale, so the rank correlation (robust to outliers and to a nonlinear link) must be positive
 * with confidence, not just on average; the sign agreement must beat a coin flip with confidence,
 * since the gate's decision is "ship if the offline delta is positive"; a delayed KPI whose
 * relationship flips sign at 7 or 14 days would pass a lag-0 check and still mislead, hence the
 * stable direction; fewer than 8 releases give intervals too wide to trust (the protocol's
 * minimum). Pearson is reported but not used: a single outlying release can make or break it.
 * Deltas must be oriented so that a positive offline delta is meant to predict a positive online
 * delta (flip "lower is better" metrics before).
 */

export type PredictiveVerdict = 'gate' | 'supporting' | 'drop';

export interface PredictiveRules {
  /** Releases needed at the primary lag for a gate (and below which a warning is given). */
  readonly minReleases: number;
  /** Spearman's interval must lie above this (its lower bound > it). */
  readonly spearmanLower: number;
  /** The sign agreement's interval must lie above this (its lower bound > it). */
  readonly signAgreementLower: number;
  /** Require Spearman's point estimate > 0 at every lag present. */
  readonly stableDirection: boolean;
}

export const PREDICTIVE_RULES: PredictiveRules = { minReleases: 8, spearmanLower: 0, signAgreementLower: 0.5, stableDirection: true };

export const PREDICTIVE_DEFAULTS = { bootstrap: 2000, seed: 12345, alpha: 0.05 } as const;

export interface PredictiveOptions {
  /** Bootstrap replicates over releases (default 2000; 0 = no intervals). */
  readonly bootstrap?: number;
  readonly seed?: number;
  /** Two-sided level of the intervals is 1 - alpha (default 0.05). */
  readonly alpha?: number;
  readonly rules?: Partial<PredictiveRules>;
}

/** A statistic with its percentile bootstrap interval; `dropped` replicates were NaN (constant resample) and left out. */
export interface StatWithInterval {
  readonly estimate: number;
  readonly lower: number;
  readonly upper: number;
  readonly dropped: number;
}

export interface PredictivePoint {
  readonly releaseId: string;
  readonly offline: number;
  readonly online: number;
}

export interface PredictiveLag {
  readonly lagDays: number;
  /** Releases at this lag. */
  readonly n: number;
  readonly spearman: StatWithInterval;
  readonly pearson: StatWithInterval;
  readonly signAgreement: StatWithInterval;
  /** The releases at this lag, in file order. */
  readonly points: readonly PredictivePoint[];
}

export interface PredictiveMetric {
  readonly metric: string;
  readonly verdict: PredictiveVerdict;
  /** The lag the rules read (0 when present). */
  readonly verdictLag: number;
  /** Why: the rules that passed (gate) or the ones that failed. */
  readonly reasons: readonly string[];
  /** Ascending by lag. */
  readonly lags: readonly PredictiveLag[];
}

export interface PredictiveResult {
  readonly tool: 'ope-toolkit';
  readonly version: string;
  readonly command: 'predictive';
  /** The releases file (or a label for in-memory records). */
  readonly releases: string;
  readonly rows: number;
  readonly bootstrap: { readonly replicates: number; readonly seed: number; readonly alpha: number; readonly method: 'percentile' };
  readonly rules: PredictiveRules;
  /** In order of first appearance in the file. */
  readonly metrics: readonly PredictiveMetric[];
  readonly warnings: readonly string[];
}

function checkOptions(opts: PredictiveOptions): { bootstrap: number; seed: number; alpha: number; rules: PredictiveRules } {
  const bootstrap = opts.bootstrap ?? PREDICTIVE_DEFAULTS.bootstrap;
  const seed = opts.seed ?? PREDICTIVE_DEFAULTS.seed;
  const alpha = opts.alpha ?? PREDICTIVE_DEFAULTS.alpha;
  if (!Number.isInteger(bootstrap) || bootstrap < 0) throw new UsageError(`bootstrap must be a whole number >= 0, got ${bootstrap}`);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`seed must be a whole number >= 0, got ${seed}`);
  if (!(alpha > 0 && alpha < 1)) throw new UsageError(`alpha must be in (0, 1), got ${alpha}`);
  const rules: PredictiveRules = { ...PREDICTIVE_RULES, ...(opts.rules ?? {}) };
  if (!Number.isInteger(rules.minReleases) || rules.minReleases < 2) throw new UsageError(`minReleases must be a whole number >= 2, got ${rules.minReleases}`);
  if (!(rules.spearmanLower >= -1 && rules.spearmanLower < 1)) throw new UsageError(`spearmanLower must be in [-1, 1), got ${rules.spearmanLower}`);
  if (!(rules.signAgreementLower >= 0 && rules.signAgreementLower < 1)) throw new UsageError(`signAgreementLower must be in [0, 1), got ${rules.signAgreementLower}`);
  return { bootstrap, seed, alpha, rules };
}

const fmt = (x: number): string => (Number.isFinite(x) ? String(Number(x.toPrecision(3))) : String(x));

/** The protocol on in-memory records (e.g. from the simulator); `source` names them in the result. */
export function evaluatePredictive(records: readonly ReleaseRecord[], opts: PredictiveOptions = {}, source = '(records)'): PredictiveResult {
  const { bootstrap, seed, alpha, rules } = checkOptions(opts);
  const byMetric = new Map<string, Map<number, ReleaseRecord[]>>();
  for (const r of records) {
    let lags = byMetric.get(r.metric);
    if (lags === undefined) byMetric.set(r.metric, (lags = new Map()));
    let list = lags.get(r.lagDays);
    if (list === undefined) lags.set(r.lagDays, (list = []));
    list.push(r);
  }
  const warnings: string[] = [];
  const metrics: PredictiveMetric[] = [];
  for (const [metric, lagMap] of byMetric) {
    const lags = [...lagMap.keys()].sort((a, b) => a - b).map((lag) => lagResult(metric, lag, lagMap.get(lag) as ReleaseRecord[], bootstrap, seed, alpha));
    const few = lags.filter((l) => l.n < rules.minReleases);
    if (few.length > 0) {
      warnings.push(
        `metric '${metric}': ${few.map((l) => `${l.n} release${l.n === 1 ? '' : 's'} at lag ${l.lagDays}`).join(', ')}; ` +
          `the protocol needs at least ${rules.minReleases} releases per metric (and lag) under one measurement contract before a metric can gate releases`,
      );
    }
    for (const l of lags) {
      for (const [name, s] of [
        ['Spearman', l.spearman],
        ['Pearson', l.pearson],
      ] as const) {
        if (bootstrap > 0 && s.dropped > 0.05 * bootstrap) {
          warnings.push(
            `metric '${metric}', lag ${l.lagDays}: ${s.dropped} of ${bootstrap} bootstrap replicates of ${name} were undefined (a resample with constant deltas) and left out; the interval is conditional on the others`,
          );
        }
      }
    }
    metrics.push({ metric, ...verdictOf(lags, rules, alpha), lags });
  }
  return {
    tool: 'ope-toolkit',
    version: TOOL_VERSION,
    command: 'predictive',
    releases: source,
    rows: records.length,
    bootstrap: { replicates: bootstrap, seed, alpha, method: 'percentile' },
    rules,
    metrics,
    warnings,
  };
}

/** Read a release table and run the protocol. */
export async function runPredictive(path: string, opts: PredictiveOptions = {}): Promise<PredictiveResult> {
  checkOptions(opts);
  return evaluatePredictive(await readReleases(path), opts, path);
}

function lagResult(metric: string, lagDays: number, rows: readonly ReleaseRecord[], B: number, seed: number, alpha: number): PredictiveLag {
  const n = rows.length;
  const x = Float64Array.from(rows, (r) => r.deltaOffline);
  const y = Float64Array.from(rows, (r) => r.deltaOnline);
  const rx = midRanks(x);
  const ry = midRanks(y);
  const point = { spearman: pearson(rx, ry), pearson: pearson(x, y), sign: signAgreement(x, y) };
  const reps = { spearman: new Float64Array(B), pearson: new Float64Array(B), sign: new Float64Array(B) };
  if (n > 0 && B > 0) {
    // One stream per (seed, metric, lag): a metric's intervals do not move when another metric is added.
    const rng = seedrandom.alea(`ope-predictive:${seed}:${JSON.stringify(metric)}:${lagDays}`);
    const bx = new Float64Array(n);
    const by = new Float64Array(n);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < n; i++) {
        const k = Math.floor(rng() * n);
        bx[i] = x[k];
        by[i] = y[k];
      }
      reps.spearman[b] = pearson(midRanks(bx), midRanks(by));
      reps.pearson[b] = pearson(bx, by);
      reps.sign[b] = signAgreement(bx, by);
    }
  }
  return {
    lagDays,
    n,
    spearman: withInterval(point.spearman, reps.spearman, alpha),
    pearson: withInterval(point.pearson, reps.pearson, alpha),
    signAgreement: withInterval(point.sign, reps.sign, alpha),
    points: rows.map((r) => ({ releaseId: r.releaseId, offline: r.deltaOffline, online: r.deltaOnline })),
  };
}

/** Percentile interval (type-7 quantiles at alpha/2 and 1 - alpha/2) of the defined replicates. */
function withInterval(estimate: number, reps: Float64Array, alpha: number): StatWithInterval {
  const kept = reps.filter((v) => !Number.isNaN(v)).sort();
  return {
    estimate,
    lower: quantileSorted(kept, alpha / 2),
    upper: quantileSorted(kept, 1 - alpha / 2),
    dropped: reps.length - kept.length,
  };
}

function verdictOf(lags: readonly PredictiveLag[], rules: PredictiveRules, alpha: number): { verdict: PredictiveVerdict; verdictLag: number; reasons: string[] } {
  const primary = lags.find((l) => l.lagDays === 0) ?? lags[0];
  const level = `${fmt(100 * (1 - alpha))}%`;
  const passed: string[] = [];
  const failed: string[] = [];
  const check = (ok: boolean, yes: string, no: string): void => void (ok ? passed : failed).push(ok ? yes : no);
  const at = `lag ${primary.lagDays}`;
  check(primary.n >= rules.minReleases, `${primary.n} releases at ${at} (>= ${rules.minReleases})`, `only ${primary.n} releases at ${at} (< ${rules.minReleases})`);
  const s = primary.spearman;
  check(
    s.lower > rules.spearmanLower,
    `Spearman's ${level} lower bound ${fmt(s.lower)} > ${fmt(rules.spearmanLower)}`,
    Number.isNaN(s.lower) ? `Spearman's ${level} interval is undefined` : `Spearman's ${level} lower bound ${fmt(s.lower)} is not above ${fmt(rules.spearmanLower)}`,
  );
  const a = primary.signAgreement;
  check(
    a.lower > rules.signAgreementLower,
    `sign agreement's ${level} lower bound ${fmt(a.lower)} > ${fmt(rules.signAgreementLower)}`,
    Number.isNaN(a.lower) ? `sign agreement's ${level} interval is undefined` : `sign agreement's ${level} lower bound ${fmt(a.lower)} is not above ${fmt(rules.signAgreementLower)}`,
  );
  if (rules.stableDirection) {
    const unstable = lags.filter((l) => !(l.spearman.estimate > 0));
    check(
      unstable.length === 0,
      lags.length > 1 ? `Spearman positive at every lag (${lags.map((l) => l.lagDays).join(', ')})` : `Spearman positive (only lag ${primary.lagDays} present)`,
      `direction not stable: Spearman ${unstable.map((l) => `${fmt(l.spearman.estimate)} at lag ${l.lagDays}`).join(', ')}`,
    );
  }
  if (failed.length === 0) return { verdict: 'gate', verdictLag: primary.lagDays, reasons: passed };
  if (s.estimate > 0) return { verdict: 'supporting', verdictLag: primary.lagDays, reasons: [`Spearman ${fmt(s.estimate)} > 0 at ${at}, but: ${failed.join('; ')}`] };
  return {
    verdict: 'drop',
    verdictLag: primary.lagDays,
    reasons: [Number.isNaN(s.estimate) ? `Spearman undefined at ${at} (fewer than 2 releases or constant deltas)` : `Spearman ${fmt(s.estimate)} <= 0 at ${at}`],
  };
}
