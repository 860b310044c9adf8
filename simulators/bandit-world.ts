/**
 * A synthetic contextual bandit with known ground truth (issue 3, item 7).
 *
 * World (fixed by the seed): theta_a ~ N(0, I/d) * rewardScale and b_a ~ N(0, 0.5^2) per action;
 * contexts x ~ N(0, I_d); expected reward mu(x, a) = sigmoid(x . theta_a + b_a) (logistic, rewards
 * Bernoulli(mu)) or x . theta_a + b_a (linear, rewards mu + N(0, rewardNoise^2)).
 * Logger: softmax over a perturbed copy of mu (theta_a + eta_a, b_a + c_a, eta and c scaled by
 * loggingPerturbation) divided by loggingTemperature, optionally floored; the perturbation keeps the
 * logger from being one of the targets. Targets are functions of the true mu (bandit-policies.ts).
 * q_hat = mu + N(0, qHatNoise^2), clipped to [0, 1] for logistic rewards.
 */
import {
  DEFAULT_TARGETS,
  applyFloor,
  dot,
  sampleAction,
  softmaxInto,
  targetName,
  targetPolicyInto,
  validateTargets,
  type TargetSpec,
} from './bandit-policies.js';
import { BLOCK_ROWS, blockStream, type RandomStream } from './random-streams.js';
import { drawItemParameters } from './item-parameters.js';
import { requireFinite, requireInteger } from './config-checks.js';

export type { TargetSpec } from './bandit-policies.js';

export type RewardModel = 'logistic' | 'linear';

export interface BanditSynthConfig {
  n: number;
  /** K */
  actions: number;
  /** Context dimension d. */
  dim: number;
  reward: RewardModel;
  /** Linear rewards only: sd of the gaussian reward noise (default 0.5). Logistic rewards are Bernoulli. */
  rewardNoise?: number;
  loggingTemperature: number;
  /** Size of the logger's parameter perturbation relative to the true parameters (default 0.5). */
  loggingPerturbation?: number;
  /** Every logging propensity is at least this (default 0, at most 1/K), by mixing in the uniform policy. */
  minPropensity?: number;
  /** Default: DEFAULT_TARGETS. */
  targets?: readonly TargetSpec[];
  /** sd of the gaussian noise added to mu for q_hat. */
  qHatNoise: number;
  /** Rows per request_id (default 1); the rows of one request share one context. */
  requestsOf?: number;
  /** sd of x . theta_a (default 1). */
  rewardScale?: number;
  /** Fresh contexts for the Monte Carlo population truth (default 1e6). */
  populationSamples?: number;
  seed: number;
}

export type ResolvedBanditSynthConfig = Required<BanditSynthConfig>;

/** int32 columns (action, request_id) bound the number of rows. */
const MAX_ROWS = 2 ** 31 - 1;

/** Fills in the defaults and checks every field; throws RangeError naming the first bad one. */
export function resolveBanditConfig(cfg: BanditSynthConfig): ResolvedBanditSynthConfig {
  const resolved: ResolvedBanditSynthConfig = {
    n: cfg.n,
    actions: cfg.actions,
    dim: cfg.dim,
    reward: cfg.reward,
    rewardNoise: cfg.rewardNoise ?? 0.5,
    loggingTemperature: cfg.loggingTemperature,
    loggingPerturbation: cfg.loggingPerturbation ?? 0.5,
    minPropensity: cfg.minPropensity ?? 0,
    targets: cfg.targets ?? DEFAULT_TARGETS,
    qHatNoise: cfg.qHatNoise,
    requestsOf: cfg.requestsOf ?? 1,
    rewardScale: cfg.rewardScale ?? 1,
    populationSamples: cfg.populationSamples ?? 1_000_000,
    seed: cfg.seed,
  };
  requireInteger('n', resolved.n, 1, MAX_ROWS);
  requireInteger('actions', resolved.actions, 2, 1_000_000);
  requireInteger('dim', resolved.dim, 1, 1_000_000);
  if (resolved.reward !== 'logistic' && resolved.reward !== 'linear') {
    throw new RangeError(`reward must be 'logistic' or 'linear', got '${String(resolved.reward)}'`);
  }
  requireFinite('rewardNoise', resolved.rewardNoise, 0, false);
  requireFinite('loggingTemperature', resolved.loggingTemperature, 0, true);
  requireFinite('loggingPerturbation', resolved.loggingPerturbation, 0, false);
  if (!(resolved.minPropensity >= 0 && resolved.minPropensity <= 1 / resolved.actions)) {
    throw new RangeError(`minPropensity must be in [0, 1/K] = [0, ${1 / resolved.actions}], got ${resolved.minPropensity}`);
  }
  requireFinite('qHatNoise', resolved.qHatNoise, 0, false);
  requireInteger('requestsOf', resolved.requestsOf, 1, MAX_ROWS);
  requireFinite('rewardScale', resolved.rewardScale, 0, false);
  requireInteger('populationSamples', resolved.populationSamples, 2);
  requireInteger('seed', resolved.seed, Number.MIN_SAFE_INTEGER);
  if (resolved.targets.length === 0) throw new RangeError('at least one target policy is needed');
  validateTargets(resolved.targets);
  return resolved;
}

export interface BanditWorld {
  readonly K: number;
  readonly d: number;
  readonly reward: RewardModel;
  /** Row-major K x d. */
  readonly theta: Float64Array;
  readonly bias: Float64Array;
  readonly loggingTheta: Float64Array;
  readonly loggingBias: Float64Array;
  readonly loggingTemperature: number;
  readonly minPropensity: number;
}

export function makeBanditWorld(cfg: ResolvedBanditSynthConfig): BanditWorld {
  const K = cfg.actions;
  const d = cfg.dim;
  const rng = blockStream(cfg.seed, 'world', 0);
  const { theta, bias, eta, c } = drawItemParameters(rng, K, d, cfg.rewardScale, cfg.loggingPerturbation);
  const loggingTheta = theta.map((t, i) => t + eta[i]);
  const loggingBias = bias.map((b, a) => b + c[a]);
  return { K, d, reward: cfg.reward, theta, bias, loggingTheta, loggingBias, loggingTemperature: cfg.loggingTemperature, minPropensity: cfg.minPropensity };
}

function rewardsInto(world: BanditWorld, theta: Float64Array, bias: Float64Array, x: Float64Array, xOff: number, out: Float64Array, outOff: number): void {
  const { K, d } = world;
  const logistic = world.reward === 'logistic';
  for (let a = 0; a < K; a++) {
    let z = bias[a];
    for (let j = 0; j < d; j++) z += x[xOff + j] * theta[a * d + j];
    out[outOff + a] = logistic ? 1 / (1 + Math.exp(-z)) : z;
  }
}

/** mu(x, a) for every action. */
export function expectedRewardsInto(world: BanditWorld, x: Float64Array, xOff: number, out: Float64Array, outOff: number): void {
  rewardsInto(world, world.theta, world.bias, x, xOff, out, outOff);
}

/** The logger's action distribution at x; `scratch` (length K) holds its perturbed scores. */
export function loggingPolicyInto(world: BanditWorld, x: Float64Array, xOff: number, scratch: Float64Array, out: Float64Array, outOff: number): void {
  rewardsInto(world, world.loggingTheta, world.loggingBias, x, xOff, scratch, 0);
  softmaxInto(scratch, 0, world.K, world.loggingTemperature, out, outOff);
  applyFloor(out, outOff, world.K, world.minPropensity);
}

export interface SynthTargetColumns {
  readonly name: string;
  readonly spec: TargetSpec;
  /** Row-major n x K: pi(. | x_i). */
  readonly actionDist: Float64Array;
  /** pi(a_i | x_i). */
  readonly targetPropensity: Float64Array;
  /** sum_a pi(a|x_i) mu(x_i, a): the target's expected reward on this row's context. */
  readonly conditionalValue: Float64Array;
}

export interface SynthBatch {
  /** Global index of the batch's first row. */
  readonly rowOffset: number;
  readonly n: number;
  readonly K: number;
  readonly d: number;
  readonly requestId: Int32Array;
  readonly action: Int32Array;
  readonly reward: Float64Array;
  readonly propensity: Float64Array;
  /** Row-major n x d. */
  readonly context: Float64Array;
  /** Row-major n x K. */
  readonly qHat: Float64Array;
  /** mu(x_i, a_i). */
  readonly expectedRewardLogged: Float64Array;
  /** sum_a logger(a|x_i) mu(x_i, a). */
  readonly loggingValue: Float64Array;
  readonly targets: readonly SynthTargetColumns[];
}

/** Blocks hold whole requests so that a request's shared context comes from a single stream. */
function blockRowsFor(requestsOf: number): number {
  return Math.ceil(BLOCK_ROWS / requestsOf) * requestsOf;
}

interface RowStreams {
  readonly context: RandomStream;
  /** Action and reward draws. */
  readonly log: RandomStream;
  readonly qHat: RandomStream;
}

function rowStreams(seed: number, block: number): RowStreams {
  return {
    context: blockStream(seed, 'context', block),
    log: blockStream(seed, 'log', block),
    qHat: blockStream(seed, 'qhat', block),
  };
}

/** Everything a run needs besides the rows themselves, and the streams of the current block. */
interface GeneratorState {
  readonly cfg: ResolvedBanditSynthConfig;
  readonly world: BanditWorld;
  readonly blockRows: number;
  /** The current request's context. */
  readonly x: Float64Array;
  readonly mu: Float64Array;
  readonly pLog: Float64Array;
  readonly scratch: Float64Array;
  streams: RowStreams;
}

function newBatch(state: GeneratorState, start: number, m: number): SynthBatch {
  const { K, d } = state.world;
  return {
    rowOffset: start,
    n: m,
    K,
    d,
    requestId: new Int32Array(m),
    action: new Int32Array(m),
    reward: new Float64Array(m),
    propensity: new Float64Array(m),
    context: new Float64Array(m * d),
    qHat: new Float64Array(m * K),
    expectedRewardLogged: new Float64Array(m),
    loggingValue: new Float64Array(m),
    targets: state.cfg.targets.map((spec) => ({
      name: targetName(spec),
      spec,
      actionDist: new Float64Array(m * K),
      targetPropensity: new Float64Array(m),
      conditionalValue: new Float64Array(m),
    })),
  };
}

/**
 * Fills the batch's rows. Row i draws from the streams of block floor(i / blockRows) in a fixed order
 * (context when a request starts, then action, reward, q_hat noise), so its values depend on i alone.
 */
function fillBatch(state: GeneratorState, b: SynthBatch): void {
  const { cfg, world, blockRows, x, mu, pLog, scratch } = state;
  const { seed, requestsOf, qHatNoise, rewardNoise } = cfg;
  const { K, d } = world;
  const logistic = world.reward === 'logistic';
  const { requestId, action, reward, propensity, context, qHat, expectedRewardLogged, loggingValue, targets } = b;
  for (let j = 0; j < b.n; j++) {
    const i = b.rowOffset + j;
    if (i % blockRows === 0 && i !== 0) state.streams = rowStreams(seed, i / blockRows);
    const streams = state.streams;
    if (i % requestsOf === 0) for (let k = 0; k < d; k++) x[k] = streams.context.normal();
    requestId[j] = Math.floor(i / requestsOf);
    for (let k = 0; k < d; k++) context[j * d + k] = x[k];

    expectedRewardsInto(world, x, 0, mu, 0);
    loggingPolicyInto(world, x, 0, scratch, pLog, 0);
    const a = sampleAction(pLog, 0, K, streams.log.uniform());
    action[j] = a;
    propensity[j] = pLog[a];
    expectedRewardLogged[j] = mu[a];
    reward[j] = logistic ? (streams.log.uniform() < mu[a] ? 1 : 0) : mu[a] + rewardNoise * streams.log.normal();
    loggingValue[j] = dot(pLog, 0, mu, 0, K);

    for (let k = 0; k < K; k++) {
      const q = mu[k] + qHatNoise * streams.qHat.normal();
      qHat[j * K + k] = logistic ? Math.min(1, Math.max(0, q)) : q;
    }

    for (const t of targets) {
      targetPolicyInto(t.spec, mu, 0, K, t.actionDist, j * K);
      t.targetPropensity[j] = t.actionDist[j * K + a];
      t.conditionalValue[j] = dot(t.actionDist, j * K, mu, 0, K);
    }
  }
}

/**
 * Streams the log in batches of `batchRows` rows (the last may be shorter). Each batch is freshly
 * allocated, so a consumer may keep it while later batches are generated. The rows are the same
 * for every batchRows, and the first m rows of a run do not depend on n.
 */
export function* generateBanditLog(config: BanditSynthConfig, batchRows = 100_000): Generator<SynthBatch, void, undefined> {
  requireInteger('batchRows', batchRows, 1, MAX_ROWS);
  const cfg = resolveBanditConfig(config);
  const world = makeBanditWorld(cfg);
  const state: GeneratorState = {
    cfg,
    world,
    blockRows: blockRowsFor(cfg.requestsOf),
    x: new Float64Array(world.d),
    mu: new Float64Array(world.K),
    pLog: new Float64Array(world.K),
    scratch: new Float64Array(world.K),
    streams: rowStreams(cfg.seed, 0),
  };
  for (let start = 0; start < cfg.n; start += batchRows) {
    const batch = newBatch(state, start, Math.min(batchRows, cfg.n - start));
    fillBatch(state, batch);
    yield batch;
  }
}
