import { estimatorNeedsRewardModel, parseEstimatorList } from '../../estimators/registry.js';
import type { LogBatch } from '../data/batch.js';
import { InputError, UsageError } from '../data/errors.js';
import { openLog, openPolicy, type ReadOptions } from '../data/read-log.js';
import { validateLog } from '../data/validate.js';
import { alignPolicies, type PolicyInput } from '../engine/align.js';
import { evaluateStream } from '../engine/evaluate.js';
import { filterAligned, type AlignedBatch } from '../engine/reblock.js';
import type { EvaluationResult } from '../engine/results.js';
import { TOOL_VERSION } from '../version.js';
import { directionCheck, effectCheck, essCheck, maturityCheck, meanWeightCheck, nonInferiorityCheck, overlapCheck, sliceCheck, stabilityCheck, validationCheck, verdictOf } from './checks.js';
import type { GateConfig } from './config.js';
import { GateObserver, isMature, NULL_SLICE, profileLog, type LogProfile } from './log-profile.js';
import type { GateCheck, GateDifference, GateResult, GateSlice } from './types.js';

/**
 * `ope gate` (issue 7): the paired difference candidate - baseline under several estimators (same
 * rows, same bootstrap weights), the checks of checks.ts and the verdict, in three kinds of pass over
 * the log: validation and a profile (rows, the log's end, slice values); one estimation pass that
 * leaves immature labels out and measures stability and weights on the way; one pass per slice.
 */

export interface GateOptions {
  readonly log: string;
  readonly candidate: { readonly name: string; readonly file: string };
  readonly baseline: { readonly name: string; readonly file: string };
  readonly config: GateConfig;
  /** String columns of the contract to slice by (surface, stage, ...). */
  readonly sliceBy?: readonly string[];
  readonly read?: ReadOptions;
  /** Worker threads for the bootstrap, and for decoding the log and policy files unless `read` sets its own. */
  readonly threads?: number;
}

/** Immature rows are those whose event is later than this; null when the log has no event_ts. */
function immatureAfterOf(profile: LogProfile, cfg: GateConfig): number | null {
  if (!profile.hasEventTs) return null;
  const asOf = cfg.maturity.asOf ?? profile.maxEventTs;
  return asOf - cfg.maturity.windowSeconds;
}

/** Estimators of the config the inputs support (those needing q_hat only with a reward model in the log). */
async function usableEstimators(opts: GateOptions, read: ReadOptions): Promise<{ spec: string; dropped: string[] }> {
  let first: LogBatch | undefined;
  for await (const b of openLog(opts.log, read).batches()) {
    first = b;
    break;
  }
  const hasModel = first !== undefined && (first.qHat !== undefined || first.qHatLogged !== undefined);
  const specs = opts.config.estimators;
  const names = parseEstimatorList(specs.join(',')).map((e) => e.name);
  const keep = specs.filter((_, i) => hasModel || !estimatorNeedsRewardModel(names[i]));
  const dropped = specs.filter((s) => !keep.includes(s));
  if (keep.length === 0)
    throw new UsageError(`none of the gate's estimators (${specs.join(', ')}) can run: the log has no q_hat; add a reward model (ope fit) or list IPS-family estimators in the gate config`);
  return { spec: keep.join(','), dropped };
}

function policyInputs(opts: GateOptions, read: ReadOptions): PolicyInput[] {
  return [opts.candidate, opts.baseline].map((p) => {
    const src = openPolicy(p.file, read);
    return { name: p.name, kind: 'file' as const, path: p.file, batches: () => src.batches() };
  });
}

export async function runGate(opts: GateOptions): Promise<GateResult> {
  const cfg = opts.config;
  if (opts.candidate.name === opts.baseline.name) throw new UsageError(`the candidate and the baseline need different names (both '${opts.candidate.name}')`);
  const read: ReadOptions = { threads: opts.threads, ...opts.read, allowMissingReward: true };
  const base = {
    tool: 'ope-toolkit' as const,
    version: TOOL_VERSION,
    command: 'gate' as const,
    log: opts.log,
    candidate: opts.candidate,
    baseline: opts.baseline,
    bootstrap: { replicates: cfg.bootstrap, seed: cfg.seed, alpha: cfg.alpha },
    config: cfg as unknown as Readonly<Record<string, unknown>>,
  };

  // 1. The contract. A file that cannot be read is bad input (exit 2); a log that breaks a rule of
  // the contract is the gate's first red check.
  let validationWarnings: string[];
  try {
    validationWarnings = (await validateLog(openLog(opts.log, read))).warnings.map((w) => w.message);
  } catch (err) {
    if (!(err instanceof InputError) || (err.column === undefined && err.row === undefined)) throw err;
    const checks = [validationCheck(err.message, [])];
    return { ...base, rows: { read: 0, used: 0, immature: 0 }, differences: [], slices: [], weights: { edges: [], counts: [] }, checks, verdict: verdictOf(checks), warnings: [] };
  }

  // 2. Profile, estimators, then the estimation pass.
  const sliceBy = opts.sliceBy ?? [];
  const profile = await profileLog(openLog(opts.log, read).batches(), sliceBy, opts.log);
  const { spec, dropped } = await usableEstimators(opts, read);
  const warnings: string[] = [];
  if (dropped.length > 0) warnings.push(`left out ${dropped.join(', ')}: the log has no q_hat (reward model); add one with ope fit`);
  const estimators = parseEstimatorList(spec);
  const labels = estimators.map((e) => e.label);
  const primary = cfg.primary ?? (labels.includes('dr') ? 'dr' : labels.includes('snips') ? 'snips' : labels[0]);
  if (!labels.includes(primary)) throw new UsageError(`gate config: primary '${primary}' is not among the estimators run (${labels.join(', ')})`);
  const immatureAfter = immatureAfterOf(profile, cfg);
  const observer = new GateObserver(profile, immatureAfter, 0);
  const names = [opts.candidate.name, opts.baseline.name];
  const contrasts = [{ candidate: opts.candidate.name, baseline: opts.baseline.name }];
  const evalOpts = {
    policyNames: names,
    replicates: cfg.bootstrap,
    seed: cfg.seed,
    alpha: cfg.alpha,
    contrasts,
    threads: opts.threads,
    ci: cfg.bootstrap >= 2 ? ('percentile' as const) : ('normal' as const),
  };
  const aligned = alignPolicies(openLog(opts.log, read).batches(), policyInputs(opts, read));
  const result = await evaluateStream(
    filterAligned(aligned, (b) => observer.keep(b.log, b.policies)),
    { ...evalOpts, estimators },
  );
  const observed = observer.finish();
  if (observed.rowsKept === 0) throw new InputError('no row with a mature label is left to estimate on', { file: opts.log });
  const differences = gateDifferences(result, names);

  // 3. Slices, under the primary estimator.
  const slices: GateSlice[] = [];
  const primaryEstimators = estimators.filter((e) => e.label === primary);
  for (const [column, values] of profile.sliceValues) {
    for (const value of values.keys()) {
      const inSlice = (b: AlignedBatch): Int32Array => {
        const col = b.log.strings?.get(column);
        const out: number[] = [];
        for (let i = 0; i < b.log.n; i++) if ((col?.[i] ?? NULL_SLICE) === value && isMature(b.log, i, immatureAfter)) out.push(i);
        return Int32Array.from(out);
      };
      const r = await evaluateStream(filterAligned(alignPolicies(openLog(opts.log, read).batches(), policyInputs(opts, read)), inSlice), { ...evalOpts, estimators: primaryEstimators });
      const d = r.differences?.[0];
      if (d === undefined) continue;
      slices.push({ column, value, n: r.n, difference: d.value, ci: d.ci, worse: d.ci.upper < -cfg.nonInferiorityMargin });
    }
  }

  // 4. Checks and verdict.
  const cand = result.policies[0];
  const primaryDiff = differences.find((d) => d.estimator === primary) as GateDifference;
  const maturityNote = profile.hasEventTs
    ? `reward_ts missing and event_ts after ${new Date(1000 * (immatureAfter as number)).toISOString()} (the ${cfg.maturity.windowSeconds / 86400}-day window before ${new Date(1000 * (cfg.maturity.asOf ?? profile.maxEventTs)).toISOString()}), or the reward null`
    : 'the log has no event_ts, so only rows with a null reward count as immature';
  const checks: GateCheck[] = [
    validationCheck(null, validationWarnings),
    directionCheck(differences),
    effectCheck(primaryDiff, cfg),
    nonInferiorityCheck(primaryDiff, cfg),
    essCheck(cand, cfg),
    meanWeightCheck(cand, cfg),
    overlapCheck(cand, cfg),
    maturityCheck(observed, cfg, maturityNote),
    stabilityCheck('action', observed.psiAction, cfg),
    stabilityCheck('propensity', observed.psiPropensity, cfg),
    ...(slices.length > 0 ? [sliceCheck(slices, cfg)] : []),
  ];
  return {
    ...base,
    rows: { read: observed.rowsSeen, used: observed.rowsKept, immature: observed.immature },
    differences,
    slices,
    weights: observed.weights,
    checks,
    verdict: verdictOf(checks),
    warnings: [...warnings, ...result.warnings, ...result.policies.flatMap((p) => p.warnings.map((w) => `${p.policy}: ${w}`))],
  };
}

function gateDifferences(result: EvaluationResult, names: readonly string[]): GateDifference[] {
  return (result.differences ?? []).map((d) => {
    const est = (p: string) => result.estimates.find((e) => e.policy === p && e.label === d.label);
    const c = est(names[0]);
    const b = est(names[1]);
    if (c === undefined || b === undefined) throw new Error(`no estimate for ${d.label}`);
    return { estimator: d.label, candidate: c.value, baseline: b.value, difference: d.value, se: d.se, ci: d.ci, candidateCi: c.ci, baselineCi: b.ci };
  });
}
