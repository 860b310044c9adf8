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
 *      item-position marginals), the registry's slate estimators on them, and its true value on this
 *      round's arrivals under this round's world (policyValueFromMarginals), so every round says how
 *      well OPE on round r's log predicts the policy that will serve round r + 1.
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
 * Measured (wasm, 2 cores): the default config (400 users, 200 items, L = 5, 10 rounds, topk and
 * softmax) runs in about 2.7 s, two thirds of it training; all five presets in 5.7 s; the bench
 * world (1,000 x 1,000, dim 32, L = 10) with topk and softmax in about 21 s (softmax's Monte Carlo
 * marginals for its true value and propensities take a third of that).
 *
 * Determinism: every random draw is keyed by the world seed and the round, never by the scenario or
 * the wall clock; the models are seeded by the world seed. Same seed, same config, same TF.js
 * backend: the same metrics bit for bit.
 */
import { parseEstimatorList } from '../estimators/registry.js';
import type { LogBatch, PolicyBatch } from '../src/data/batch.js';
import { clusterKeyOfInteger } from '../src/data/cluster-key.js';
import { evaluateStream } from '../src/engine/evaluate.js';
import type { TfRuntime } from '../src/tf/backend.js';
import { makeExploration, SlateRowBuilder, type ExplorationPolicy, type ExplorationSlateRows, type ExplorationSpec } from './exploration.js';
import { resolveFeedbackWorldConfig, type FeedbackWorldConfig, type ResolvedFeedbackWorldConfig } from './feedback-config.js';
import { averageRecommendationPopularity, catalogCoverage, countItems, giniIndex, homogenization, longTailShare, popularityLift, regret, shannonEntropy } from './feedback-metrics.js';
import { arrivals, clicksInto, driftUsers, makeFeedbackWorld, oracleValue, policyValueFromMarginals, type FeedbackWorld } from './feedback-world.js';
import { blockStream, type RandomStream } from './random-streams.js';
import { createTwoTower, scoreAll, type TwoTowerConfig, type TwoTowerLoss, type TwoTowerModel } from './two-tower.js';

export type ScenarioPreset = 'topk' | 'epsilon-greedy' | 'softmax' | 'topk-window' | 'popularity-debiased';

export const SCENARIO_PRESETS: readonly ScenarioPreset[] = ['topk', 'epsilon-greedy', 'softmax', 'topk-window', 'popularity-debiased'];

export interface ScenarioSpec {
  readonly name: string;
  /** How the model's (adjusted) scores become slates. */
  readonly exploration: ExplorationSpec;
  /** Train on the last `window` rounds only; null: on all logged rounds. */
  readonly window: number | null;
  readonly loss: TwoTowerLoss;
  /** beta >= 0: serve s_i - beta log p_i (p_i the smoothed click share in the training window); 0: the raw scores. */
  readonly popularityPenalty: number;
}

export type LoggingPolicy = 'uniform' | 'most-popular';

export interface FeedbackLoopConfig {
  /**
   * The world (feedback-config.ts). Defaults here are a small world for fast loops: 400 users,
   * 200 items, dim 16, slates of 5; every other field as FEEDBACK_WORLD_DEFAULTS.
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
  /** Two-tower settings (users, items, seed and loss come from the world and the scenario). Default dim 16, epochs 5. */
  readonly model?: Partial<Omit<TwoTowerConfig, 'users' | 'items' | 'seed' | 'loss'>>;
  /** Slate estimators for the next policy's value (default 'slate-ips,iips,rips'); a slate-level snips is always added. */
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
  /** value_next_<estimator> and value_next_<estimator>_se (delta method) for each estimator, snips included. */
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

export interface FeedbackLoopOptions {
  /** Called after each (scenario, round) with its rows (for writing Parquet); awaited. Rounds come in order, scenarios in config order within a round. */
  readonly onRound?: (rows: FeedbackRoundRows, metrics: FeedbackRoundMetrics) => void | Promise<void>;
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
  /** Wall-clock milliseconds per scenario: training, serving (scores, sampling, values, metrics), OPE rows and estimates. Not deterministic. */
  readonly timings: Record<string, { train: number; serve: number; ope: number }>;
}

export const FEEDBACK_LOOP_WORLD_DEFAULTS: Readonly<FeedbackWorldConfig> = { users: 400, items: 200, dim: 16, slateSize: 5 };

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
    default:
      throw new RangeError(`unknown scenario '${String(s)}'; known: ${SCENARIO_PRESETS.join(', ')}`);
  }
}

/** One logged round of a scenario, as training data. */
interface RoundLog {
  readonly users: Int32Array;
  readonly items: Int32Array;
  readonly clicked: Float32Array;
  readonly positions: Int32Array;
}

interface ScenarioState {
  readonly spec: ScenarioSpec;
  readonly model: TwoTowerModel;
  readonly policy: ExplorationPolicy;
  readonly logs: RoundLog[];
  /** Clicks per item over rounds 0..r (phi). */
  readonly clickCounts: Float64Array;
  /** Clicked item ids over rounds 0..r, for the profile ARP. */
  clickedItems: number[];
  lastLoss: number;
  readonly timing: { train: number; serve: number; ope: number };
}

const NEXT = 'next';

/** Served scores of `users` (n x I, Float64), with the scenario's popularity adjustment. */
function servingScores(state: ScenarioState, users: Int32Array, I: number): Float64Array {
  const raw = scoreAll(state.model, users);
  const out = Float64Array.from(raw);
  const beta = state.spec.popularityPenalty;
  if (beta > 0) {
    const c = trainingClickCounts(state, I);
    let total = 0;
    for (let i = 0; i < I; i++) total += c[i];
    const adj = new Float64Array(I);
    for (let i = 0; i < I; i++) adj[i] = beta * Math.log((c[i] + 1) / (total + I));
    for (let j = 0; j < users.length; j++) for (let i = 0; i < I; i++) out[j * I + i] -= adj[i];
  }
  return out;
}

function windowLogs(state: ScenarioState): RoundLog[] {
  const w = state.spec.window;
  return w === null ? state.logs : state.logs.slice(Math.max(0, state.logs.length - w));
}

function trainingClickCounts(state: ScenarioState, I: number): Float64Array {
  const c = new Float64Array(I);
  for (const log of windowLogs(state)) for (let r = 0; r < log.items.length; r++) if (log.clicked[r] > 0) c[log.items[r]]++;
  return c;
}

function concatLogs(logs: RoundLog[]): RoundLog {
  let n = 0;
  for (const l of logs) n += l.users.length;
  const out: RoundLog = { users: new Int32Array(n), items: new Int32Array(n), clicked: new Float32Array(n), positions: new Int32Array(n) };
  let off = 0;
  for (const l of logs) {
    out.users.set(l.users, off);
    out.items.set(l.items, off);
    out.clicked.set(l.clicked, off);
    out.positions.set(l.positions, off);
    off += l.users.length;
  }
  return out;
}

/** Mean expected clicks per slate of `policy` over the users, from its marginals (rng: Monte Carlo marginals). */
function meanPolicyValue(world: FeedbackWorld, policy: ExplorationPolicy, users: Int32Array, scores: Float64Array, round: number, purpose: string): number {
  const I = world.items;
  const marginals = new Float64Array(world.slateSize * I);
  const rho = new Float64Array(I);
  const rng = blockStream(world.config.seed, purpose, round);
  let sum = 0;
  for (let j = 0; j < users.length; j++) {
    policy.marginalsInto(scores.subarray(j * I, (j + 1) * I), marginals, rng);
    sum += policyValueFromMarginals(world, users[j], marginals, rho);
  }
  return sum / users.length;
}

/** The rows as the estimators' aligned batch (slate ids keyed as the readers key them). */
function alignedOf(rows: ExplorationSlateRows): { log: LogBatch; policies: PolicyBatch[] } {
  const n = rows.rows;
  const clusterKey = new Uint32Array(n);
  for (let i = 0; i < n; i++) clusterKey[i] = clusterKeyOfInteger(rows.slateId[i]);
  const log: LogBatch = {
    source: '<feedback loop>',
    rowOffset: 0,
    n,
    action: rows.action,
    reward: rows.reward,
    propensity: rows.propensity,
    position: rows.position,
    clusterKey,
    propensityItemPosition: rows.propensityItemPosition,
    propensityCascade: rows.propensityCascade,
    propensityItemPositions: { width: rows.L, values: rows.propensityItemPositions },
  };
  const policies: PolicyBatch[] = rows.targets.map((t) => ({
    n,
    targetPropensity: t.targetPropensity,
    targetPropensityItemPosition: t.targetPropensityItemPosition,
    targetPropensityCascade: t.targetPropensityCascade,
    targetPropensityItemPositions: { width: rows.L, values: t.targetPropensityItemPositions },
  }));
  return { log, policies };
}

/**
 * Slate-level self-normalized IPS of the target: sum_s w_s R_s / sum_s w_s with the joint slate
 * weights w_s = pi(slate) / mu(slate) and R_s the slate's clicks (slate-ips normalized by its weights
 * instead of the slate count); se by the delta method, sqrt(sum_s w_s^2 (R_s - V)^2) / sum_s w_s.
 * NaN when no logged slate has target probability > 0.
 */
export function slateSnips(rows: ExplorationSlateRows, target = 0): { value: number; se: number } {
  const { slates, L } = rows;
  const t = rows.targets[target];
  const w = new Float64Array(slates);
  const R = new Float64Array(slates);
  let sw = 0;
  let swr = 0;
  for (let s = 0; s < slates; s++) {
    const r0 = s * L;
    w[s] = t.targetPropensity[r0] / rows.propensity[r0];
    let r = 0;
    for (let k = 0; k < L; k++) r += rows.reward[r0 + k];
    R[s] = r;
    sw += w[s];
    swr += w[s] * r;
  }
  if (!(sw > 0)) return { value: NaN, se: NaN };
  const v = swr / sw;
  let ss = 0;
  for (let s = 0; s < slates; s++) ss += w[s] * w[s] * (R[s] - v) * (R[s] - v);
  return { value: v, se: Math.sqrt(ss) / sw };
}

/** Slate-contract rows of one round's n slates (slate ids round n + j), the next policy as the target. */
function slateRows(
  builder: SlateRowBuilder,
  n: number,
  round: number,
  slates: Int32Array,
  clicks: Float64Array,
  scores: Float64Array,
  nextScores: Float64Array,
  marginalRng: RandomStream,
): ExplorationSlateRows {
  const { L, n: I } = builder;
  const rows = builder.newRows(n, { actionDist: false });
  for (let j = 0; j < n; j++) {
    builder.write(
      rows,
      j,
      round * n + j,
      slates.subarray(j * L, (j + 1) * L),
      clicks.subarray(j * L, (j + 1) * L),
      scores.subarray(j * I, (j + 1) * I),
      [nextScores.subarray(j * I, (j + 1) * I)],
      marginalRng,
    );
  }
  return rows;
}

/**
 * Runs every scenario for `rounds` rounds on one shared world. Round-major: round r of every
 * scenario before round r + 1 (so a caller writing files per round can stop and resume at a round).
 * Models are disposed at the end.
 */
export async function runFeedbackLoop(rt: TfRuntime, config: FeedbackLoopConfig = {}, opts: FeedbackLoopOptions = {}): Promise<FeedbackLoopResult> {
  const worldConfig = resolveFeedbackWorldConfig({ ...FEEDBACK_LOOP_WORLD_DEFAULTS, ...config.world, ...(config.slateSize !== undefined ? { slateSize: config.slateSize } : {}) });
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
  if (estimatorLabels.includes('snips')) throw new RangeError("'snips' is added on its own (slate-level self-normalized IPS); leave it out of estimators");
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

  const logger: ExplorationPolicy =
    logging === 'uniform' ? makeExploration({ kind: 'epsilon-greedy', epsilon: 1, name: 'uniform' }, I, L) : makeExploration({ kind: 'top-k', name: 'most-popular' }, I, L);
  const loggerItemScores = logging === 'uniform' ? new Float64Array(I) : Float64Array.from(world.popularity);

  const states: ScenarioState[] = specs.map((spec) => ({
    spec,
    model: createTwoTower(rt, { dim: 16, epochs: 5, ...config.model, users: worldConfig.users, items: I, loss: spec.loss, seed }),
    policy: makeExploration(spec.exploration, I, L),
    logs: [],
    clickCounts: new Float64Array(I),
    clickedItems: [],
    lastLoss: NaN,
    timing: { train: 0, serve: 0, ope: 0 },
  }));

  const metrics: FeedbackRoundMetrics[] = [];
  const slates = new Int32Array(n * L);
  const clicks = new Float64Array(n * L);
  try {
    for (let round = 0; round < rounds; round++) {
      if (round > 0) world = driftUsers(world, round - 1);
      const users = arrivals(world, round);
      // Oracle values: the same for every scenario.
      const rhoScratch = new Float64Array(I);
      const slateScratch = new Int32Array(L);
      let oracleSum = 0;
      for (let j = 0; j < n; j++) oracleSum += oracleValue(world, users[j], rhoScratch, slateScratch);
      const utilityOracle = oracleSum / n;

      for (const state of states) {
        let t0 = performance.now();
        // 1. Served policy and its scores.
        const served = round === 0 ? logger : state.policy;
        let scores: Float64Array;
        if (round === 0) {
          scores = new Float64Array(n * I);
          for (let j = 0; j < n; j++) scores.set(loggerItemScores, j * I);
        } else {
          scores = servingScores(state, users, I);
        }
        // 2. Slates (sampling stream keyed by the round only) and clicks.
        const serveRng = blockStream(seed, 'feedback-loop-serve', round);
        let roundClicks = 0;
        for (let j = 0; j < n; j++) {
          served.sample(scores.subarray(j * I, (j + 1) * I), serveRng, slates, j * L);
          roundClicks += clicksInto(world, round, j, users[j], slates, j * L, clicks, j * L);
        }
        const log: RoundLog = { users: new Int32Array(n * L), items: slates.slice(), clicked: Float32Array.from(clicks), positions: new Int32Array(n * L) };
        for (let j = 0; j < n; j++)
          for (let k = 0; k < L; k++) {
            log.users[j * L + k] = users[j];
            log.positions[j * L + k] = k;
            if (clicks[j * L + k] > 0) {
              state.clickCounts[slates[j * L + k]]++;
              state.clickedItems.push(slates[j * L + k]);
            }
          }
        state.logs.push(log);

        // 3. Metrics of the served round.
        const utilityTrue = meanPolicyValue(world, served, users, scores, round, 'feedback-loop-value');
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
        state.timing.serve += t1 - t0;

        // 4. Retrain on the window, warm-started.
        const data = concatLogs(windowLogs(state));
        const result = await state.model.train(data, { round });
        state.lastLoss = result.losses.length > 0 ? result.losses[result.losses.length - 1] : NaN;
        t0 = performance.now();
        state.timing.train += t0 - t1;

        // 5. The next policy: its true value on this round and its OPE estimates from this round's log.
        const nextScores = servingScores(state, users, I);
        const valueNextTrue = meanPolicyValue(world, state.policy, users, nextScores, round, 'feedback-loop-next-value');
        const builder = new SlateRowBuilder(served, [state.policy]);
        const rows = slateRows(builder, n, round, slates, clicks, scores, nextScores, blockStream(seed, 'feedback-loop-rows', round));
        let opeRows = rows;
        if (opeOn === 'holdout') {
          // A second, independent log of the same policy on the same arrivals: fresh slates and
          // click uniforms (arrival indices n..2n-1 of the round), which the model never saw.
          const holdRng = blockStream(seed, 'feedback-loop-holdout', round);
          const hSlates = new Int32Array(n * L);
          const hClicks = new Float64Array(n * L);
          for (let j = 0; j < n; j++) {
            served.sample(scores.subarray(j * I, (j + 1) * I), holdRng, hSlates, j * L);
            clicksInto(world, round, n + j, users[j], hSlates, j * L, hClicks, j * L);
          }
          opeRows = slateRows(builder, n, round, hSlates, hClicks, scores, nextScores, blockStream(seed, 'feedback-loop-holdout-rows', round));
        }
        const evaluation = await evaluateStream([alignedOf(opeRows)], { estimators, policyNames: [NEXT], replicates: 0, rewardRange: [0, 1] });
        const estimates: Record<string, number> = {};
        const sn = slateSnips(opeRows);
        estimates.value_next_snips = sn.value;
        estimates.value_next_snips_se = sn.se;
        for (const e of evaluation.estimates) {
          estimates[`value_next_${e.label}`] = e.value;
          estimates[`value_next_${e.label}_se`] = e.se;
        }
        t1 = performance.now();
        state.timing.ope += t1 - t0;

        const diag = evaluation.policies[0];
        const m: FeedbackRoundMetrics = {
          ...base,
          train_loss: state.lastLoss,
          ope_mean_slate_weight: diag.meanWeight,
          ope_slate_ess_share: diag.slate?.essShare ?? NaN,
          value_next_true: valueNextTrue,
          ...estimates,
        };
        metrics.push(m);
        await opts.onRound?.({ scenario: state.spec.name, round, users: users.slice(), rows }, m);
      }
    }
  } finally {
    for (const s of states) s.model.dispose();
  }
  const timings: FeedbackLoopResult['timings'] = {};
  for (const s of states) timings[s.spec.name] = { ...s.timing };
  return { config: { world: worldConfig, rounds, logging, opeOn, scenarios: specs, estimators: ['snips', ...estimatorLabels] }, metrics, timings };
}
