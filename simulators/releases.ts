import { parseEstimatorList } from '../estimators/registry.js';
import { evaluateStream } from '../src/engine/evaluate.js';
import type { TfRuntime } from '../src/tf/backend.js';
import { makeExploration, SlateRowBuilder, type ExplorationPolicy, type ExplorationSpec } from './exploration.js';
import { resolveFeedbackWorldConfig, type FeedbackWorldConfig, type ResolvedFeedbackWorldConfig } from './feedback-config.js';
import { alignedOf, concatLogs, directValue, fitPositionItemModel, slateDoublyRobust, slateSnips, type FeedbackTrainingLog } from './feedback-ope.js';
import { arrivals, clicksInto, driftUsers, makeFeedbackWorld, policyValueFromMarginals, type FeedbackWorld } from './feedback-world.js';
import { blockStream } from './random-streams.js';
import { createTwoTower, scoreAll, type TwoTowerLoss } from './two-tower.js';

/**
 * Simulated releases (issue 9, item 2): the record a team keeps of candidate releases, each with
 * its offline deltas against the current policy and its true online delta, from one world whose
 * truth is known, so the predictive-validation protocol (`ope predictive`) can be run on it.
 *
 * The story, in rounds of the feedback world (feedback-world.ts):
 *   round 0  a uniform logger serves; the current model trains on it;
 *   round 1  the current policy (softmax over the current model's scores) serves; the candidates
 *            train on rounds 0-1 (or round 1 only), each with its own recipe;
 *   round 2  the current policy serves again: the evaluation log, which no model trained on.
 * On round 2's log every candidate gets its offline deltas against the current policy: each OPE
 * estimator's estimate of its value minus the current policy's observed value (clicks per slate on
 * the log, its on-policy value), and the naive offline metrics teams use, recall@L and nDCG@L of its
 * top-L ranking against the logged clicks, minus the current model's. Its true online delta is the
 * exact expected clicks per slate of the candidate minus the current policy's, served to round 2's
 * arrivals in round 2's world (feedback-world.ts policyValueFromMarginals).
 */

export interface CandidateRecipe {
  readonly name: string;
  readonly exploration: ExplorationSpec;
  readonly epochs: number;
  /** 'all': rounds 0-1; 'last': round 1 only. */
  readonly window: 'all' | 'last';
  readonly loss: TwoTowerLoss;
  /** beta of the popularity debiasing s_i - beta log p_i (feedback-loop.ts), 0 for none. */
  readonly popularityPenalty: number;
}

/** Twelve recipes across training window, exploration, loss, epochs and debiasing. */
export const DEFAULT_CANDIDATES: readonly CandidateRecipe[] = [
  { name: 'softmax-t1', exploration: { kind: 'softmax', temperature: 1 }, epochs: 5, window: 'all', loss: 'sampled-softmax', popularityPenalty: 0 },
  { name: 'softmax-t0.5', exploration: { kind: 'softmax', temperature: 0.5 }, epochs: 5, window: 'all', loss: 'sampled-softmax', popularityPenalty: 0 },
  { name: 'softmax-t2', exploration: { kind: 'softmax', temperature: 2 }, epochs: 5, window: 'all', loss: 'sampled-softmax', popularityPenalty: 0 },
  { name: 'epochs-1', exploration: { kind: 'softmax', temperature: 1 }, epochs: 1, window: 'all', loss: 'sampled-softmax', popularityPenalty: 0 },
  { name: 'epochs-15', exploration: { kind: 'softmax', temperature: 1 }, epochs: 15, window: 'all', loss: 'sampled-softmax', popularityPenalty: 0 },
  { name: 'last-round-only', exploration: { kind: 'softmax', temperature: 1 }, epochs: 5, window: 'last', loss: 'sampled-softmax', popularityPenalty: 0 },
  { name: 'pointwise', exploration: { kind: 'softmax', temperature: 1 }, epochs: 5, window: 'all', loss: 'pointwise', popularityPenalty: 0 },
  { name: 'debiased-0.5', exploration: { kind: 'softmax', temperature: 1 }, epochs: 5, window: 'all', loss: 'sampled-softmax', popularityPenalty: 0.5 },
  { name: 'debiased-1', exploration: { kind: 'softmax', temperature: 1 }, epochs: 5, window: 'all', loss: 'sampled-softmax', popularityPenalty: 1 },
  { name: 'eps-0.1', exploration: { kind: 'epsilon-greedy', epsilon: 0.1 }, epochs: 5, window: 'all', loss: 'sampled-softmax', popularityPenalty: 0 },
  { name: 'eps-0.3', exploration: { kind: 'epsilon-greedy', epsilon: 0.3 }, epochs: 5, window: 'all', loss: 'sampled-softmax', popularityPenalty: 0 },
  { name: 'uniform-mix', exploration: { kind: 'epsilon-greedy', epsilon: 0.8 }, epochs: 5, window: 'all', loss: 'sampled-softmax', popularityPenalty: 0 },
];

export interface ReleaseSimulationConfig {
  /** Default: 400 users, 200 items, dim 16, slates of 5 (FEEDBACK_WORLD_DEFAULTS otherwise). */
  readonly world?: FeedbackWorldConfig;
  /** The current (production) policy: softmax at this temperature over a model trained on round 0 (default 1). */
  readonly currentTemperature?: number;
  readonly candidates?: readonly CandidateRecipe[];
  /** Model dim (default 16). */
  readonly dim?: number;
  /** Registry slate estimators (default 'slate-ips,iips,rips'); snips and dr are added. */
  readonly estimators?: string;
}

/** One row of the `ope predictive --releases` table. */
export interface ReleaseRow {
  readonly release_id: string;
  readonly metric: string;
  readonly delta_offline: number;
  readonly delta_online: number;
  readonly lag_days: number;
}

export interface ReleaseSimulation {
  readonly world: ResolvedFeedbackWorldConfig;
  readonly current: { readonly valueTrue: number; readonly valueObserved: number; readonly recall: number; readonly ndcg: number };
  readonly candidates: readonly { readonly name: string; readonly valueTrue: number; readonly estimates: Readonly<Record<string, number>>; readonly recall: number; readonly ndcg: number }[];
  readonly rows: readonly ReleaseRow[];
}

/**
 * 400 users arriving 5 times a round (2,000 slates per log), 200 items, slates of 5, and slowly
 * drifting preferences (delta 0.2 a round), so that the online deltas at 7 and 14 days (one and two
 * rounds of drift later) differ from the immediate ones, as delayed KPIs do.
 */
export const RELEASE_WORLD_DEFAULTS: Readonly<FeedbackWorldConfig> = { users: 400, items: 200, dim: 16, slateSize: 5, usersPerRound: 2000, preferenceDrift: 0.2 };

/** Lags of the online deltas, in days: a round of drift per week. */
export const RELEASE_LAGS_DAYS = [0, 7, 14] as const;

/** The world's round r served by `policy` over per-user scores: slates, clicks, and the log. */
function serve(world: FeedbackWorld, round: number, users: Int32Array, policy: ExplorationPolicy, scores: Float64Array): { slates: Int32Array; clicks: Float64Array; log: FeedbackTrainingLog } {
  const { items: I, slateSize: L, config } = world;
  const n = users.length;
  const rng = blockStream(config.seed, 'releases-serve', round);
  const slates = new Int32Array(n * L);
  const clicks = new Float64Array(n * L);
  for (let j = 0; j < n; j++) {
    policy.sample(scores.subarray(j * I, (j + 1) * I), rng, slates, j * L);
    clicksInto(world, round, j, users[j], slates, j * L, clicks, j * L);
  }
  const log: FeedbackTrainingLog = { users: new Int32Array(n * L), items: slates, clicked: Float32Array.from(clicks), positions: new Int32Array(n * L) };
  for (let j = 0; j < n; j++)
    for (let k = 0; k < L; k++) {
      log.users[j * L + k] = users[j];
      log.positions[j * L + k] = k;
    }
  return { slates, clicks, log };
}

/**
 * recall@L and nDCG@L (binary relevance: the clicked items of the logged slate; Jarvelin &
 * Kekalainen 2002) of the top-L ranking of `scores` for each logged slate with a click, averaged
 * over those slates: the offline metrics a team computes on logged clicks, blind to what the log
 * never showed.
 */
export function clickRankingMetrics(scores: Float64Array, I: number, L: number, slates: Int32Array, clicks: Float64Array): { recall: number; ndcg: number } {
  const n = slates.length / L;
  let recall = 0;
  let ndcg = 0;
  let counted = 0;
  const top = new Int32Array(L);
  for (let j = 0; j < n; j++) {
    const clicked = new Set<number>();
    for (let k = 0; k < L; k++) if (clicks[j * L + k] > 0) clicked.add(slates[j * L + k]);
    if (clicked.size === 0) continue;
    topLInto(scores.subarray(j * I, (j + 1) * I), L, top);
    let hits = 0;
    let dcg = 0;
    for (let k = 0; k < L; k++) {
      if (clicked.has(top[k])) {
        hits++;
        dcg += 1 / Math.log2(k + 2);
      }
    }
    let ideal = 0;
    for (let k = 0; k < Math.min(L, clicked.size); k++) ideal += 1 / Math.log2(k + 2);
    recall += hits / clicked.size;
    ndcg += dcg / ideal;
    counted++;
  }
  return counted === 0 ? { recall: NaN, ndcg: NaN } : { recall: recall / counted, ndcg: ndcg / counted };
}

/** The L best scores, best first, ties to the lower index. */
function topLInto(s: Float64Array, L: number, out: Int32Array): void {
  const val = new Float64Array(L).fill(-Infinity);
  out.fill(-1);
  for (let i = 0; i < s.length; i++) {
    const v = s[i];
    if (!(v > val[L - 1])) continue;
    let p = L - 1;
    while (p > 0 && v > val[p - 1]) {
      val[p] = val[p - 1];
      out[p] = out[p - 1];
      p--;
    }
    val[p] = v;
    out[p] = i;
  }
}

/** Serving scores of a model (and a popularity debiasing from its training clicks). */
function modelScores(model: ReturnType<typeof createTwoTower>, users: Int32Array, I: number, train: FeedbackTrainingLog, beta: number): Float64Array {
  const out = Float64Array.from(scoreAll(model, users));
  if (beta > 0) {
    const c = new Float64Array(I);
    let total = 0;
    for (let r = 0; r < train.items.length; r++) if (train.clicked[r] > 0) (c[train.items[r]]++, total++);
    for (let j = 0; j < users.length; j++) for (let i = 0; i < I; i++) out[j * I + i] -= beta * Math.log((c[i] + 1) / (total + I));
  }
  return out;
}

export async function simulateReleases(rt: TfRuntime, cfg: ReleaseSimulationConfig = {}): Promise<ReleaseSimulation> {
  const worldConfig = resolveFeedbackWorldConfig({ ...RELEASE_WORLD_DEFAULTS, ...cfg.world });
  // The world of rounds 0, 1, 2 (preferences drift between rounds) and of the two lags after round 2.
  const world0 = makeFeedbackWorld(worldConfig);
  const world1 = driftUsers(world0, 0);
  const world2 = driftUsers(world1, 1);
  const { items: I, slateSize: L, seed } = worldConfig;
  const candidates = cfg.candidates ?? DEFAULT_CANDIDATES;
  if (candidates.length < 2) throw new RangeError('give at least two candidates');
  if (new Set(candidates.map((c) => c.name)).size !== candidates.length) throw new RangeError('two candidates have the same name');
  const dim = cfg.dim ?? 16;
  const estimators = parseEstimatorList(cfg.estimators ?? 'slate-ips,iips,rips');

  // Round 0: the uniform logger; the current model trains on it.
  const users0 = arrivals(world0, 0);
  const uniform = makeExploration({ kind: 'epsilon-greedy', epsilon: 1, name: 'uniform' }, I, L);
  const log0 = serve(world0, 0, users0, uniform, new Float64Array(users0.length * I)).log;
  const currentModel = createTwoTower(rt, { users: worldConfig.users, items: I, dim, epochs: 5, seed });
  const models: ReturnType<typeof createTwoTower>[] = [currentModel];
  try {
    await currentModel.train(log0, { round: 0 });
    const current = makeExploration({ kind: 'softmax', temperature: cfg.currentTemperature ?? 1, name: 'current' }, I, L);
    // Round 1: the current policy serves; its log trains the candidates.
    const users1 = arrivals(world1, 1);
    const log1 = serve(world1, 1, users1, current, Float64Array.from(scoreAll(currentModel, users1))).log;
    // Round 2: the evaluation log.
    const users2 = arrivals(world2, 2);
    const currentScores = Float64Array.from(scoreAll(currentModel, users2));
    const evalServed = serve(world2, 2, users2, current, currentScores);

    const policies: ExplorationPolicy[] = [];
    const scores: Float64Array[] = [];
    for (const c of candidates) {
      const model = createTwoTower(rt, { users: worldConfig.users, items: I, dim, epochs: c.epochs, loss: c.loss, seed });
      models.push(model);
      const train = c.window === 'all' ? concatLogs([log0, log1]) : log1;
      await model.train(train, { round: 1 });
      policies.push(makeExploration({ ...c.exploration, name: c.name }, I, L));
      scores.push(modelScores(model, users2, I, train, c.popularityPenalty));
    }

    // The evaluation log as slate-contract rows, every candidate a target.
    const n = users2.length;
    const builder = new SlateRowBuilder(current, policies);
    const rows = builder.newRows(n, { actionDist: false });
    const rowsRng = blockStream(seed, 'releases-rows', 2);
    for (let j = 0; j < n; j++) {
      builder.write(
        rows,
        j,
        j,
        evalServed.slates.subarray(j * L, (j + 1) * L),
        evalServed.clicks.subarray(j * L, (j + 1) * L),
        currentScores.subarray(j * I, (j + 1) * I),
        scores.map((s) => s.subarray(j * I, (j + 1) * I)),
        rowsRng,
      );
    }
    const names = candidates.map((c) => c.name);
    const evaluation = await evaluateStream([alignedOf(rows)], { estimators, policyNames: names, replicates: 0, rewardRange: [0, 1] });

    // True values (and the DR's model values) on round 2's arrivals, in round 2's world and in the
    // worlds one and two rounds of drift later (the lags). The policies are fixed: the same marginals.
    const marginals = new Float64Array(L * I);
    const rho = new Float64Array(I);
    const q = fitPositionItemModel([log0, log1], L, I);
    const worlds = [world2];
    for (let k = 1; k < RELEASE_LAGS_DAYS.length; k++) worlds.push(driftUsers(worlds[k - 1], 2 + k - 1));
    const trueValues = (policy: ExplorationPolicy, s: Float64Array, label: number, direct?: Float64Array): number[] => {
      const valueRng = blockStream(seed, 'releases-value', label);
      const sums = worlds.map(() => 0);
      for (let j = 0; j < n; j++) {
        policy.marginalsInto(s.subarray(j * I, (j + 1) * I), marginals, valueRng);
        worlds.forEach((w, k) => (sums[k] += policyValueFromMarginals(w, users2[j], marginals, rho)));
        if (direct !== undefined) direct[j] = directValue(marginals, q);
      }
      return sums.map((v) => v / n);
    };
    const currentTrue = trueValues(current, currentScores, 0);
    let observed = 0;
    for (let i = 0; i < evalServed.clicks.length; i++) observed += evalServed.clicks[i];
    observed /= n;
    const currentRanking = clickRankingMetrics(currentScores, I, L, evalServed.slates, evalServed.clicks);

    const out: ReleaseRow[] = [];
    const summaries = candidates.map((c, t) => {
      const direct = new Float64Array(n);
      const valuesTrue = trueValues(policies[t], scores[t], t + 1, direct);
      const valueTrue = valuesTrue[0];
      const estimates: Record<string, number> = { snips: slateSnips(rows, t).value, dr: slateDoublyRobust(rows, q, I, direct, t).value };
      for (const e of evaluation.estimates) if (e.policy === c.name) estimates[e.label] = e.value;
      const ranking = clickRankingMetrics(scores[t], I, L, evalServed.slates, evalServed.clicks);
      const offline: [string, number][] = [
        ...Object.entries(estimates).map(([metric, v]): [string, number] => [metric, v - observed]),
        [`recall@${L}`, ranking.recall - currentRanking.recall],
        [`ndcg@${L}`, ranking.ndcg - currentRanking.ndcg],
      ];
      RELEASE_LAGS_DAYS.forEach((lag, k) => {
        for (const [metric, d] of offline) out.push({ release_id: c.name, metric, delta_offline: d, delta_online: valuesTrue[k] - currentTrue[k], lag_days: lag });
      });
      return { name: c.name, valueTrue, estimates, recall: ranking.recall, ndcg: ranking.ndcg };
    });
    return { world: worldConfig, current: { valueTrue: currentTrue[0], valueObserved: observed, ...currentRanking }, candidates: summaries, rows: out };
  } finally {
    for (const m of models) m.dispose();
  }
}
