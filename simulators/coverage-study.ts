import { parseEstimatorList } from '../estimators/registry.js';
import { evaluateStream } from '../src/engine/evaluate.js';
import type { IntervalMethod } from '../src/stats/intervals.js';
import { populationTruth } from './bandit-truth.js';
import type { BanditSynthConfig } from './bandit-world.js';
import { synthAligned } from './synth-batches.js';

export interface CoverageStudy {
  /** World and log settings; `seed` is replaced by each study seed. */
  readonly config: Omit<BanditSynthConfig, 'seed'>;
  readonly seeds: readonly number[];
  readonly estimators: string;
  readonly replicates: number;
  readonly alpha?: number;
  readonly methods: readonly IntervalMethod[];
  /** Only this target policy (by name) is scored; default: all. */
  readonly target?: string;
}

export interface CoverageCell {
  readonly target: string;
  readonly estimator: string;
  readonly method: IntervalMethod;
  readonly runs: number;
  readonly covered: number;
  readonly coverage: number;
  readonly meanWidth: number;
  /** Runs where the tool raised its heavy-weight warning. */
  readonly warned: number;
  readonly meanEssShare: number;
}

/**
 * Interval coverage against known truth: for each seed, a fresh world and log from `ope synth`'s
 * generator, every estimator and interval method, scored against the population value of the
 * target (the bootstrap resamples contexts too, so that is the quantity the intervals are for).
 */
export async function runCoverageStudy(s: CoverageStudy): Promise<CoverageCell[]> {
  const acc = new Map<string, { target: string; estimator: string; method: IntervalMethod; runs: number; covered: number; width: number; warned: number; ess: number }>();
  for (const seed of s.seeds) {
    const config: BanditSynthConfig = { ...s.config, seed };
    const truth = populationTruth(config);
    const { names, batches } = synthAligned(config);
    const result = await evaluateStream(batches, {
      estimators: parseEstimatorList(s.estimators),
      policyNames: names,
      replicates: s.replicates,
      seed,
      alpha: s.alpha,
      // BCa needs the per-cluster totals, kept only when it is the requested interval.
      ci: s.methods.includes('bca') ? 'bca' : undefined,
    });
    for (const e of result.estimates) {
      if (s.target !== undefined && e.policy !== s.target) continue;
      const v = truth.targets.find((t) => t.name === e.policy)?.value;
      if (v === undefined) continue;
      const pd = result.policies.find((p) => p.policy === e.policy);
      for (const m of s.methods) {
        const i = e.intervals[m];
        if (i === undefined) continue;
        const key = `${e.policy}|${e.label}|${m}`;
        const cell = acc.get(key) ?? { target: e.policy, estimator: e.label, method: m, runs: 0, covered: 0, width: 0, warned: 0, ess: 0 };
        cell.runs++;
        if (i.lower <= v && v <= i.upper) cell.covered++;
        cell.width += i.upper - i.lower;
        if ((pd?.warnings ?? []).some((w) => w.startsWith('HEAVY WEIGHTS'))) cell.warned++;
        cell.ess += pd?.essShare ?? NaN;
        acc.set(key, cell);
      }
    }
  }
  return [...acc.values()].map((c) => ({
    target: c.target,
    estimator: c.estimator,
    method: c.method,
    runs: c.runs,
    covered: c.covered,
    coverage: c.covered / c.runs,
    meanWidth: c.width / c.runs,
    warned: c.warned,
    meanEssShare: c.ess / c.runs,
  }));
}
