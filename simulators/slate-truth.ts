/**
 * Ground truth for the synthetic slate world, V(pi) = E_x E_{slate ~ pi}[sum_k r_k], two ways:
 * - sample truth: the mean over the logged contexts of E_{slate ~ pi}[sum_k r_k | x_i]. Exact when
 *   the marginals are (factorized, or Plackett-Luce on the prefix lattice); otherwise each term is a
 *   Rao-Blackwellized Monte Carlo estimate and the standard error of that approximation is given;
 * - population truth: Monte Carlo over fresh contexts from a stream of their own, with its standard
 *   error; per context the value is exact (factorized) or a one-slate Rao-Blackwellized estimate
 *   (Plackett-Luce; unbiased, its extra variance is inside the standard error).
 * Also, for Monte Carlo marginals, a bound on how far IIPS computed from the written marginals can be
 * from IIPS computed from the exact ones (iipsErrorBound), holding with the marginals' confidence.
 */
import { BLOCK_ROWS, blockStream, type RandomStream } from './random-streams.js';
import { bernsteinInterval, resolveSlateConfig, slateTargetName, unionLogTerm, type MarginalErrorStatement, type SlateSynthConfig } from './slate-config.js';
import { newRewardModel } from './slate-rewards.js';
import { clicksInto, makeSlatePolicies, makeSlateWorld, type SlateSynthBatch, type SlateTargetColumns } from './slate-world.js';
import { CompensatedSum } from './compensated-sum.js';
import { RunningMoments } from './running-moments.js';

export interface EstimatedValue {
  readonly value: number;
  /** Standard error: of the Monte Carlo approximation (sample truth; 0 when exact) or of the population mean. */
  readonly se: number;
}

export interface SlateSampleTruth {
  /** Slates. */
  readonly n: number;
  /** Mean observed slate reward sum_k r_k. */
  readonly meanSlateReward: number;
  readonly exact: boolean;
  readonly logging: EstimatedValue;
  /** In the order of the config's targets. */
  readonly targets: readonly (EstimatedValue & { readonly iipsErrorBound: number })[];
  /**
   * The largest Hoeffding error bound of a written item-position propensity (logger's or a
   * target's): the run's bound scaled by that entry's range; 0 when exact.
   */
  readonly loggedItemPositionErrorBound: number;
}

/**
 * The exact weight pi/mu lies in [pi_lo / mu_hi, pi_hi / mu_lo], each of mu and pi within its
 * Bernstein interval (slate-config.ts) and at least its exact cascade probability (a lower bound of
 * the marginal); the IIPS term r w moves by at most |r| times the larger distance of w_hat to that
 * interval's ends. Exact entries (range 0) have a one-point interval.
 */
function weightErrorBound(mu: number, muRange: number, muFloor: number, pi: number, piRange: number, piFloor: number, samples: number, logTerm: number): number {
  const m = bernsteinInterval(mu, muRange, samples, logTerm);
  const p = bernsteinInterval(pi, piRange, samples, logTerm);
  const muLo = Math.max(m.lower, muFloor);
  const muHi = Math.min(m.upper, 1);
  const piLo = Math.max(p.lower, piFloor);
  const piHi = Math.min(p.upper, 1);
  const w = pi / mu;
  return Math.max(w - piLo / muHi, piHi / muLo - w);
}

/** Sums slate by slate in slate order, so the result is bit-identical however the slates were batched. */
export class SlateSampleTruthAccumulator {
  private n = 0;
  private readonly reward = new CompensatedSum();
  private readonly logging = new CompensatedSum();
  private loggingVariance = 0;
  private targets: { value: CompensatedSum; variance: number; iips: CompensatedSum }[] = [];
  private maxRange = 0;
  private readonly exact: boolean;
  /** Hoeffding's simultaneous bound for terms in [0, 1] (0 when exact). */
  private readonly epsilon: number;
  private readonly samples: number;
  private readonly logTerm: number;

  /** The run's marginals statement (slate-config.ts marginalErrorStatement) sets the error bounds. */
  constructor(marginals: MarginalErrorStatement) {
    this.exact = marginals.method === 'exact';
    this.epsilon = marginals.max_abs_error_bound;
    this.samples = marginals.samples;
    this.logTerm = unionLogTerm(marginals.entries, marginals.confidence);
  }

  add(batch: SlateSynthBatch): void {
    if (this.n === 0) this.targets = batch.targets.map(() => ({ value: new CompensatedSum(), variance: 0, iips: new CompensatedSum() }));
    const L = batch.L;
    for (let s = 0; s < batch.slates; s++) {
      let r = 0;
      for (let k = 0; k < L; k++) r += batch.reward[s * L + k];
      this.reward.add(r);
      this.logging.add(batch.loggingValue[s]);
      this.loggingVariance += batch.loggingValueVariance[s];
    }
    for (let r = 0; r < batch.n; r++) if (batch.itemPositionRange[r] > this.maxRange) this.maxRange = batch.itemPositionRange[r];
    batch.targets.forEach((t, ti) => this.addTarget(batch, t, this.targets[ti]));
    this.n += batch.slates;
  }

  private addTarget(batch: SlateSynthBatch, t: SlateTargetColumns, acc: { value: CompensatedSum; variance: number; iips: CompensatedSum }): void {
    const L = batch.L;
    const eps = this.epsilon;
    for (let r = 0; r < batch.n; r++) if (t.itemPositionRange[r] > this.maxRange) this.maxRange = t.itemPositionRange[r];
    for (let s = 0; s < batch.slates; s++) {
      acc.value.add(t.conditionalValue[s]);
      acc.variance += t.conditionalValueVariance[s];
      // The logger as a target has the logger's estimates, so its weights are exactly 1.
      if (eps === 0 || t.sameAsLogger) continue;
      let slateBound = 0;
      for (let k = 0; k < L; k++) {
        const r = s * L + k;
        if (batch.reward[r] === 0) continue;
        slateBound +=
          Math.abs(batch.reward[r]) *
          weightErrorBound(
            batch.propensityItemPosition[r],
            batch.itemPositionRange[r],
            batch.propensityCascade[r],
            t.targetPropensityItemPosition[r],
            t.itemPositionRange[r],
            t.targetPropensityCascade[r],
            this.samples,
            this.logTerm,
          );
      }
      acc.iips.add(slateBound);
    }
  }

  result(): SlateSampleTruth {
    const n = this.n;
    // Slates are independent given the world, so the Monte Carlo variances add.
    const se = (variance: number): number => (this.exact ? 0 : Math.sqrt(variance) / n);
    return {
      n,
      meanSlateReward: this.reward.total() / n,
      exact: this.exact,
      logging: { value: this.logging.total() / n, se: se(this.loggingVariance) },
      targets: this.targets.map((t) => ({ value: t.value.total() / n, se: se(t.variance), iipsErrorBound: t.iips.total() / n })),
      loggedItemPositionErrorBound: this.epsilon * this.maxRange,
    };
  }
}

export interface SlatePopulationTruth {
  readonly samples: number;
  /** How each fresh context's value was computed (an unbiased estimate either way). */
  readonly perContext: 'exact' | 'one-slate-rao-blackwellized';
  readonly logging: EstimatedValue;
  readonly targets: readonly (EstimatedValue & { readonly name: string })[];
}

/**
 * Monte Carlo over `populationSamples` fresh contexts, drawn in blocks like the log's slates. Per
 * context each policy gives SlatePolicy.valueEstimate: exact for factorized policies, a one-slate
 * Rao-Blackwellized estimate for Plackett-Luce (unbiased; the standard error over contexts includes
 * its extra variance, and is far cheaper per unit of standard error than exact per-context values).
 */
export function slatePopulationTruth(config: SlateSynthConfig): SlatePopulationTruth {
  const cfg = resolveSlateConfig(config);
  const world = makeSlateWorld(cfg);
  const { K, L, d } = world;
  // No lattice: the population never needs exact Plackett-Luce marginals.
  const policies = makeSlatePolicies(world, cfg, null);
  const model = newRewardModel(cfg.reward, K, L, cfg.examinationDecay);
  const x = new Float64Array(d);
  const scratch = new Float64Array(K);
  const logging = new RunningMoments();
  const targets = cfg.targets.map(() => new RunningMoments());
  let rng: RandomStream = blockStream(cfg.seed, 'slate-population', 0);
  let mc: RandomStream = blockStream(cfg.seed, 'slate-population-mc', 0);
  for (let s = 0; s < cfg.populationSamples; s++) {
    if (s % BLOCK_ROWS === 0 && s !== 0) {
      rng = blockStream(cfg.seed, 'slate-population', s / BLOCK_ROWS);
      mc = blockStream(cfg.seed, 'slate-population-mc', s / BLOCK_ROWS);
    }
    for (let k = 0; k < d; k++) x[k] = rng.normal();
    clicksInto(world, x, 0, model, scratch);
    policies.logger.setContext(x, 0);
    const v = policies.logger.valueEstimate(model, mc);
    logging.add(v);
    policies.targets.forEach((policy, t) => {
      if (policy === null) {
        targets[t].add(v);
        return;
      }
      policy.setContext(x, 0);
      targets[t].add(policy.valueEstimate(model, mc));
    });
  }
  return {
    samples: cfg.populationSamples,
    perContext: cfg.logger === 'factorized' ? 'exact' : 'one-slate-rao-blackwellized',
    logging: logging.estimate(),
    targets: cfg.targets.map((spec, t) => ({ name: slateTargetName(spec), ...targets[t].estimate() })),
  };
}
