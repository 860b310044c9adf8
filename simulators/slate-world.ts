/**
 * A synthetic slate (ranking) world with known ground truth (issue 4, item 3).
 *
 * World (fixed by the seed): K items with theta_a ~ N(0, I/d) * rewardScale and b_a ~ N(0, 0.5^2);
 * contexts x ~ N(0, I_d); true item scores s(x, a) = x . theta_a + b_a; click probabilities
 * c(x, a) = sigmoid(s(x, a) + clickBias), clickBias 0 by default; rewards per slot from the chosen
 * structure (slate-rewards.ts).
 * Logger: Plackett-Luce (slate-plackett-luce.ts) or factorized (slate-factorized.ts) over a perturbed
 * copy of the scores (theta_a + eta_a, b_a + c_a, scaled by loggingPerturbation) at
 * loggingTemperature, so the logger is none of the targets. Targets: the same family at their own
 * temperatures, over the true or the logger's scores. The factorized family adds a per-slot item
 * affinity o_{k,a} ~ N(0, 0.5^2) so that each slot has its own distribution.
 *
 * Rows come in the long slate format, one per (slate, position), generated slate by slate in fixed
 * blocks of whole slates with per-block seeded streams (random-streams.ts), so the output does not
 * depend on the batch size and the first m slates do not depend on n.
 */
import { BLOCK_ROWS, blockStream, type RandomStream } from './random-streams.js';
import { drawItemParameters } from './item-parameters.js';
import {
  isLoggerTarget,
  marginalMethodOf,
  resolveSlateConfig,
  slateTargetName,
  type ResolvedSlateSynthConfig,
  type SlateRewardStructure,
  type SlateSynthConfig,
  type SlateTargetSpec,
} from './slate-config.js';
import { FactorizedPolicy } from './slate-factorized.js';
import { PrefixLattice } from './slate-lattice.js';
import { PlackettLucePolicy } from './slate-plackett-luce.js';
import { linearScoresInto, type LinearScores, type SlatePolicy } from './slate-policy.js';
import { expectedSlotRewardsInto, newRewardModel, sampleSlotRewardsInto, slotRewardModelInto, type SlateRewardModel } from './slate-rewards.js';

export type { SlateSynthConfig, SlateTargetSpec } from './slate-config.js';

export interface SlateWorld {
  readonly K: number;
  readonly L: number;
  readonly d: number;
  readonly reward: SlateRewardStructure;
  /** theta_k (additive rewards only). */
  readonly examination: Float64Array | null;
  readonly truth: LinearScores;
  readonly logging: LinearScores;
  /** L x K row-major per-slot item affinities of the factorized family. */
  readonly slotOffset: Float64Array;
  readonly loggingTemperature: number;
  /** Added to the true score inside the click probability. */
  readonly clickBias: number;
}

/** Spread of the factorized family's per-slot affinities. */
const SLOT_OFFSET_SD = 0.5;

export function makeSlateWorld(cfg: ResolvedSlateSynthConfig): SlateWorld {
  const K = cfg.actions;
  const L = cfg.slateLength;
  const d = cfg.dim;
  const rng = blockStream(cfg.seed, 'slate-world', 0);
  const { theta, bias, eta, c, draw } = drawItemParameters(rng, K, d, cfg.rewardScale, cfg.loggingPerturbation);
  const slotOffset = draw(L * K, SLOT_OFFSET_SD);
  const model = newRewardModel(cfg.reward, K, L, cfg.examinationDecay);
  return {
    K,
    L,
    d,
    reward: cfg.reward,
    examination: cfg.reward === 'additive' ? model.positionWeight : null,
    truth: { K, d, theta, bias },
    logging: { K, d, theta: theta.map((t, i) => t + eta[i]), bias: bias.map((b, a) => b + c[a]) },
    slotOffset,
    loggingTemperature: cfg.loggingTemperature,
    clickBias: cfg.clickBias,
  };
}

/** The lattice for exact Plackett-Luce marginals, or null when they are Monte Carlo (or not needed). */
export function latticeFor(cfg: ResolvedSlateSynthConfig): PrefixLattice | null {
  return cfg.logger === 'plackett-luce' && marginalMethodOf(cfg) === 'exact' ? new PrefixLattice(cfg.actions, cfg.slateLength) : null;
}

function policyOf(world: SlateWorld, kind: SlateTargetSpec['kind'], scores: LinearScores, temperature: number, lattice: PrefixLattice | null): SlatePolicy {
  return kind === 'plackett-luce' ? new PlackettLucePolicy(scores, world.L, temperature, lattice) : new FactorizedPolicy(scores, world.L, temperature, world.slotOffset);
}

export interface SlatePolicies {
  readonly logger: SlatePolicy;
  /** null: the target is the logger (same family, scores and temperature) and shares its numbers. */
  readonly targets: readonly (SlatePolicy | null)[];
}

export function makeSlatePolicies(world: SlateWorld, cfg: ResolvedSlateSynthConfig, lattice: PrefixLattice | null): SlatePolicies {
  return {
    logger: policyOf(world, cfg.logger, world.logging, cfg.loggingTemperature, lattice),
    targets: cfg.targets.map((spec) => (isLoggerTarget(spec, cfg) ? null : policyOf(world, spec.kind, spec.scores === 'logging' ? world.logging : world.truth, spec.temperature, lattice))),
  };
}

/** c(x, a) = sigmoid(s(x, a) + clickBias) into model.click; `scratch` has length K. */
export function clicksInto(world: SlateWorld, x: Float64Array, xOff: number, model: SlateRewardModel, scratch: Float64Array): void {
  linearScoresInto(world.truth, x, xOff, scratch, 0);
  for (let a = 0; a < world.K; a++) model.click[a] = 1 / (1 + Math.exp(-(scratch[a] + world.clickBias)));
}

export interface SlateTargetColumns {
  readonly name: string;
  readonly spec: SlateTargetSpec;
  /** The target is the logger; its columns equal the logger's, bit for bit. */
  readonly sameAsLogger: boolean;
  /** Per row: the target's joint probability of the logged slate. */
  readonly targetPropensity: Float64Array;
  /** Per row: the target's P(logged item at this position | x). */
  readonly targetPropensityItemPosition: Float64Array;
  /** Per row: the target's probability of the logged prefix through this slot. */
  readonly targetPropensityCascade: Float64Array;
  /**
   * Per row, n x L row-major: the target's P(logged item at position j | x) for j = 0..L-1 (for
   * pbm-ips); entry `position` is targetPropensityItemPosition.
   */
  readonly targetPropensityItemPositions: Float64Array;
  /** Per row, n x K row-major: the target's distribution of the item at this slot given the logged prefix. */
  readonly actionDist: Float64Array;
  /** Per row: the Monte Carlo range of targetPropensityItemPosition (see SlateSynthBatch.itemPositionRange). */
  readonly itemPositionRange: Float64Array;
  /** Per slate: E_{slate ~ target}[sum_k r_k | x] (exact, or Monte Carlo with the variance below). */
  readonly conditionalValue: Float64Array;
  /** Per slate: variance of conditionalValue as a Monte Carlo estimate (0 when exact). */
  readonly conditionalValueVariance: Float64Array;
}

export interface SlateSynthBatch {
  /** Global index of the batch's first row (slateOffset * L). */
  readonly rowOffset: number;
  /** Global index of the batch's first slate. */
  readonly slateOffset: number;
  readonly slates: number;
  /** Rows: slates * L. */
  readonly n: number;
  readonly K: number;
  readonly L: number;
  readonly d: number;
  readonly slateId: Int32Array;
  readonly position: Int32Array;
  readonly action: Int32Array;
  readonly reward: Float64Array;
  /** The logger's joint probability of the whole slate, on each of its rows. */
  readonly propensity: Float64Array;
  /** The logger's P(this item at this position | x). */
  readonly propensityItemPosition: Float64Array;
  /** The logger's probability of the slate's prefix through this slot. */
  readonly propensityCascade: Float64Array;
  /**
   * Row-major n x L: the logger's P(this item at position j | x) for j = 0..L-1 (for pbm-ips).
   * Entry `position` is propensityItemPosition, bit for bit; the others are the marginals as
   * computed (exact, or Monte Carlo like propensityItemPosition, position 0 always exact).
   */
  readonly propensityItemPositions: Float64Array;
  /**
   * Per row, not written to the files: the largest value one Monte Carlo term of
   * propensityItemPosition can take (0 when it is exact). Its Hoeffding error bound is this times the
   * run's max_abs_error_bound (slate-config.ts marginalErrorStatement).
   */
  readonly itemPositionRange: Float64Array;
  /** Row-major n x d (the slate's context on each of its rows). */
  readonly context: Float64Array;
  /** Row-major n x K: noisy E[r_k | x, logged prefix, a_k = a] for every a. */
  readonly qHat: Float64Array;
  /** E[r_k | x, logged slate]. */
  readonly expectedRewardLogged: Float64Array;
  /** Per slate: the logger's E[sum_k r_k | x]. */
  readonly loggingValue: Float64Array;
  readonly loggingValueVariance: Float64Array;
  readonly targets: readonly SlateTargetColumns[];
}

/** Blocks hold whole slates, about BLOCK_ROWS rows each. */
export function blockSlatesFor(L: number): number {
  return Math.ceil(BLOCK_ROWS / L);
}

interface SlateStreams {
  readonly context: RandomStream;
  /** The logged slate's draws. */
  readonly slate: RandomStream;
  readonly reward: RandomStream;
  readonly qHat: RandomStream;
  /** Monte Carlo marginals: a stream of their own, so the log does not depend on the sample count. */
  readonly marginals: RandomStream;
}

function slateStreams(seed: number, block: number): SlateStreams {
  return {
    context: blockStream(seed, 'slate-context', block),
    slate: blockStream(seed, 'slate', block),
    reward: blockStream(seed, 'slate-reward', block),
    qHat: blockStream(seed, 'slate-qhat', block),
    marginals: blockStream(seed, 'marginals', block),
  };
}

interface GeneratorState {
  readonly cfg: ResolvedSlateSynthConfig;
  readonly world: SlateWorld;
  readonly policies: SlatePolicies;
  readonly model: SlateRewardModel;
  readonly monteCarlo: boolean;
  readonly blockSlates: number;
  readonly x: Float64Array;
  readonly scratch: Float64Array;
  readonly slate: Int32Array;
  readonly cascade: Float64Array;
  readonly marginals: Float64Array;
  readonly targetCascade: Float64Array;
  readonly targetMarginals: Float64Array;
  readonly ranges: Float64Array;
  readonly targetRanges: Float64Array;
  readonly expected: Float64Array;
  streams: SlateStreams;
}

function newBatch(state: GeneratorState, start: number, slates: number): SlateSynthBatch {
  const { K, L, d } = state.world;
  const n = slates * L;
  return {
    rowOffset: start * L,
    slateOffset: start,
    slates,
    n,
    K,
    L,
    d,
    slateId: new Int32Array(n),
    position: new Int32Array(n),
    action: new Int32Array(n),
    reward: new Float64Array(n),
    propensity: new Float64Array(n),
    propensityItemPosition: new Float64Array(n),
    propensityCascade: new Float64Array(n),
    propensityItemPositions: new Float64Array(n * L),
    itemPositionRange: new Float64Array(n),
    context: new Float64Array(n * d),
    qHat: new Float64Array(n * K),
    expectedRewardLogged: new Float64Array(n),
    loggingValue: new Float64Array(slates),
    loggingValueVariance: new Float64Array(slates),
    targets: state.cfg.targets.map((spec) => ({
      name: slateTargetName(spec),
      spec,
      sameAsLogger: isLoggerTarget(spec, state.cfg),
      targetPropensity: new Float64Array(n),
      targetPropensityItemPosition: new Float64Array(n),
      targetPropensityCascade: new Float64Array(n),
      targetPropensityItemPositions: new Float64Array(n * L),
      actionDist: new Float64Array(n * K),
      itemPositionRange: new Float64Array(n),
      conditionalValue: new Float64Array(slates),
      conditionalValueVariance: new Float64Array(slates),
    })),
  };
}

/**
 * A marginal is at least the probability of reaching it through the logged prefix, an exact lower
 * bound: taking the larger keeps a Monte Carlo estimate strictly positive and never moves it away
 * from the exact value (in exact mode it only absorbs rounding). So propensity_item_position >=
 * propensity_cascade >= propensity on every row.
 */
function itemPositionPropensity(marginal: number, cascade: number): number {
  return marginal > cascade ? marginal : cascade;
}

/**
 * Fills the batch slate by slate. Slate i draws from the streams of block floor(i / blockSlates) in
 * a fixed order (context, logged slate, rewards, q_hat noise, then the Monte Carlo marginals of the
 * logger and of each target not equal to it), so its values depend on i alone.
 */
function fillBatch(state: GeneratorState, b: SlateSynthBatch): void {
  const { cfg, world, policies, model, monteCarlo, blockSlates, x, scratch, slate, cascade, marginals, targetCascade, targetMarginals, ranges, targetRanges, expected } = state;
  const { K, L, d } = world;
  const samples = cfg.marginalSamples;
  const { slateId, position, action, reward, propensity, propensityItemPosition, propensityCascade, propensityItemPositions, context, qHat, expectedRewardLogged } = b;
  for (let j = 0; j < b.slates; j++) {
    const i = b.slateOffset + j;
    if (i % blockSlates === 0 && i !== 0) state.streams = slateStreams(cfg.seed, i / blockSlates);
    const streams = state.streams;
    const mc = monteCarlo ? streams.marginals : null;
    for (let k = 0; k < d; k++) x[k] = streams.context.normal();
    clicksInto(world, x, 0, model, scratch);

    const logger = policies.logger;
    logger.setContext(x, 0);
    logger.sampleInto(streams.slate, slate, 0);
    logger.followSlate(slate, 0, cascade, 0, null, 0);
    const loggingValue = logger.evaluate(model, marginals, mc, samples);
    if (monteCarlo) logger.monteCarloRangesInto(ranges);
    b.loggingValue[j] = loggingValue.value;
    b.loggingValueVariance[j] = loggingValue.variance;
    expectedSlotRewardsInto(model, slate, 0, expected, 0);
    const row0 = j * L;
    sampleSlotRewardsInto(model, slate, 0, streams.reward, reward, row0);

    const joint = cascade[L - 1];
    for (let k = 0; k < L; k++) {
      const r = row0 + k;
      const a = slate[k];
      slateId[r] = i;
      position[r] = k;
      action[r] = a;
      propensity[r] = joint;
      propensityCascade[r] = cascade[k];
      propensityItemPosition[r] = itemPositionPropensity(marginals[k * K + a], cascade[k]);
      for (let j = 0; j < L; j++) propensityItemPositions[r * L + j] = j === k ? propensityItemPosition[r] : marginals[j * K + a];
      if (monteCarlo) b.itemPositionRange[r] = ranges[k * K + a];
      expectedRewardLogged[r] = expected[k];
      for (let h = 0; h < d; h++) context[r * d + h] = x[h];
      slotRewardModelInto(model, slate, 0, k, qHat, r * K);
      for (let h = r * K; h < (r + 1) * K; h++) {
        const q = qHat[h] + cfg.qHatNoise * streams.qHat.normal();
        qHat[h] = q < 0 ? 0 : q > 1 ? 1 : q;
      }
    }

    b.targets.forEach((t, ti) => {
      const policy = policies.targets[ti];
      let value = loggingValue;
      let tMarginals = marginals;
      let tRanges = ranges;
      if (policy === null) {
        // The logger walks the slate again only to fill action_dist; its cascade comes out identical.
        logger.followSlate(slate, 0, targetCascade, 0, t.actionDist, row0 * K);
      } else {
        policy.setContext(x, 0);
        policy.followSlate(slate, 0, targetCascade, 0, t.actionDist, row0 * K);
        value = policy.evaluate(model, targetMarginals, mc, samples);
        tMarginals = targetMarginals;
        if (monteCarlo) policy.monteCarloRangesInto(targetRanges);
        tRanges = targetRanges;
      }
      t.conditionalValue[j] = value.value;
      t.conditionalValueVariance[j] = value.variance;
      const tJoint = targetCascade[L - 1];
      for (let k = 0; k < L; k++) {
        const r = row0 + k;
        t.targetPropensity[r] = tJoint;
        t.targetPropensityCascade[r] = targetCascade[k];
        t.targetPropensityItemPosition[r] = itemPositionPropensity(tMarginals[k * K + slate[k]], targetCascade[k]);
        for (let j = 0; j < L; j++) t.targetPropensityItemPositions[r * L + j] = j === k ? t.targetPropensityItemPosition[r] : tMarginals[j * K + slate[k]];
        if (monteCarlo) t.itemPositionRange[r] = tRanges[k * K + slate[k]];
      }
    });
  }
}

/** Everything a run needs, built once: world, policies (sharing one prefix lattice) and buffers. */
function newState(cfg: ResolvedSlateSynthConfig): GeneratorState {
  const world = makeSlateWorld(cfg);
  const { K, L, d } = world;
  return {
    cfg,
    world,
    policies: makeSlatePolicies(world, cfg, latticeFor(cfg)),
    model: newRewardModel(cfg.reward, K, L, cfg.examinationDecay),
    monteCarlo: marginalMethodOf(cfg) === 'monte-carlo',
    blockSlates: blockSlatesFor(L),
    x: new Float64Array(d),
    scratch: new Float64Array(K),
    slate: new Int32Array(L),
    cascade: new Float64Array(L),
    marginals: new Float64Array(L * K),
    targetCascade: new Float64Array(L),
    targetMarginals: new Float64Array(L * K),
    ranges: new Float64Array(L * K),
    targetRanges: new Float64Array(L * K),
    expected: new Float64Array(L),
    streams: slateStreams(cfg.seed, 0),
  };
}

/**
 * Streams the log in batches of `batchSlates` slates (batchSlates * L rows; the last batch may be
 * shorter). Each batch is freshly allocated, so a consumer may keep it while later batches are
 * generated. The rows are the same for every batchSlates, and the first m slates do not depend on n.
 */
export function* generateSlateLog(config: SlateSynthConfig, batchSlates = 4096): Generator<SlateSynthBatch, void, undefined> {
  const cfg = resolveSlateConfig(config);
  if (!(Number.isInteger(batchSlates) && batchSlates >= 1 && batchSlates * cfg.slateLength <= 2 ** 31 - 1)) {
    throw new RangeError(`batchSlates must be a positive integer (with batchSlates * L < 2^31), got ${batchSlates}`);
  }
  const state = newState(cfg);
  for (let start = 0; start < cfg.n; start += batchSlates) {
    const batch = newBatch(state, start, Math.min(batchSlates, cfg.n - start));
    fillBatch(state, batch);
    yield batch;
  }
}
