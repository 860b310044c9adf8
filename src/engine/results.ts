import type { Interval, IntervalMethod } from '../stats/intervals.js';

/** A priori bounds on the inputs, used only by the finite-sample interval. */
export interface KnownBounds {
  readonly rewardMin: number;
  readonly rewardMax: number;
  /** Largest possible importance weight, e.g. 1 / (smallest propensity the logger can use). */
  readonly maxWeight: number;
}

/** What `ope evaluate --json` prints per (policy, estimator) (DESIGN.md §4). */
export interface EstimateResult {
  readonly policy: string;
  readonly estimator: string;
  readonly label: string;
  readonly params: Readonly<Record<string, number>>;
  /** Point estimate on the data (never the mean of the replicates). */
  readonly value: number;
  /** Standard error: the bootstrap replicates' sd when there are replicates, else the delta method. */
  readonly se: number;
  readonly seMethod: 'bootstrap' | 'delta';
  /** The interval asked for with --ci. */
  readonly ci: Interval;
  /** Every interval that could be computed, by method. */
  readonly intervals: Readonly<Partial<Record<IntervalMethod, Interval>>>;
  /**
   * Estimator-specific diagnostics: share of rows clipped / switched; for slate estimators the ESS
   * of the weights they apply (weight_ess, weight_ess_share of the units: slates or slots) and the
   * heaviest (max_weight, max_weight_share of the weight sum).
   */
  readonly diagnostics: Readonly<Record<string, number>>;
  readonly warnings: readonly string[];
}

export interface PolicyDiagnostics {
  readonly policy: string;
  readonly n: number;
  /** Runs of consecutive rows with one request id (= requests when a request's rows are adjacent). */
  readonly requests: number;
  /** Kish effective sample size (sum w)^2 / sum w^2, and as a share of n. */
  readonly ess: number;
  readonly essShare: number;
  readonly meanWeight: number;
  /** Should contain 1 when the logger supports the target and the propensities are right. */
  readonly meanWeightCi: Interval;
  readonly maxWeight: number;
  /** Share of the total weight sum w carried by the single heaviest row. */
  readonly maxWeightShare: number;
  readonly rowsWeightAbove1000: number;
  /**
   * Finite-sample interval for the policy's value (clipped empirical Bernstein with a union bound
   * over clip levels, src/stats/clipped-bounds.ts); absent when the reward range is unknown.
   */
  readonly valueInterval?: Interval;
  /** Mean target probability on actions the logger never took in this log (action_dist input only). */
  readonly unsupportedMass?: number;
  /**
   * Slate logs: the joint (standard) slate weights pi(slate)/mu(slate), one per slate: their ESS,
   * as a share of the slates, the heaviest, and its share of the weight sum.
   */
  readonly slate?: { readonly slates: number; readonly ess: number; readonly essShare: number; readonly maxWeight: number; readonly maxWeightShare: number };
  readonly warnings: readonly string[];
}

/**
 * A paired difference candidate - baseline under one estimator (DESIGN.md §1: both policies'
 * estimates from the same rows and the same bootstrap weights, so the replicates of the difference
 * are the differences of the replicates, and the shared noise cancels).
 */
export interface DifferenceResult {
  readonly candidate: string;
  readonly baseline: string;
  readonly estimator: string;
  readonly label: string;
  readonly value: number;
  readonly se: number;
  readonly seMethod: 'bootstrap' | 'delta';
  readonly ci: Interval;
  readonly intervals: Readonly<Partial<Record<IntervalMethod, Interval>>>;
  /** The difference in replicate b at index b (NaN where a replicate had no estimate); absent without replicates. For simultaneous intervals. */
  readonly replicates?: Float64Array;
}

export interface EvaluationResult {
  readonly n: number;
  readonly seed: number;
  readonly bootstrap: { readonly replicates: number; readonly kind: 'poisson' | 'multinomial'; readonly clustered: boolean };
  readonly alpha: number;
  readonly ciMethod: IntervalMethod;
  /** A priori bounds used by the empirical-Bernstein interval, and where they came from. */
  readonly bounds?: { readonly rewardMin: number; readonly rewardMax: number; readonly maxWeight: number; readonly source: string };
  readonly estimates: readonly EstimateResult[];
  readonly policies: readonly PolicyDiagnostics[];
  /** The paired differences asked for (EvaluateOptions.contrasts), per contrast and estimator. */
  readonly differences?: readonly DifferenceResult[];
  readonly warnings: readonly string[];
}
