import type { PolicyDiagnostics } from '../engine/results.js';
import type { GateConfig } from './config.js';
import type { ObservedStats } from './log-profile.js';
import type { GateCheck, GateColour, GateDifference, GateResult, GateSlice } from './types.js';

/**
 * The gate's checks (issue 7), each a pure function of measured numbers and the config, and the
 * verdict: any red blocks, yellow passes only with a stated mitigation, green passes.
 */

const f = (x: number, digits = 4): string => (Number.isFinite(x) ? (Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : String(Number(x.toPrecision(digits)))) : String(x));
const pct = (x: number): string => `${f(100 * x, 3)}%`;

/** Larger is better: red below `red`, yellow below `yellow`. */
function higherIsBetter(x: number, t: { yellow: number; red: number }): GateColour {
  return !(x >= t.red) ? 'red' : x < t.yellow ? 'yellow' : 'green';
}

/** Smaller is better: red above `red`, yellow above `yellow`. */
function lowerIsBetter(x: number, t: { yellow: number; red: number }): GateColour {
  return !(x <= t.red) ? 'red' : x > t.yellow ? 'yellow' : 'green';
}

export function validationCheck(error: string | null, warnings: readonly string[]): GateCheck {
  return {
    id: 'validation',
    name: 'Log contract',
    colour: error !== null ? 'red' : 'green',
    value: error !== null ? 1 : 0,
    unit: 'contract violations',
    thresholds: { red: 0, better: 'lower' },
    detail: error ?? (warnings.length > 0 ? `valid; ${warnings.length} warning(s): ${warnings.join('; ')}` : 'the log meets the contract'),
    ...(error !== null ? { mitigation: 'fix the log: no estimate is computed on a log that breaks the contract' } : {}),
  };
}

/**
 * Direction agreement: the estimators' point differences share a sign (green); they disagree
 * (yellow); they disagree with intervals that exclude 0 on both sides (red: the estimators contradict
 * each other, so at least one of them is wrong here).
 */
export function directionCheck(diffs: readonly GateDifference[]): GateCheck {
  const pos = diffs.filter((d) => d.difference > 0);
  const neg = diffs.filter((d) => d.difference < 0);
  const sigPos = diffs.some((d) => d.ci.lower > 0);
  const sigNeg = diffs.some((d) => d.ci.upper < 0);
  const agree = pos.length === diffs.length || neg.length === diffs.length || (pos.length === 0 && neg.length === 0);
  const colour: GateColour = agree ? 'green' : sigPos && sigNeg ? 'red' : 'yellow';
  const share = diffs.length === 0 ? NaN : Math.max(pos.length, neg.length) / diffs.length;
  return {
    id: 'direction',
    name: 'Direction agreement across estimators',
    colour,
    value: share,
    unit: 'share of estimators agreeing on the sign',
    thresholds: { yellow: 1, better: 'higher' },
    detail: diffs.map((d) => `${d.estimator} ${d.difference >= 0 ? '+' : ''}${f(d.difference)} [${f(d.ci.lower)}, ${f(d.ci.upper)}]`).join('; '),
    ...(colour !== 'green' ? { mitigation: 'the estimators disagree on the direction: check overlap and the reward model, and treat the offline result as inconclusive' } : {}),
  };
}

export function effectCheck(d: GateDifference, cfg: GateConfig): GateCheck {
  const colour: GateColour = d.ci.lower > cfg.minEffect ? 'green' : 'yellow';
  return {
    id: 'effect',
    name: `Improvement of at least ${f(cfg.minEffect)} (${d.estimator})`,
    colour,
    value: d.ci.lower,
    unit: 'lower bound of the difference candidate - baseline',
    thresholds: { yellow: cfg.minEffect, better: 'higher', minEffect: cfg.minEffect },
    detail: `difference ${f(d.difference)}, ${f(100 * (1 - cfg.alpha))}% interval [${f(d.ci.lower)}, ${f(d.ci.upper)}]: ${colour === 'green' ? 'clears' : 'does not clear'} the minimum effect ${f(cfg.minEffect)}`,
    ...(colour !== 'green' ? { mitigation: 'no offline evidence of the minimum effect: ship only to a shadow or a small canary sized to detect it online' } : {}),
  };
}

export function nonInferiorityCheck(d: GateDifference, cfg: GateConfig): GateCheck {
  const m = cfg.nonInferiorityMargin;
  const colour: GateColour = d.ci.upper < -m ? 'red' : d.ci.lower > -m ? 'green' : 'yellow';
  return {
    id: 'non_inferiority',
    name: `Non-inferiority, margin ${f(m)} (${d.estimator})`,
    colour,
    value: d.ci.upper,
    unit: 'upper bound of the difference candidate - baseline',
    thresholds: { red: -m, yellow: -m, better: 'higher', margin: m },
    detail:
      colour === 'red'
        ? `the candidate is significantly worse: the whole interval [${f(d.ci.lower)}, ${f(d.ci.upper)}] lies below ${f(-m)}`
        : colour === 'green'
          ? `a loss beyond the margin is ruled out: the interval [${f(d.ci.lower)}, ${f(d.ci.upper)}] lies above ${f(-m)}`
          : `a loss beyond the margin cannot be ruled out: the interval [${f(d.ci.lower)}, ${f(d.ci.upper)}] reaches below ${f(-m)}`,
    ...(colour === 'yellow' ? { mitigation: 'collect more logged traffic or run a canary with a guardrail on this metric' } : {}),
  };
}

export function essCheck(p: PolicyDiagnostics, cfg: GateConfig): GateCheck {
  const colour = higherIsBetter(p.essShare, cfg.essShare);
  return {
    id: 'ess',
    name: 'Effective sample size of the candidate',
    colour,
    value: p.essShare,
    unit: 'Kish ESS as a share of n',
    thresholds: { ...cfg.essShare, better: 'higher' },
    detail: `ESS ${Math.round(p.ess)} of ${p.n} rows (${pct(p.essShare)}); the heaviest row carries ${pct(p.maxWeightShare)} of the weight`,
    ...(colour !== 'green'
      ? { mitigation: 'the candidate acts where the logger rarely does: add exploration to the logging policy, or evaluate a smoothed (stochastic) version of the candidate' }
      : {}),
  };
}

export function meanWeightCheck(p: PolicyDiagnostics, cfg: GateConfig): GateCheck {
  const contains = p.meanWeightCi.lower <= 1 && 1 <= p.meanWeightCi.upper;
  const off = Math.abs(p.meanWeight - 1);
  const colour: GateColour = contains ? 'green' : off <= cfg.meanWeightTolerance ? 'yellow' : 'red';
  return {
    id: 'mean_weight',
    name: 'Mean importance weight contains 1',
    colour,
    value: p.meanWeight,
    unit: 'mean of pi(a|x) / mu(a|x)',
    thresholds: { tolerance: cfg.meanWeightTolerance },
    detail: `mean weight ${f(p.meanWeight)}, interval [${f(p.meanWeightCi.lower)}, ${f(p.meanWeightCi.upper)}]${contains ? ' contains 1' : ': excludes 1, so the target puts mass where the logger never acts or the propensities are wrong'}`,
    ...(colour === 'yellow' ? { mitigation: 'check the logged propensities against the serving code before trusting the estimates' } : {}),
  };
}

export function overlapCheck(p: PolicyDiagnostics, cfg: GateConfig): GateCheck {
  if (p.unsupportedMass === undefined) {
    return {
      id: 'overlap',
      name: 'Overlap (target mass on actions the logger never took)',
      colour: 'yellow',
      value: NaN,
      unit: 'share of target probability',
      thresholds: { ...cfg.overlap, better: 'lower' },
      detail: "not measurable: the candidate's file has no action_dist (its distribution over all actions)",
      mitigation: 'write the candidate as action_dist so the gate can measure overlap',
    };
  }
  const colour = lowerIsBetter(p.unsupportedMass, cfg.overlap);
  return {
    id: 'overlap',
    name: 'Overlap (target mass on actions the logger never took)',
    colour,
    value: p.unsupportedMass,
    unit: 'share of target probability',
    thresholds: { ...cfg.overlap, better: 'lower' },
    detail: `the candidate puts ${pct(p.unsupportedMass)} of its probability on actions the logger never took in this log; no estimator sees their rewards except through the reward model`,
    ...(colour === 'yellow' ? { mitigation: 'the unseen actions are valued by the reward model alone: confirm their effect in shadow' } : {}),
  };
}

export function maturityCheck(o: ObservedStats, cfg: GateConfig, measured: string): GateCheck {
  const share = o.rowsSeen > 0 ? o.immature / o.rowsSeen : 0;
  const colour = lowerIsBetter(share, cfg.maturity);
  return {
    id: 'label_maturity',
    name: 'Label maturity',
    colour,
    value: share,
    unit: 'share of rows without a mature label',
    thresholds: { yellow: cfg.maturity.yellow, red: cfg.maturity.red, better: 'lower', windowSeconds: cfg.maturity.windowSeconds },
    detail: `${o.immature} of ${o.rowsSeen} rows (${pct(share)}) left out of the estimates: ${measured}`,
    ...(colour === 'yellow' ? { mitigation: 'the most recent traffic is missing: re-run the gate once the maturation window has passed' } : {}),
  };
}

export function stabilityCheck(kind: 'action' | 'propensity', psi: number, cfg: GateConfig): GateCheck {
  const colour = Number.isNaN(psi) ? 'yellow' : lowerIsBetter(psi, cfg.stability);
  return {
    id: kind === 'action' ? 'stability_action' : 'stability_propensity',
    name: `Logging policy stability: ${kind === 'action' ? 'logged actions' : 'logged propensities'}`,
    colour,
    value: psi,
    unit: 'PSI, first half against second half of the log',
    thresholds: { ...cfg.stability, better: 'lower' },
    detail: Number.isNaN(psi)
      ? 'not measurable: a half of the log is empty'
      : `PSI ${f(psi)}: ${colour === 'green' ? 'the logging policy looks stable over the log window' : 'the logging policy changed over the log window, so the log mixes two policies'}`,
    ...(colour === 'yellow' ? { mitigation: 'confirm the logged propensities are those of the policy that served each row (a change halfway is fine only if they are)' } : {}),
  };
}

export function sliceCheck(slices: readonly GateSlice[], cfg: GateConfig): GateCheck {
  const judged = slices.filter((s) => s.n >= cfg.slices.minRows);
  const worse = judged.filter((s) => s.worse);
  return {
    id: 'slices',
    name: 'No slice significantly worse',
    colour: worse.length > 0 ? 'red' : 'green',
    value: worse.length,
    unit: 'slices significantly worse than baseline',
    thresholds: { red: 0, better: 'lower', minRows: cfg.slices.minRows, margin: cfg.nonInferiorityMargin },
    detail:
      worse.length > 0
        ? `worse on ${worse.map((s) => `${s.column} = ${s.value} (${f(s.difference)} [${f(s.ci.lower)}, ${f(s.ci.upper)}])`).join(', ')}`
        : `${judged.length} slice(s) judged (${slices.length - judged.length} under ${cfg.slices.minRows} rows), none significantly worse`,
  };
}

export function verdictOf(checks: readonly GateCheck[]): GateResult['verdict'] {
  const reds = checks.filter((c) => c.colour === 'red');
  const yellows = checks.filter((c) => c.colour === 'yellow');
  const colour: GateColour = reds.length > 0 ? 'red' : yellows.length > 0 ? 'yellow' : 'green';
  return {
    colour,
    decision: colour === 'red' ? 'hold' : colour === 'yellow' ? 'go-with-mitigations' : 'go',
    reasons: [...reds, ...yellows].map((c) => `${c.colour.toUpperCase()} ${c.name}: ${c.detail}`),
  };
}
