import type { Interval } from '../stats/intervals.js';

/**
 * The OPE sanity gate's result (issue 7): every check with its measured value, thresholds and
 * colour, the paired differences candidate - baseline, and the verdict. The terminal summary,
 * `--json`, the Markdown release memo and the HTML report are all renderings of this one object.
 */

export type GateColour = 'green' | 'yellow' | 'red';

/** Exit codes of `ope gate` (issue 7): 0 green, 3 yellow, 4 red (2 bad input and 1 internal error as every command). */
export const GATE_EXIT_CODES: Readonly<Record<GateColour, number>> = { green: 0, yellow: 3, red: 4 };

export type GateCheckId = 'validation' | 'direction' | 'effect' | 'non_inferiority' | 'ess' | 'mean_weight' | 'overlap' | 'label_maturity' | 'stability_action' | 'stability_propensity' | 'slices';

export interface GateThresholds {
  /** The value at or beyond which the check turns yellow, and red; the direction is in `better`. */
  readonly yellow?: number;
  readonly red?: number;
  /** 'higher': larger values are better (red below `red`); 'lower': smaller values are better (red above `red`). */
  readonly better?: 'higher' | 'lower';
  /** Any other parameters of the check (e.g. the minimum effect, the maturation window in seconds). */
  readonly [param: string]: number | string | undefined;
}

export interface GateCheck {
  readonly id: GateCheckId;
  /** Human name, e.g. 'Effective sample size of the candidate'. */
  readonly name: string;
  readonly colour: GateColour;
  /** The measured value the colour was decided on (NaN when not measurable). */
  readonly value: number;
  /** How `value` reads, e.g. 'share of n', 'PSI', 'difference in reward per decision'. */
  readonly unit: string;
  readonly thresholds: GateThresholds;
  /** One sentence: what was measured and why this colour. */
  readonly detail: string;
  /** For yellow (and red): what would make shipping acceptable, e.g. 'run a longer shadow'. */
  readonly mitigation?: string;
}

/** candidate - baseline under one estimator, with its interval (same bootstrap weights for both). */
export interface GateDifference {
  readonly estimator: string;
  readonly candidate: number;
  readonly baseline: number;
  readonly difference: number;
  readonly se: number;
  readonly ci: Interval;
  readonly candidateCi: Interval;
  readonly baselineCi: Interval;
}

/** Per slice value (e.g. surface = 'home'): the difference under the gate's primary estimator. */
export interface GateSlice {
  readonly column: string;
  readonly value: string;
  readonly n: number;
  readonly difference: number;
  readonly ci: Interval;
  /** The interval lies wholly below -margin: the candidate is significantly worse here. */
  readonly worse: boolean;
}

/** The distribution of the candidate's importance weights, for the report's histogram. */
export interface GateWeightHistogram {
  /** Bin edges in weight (length bins + 1), log-spaced. */
  readonly edges: readonly number[];
  /** Rows per bin. */
  readonly counts: readonly number[];
}

export interface GateResult {
  readonly tool: 'ope-toolkit';
  readonly version: string;
  readonly command: 'gate';
  readonly log: string;
  readonly candidate: { readonly name: string; readonly file: string };
  readonly baseline: { readonly name: string; readonly file: string };
  /** Rows read, rows used in the estimates (immature labels left out), and the log's time span when known. */
  readonly rows: { readonly read: number; readonly used: number; readonly immature: number };
  readonly bootstrap: { readonly replicates: number; readonly seed: number; readonly alpha: number };
  readonly differences: readonly GateDifference[];
  readonly slices: readonly GateSlice[];
  readonly weights: GateWeightHistogram;
  readonly checks: readonly GateCheck[];
  readonly verdict: {
    readonly colour: GateColour;
    /** 'go' (green), 'go with mitigations' (yellow), 'hold' (red). */
    readonly decision: 'go' | 'go-with-mitigations' | 'hold';
    /** One line per non-green check. */
    readonly reasons: readonly string[];
  };
  /** The resolved gate config (thresholds), for the record. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly warnings: readonly string[];
}
