/**
 * The multi-round feedback loop of the simulator (issue 6): a logging policy serves round 0; after
 * every round each scenario retrains its two-tower model (warm start) on its own logs, and the new
 * model, wrapped in the scenario's exploration policy, serves the next round. Several scenarios
 * share one world and one sequence of arriving users, click uniforms and sampling streams (common
 * random numbers), so their differences come from what the policies do, not from the draws.
 *
 * Round r of scenario s:
 *   1. the world of round r (feedback-world.ts; driftUsers between rounds) and its arrivals(world, r);
 *   2. the served policy pi_r: the logging policy in round 0 (every scenario alike), else the
 *      exploration wrapper of the scenario over the scores of its model trained after round r - 1;
 *      each arrival's slate is sampled from a stream keyed by (seed, round), the clicks come from
 *      clicksInto (keyed by (seed, round, arrival, slot)): same slate for the same user, same clicks;
 *   3. metrics of the served slates (columns of FeedbackRoundMetrics);
 *   4. retraining on the training window (all logged rounds, or the last W), warm-started;
 *   5. the next policy pi_{r+1} as the target of this round's log: slate-contract rows
 *      (SlateRowBuilder: logger pi_r, target pi_{r+1}, propensities from followSlate and the
 *      item-position marginals), the registry's slate estimators on them plus a slate-level snips and
 *      a doubly robust estimate with a position-based reward model (feedback-ope.ts), and its true
 *      value on this round's arrivals under this round's world (policyValueFromMarginals), so every
 *      round says how well OPE on round r's log predicts the policy that will serve round r + 1.
 * Steps 2 and 5 run over chunks of arrivals (pass 1 before training: the served policy; pass 2 after:
 * the next policy), so a round of 100,000 users x 10,000 items never holds all its scores at once.
 *
 * Logging policy of round 0: 'uniform' (L distinct items uniformly at random: epsilon-greedy with
 * epsilon = 1, whose slate and item-position propensities are exact in closed form) or
 * 'most-popular' (the L items of highest true popularity w_i, deterministic, for everyone).
 *
 * Scenario presets (resolveScenario):
 *   topk                 top-k of the model's scores, trained on all history
 *   epsilon-greedy       epsilon-greedy (epsilon 0.1), all history
 *   softmax              Plackett-Luce sampling of scores / T (T = 0.5), all history
 *   topk-window          top-k, trained on the last 3 rounds only (a sliding window)
 *   popularity-debiased  top-k of the debiased score s_i - beta log p_i, beta = 0.5, where
 *                        p_i = (c_i + 1) / (sum_j c_j + I) is item i's smoothed share of the clicks
 *                        in the scenario's training window (so an item that earned its clicks by being
 *                        shown a lot is pushed down; beta = 0 is plain top-k); all history.
 * All use the two-tower model's in-batch sampled softmax with the logQ correction by default (the
 * pointwise loss on all history is ~10x slower and grows with the log, two-tower.ts).
 * Baselines, which learn no model (ScenarioScorer):
 *   uniform              L distinct items uniformly at random, every round
 *   most-popular         top-k of the items' clicks in the scenario's own logs (all history): the
 *                        popularity the logs show, which the baseline's own exposure feeds
 *   oracle               top-k of the true relevance rho(u, i) of the round: regret 0 by construction
 *
 * Popularity in ARP, long-tail share and popularity lift: phi_i = the clicks of item i in the
 * scenario's logs of rounds 0..r (this round included, so round 0 has a profile too). ARP is the mean
 * phi over the served slates' entries, long-tail share the share of entries outside the 20% most
 * clicked items (headMembership), popularity lift (ARP_rec - ARP_profile) / ARP_profile with
 * ARP_profile the mean phi over the logged clicks of rounds 0..r.
 *
 * Utility is the expected clicks of a slate V = sum_k theta_k rho(u, a_k), its CTR V / L (the
 * expected clicks per item shown); policy values are exact from item-position marginals (Monte
 * Carlo ones for softmax over large catalogs, from a stream keyed by (seed, round)). regret is
 * utility_oracle - utility_true (clicks per slate).
 *
 * OPE on the training log is optimistic: the next policy was fitted to this round's clicks (per-user
 * embeddings memorize who clicked what), so its joint slate weights are largest exactly on the
 * clicked slates; measured on 400 users x 50 items, L = 3, softmax T = 1, slate-ips sits 2 to 5
 * delta-method se above the truth and the mean slate weight is 1.1 to 9 instead of 1. With
 * `opeOn: 'holdout'` (an independent log the model never saw) the same estimator is within about 2 se
 * in every round and the mean weight is near 1 (test/feedback-loop.test.ts). On larger catalogs
 * (200 items, L = 5) the joint weights are so heavy-tailed that slate-ips usually falls below the
 * truth even on the holdout (mean weight 0.5 to 0.9: the rare heavy slates are not drawn).
 *
 * Measured (wasm, 2 cores, bench/README.md): the default configuration (1,000 users, 1,000 items,
 * L = 10, dim 32, 10 rounds, topk and softmax, OPE on the holdout) runs in about 30 s, a third of it
 * training; 100,000 users x 10,000 items, 2 rounds of topk with lazy Adam, in about 280 CPU seconds
 * and 1.3 GB (400 s and 2.8 GB before the oracle's screening, the once-per-round logger marginals,
 * lazy Adam and batched log writing). The true values stay exact: the oracle's values come from
 * feedback-world.ts oracleValuesOf (a float32 TF.js matmul screens the items, float64 decides), the
 * values of randomized policies from relevanceRowsInto and valueFromMarginals, bit for bit the
 * per-user functions' numbers.
 *
 * Determinism: every random draw is keyed by the world seed and the round, never by the scenario or
 * the wall clock; the models are seeded by the world seed. Same seed, same config, same TF.js
 * backend: the same metrics bit for bit.
 */
import type { Tensor2D } from '@tensorflow/tfjs';
import { parseEstimatorList } from '../estimators/registry.js';
import { evaluateStream } from '../src/engine/evaluate.js';
import type { TfRuntime } from '../src/tf/backend.js';
import { makeExploration, SlateRowBuilder, type ExplorationPolicy, type ExplorationSlateRows, type ExplorationSpec } from './exploration.js';
import { resolveFeedbackWorldConfig, type FeedbackWorldConfig, type ResolvedFeedbackWorldConfig } from './feedback-config.js';
import { averageRecommendationPopularity, catalogCoverage, countItems, giniIndex, homogenization, longTailShare, popularityLift, regret, shannonEntropy } from './feedback-metrics.js';
import { alignedOf, concatLogs, directValue, fitPositionItemModel, slateDoublyRobust, slateSnips, type FeedbackTrainingLog } from './feedback-ope.js';
import { arrivals, clicksInto, driftUsers, makeFeedbackWorld, oracleValuesOf, relevanceRowsInto, slateValue, valueFromMarginals, type DotScreen, type FeedbackWorld } from './feedback-world.js';
import { blockStream } from './random-streams.js';
import { createTwoTower, scoreAll, type TwoTowerConfig, type TwoTowerLoss, type TwoTowerModel, type TwoTowerState } from './two-tower.js';

export type { FeedbackTrainingLog } from './feedback-ope.js';

/** The two-tower scenarios of issue 6 (SCENARIO_PRESETS) and the baselines that learn no model (BASELINE_PRESETS). */
export type ScenarioPreset = 'topk' | 'epsilon-greedy' | 'softmax' | 'topk-window' | 'popularity-debiased' | 'uniform' | 'most-popular' | 'oracle';

export const SCENARIO_PRESETS: readonly ScenarioPreset[] = ['topk', 'epsilon-greedy', 'softmax', 'topk-window', 'popularity-debiased'];
export const BASELINE_PRESETS: readonly ScenarioPreset[] = ['uniform', 'most-popular', 'oracle'];

/**
 * What scores the items: the scenario's two-tower model, or a baseline without a model: 'uniform'
 * (all equal; with epsilon-greedy epsilon = 1, uniform sampling), 'most-popular' (the items' clicks
 * in the scenario's own training window: popularity as the logs show it, so it feeds back too) or
 * 'oracle' (the world's true relevance rho(u, i) of the round).
 */
export type ScenarioScorer = 'two-tower' | 'uniform' | 'most-popular' | 'oracle';

export interface ScenarioSpec {
  readonly name: string;
  /** How the model's (adjusted) scores become slates. */
  readonly exploration: ExplorationSpec;
  /** Train on the last `window` rounds only; null: on all logged rounds. */
  readonly window: number | null;
  readonly loss: TwoTowerLoss;
  /** beta >= 0: serve s_i - beta log p_i (p_i the smoothed click share in the training window); 0: the raw scores. */
  readonly popularityPenalty: number;
  /** Default 'two-tower'. */
  readonly scorer?: ScenarioScorer;
}

export type LoggingPolicy = 'uniform' | 'most-popular';

export interface FeedbackLoopConfig {
  /**
   * The world (feedback-config.ts); default FEEDBACK_WORLD_DEFAULTS, issue 6's default
   * configuration: 1,000 users, 1,000 items, dim 32, slates of 10.
   */
  readonly world?: FeedbackWorldConfig;
  /** Rounds, round 0 included (default 10). */
  readonly rounds?: number;
  /** L; overrides world.slateSize (default 5). */
  readonly slateSize?: number;
  /** Preset names or full specs (default ['topk', 'softmax']); names must differ. */
  readonly scenarios?: readonly (ScenarioPreset | ScenarioSpec)[];
  /** Round 0's policy, shared by every scenario (default 'uniform'). */
  readonly logging?: LoggingPolicy;
  /** Two-tower settings (users, items, seed and loss come from the world and the scenario). Default FEEDBACK_LOOP_MODEL_DEFAULTS: dim 32, epochs 5. */
  readonly model?: Partial<Omit<TwoTowerConfig, 'users' | 'items' | 'seed' | 'loss'>>;
  /** Slate estimators for the next policy's value (default 'slate-ips,iips,rips'); `snips` and `dr` (feedback-ope.ts) are always added. */
  readonly estimators?: string;
  /** Sampled pairs of the homogenization metric (default 2000). */
  readonly homogenizationPairs?: number;
  /** Share of the most-clicked items counted as the head (default 0.2). */
  readonly headShare?: number;
  /**
   * The log the next policy is evaluated on. 'log' (default, the design): this round's log,
   * the very data the next policy was trained on, so the estimates carry the optimism of in-sample
   * evaluation (a model that memorizes who clicked what gives the logged clicked slates high target
   * probability). 'holdout': an independent second log of the same served policy on the same
   * arrivals (fresh slates and click uniforms), on which the unbiased estimators are unbiased.
   */
  readonly opeOn?: 'log' | 'holdout';
  /**
   * Also write the next policy's per-position `action_dist` (each slot's distribution over all I items
   * given the slate's earlier items) into the round's rows (default false: it is rows x I numbers,
   * 80 MB per round of the default world).
   */
  readonly actionDist?: boolean;
}

/** One (scenario, round): the columns. Values are NaN where undefined (e.g. popularity lift without clicks). */
export interface FeedbackRoundMetrics {
  readonly scenario: string;
  readonly round: number;
  /** Mean over the round's arrivals of the served policy's expected clicks per item shown. */
  readonly ctr_true: number;
  readonly ctr_oracle: number;
  /** Expected clicks per slate (V), served policy and oracle. */
  readonly utility_true: number;
  readonly utility_oracle: number;
  /** utility_oracle - utility_true. */
  readonly regret: number;
  /** Clicks actually drawn in the round. */
  readonly clicks: number;
  readonly coverage_at_k: number;
  readonly gini: number;
  readonly entropy: number;
  readonly arp: number;
  readonly long_tail_share: number;
  readonly popularity_lift: number;
  readonly homogenization: number;
  /** Mean training loss of the last epoch after this round (NaN without training examples). */
  readonly train_loss: number;
  /** OPE diagnostics of the joint slate weights pi_next(slate) / mu(slate) on the evaluated log: their mean (1 in expectation) and ESS / slates. */
  readonly ope_mean_slate_weight: number;
  readonly ope_slate_ess_share: number;
  /** True expected clicks per slate of the next round's policy on this round's arrivals and world. */
  readonly value_next_true: number;
  /** value_next_<estimator> and value_next_<estimator>_se (delta method) for each estimator, snips and dr included. */
  readonly [estimate: `value_next_${string}`]: number;
}

export interface FeedbackRoundRows {
  readonly scenario: string;
  readonly round: number;
  /** The arriving users, one per slate (slate s of `rows` is for users[s]). */
  readonly users: Int32Array;
  /** The round's slate-contract rows: logger = served policy, one target named 'next' = the next round's policy. */
  readonly rows: ExplorationSlateRows;
}

/** Wall-clock milliseconds of one scenario, by stage. Not deterministic. */
export interface FeedbackLoopTiming {
  /** Scoring the arrivals and sampling their slates and clicks. */
  serve: number;
  /** Retraining the two-tower model. */
  train: number;
  /** True values of the served and the next policy (exact or Monte Carlo marginals) and the round's metrics. */
  metrics: number;
  /** The holdout log, the reward model and the estimators. */
  ope: number;
  /** The slate-contract rows of the round's log (propensities of the served and the next policy) and `onRound` (writing them). */
  log: number;
}

/** Everything the loop needs to continue after `rounds` completed rounds, besides the logged history. */
export interface FeedbackLoopCheckpoint {
  /** Completed rounds: the loop continues at this round. */
  readonly rounds: number;
  /** The metric rows of the completed rounds, in the loop's order. */
  readonly metrics: readonly FeedbackRoundMetrics[];
  /** Each scenario's model after training on its last completed round. */
  readonly models: Readonly<Record<string, TwoTowerState>>;
}

export interface FeedbackLoopOptions {
  /** Called after each (scenario, round) with its rows (for writing Parquet); awaited. Rounds come in order, scenarios in config order within a round. */
  readonly onRound?: (rows: FeedbackRoundRows, metrics: FeedbackRoundMetrics) => void | Promise<void>;
  /** Called after every scenario has completed a round (after its onRound calls); awaited. */
  readonly onCheckpoint?: (checkpoint: FeedbackLoopCheckpoint) => void | Promise<void>;
  /**
   * Continue from a checkpoint of a run with the same config (and TF.js backend, for bit-identical
   * results): `history(scenario, round)` returns that round's logged impressions (the rows of its
   * onRound call: users, items, clicks, positions). The result's metrics then include the
   * checkpoint's.
   */
  readonly resume?: {
    readonly checkpoint: FeedbackLoopCheckpoint;
    readonly history: (scenario: string, round: number) => Promise<FeedbackTrainingLog>;
  };
  /** Arrivals scored at once (default: LOOP_CHUNK_FLOATS / items); results do not depend on it. */
  readonly chunkUsers?: number;
}

export interface FeedbackLoopResult {
  readonly config: {
    readonly world: ResolvedFeedbackWorldConfig;
    readonly rounds: number;
    readonly logging: LoggingPolicy;
    readonly opeOn: 'log' | 'holdout';
    readonly scenarios: readonly ScenarioSpec[];
    readonly estimators: readonly string[];
  };
  readonly metrics: FeedbackRoundMetrics[];
  /** Per scenario, of the rounds run in this call. */
  readonly timings: Record<string, FeedbackLoopTiming>;
  /** Milliseconds of the work all scenarios share, of the rounds run in this call: the oracle's values of the round's arrivals. */
  readonly sharedTiming: { readonly oracle: number };
}

/** A round's rows as training data (what `resume.history` returns for that round). */
export function trainingLogOf(r: FeedbackRoundRows): FeedbackTrainingLog {
  const { rows } = r;
  const users = new Int32Array(rows.rows);
  for (let s = 0; s < rows.slates; s++) users.fill(r.users[s], s * rows.L, (s + 1) * rows.L);
  return { users, items: rows.action.slice(), clicked: Float32Array.from(rows.reward), positions: rows.position.slice() };
}

/** The two-tower settings the loop uses unless `model` overrides them (the rest: TWO_TOWER_DEFAULTS). */
export const FEEDBACK_LOOP_MODEL_DEFAULTS = { dim: 32, epochs: 5 } as const;

export function resolveScenario(s: ScenarioPreset | ScenarioSpec): ScenarioSpec {
  if (typeof s !== 'string') {
    if (s.window !== null && !(Number.isInteger(s.window) && s.window >= 1)) throw new RangeError(`scenario '${s.name}': window must be a positive integer or null, got ${s.window}`);
    if (!(Number.isFinite(s.popularityPenalty) && s.popularityPenalty >= 0)) throw new RangeError(`scenario '${s.name}': popularityPenalty must be >= 0, got ${s.popularityPenalty}`);
    return s;
  }
  const base = { name: s, window: null, loss: 'sampled-softmax' as TwoTowerLoss, popularityPenalty: 0 };
  switch (s) {
    case 'topk':
      return { ...base, exploration: { kind: 'top-k' } };
    case 'epsilon-greedy':
      return { ...base, exploration: { kind: 'epsilon-greedy', epsilon: 0.1 } };
    case 'softmax':
      return { ...base, exploration: { kind: 'softmax', temperature: 0.5 } };
    case 'topk-window':
      return { ...base, exploration: { kind: 'top-k' }, window: 3 };
    case 'popularity-debiased':
      return { ...base, exploration: { kind: 'top-k' }, popularityPenalty: 0.5 };
    case 'uniform':
      return { ...base, exploration: { kind: 'epsilon-greedy', epsilon: 1 }, scorer: 'uniform' };
    case 'most-popular':
      return { ...base, exploration: { kind: 'top-k' }, scorer: 'most-popular' };
    case 'oracle':
      return { ...base, exploration: { kind: 'top-k' }, scorer: 'oracle' };
    default:
      throw new RangeError(`unknown scenario '${String(s)}'; known: ${[...SCENARIO_PRESETS, ...BASELINE_PRESETS].join(', ')}`);
  }
}

interface ScenarioState {
  readonly spec: ScenarioSpec;
  /** null for the baselines, which learn nothing. */
  readonly model: TwoTowerModel | null;
  readonly policy: ExplorationPolicy;
  readonly logs: FeedbackTrainingLog[];
  /** Clicks per item over rounds 0..r (phi). */
  readonly clickCounts: Float64Array;
  /** Clicked item ids over rounds 0..r, for the profile ARP. */
  clickedItems: number[];
  readonly timing: FeedbackLoopTiming;
}

const NEXT = 'next';

/** Scores held at once per pass (arrivals per chunk x items), so memory stays bounded on large worlds. */
export const LOOP_CHUNK_FLOATS = 1 << 22;

/**
 * The additive adjustment of the served scores for the scenario's popularity penalty (null when
 * beta = 0): s_i - beta log p_i with p_i the smoothed click share in the training window.
 */
function popularityAdjustment(state: ScenarioState, I: number): Float64Array | null {
  const beta = state.spec.popularityPenalty;
  if (!(beta > 0)) return null;
  const c = windowClickCounts(state, I);
  let total = 0;
  for (let i = 0; i < I; i++) total += c[i];
  const adj = new Float64Array(I);
  for (let i = 0; i < I; i++) adj[i] = -beta * Math.log((c[i] + 1) / (total + I));
  return adj;
}

/** Clicks per item in the scenario's training window. */
function windowClickCounts(state: ScenarioState, I: number): Float64Array {
  const c = new Float64Array(I);
  for (const log of windowLogs(state)) for (let r = 0; r < log.items.length; r++) if (log.clicked[r] > 0) c[log.items[r]]++;
  return c;
}

/** Served scores of `users` (users.length x I, Float64): the scorer's, plus the adjustment. */
function servingScores(state: ScenarioState, users: Int32Array, I: number, adj: Float64Array | null, world: FeedbackWorld): Float64Array {
  let out: Float64Array;
  const scorer = state.spec.scorer ?? 'two-tower';
  if (state.model !== null) out = new Float64Array(scoreAll(state.model, users));
  else {
    out = new Float64Array(users.length * I);
    if (scorer === 'most-popular') {
      const c = windowClickCounts(state, I);
      for (let j = 0; j < users.length; j++) out.set(c, j * I);
    } else if (scorer === 'oracle') {
      relevanceRowsInto(world, users, out);
    }
  }
  if (adj !== null) for (let j = 0; j < users.length; j++) for (let i = 0; i < I; i++) out[j * I + i] += adj[i];
  return out;
}

/**
 * The oracle's screen (feedback-world.ts oracleValuesOf): float32 dot products of users and items as
 * one TF.js matmul per block on the active backend, the item matrix uploaded once (items do not drift).
 */
function dotScreen(rt: TfRuntime, world0: FeedbackWorld): { screen: DotScreen; dispose: () => void } {
  const tf = rt.tf;
  const { items: I, dim: d } = world0;
  const itemsT = tf.tidy(() => tf.transpose(tf.tensor2d(Float32Array.from(world0.itemVectors), [I, d])));
  const screen: DotScreen = (world, users) => {
    if (world.itemVectors !== world0.itemVectors) throw new Error('dotScreen: the world has other items');
    const m = users.length;
    const x = new Float32Array(m * d);
    for (let j = 0; j < m; j++) for (let k = 0; k < d; k++) x[j * d + k] = world.userVectors[users[j] * d + k];
    const dots = tf.tidy(() => tf.matMul(tf.tensor2d(x, [m, d]), itemsT as Tensor2D));
    const out = dots.dataSync() as Float32Array;
    dots.dispose();
    return out;
  };
  return { screen, dispose: () => itemsT.dispose() };
}

function windowLogs(state: ScenarioState): FeedbackTrainingLog[] {
  const w = state.spec.window;
  return w === null ? state.logs : state.logs.slice(Math.max(0, state.logs.length - w));
}

/** Adds a logged round to the scenario's history, click counts and clicked items (in row order). */
function appendLog(state: ScenarioState, log: FeedbackTrainingLog): void {
  state.logs.push(log);
  for (let r = 0; r < log.items.length; r++) {
    if (log.clicked[r] > 0) {
      state.clickCounts[log.items[r]]++;
      state.clickedItems.push(log.items[r]);
    }
  }
}

/**
 * Runs every scenario for `rounds` rounds on one shared world. Round-major: round r of every
 * scenario before round r + 1, and `onCheckpoint` after each round, so a caller can stop and resume
 * at a round boundary (`resume`). Arrivals are processed in chunks of `chunkUsers` (default: as many
 * as LOOP_CHUNK_FLOATS scores hold); every random stream is consumed in arrival order, so the results
 * do not depend on the chunk size. Models are disposed at the end.
 */
export async function runFeedbackLoop(rt: TfRuntime, config: FeedbackLoopConfig = {}, opts: FeedbackLoopOptions = {}): Promise<FeedbackLoopResult> {
  const worldConfig = resolveFeedbackWorldConfig({ ...config.world, ...(config.slateSize !== undefined ? { slateSize: config.slateSize } : {}) });
  const rounds = config.rounds ?? 10;
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new RangeError(`rounds must be a positive integer, got ${rounds}`);
  const logging = config.logging ?? 'uniform';
  if (logging !== 'uniform' && logging !== 'most-popular') throw new RangeError(`logging must be 'uniform' or 'most-popular', got '${String(logging)}'`);
  const specs = (config.scenarios ?? ['topk', 'softmax']).map(resolveScenario);
  if (specs.length === 0) throw new RangeError('no scenario given');
  if (new Set(specs.map((s) => s.name)).size !== specs.length) throw new RangeError('two scenarios have the same name');
  for (const s of specs) if (s.name === NEXT) throw new RangeError(`'${NEXT}' is reserved; give the scenario another name`);
  const estimatorSpec = config.estimators ?? 'slate-ips,iips,rips';
  const estimators = parseEstimatorList(estimatorSpec);
  const estimatorLabels = estimators.map((e) => e.label);
  for (const own of ['snips', 'dr']) if (estimatorLabels.includes(own)) throw new RangeError(`'${own}' is added on its own (slate-level, see feedback-ope.ts); leave it out of estimators`);
  const pairs = config.homogenizationPairs ?? 2000;
  const headShare = config.headShare ?? 0.2;
  const opeOn = config.opeOn ?? 'log';
  if (opeOn !== 'log' && opeOn !== 'holdout') throw new RangeError(`opeOn must be 'log' or 'holdout', got '${String(opeOn)}'`);

  let world = makeFeedbackWorld(worldConfig);
  const { items: I, slateSize: L, seed } = worldConfig;
  const n = worldConfig.usersPerRound;
  if (rounds * n > 2 ** 31 - 1) throw new RangeError('rounds x usersPerRound must fit slate ids in int32');
  // The holdout log's click uniforms are keyed by arrival indices n..2n-1 (feedback-world.ts clickUniform).
  if (opeOn === 'holdout' && 2 * n * L > 2 ** 32) throw new RangeError('opeOn holdout needs 2 x usersPerRound x slateSize <= 2^32');
  const chunk = opts.chunkUsers ?? Math.max(1, Math.floor(LOOP_CHUNK_FLOATS / I));
  if (!(Number.isInteger(chunk) && chunk >= 1)) throw new RangeError(`chunkUsers must be a positive integer, got ${chunk}`);

  const logger: ExplorationPolicy =
    logging === 'uniform' ? makeExploration({ kind: 'epsilon-greedy', epsilon: 1, name: 'uniform' }, I, L) : makeExploration({ kind: 'top-k', name: 'most-popular' }, I, L);
  const loggerItemScores = logging === 'uniform' ? new Float64Array(I) : Float64Array.from(world.popularity);

  const states: ScenarioState[] = specs.map((spec) => ({
    spec,
    model: (spec.scorer ?? 'two-tower') === 'two-tower' ? createTwoTower(rt, { ...FEEDBACK_LOOP_MODEL_DEFAULTS, ...config.model, users: worldConfig.users, items: I, loss: spec.loss, seed }) : null,
    policy: makeExploration(spec.exploration, I, L),
    logs: [],
    clickCounts: new Float64Array(I),
    clickedItems: [],
    timing: { serve: 0, train: 0, metrics: 0, ope: 0, log: 0 },
  }));

  const metrics: FeedbackRoundMetrics[] = [];
  const sharedTiming = { oracle: 0 };
  const oracleScreen = dotScreen(rt, world);
  let firstRound = 0;
  try {
    if (opts.resume !== undefined) {
      const cp = opts.resume.checkpoint;
      if (!(Number.isInteger(cp.rounds) && cp.rounds >= 1 && cp.rounds <= rounds)) throw new RangeError(`the checkpoint has ${cp.rounds} rounds; this run asks for ${rounds}`);
      for (const state of states) {
        if (state.model !== null) {
          const model = cp.models[state.spec.name];
          if (model === undefined) throw new RangeError(`the checkpoint has no model of scenario '${state.spec.name}'`);
          state.model.restore(model);
        }
        for (let r = 0; r < cp.rounds; r++) appendLog(state, await opts.resume.history(state.spec.name, r));
      }
      metrics.push(...cp.metrics);
      if (metrics.length !== cp.rounds * states.length) throw new RangeError(`the checkpoint has ${metrics.length} metric rows for ${cp.rounds} rounds of ${states.length} scenarios`);
      // The world of the next round: drift is pure in (world, round).
      for (let r = 1; r <= cp.rounds; r++) world = driftUsers(world, r - 1);
      firstRound = cp.rounds;
    }
    for (let round = firstRound; round < rounds; round++) {
      if (round > firstRound) world = driftUsers(world, round - 1);
      const users = arrivals(world, round);
      // Oracle values: the same for every scenario, so timed on their own.
      const oracleStarted = performance.now();
      const oracleValues = oracleValuesOf(world, users, new Float64Array(n), oracleScreen.screen);
      let oracleSum = 0;
      for (let j = 0; j < n; j++) oracleSum += oracleValues[j];
      const utilityOracle = oracleSum / n;
      sharedTiming.oracle += performance.now() - oracleStarted;

      for (const state of states) {
        const m = await runScenarioRound(state, round, users, utilityOracle);
        metrics.push(m);
      }
      await opts.onCheckpoint?.({
        rounds: round + 1,
        metrics: metrics.slice(),
        models: Object.fromEntries(states.flatMap((s) => (s.model === null ? [] : [[s.spec.name, s.model.state()]]))),
      });
    }
  } finally {
    for (const s of states) s.model?.dispose();
    oracleScreen.dispose();
  }
  const timings: FeedbackLoopResult['timings'] = {};
  for (const s of states) timings[s.spec.name] = { ...s.timing };
  return { config: { world: worldConfig, rounds, logging, opeOn, scenarios: specs, estimators: ['snips', 'dr', ...estimatorLabels] }, metrics, timings, sharedTiming };

  /** Serves, logs, measures and retrains one scenario for one round; returns its metrics row. */
  async function runScenarioRound(state: ScenarioState, round: number, users: Int32Array, utilityOracle: number): Promise<FeedbackRoundMetrics> {
    const served = round === 0 ? logger : state.policy;
    const builder = new SlateRowBuilder(served, [state.policy]);
    const rows = builder.newRows(n, { actionDist: config.actionDist === true });
    const holdout = opeOn === 'holdout' ? builder.newRows(n, { actionDist: false }) : null;
    const slates = new Int32Array(n * L);
    const clicks = new Float64Array(n * L);
    const hSlates = new Int32Array(n * L);
    const hClicks = new Float64Array(n * L);
    // One stream per purpose, keyed by (seed, round) only and consumed in arrival order.
    const serveRng = blockStream(seed, 'feedback-loop-serve', round);
    const valueRng = blockStream(seed, 'feedback-loop-value', round);
    const rowsRng = blockStream(seed, 'feedback-loop-rows', round);
    const holdRng = blockStream(seed, 'feedback-loop-holdout', round);
    const holdRowsRng = blockStream(seed, 'feedback-loop-holdout-rows', round);
    const marginals = new Float64Array(L * I);
    // The relevances of a chunk's arrivals, for the true values of randomized policies (whose
    // marginals spread over every item); deterministic ones need only their slates' L items, so it
    // is null only when both policies are deterministic.
    const rho = served.deterministic && state.policy.deterministic ? null : new Float64Array(Math.min(chunk, n) * I);
    let roundClicks = 0;
    let utilitySum = 0;

    // Pass 1, the served policy: slates, clicks, its true value, the logger half of the rows (and of
    // the holdout log: a second, independent log of the same policy on the same arrivals, with fresh
    // slates and click uniforms at arrival indices n..2n-1, which the model never sees).
    const adjServed = round === 0 ? null : popularityAdjustment(state, I);
    // Round 0's logger sees the same scores for every arrival: its exact (closed-form, drawing no
    // uniforms) marginals are then the same for everyone, computed once instead of L x I per arrival.
    const constantMarginals = round === 0 && !served.deterministic && served.marginals.exact;
    if (constantMarginals) served.marginalsInto(loggerItemScores, marginals, valueRng);
    for (let from = 0; from < n; from += chunk) {
      const to = Math.min(n, from + chunk);
      let t0 = performance.now();
      const part = users.subarray(from, to);
      const scores = round === 0 ? null : servingScores(state, part, I, adjServed, world);
      const scoresOf = (j: number): Float64Array => (scores === null ? loggerItemScores : scores.subarray((j - from) * I, (j - from + 1) * I));
      for (let j = from; j < to; j++) {
        served.sample(scoresOf(j), serveRng, slates, j * L);
        roundClicks += clicksInto(world, round, j, users[j], slates, j * L, clicks, j * L);
      }
      let t1 = performance.now();
      state.timing.serve += t1 - t0;
      if (rho !== null && !served.deterministic) relevanceRowsInto(world, part, rho);
      for (let j = from; j < to; j++) {
        if (served.deterministic || rho === null) {
          // One-hot marginals: the served slate's value, the same sum without the O(L I) zeros.
          utilitySum += slateValue(world, users[j], slates, j * L);
          continue;
        }
        if (!constantMarginals) served.marginalsInto(scoresOf(j), marginals, valueRng);
        utilitySum += valueFromMarginals(world, marginals, rho, (j - from) * I);
      }
      t0 = performance.now();
      state.timing.metrics += t0 - t1;
      for (let j = from; j < to; j++) {
        builder.writeLogger(rows, j, round * n + j, slates.subarray(j * L, (j + 1) * L), clicks.subarray(j * L, (j + 1) * L), scoresOf(j), rowsRng);
      }
      t1 = performance.now();
      state.timing.log += t1 - t0;
      if (holdout !== null) {
        for (let j = from; j < to; j++) {
          served.sample(scoresOf(j), holdRng, hSlates, j * L);
          clicksInto(world, round, n + j, users[j], hSlates, j * L, hClicks, j * L);
          builder.writeLogger(holdout, j, round * n + j, hSlates.subarray(j * L, (j + 1) * L), hClicks.subarray(j * L, (j + 1) * L), scoresOf(j), holdRowsRng);
        }
        state.timing.ope += performance.now() - t1;
      }
    }

    // Metrics of the served round.
    let t0 = performance.now();
    const log: FeedbackTrainingLog = { users: new Int32Array(n * L), items: slates, clicked: Float32Array.from(clicks), positions: new Int32Array(n * L) };
    for (let j = 0; j < n; j++)
      for (let k = 0; k < L; k++) {
        log.users[j * L + k] = users[j];
        log.positions[j * L + k] = k;
      }
    appendLog(state, log);
    const utilityTrue = utilitySum / n;
    const exposure = countItems(slates, I);
    const arp = averageRecommendationPopularity(slates, state.clickCounts);
    const profileArp = state.clickedItems.length === 0 ? NaN : averageRecommendationPopularity(Int32Array.from(state.clickedItems), state.clickCounts);
    const base = {
      scenario: state.spec.name,
      round,
      ctr_true: utilityTrue / L,
      ctr_oracle: utilityOracle / L,
      utility_true: utilityTrue,
      utility_oracle: utilityOracle,
      regret: regret(utilityOracle, utilityTrue),
      clicks: roundClicks,
      coverage_at_k: catalogCoverage(exposure),
      gini: giniIndex(exposure),
      entropy: shannonEntropy(exposure),
      arp,
      long_tail_share: longTailShare(slates, state.clickCounts, headShare),
      popularity_lift: popularityLift(arp, profileArp),
      homogenization: homogenization(slates, L, pairs, blockStream(seed, 'feedback-loop-homogenization', round)),
    };
    let t1 = performance.now();
    state.timing.metrics += t1 - t0;

    // Retrain on the window, warm-started (the baselines have no model).
    const trained = state.model === null ? null : await state.model.train(concatLogs(windowLogs(state)), { round });
    const trainLoss = trained !== null && trained.losses.length > 0 ? trained.losses[trained.losses.length - 1] : NaN;
    t0 = performance.now();
    state.timing.train += t0 - t1;

    // Pass 2, the next policy: its true value on this round's arrivals and world, the reward model's
    // value for the DR estimate, and the target half of the rows.
    const q = fitPositionItemModel(windowLogs(state), L, I);
    const direct = new Float64Array(n);
    const nextValueRng = blockStream(seed, 'feedback-loop-next-value', round);
    const nextRowsRng = blockStream(seed, 'feedback-loop-next-rows', round);
    const nextHoldRowsRng = blockStream(seed, 'feedback-loop-next-holdout-rows', round);
    const adjNext = popularityAdjustment(state, I);
    const nextSlate = new Int32Array(L);
    let valueNextSum = 0;
    for (let from = 0; from < n; from += chunk) {
      const to = Math.min(n, from + chunk);
      t0 = performance.now();
      const part = users.subarray(from, to);
      const nextScores = servingScores(state, part, I, adjNext, world);
      if (rho !== null && !state.policy.deterministic) relevanceRowsInto(world, part, rho);
      for (let j = from; j < to; j++) {
        const scoresJ = nextScores.subarray((j - from) * I, (j - from + 1) * I);
        if (state.policy.deterministic || rho === null) {
          // One-hot marginals (top-k draws no uniforms): the same sums over its slate only.
          state.policy.sample(scoresJ, nextValueRng, nextSlate, 0);
          valueNextSum += slateValue(world, users[j], nextSlate, 0);
          let d = 0;
          for (let k = 0; k < L; k++) d += q[k * I + nextSlate[k]];
          direct[j] = d;
          continue;
        }
        state.policy.marginalsInto(scoresJ, marginals, nextValueRng);
        valueNextSum += valueFromMarginals(world, marginals, rho, (j - from) * I);
        direct[j] = directValue(marginals, q);
      }
      t1 = performance.now();
      state.timing.metrics += t1 - t0;
      for (let j = from; j < to; j++) builder.writeTarget(rows, j, 0, slates.subarray(j * L, (j + 1) * L), nextScores.subarray((j - from) * I, (j - from + 1) * I), nextRowsRng);
      t0 = performance.now();
      state.timing.log += t0 - t1;
      if (holdout !== null) {
        for (let j = from; j < to; j++) builder.writeTarget(holdout, j, 0, hSlates.subarray(j * L, (j + 1) * L), nextScores.subarray((j - from) * I, (j - from + 1) * I), nextHoldRowsRng);
        state.timing.ope += performance.now() - t0;
      }
    }

    // OPE of the next policy on this round's log (or the holdout).
    t0 = performance.now();
    const opeRows = holdout ?? rows;
    const evaluation = await evaluateStream([alignedOf(opeRows)], { estimators, policyNames: [NEXT], replicates: 0, rewardRange: [0, 1] });
    const estimates: Record<string, number> = {};
    const sn = slateSnips(opeRows);
    estimates.value_next_snips = sn.value;
    estimates.value_next_snips_se = sn.se;
    const dr = slateDoublyRobust(opeRows, q, I, direct);
    estimates.value_next_dr = dr.value;
    estimates.value_next_dr_se = dr.se;
    for (const e of evaluation.estimates) {
      estimates[`value_next_${e.label}`] = e.value;
      estimates[`value_next_${e.label}_se`] = e.se;
    }
    t1 = performance.now();
    state.timing.ope += t1 - t0;

    const diag = evaluation.policies[0];
    const m: FeedbackRoundMetrics = {
      ...base,
      train_loss: trainLoss,
      ope_mean_slate_weight: diag.meanWeight,
      ope_slate_ess_share: diag.slate?.essShare ?? NaN,
      value_next_true: valueNextSum / n,
      ...estimates,
    };
    await opts.onRound?.({ scenario: state.spec.name, round, users: users.slice(), rows }, m);
    state.timing.log += performance.now() - t1;
    return m;
  }
}
