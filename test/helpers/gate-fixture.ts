import type { GateCheck, GateColour, GateDifference, GateResult } from '../../src/gate/types.js';
import type { Interval } from '../../src/stats/intervals.js';

/**
 * A realistic `ope gate` result for the renderings' tests (memo, HTML report, browser), built by hand
 * so they do not depend on the gate's computation: a candidate ranker against production on 200k
 * logged decisions, 3 estimators (snips, dr, switch-dr), 2 slices (one significantly worse), 9 checks
 * (5 green, 3 yellow, 1 red: the verdict is red, 'hold') and a log-spaced weight histogram.
 */

const ALPHA = 0.05;
const bca = (lower: number, upper: number): Interval => ({ method: 'bca', alpha: ALPHA, lower, upper });

function difference(estimator: string, candidate: number, baseline: number, halfWidth: number, cHalf: number, bHalf: number): GateDifference {
  const d = candidate - baseline;
  return {
    estimator,
    candidate,
    baseline,
    difference: d,
    se: halfWidth / 1.96,
    ci: bca(d - halfWidth, d + halfWidth * 1.1),
    candidateCi: bca(candidate - cHalf, candidate + cHalf),
    baselineCi: bca(baseline - bHalf, baseline + bHalf),
  };
}

const DIFFERENCES: GateDifference[] = [
  difference('snips', 0.0842, 0.0805, 0.0031, 0.0036, 0.0009),
  difference('dr', 0.0838, 0.0806, 0.0019, 0.0024, 0.0008),
  difference('switch-dr', 0.0835, 0.0806, 0.0021, 0.0027, 0.0008),
];

/** 16 log-spaced bins from 1e-3 to 1e3 (edges 10^(-3 + 6k/16)), counts summing to 200000. */
const EDGES = Array.from({ length: 17 }, (_, k) => Number((10 ** (-3 + (6 * k) / 16)).toPrecision(6)));
const COUNTS = [212, 540, 1310, 3021, 6880, 13950, 26410, 41880, 47720, 31500, 16300, 6940, 2610, 540, 150, 37];

const CHECKS: GateCheck[] = [
  {
    id: 'validation',
    name: 'Input validation',
    colour: 'green',
    value: 0,
    unit: 'errors',
    thresholds: { red: 0, better: 'lower' },
    detail: 'The log and both policies passed the data contract: propensities in (0, 1], action distributions sum to 1.',
  },
  {
    id: 'direction',
    name: 'Direction agreement across estimators',
    colour: 'green',
    value: 1,
    unit: 'share of estimators',
    thresholds: { yellow: 1, better: 'higher' },
    detail: 'All 3 estimators put the candidate above the baseline.',
  },
  {
    id: 'effect',
    name: 'Minimum effect (dr)',
    colour: 'yellow',
    value: 0.0032,
    unit: 'difference in reward per decision',
    thresholds: { minEffect: 0.002, better: 'higher' },
    detail: 'The difference is +0.0032 but its lower bound 0.0013 does not clear the minimum effect 0.002.',
    mitigation: 'Run a longer shadow (about 2x the rows) to narrow the interval before claiming the effect.',
  },
  {
    id: 'non_inferiority',
    name: 'Non-inferiority (dr)',
    colour: 'green',
    value: 0.0013,
    unit: 'lower bound of the difference',
    thresholds: { margin: 0.001, better: 'higher' },
    detail: 'The lower bound 0.0013 lies above -0.001: the candidate is not worse than the baseline by more than the margin.',
  },
  {
    id: 'ess',
    name: 'Effective sample size of the candidate',
    colour: 'yellow',
    value: 0.072,
    unit: 'share of n',
    thresholds: { yellow: 0.1, red: 0.01, better: 'higher' },
    detail: 'Kish ESS is 7.2% of the rows (14,400 of 200,000): below 10%, a few rows carry the estimate.',
    mitigation: 'Add exploration (epsilon 0.05) to the logging policy for the next shadow window.',
  },
  {
    id: 'mean_weight',
    name: 'Mean importance weight',
    colour: 'green',
    value: 0.994,
    unit: 'mean weight (ideal 1)',
    thresholds: { tolerance: 0.1 },
    detail: 'The mean weight 0.994 has an interval [0.981, 1.007] containing 1: the propensities look consistent.',
  },
  {
    id: 'overlap',
    name: 'Support overlap',
    colour: 'green',
    value: 0.0021,
    unit: "share of the target's mass off the log's support",
    thresholds: { yellow: 0.01, red: 0.05, better: 'lower' },
    detail: "0.21% of the candidate's probability mass is on actions the logger never took.",
  },
  {
    id: 'label_maturity',
    name: 'Label maturity',
    colour: 'yellow',
    value: 0.064,
    unit: 'share of rows left out',
    thresholds: { yellow: 0.05, red: 0.2, better: 'lower', windowSeconds: 604800 },
    detail: '6.4% of the rows are younger than the 7-day maturation window and were left out of the estimates.',
    mitigation: 'Re-run the gate after the window closes on the most recent rows.',
  },
  {
    id: 'slices',
    name: 'Slices (surface)',
    colour: 'red',
    value: 1,
    unit: 'slices significantly worse',
    thresholds: { red: 1, better: 'lower', margin: 0.001, minRows: 1000 },
    detail: "surface = 'search' is significantly worse: difference -0.0061, interval [-0.0094, -0.0028] wholly below -0.001.",
    mitigation: "Exclude the 'search' surface from the rollout or fix the candidate's search ranking.",
  },
];

const COLOUR_RANK: Readonly<Record<GateColour, number>> = { green: 0, yellow: 1, red: 2 };

/** The verdict the gate would give for these checks: the worst colour, its decision, one reason per non-green check. */
export function verdictOf(checks: readonly GateCheck[]): GateResult['verdict'] {
  const colour = checks.reduce<GateColour>((worst, c) => (COLOUR_RANK[c.colour] > COLOUR_RANK[worst] ? c.colour : worst), 'green');
  const decision = colour === 'green' ? 'go' : colour === 'yellow' ? 'go-with-mitigations' : 'hold';
  const reasons = checks.filter((c) => c.colour !== 'green').map((c) => `${c.name}: ${c.detail}`);
  return { colour, decision, reasons };
}

/**
 * The fixture, with any top-level field replaced by `overrides`. When `checks` is overridden and
 * `verdict` is not, the verdict is recomputed from the new checks so the two stay consistent.
 */
export function gateFixture(overrides: Partial<GateResult> = {}): GateResult {
  const checks = overrides.checks ?? CHECKS;
  const base: GateResult = {
    tool: 'ope-toolkit',
    version: '0.1.0',
    command: 'gate',
    log: 'logs/shadow-2025-w41.parquet',
    candidate: { name: 'ranker-v7', file: 'policies/ranker-v7.parquet' },
    baseline: { name: 'production', file: 'policies/production.parquet' },
    rows: { read: 213_675, used: 200_000, immature: 13_675 },
    bootstrap: { replicates: 1000, seed: 12345, alpha: ALPHA },
    differences: DIFFERENCES,
    slices: [
      { column: 'surface', value: 'home', n: 152_300, difference: 0.0061, ci: bca(0.0038, 0.0085), worse: false },
      { column: 'surface', value: 'search', n: 47_700, difference: -0.0061, ci: bca(-0.0094, -0.0028), worse: true },
    ],
    weights: { edges: EDGES, counts: COUNTS },
    checks,
    verdict: verdictOf(checks),
    config: {
      estimators: ['snips', 'dr', 'switch-dr'],
      primary: 'dr',
      minEffect: 0.002,
      nonInferiorityMargin: 0.001,
      essShare: { yellow: 0.1, red: 0.01 },
      meanWeightTolerance: 0.1,
      overlap: { yellow: 0.01, red: 0.05 },
      maturity: { windowSeconds: 604800, yellow: 0.05, red: 0.2, asOf: null },
      stability: { yellow: 0.1, red: 0.25 },
      slices: { minRows: 1000 },
      bootstrap: 1000,
      alpha: ALPHA,
      seed: 12345,
    },
    warnings: ['stability checks skipped: the log has no event_ts column', '13,675 rows with immature labels left out (6.4%)'],
  };
  return { ...base, ...overrides, verdict: overrides.verdict ?? (overrides.checks !== undefined ? verdictOf(checks) : base.verdict) };
}

/** The fixture with every check recoloured (details and mitigations kept): for the green / yellow verdict paths. */
export function gateFixtureAll(colour: GateColour): GateResult {
  return gateFixture({ checks: CHECKS.map((c) => ({ ...c, colour })) });
}
