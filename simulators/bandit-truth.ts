/**
 * Ground truth for the synthetic bandit, two ways:
 * - sample truth: mean over the logged rows of sum_a pi(a|x_i) mu(x_i, a), exact given the logged
 *   contexts; this is what an estimator estimates conditionally on the contexts;
 * - population truth: V(pi) = E_x[sum_a pi(a|x) mu(x, a)] by Monte Carlo over fresh contexts from a
 *   stream of their own, with its standard error.
 */
import { dot, targetName, targetPolicyInto } from './bandit-policies.js';
import { expectedRewardsInto, loggingPolicyInto, makeBanditWorld, resolveBanditConfig, type BanditSynthConfig, type SynthBatch } from './bandit-world.js';
import { BLOCK_ROWS, blockStream, type RandomStream } from './random-streams.js';
import { CompensatedSum } from './compensated-sum.js';
import { RunningMoments } from './running-moments.js';

export interface SampleTruth {
  readonly n: number;
  readonly meanReward: number;
  /** The logging policy's value on the logged contexts. */
  readonly logging: number;
  /** In the order of the config's targets. */
  readonly targets: readonly number[];
}

/** Sums row by row in row order, so the result is bit-identical however the rows were batched. */
export class SampleTruthAccumulator {
  private n = 0;
  private readonly reward = new CompensatedSum();
  private readonly logging = new CompensatedSum();
  private targets: CompensatedSum[] = [];

  add(batch: SynthBatch): void {
    if (this.n === 0) this.targets = batch.targets.map(() => new CompensatedSum());
    for (let i = 0; i < batch.n; i++) {
      this.reward.add(batch.reward[i]);
      this.logging.add(batch.loggingValue[i]);
    }
    batch.targets.forEach((t, k) => {
      const sum = this.targets[k];
      for (let i = 0; i < batch.n; i++) sum.add(t.conditionalValue[i]);
    });
    this.n += batch.n;
  }

  result(): SampleTruth {
    const n = this.n;
    return {
      n,
      meanReward: this.reward.total() / n,
      logging: this.logging.total() / n,
      targets: this.targets.map((s) => s.total() / n),
    };
  }
}

export interface PolicyValue {
  readonly value: number;
  readonly se: number;
}

export interface PopulationTruth {
  readonly samples: number;
  readonly logging: PolicyValue;
  readonly targets: readonly { readonly name: string; readonly value: number; readonly se: number }[];
}

/** Monte Carlo over `populationSamples` fresh contexts, drawn in blocks like the log's rows. */
export function populationTruth(config: BanditSynthConfig): PopulationTruth {
  const cfg = resolveBanditConfig(config);
  const world = makeBanditWorld(cfg);
  const { K, d } = world;
  const x = new Float64Array(d);
  const mu = new Float64Array(K);
  const p = new Float64Array(K);
  const scratch = new Float64Array(K);
  const logging = new RunningMoments();
  const targets = cfg.targets.map(() => new RunningMoments());
  let rng: RandomStream = blockStream(cfg.seed, 'population', 0);
  for (let s = 0; s < cfg.populationSamples; s++) {
    if (s % BLOCK_ROWS === 0 && s !== 0) rng = blockStream(cfg.seed, 'population', s / BLOCK_ROWS);
    for (let k = 0; k < d; k++) x[k] = rng.normal();
    expectedRewardsInto(world, x, 0, mu, 0);
    loggingPolicyInto(world, x, 0, scratch, p, 0);
    logging.add(dot(p, 0, mu, 0, K));
    for (let t = 0; t < targets.length; t++) {
      targetPolicyInto(cfg.targets[t], mu, 0, K, p, 0);
      targets[t].add(dot(p, 0, mu, 0, K));
    }
  }
  return {
    samples: cfg.populationSamples,
    logging: logging.estimate(),
    targets: cfg.targets.map((spec, t) => ({ name: targetName(spec), ...targets[t].estimate() })),
  };
}
