/**
 * Replay of adaptive policies (issue 8): evaluate a learning algorithm on a logged bandit dataset
 * as if it had been served online, learning only from the events it would have seen.
 *
 * Rejection replay (method 'rejection'; Li et al. 2011, Dudik et al. 2012): stream the log in
 * order; at event i ask the policy for pi(. | x_i) and accept by the rules of estimators/replay.ts
 * (uniform logger: draw a ~ pi, accept iff a = a_i; else accept with probability
 * pi(a_i | x_i) / (M mu_i)). Only accepted events update the policy. The accepted events are
 * draws from the candidate's online process, so the average reward per accepted event estimates
 * its online average reward over that many events. Costs one event in M (M = K for a uniform
 * logger).
 *
 * Every replay r draws one uniform per event from RandomStream(`replay:<seed>:<r>`), shared by all
 * policies of that replay (common random numbers: a comparison between policies is less noisy),
 * and builds a fresh policy per replay with seed mix(seed, r, policy index). The log is read once
 * for all policies and replays (plus a first pass for K, d and M).
 *
 * Queue replay (method 'queue'; Mandel, Liu, Brunskill & Popovic 2016, "Offline evaluation of
 * online reinforcement learning algorithms", queue-based replay): the log's events go into one
 * FIFO queue per (context, action), in log order. The replay presents the log's contexts in order;
 * at context x the policy samples a ~ pi(. | x) and takes the next unused event of queue (x, a),
 * learning from its reward; the replay stops the first time that queue is empty. Every event can
 * be used (no rejection), so it uses the data far better when acceptance would be low, and it
 * does not need propensities. What it needs, precisely:
 *   - contexts are i.i.d. draws from one distribution, and the sequence of contexts presented is
 *     independent of the contents of the queues (no drift, no dependence between events);
 *   - given (x, a), the logged rewards are i.i.d. and independent of the logger's choices (the
 *     logger decided on x alone), so the head of queue (x, a) is a fresh draw of r | x, a;
 *   - contexts are discrete (or absent): a queue holds the events of one exact context value. With
 *     continuous contexts every queue has one event and the replay stops almost at once.
 * Under these it is unbiased for the candidate's online process up to the (random) stopping time;
 * like rejection replay, longer runs need more data of the actions the candidate prefers.
 */
import type { LogBatch } from '../data/batch.js';
import { InputError, UsageError } from '../data/errors.js';
import { poissonWeight } from '../stats/hash.js';
import { normalQuantile } from '../stats/normal.js';
import { quantileSorted, sampleSd } from '../stats/quantile.js';
import { RandomStream } from '../../simulators/random-streams.js';
import { acceptanceProbability, defaultMaxRatio, sampleFromDistribution, uniformLoggerAccepts, violatesMaxRatio } from '../../estimators/replay.js';
import type { ReplayPolicy, ReplayPolicySpec } from './policy.js';

export type ReplayMethod = 'rejection' | 'queue';
export const REPLAY_METHODS: readonly ReplayMethod[] = ['rejection', 'queue'];

/** Anything whose batches can be read (twice): a LogSource from openLog, or batches in memory. */
export interface ReplayLog {
  readonly path?: string;
  batches(): AsyncIterable<LogBatch>;
}

export interface ReplayOptions {
  readonly policies: readonly ReplayPolicySpec[];
  /** Replays with different seeds (default 20). */
  readonly replays?: number;
  readonly seed?: number;
  readonly method?: ReplayMethod;
  /** M of the rejection rule; default max_i 1 / mu_i over the log (or K for a uniform logger). */
  readonly maxRatio?: number;
  /** K; default max logged action + 1. */
  readonly actions?: number;
  /**
   * 'poisson' (default, rejection method): replay r weighs each accepted event i by
   * W_ir ~ Poisson(1), the toolkit's bootstrap weight of (seed, request or row, r), in its average
   * reward sum W r / sum W (a Poisson bootstrap of the rewards of the accepted events; Hanley &
   * MacGibbon 2006): the replays then differ by the log's reward noise as well as by their own
   * draws, so their spread is an honest standard error, also for a deterministic learner on a
   * uniform log (whose replays of one log are all identical). The learner itself sees every event
   * once: presenting W copies instead (a resampled log, Nicol, Mary & Preux 2014) makes a learner
   * accept the copies of one event together and inflates the spread by about sqrt(2) (measured
   * here: 1.4 to 2.3 times the sd of online runs). 'none': plain averages; the interval covers the
   * replay's own randomness only.
   */
  readonly resample?: 'poisson' | 'none';
  /** Bootstrap resamples of the replay means (default 2000) and the interval's alpha (default 0.05). */
  readonly bootstrap?: number;
  readonly alpha?: number;
  /** Called after each batch with the rows read in the replay pass. */
  readonly onProgress?: (rows: number) => void;
}

export interface LogSummary {
  readonly n: number;
  readonly K: number;
  readonly d: number;
  readonly minPropensity: number;
  readonly maxPropensity: number;
  /** Every propensity is 1/K (to 1e-9 relative): Li et al.'s rule applies. */
  readonly uniformLogger: boolean;
  /** Sum of rewards (the logger's average reward is sum / n). */
  readonly rewardSum: number;
}

export interface ReplayRun {
  readonly replay: number;
  /** Events the policy was credited with (accepted, or taken from a queue). */
  readonly accepted: number;
  readonly rewardSum: number;
  /** Average reward per accepted event (NaN when none). */
  readonly mean: number;
  /** accepted / n. */
  readonly acceptanceRate: number;
  /** Rejection: events with pi / mu > M (acceptance capped at 1, biased). */
  readonly violations: number;
  /** Cumulative reward after each accepted event (length `accepted`). */
  readonly cumulative: Float64Array;
}

export interface PolicyReplayResult {
  readonly label: string;
  readonly runs: readonly ReplayRun[];
  /** Mean over replays of the replays' average reward per accepted event. */
  readonly value: number;
  /**
   * Percentile bootstrap over the replay means: the spread due to the replay's own randomness
   * (which events are accepted, the policy's internal draws) on this one log. It does not include
   * the sampling variance of the log itself, shared by every replay (for rejection replay that part
   * is small when acceptance is low, since two replays then share few accepted events).
   */
  readonly interval: { readonly lower: number; readonly upper: number; readonly alpha: number; readonly method: string };
  /** Standard deviation of the replay means (with log resampling: the standard error of one replay's estimate). */
  readonly sd: number;
  readonly meanAccepted: number;
  readonly acceptanceRate: number;
  readonly violations: number;
}

export interface ReplayResult {
  readonly method: ReplayMethod;
  readonly log: LogSummary;
  readonly maxRatio: number;
  readonly maxRatioSource: string;
  readonly replays: number;
  readonly seed: number;
  readonly bootstrap: number;
  /** Whether every replay resampled the log (ReplayOptions.resample). */
  readonly resampled: boolean;
  /** Queue method: distinct contexts found. */
  readonly distinctContexts?: number;
  readonly policies: readonly PolicyReplayResult[];
}

/** First pass: K, d, the propensity range and whether the logger is uniform. */
export async function summarizeLog(log: ReplayLog, actions?: number): Promise<LogSummary> {
  let n = 0;
  let maxAction = -1;
  let d = -1;
  let minP = Infinity;
  let maxP = -Infinity;
  let rewardSum = 0;
  for await (const b of log.batches()) {
    const w = b.context?.width ?? 0;
    if (d === -1) d = w;
    else if (w !== d) throw new InputError(`context width changes from ${d} to ${w}`, { file: log.path ?? b.source, column: 'context', row: b.rowOffset });
    for (let i = 0; i < b.n; i++) {
      const a = b.action[i];
      if (a < 0) throw new InputError(`action ${a} is negative; replay needs integer actions 0..K-1`, { file: b.source, column: 'action', row: b.rowOffset + i });
      if (a > maxAction) maxAction = a;
      const p = b.propensity[i];
      if (p < minP) minP = p;
      if (p > maxP) maxP = p;
      const r = b.reward[i];
      if (!Number.isFinite(r)) throw new InputError(`reward ${r} is not finite`, { file: b.source, column: 'reward', row: b.rowOffset + i });
      rewardSum += r;
    }
    n += b.n;
  }
  if (n === 0) throw new InputError('no rows', { file: log.path });
  const K = actions ?? maxAction + 1;
  if (maxAction >= K) throw new UsageError(`--actions ${K} is too small: the log has action ${maxAction}`);
  if (K < 2) throw new InputError(`replay needs at least 2 actions; the log has only action 0`, { file: log.path, column: 'action' });
  const uniformLogger = Math.abs(minP * K - 1) < 1e-9 && Math.abs(maxP * K - 1) < 1e-9;
  return { n, K, d, minPropensity: minP, maxPropensity: maxP, uniformLogger, rewardSum };
}

/** A 32-bit mix of (seed, replay, policy) for each policy instance's own seed. */
export function policySeed(seed: number, replay: number, policy: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [replay, policy]) {
    h = Math.imul(h ^ (v + 0x7f4a7c15), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

class Growable {
  a = new Float64Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  done(): Float64Array {
    return this.a.slice(0, this.n);
  }
}

interface RunState {
  readonly policy: ReplayPolicy;
  accepted: number;
  rewardSum: number;
  /** Poisson-weighted reward and weight sums of the accepted events (resampled replays). */
  weightedSum: number;
  weightSum: number;
  violations: number;
  readonly curve: Growable;
}

function checkOptions(opts: ReplayOptions): { replays: number; seed: number; method: ReplayMethod; bootstrap: number; alpha: number } {
  const replays = opts.replays ?? 20;
  const seed = opts.seed ?? 12345;
  const method = opts.method ?? 'rejection';
  const bootstrap = opts.bootstrap ?? 2000;
  const alpha = opts.alpha ?? 0.05;
  if (opts.policies.length === 0) throw new UsageError('replay needs at least one policy');
  const labels = new Set<string>();
  for (const p of opts.policies) {
    if (labels.has(p.label)) throw new UsageError(`the policy '${p.label}' is given twice`);
    labels.add(p.label);
  }
  if (!(Number.isInteger(replays) && replays >= 1)) throw new UsageError(`replays must be a whole number >= 1, got ${replays}`);
  if (!REPLAY_METHODS.includes(method)) throw new UsageError(`method must be rejection or queue, got '${String(method)}'`);
  if (opts.resample !== undefined && opts.resample !== 'poisson' && opts.resample !== 'none') throw new UsageError(`resample must be poisson or none, got '${String(opts.resample)}'`);
  if (opts.maxRatio !== undefined && !(opts.maxRatio >= 1 && Number.isFinite(opts.maxRatio))) throw new UsageError(`max ratio M must be a finite number >= 1, got ${opts.maxRatio}`);
  if (!(alpha > 0 && alpha < 1)) throw new UsageError(`alpha must be in (0, 1), got ${alpha}`);
  if (!(Number.isInteger(bootstrap) && bootstrap >= 0)) throw new UsageError(`bootstrap must be a whole number >= 0, got ${bootstrap}`);
  return { replays, seed, method, bootstrap, alpha };
}

/** Replays every policy R times on the log; see the file comment for the two methods. */
export async function replayLog(log: ReplayLog, opts: ReplayOptions): Promise<ReplayResult> {
  const { replays, seed, method, bootstrap, alpha } = checkOptions(opts);
  const summary = await summarizeLog(log, opts.actions);
  const { K, d } = summary;
  const runs: RunState[][] = opts.policies.map((spec, p) =>
    Array.from({ length: replays }, (_, r) => ({ policy: spec.factory(K, d, policySeed(seed, r, p)), accepted: 0, rewardSum: 0, weightedSum: 0, weightSum: 0, violations: 0, curve: new Growable() })),
  );
  // The queue method keeps each event once: its queues are the log itself.
  const resampled = method === 'rejection' && (opts.resample ?? 'poisson') === 'poisson';
  let maxRatio: number;
  let maxRatioSource: string;
  let distinctContexts: number | undefined;
  if (method === 'rejection') {
    if (opts.maxRatio !== undefined) {
      maxRatio = opts.maxRatio;
      maxRatioSource = 'given (--max-ratio)';
    } else {
      maxRatio = defaultMaxRatio(summary.minPropensity);
      maxRatioSource = summary.uniformLogger
        ? 'uniform logger: M = K (Li et al. 2011: draw from pi, accept iff it is the logged action)'
        : 'max over the log of 1 / propensity (bounds pi / mu since pi <= 1)';
    }
    await rejectionPass(log, opts, summary, runs, maxRatio, seed, summary.uniformLogger && opts.maxRatio === undefined, resampled);
  } else {
    maxRatio = NaN;
    maxRatioSource = 'not used by the queue method';
    for (const spec of opts.policies)
      if (spec.loggedActionOnly === true) throw new UsageError(`the queue method samples the policy's action: '${spec.label}' needs action_dist, not target_propensity only`);
    distinctContexts = await queuePass(log, opts, summary, runs, seed);
  }
  const policies = opts.policies.map((spec, p) => {
    const done: ReplayRun[] = runs[p].map((s, r) => ({
      replay: r,
      accepted: s.accepted,
      rewardSum: s.rewardSum,
      mean: resampled ? (s.weightSum > 0 ? s.weightedSum / s.weightSum : NaN) : s.accepted > 0 ? s.rewardSum / s.accepted : NaN,
      acceptanceRate: s.accepted / summary.n,
      violations: s.violations,
      cumulative: s.curve.done(),
    }));
    return summarizePolicy(spec.label, done, seed, p, bootstrap, alpha, resampled);
  });
  return { method, log: summary, maxRatio, maxRatioSource, replays, seed, bootstrap, resampled, distinctContexts, policies };
}

/**
 * Value (the mean of the replay means), its interval and the tallies of one policy. With Poisson
 * weights each replay mean is one bootstrap draw of the estimate (reward noise and replay noise),
 * so the interval is value +- z sd(replay means), a normal bootstrap interval (slightly
 * conservative: averaging replays shrinks their own noise, not the log's). Without, a percentile
 * bootstrap of the mean over the replay means (the replay's own randomness only).
 */
export function summarizePolicy(label: string, runs: readonly ReplayRun[], seed: number, policyIndex: number, bootstrap: number, alpha: number, resampled = false): PolicyReplayResult {
  const means = runs.map((r) => r.mean).filter((m) => Number.isFinite(m));
  const R = means.length;
  const value = R > 0 ? means.reduce((s, m) => s + m, 0) / R : NaN;
  const sd = R >= 2 ? sampleSd(means) : NaN;
  let lower = NaN;
  let upper = NaN;
  let method = 'percentile bootstrap over replays';
  if (resampled) {
    const z = normalQuantile(1 - alpha / 2);
    lower = value - z * sd;
    upper = value + z * sd;
    method = 'normal, sd of Poisson-weighted replays';
  } else if (R >= 2 && bootstrap > 0) {
    const rng = new RandomStream(`replay-bootstrap:${seed}:${policyIndex}`);
    const boot = new Float64Array(bootstrap);
    for (let b = 0; b < bootstrap; b++) {
      let s = 0;
      for (let k = 0; k < R; k++) s += means[Math.floor(rng.uniform() * R)];
      boot[b] = s / R;
    }
    boot.sort();
    lower = quantileSorted(boot, alpha / 2);
    upper = quantileSorted(boot, 1 - alpha / 2);
  }
  const total = runs.reduce((s, r) => s + r.accepted, 0);
  return {
    label,
    runs,
    value,
    interval: { lower, upper, alpha, method },
    sd,
    meanAccepted: total / runs.length,
    acceptanceRate: runs.reduce((s, r) => s + r.acceptanceRate, 0) / runs.length,
    violations: runs.reduce((s, r) => s + r.violations, 0),
  };
}

async function rejectionPass(log: ReplayLog, opts: ReplayOptions, summary: LogSummary, runs: RunState[][], M: number, seed: number, literal: boolean, resampled: boolean): Promise<void> {
  const { K, d } = summary;
  const R = runs[0].length;
  const streams = Array.from({ length: R }, (_, r) => new RandomStream(`replay:${seed}:${r}`));
  const x = new Float64Array(d);
  let rows = 0;
  for await (const b of log.batches()) {
    const ctx = b.context?.values;
    for (let i = 0; i < b.n; i++) {
      const row = b.rowOffset + i;
      if (ctx !== undefined) for (let j = 0; j < d; j++) x[j] = ctx[i * d + j];
      const a = b.action[i];
      const mu = b.propensity[i];
      const reward = b.reward[i];
      const key = b.clusterKey !== undefined ? b.clusterKey[i] : row;
      for (let r = 0; r < R; r++) {
        // One uniform per event and replay, shared by the replay's policies (common random numbers).
        const u = streams[r].uniform();
        // The event's bootstrap weight in replay r (resampled replays), drawn only when accepted.
        let w = -1;
        for (const perPolicy of runs) {
          const s = perPolicy[r];
          const dist = s.policy.act(x, row);
          const pi = dist[a];
          let accept: boolean;
          if (literal) accept = uniformLoggerAccepts(dist, K, a, u);
          else {
            if (violatesMaxRatio(pi, mu, M)) s.violations++;
            accept = u < acceptanceProbability(pi, mu, M);
          }
          if (!accept) continue;
          s.accepted++;
          s.rewardSum += reward;
          if (resampled) {
            if (w < 0) w = poissonWeight(seed, key, r);
            s.weightedSum += w * reward;
            s.weightSum += w;
          }
          s.curve.push(s.rewardSum);
          s.policy.update(x, a, reward);
        }
      }
    }
    rows += b.n;
    opts.onProgress?.(rows);
  }
}

/** Loads the log into per-(context, action) queues and runs every (policy, replay); returns the distinct context count. */
async function queuePass(log: ReplayLog, opts: ReplayOptions, summary: LogSummary, runs: RunState[][], seed: number): Promise<number> {
  const { n, K, d } = summary;
  const action = new Int32Array(n);
  const reward = new Float64Array(n);
  const ctxId = new Int32Array(n);
  const ids = new Map<string, number>();
  const contexts: Float64Array[] = [];
  let o = 0;
  for await (const b of log.batches()) {
    const ctx = b.context?.values;
    for (let i = 0; i < b.n; i++, o++) {
      action[o] = b.action[i];
      reward[o] = b.reward[i];
      if (d === 0 || ctx === undefined) {
        if (contexts.length === 0) contexts.push(new Float64Array(0));
        ctxId[o] = 0;
        continue;
      }
      const xs = ctx.subarray(i * d, i * d + d);
      const key = xs.join(',');
      let id = ids.get(key);
      if (id === undefined) {
        id = contexts.length;
        ids.set(key, id);
        contexts.push(Float64Array.from(xs));
        if (contexts.length * K > 50_000_000) throw new UsageError(`the queue method needs discrete contexts: over ${contexts.length} distinct contexts after ${o + 1} rows (use --method rejection)`);
      }
      ctxId[o] = id;
    }
    opts.onProgress?.(o);
  }
  const C = contexts.length;
  // Counting sort of the events by queue key c*K + a, stable (log order within a queue).
  const start = new Int32Array(C * K + 1);
  for (let i = 0; i < n; i++) start[ctxId[i] * K + action[i] + 1]++;
  for (let k = 0; k < C * K; k++) start[k + 1] += start[k];
  const order = new Int32Array(n);
  const fill = start.slice(0, C * K);
  for (let i = 0; i < n; i++) order[fill[ctxId[i] * K + action[i]]++] = i;
  const cursor = new Int32Array(C * K);
  runs.forEach((perPolicy) =>
    perPolicy.forEach((s, r) => {
      cursor.fill(0);
      const rng = new RandomStream(`replay-queue:${seed}:${r}`);
      for (let t = 0; t < n; t++) {
        const c = ctxId[t];
        const x = contexts[c];
        const a = sampleFromDistribution(s.policy.act(x, t), K, rng.uniform());
        const q = c * K + a;
        if (start[q] + cursor[q] >= start[q + 1]) break;
        const j = order[start[q] + cursor[q]++];
        s.accepted++;
        s.rewardSum += reward[j];
        s.curve.push(s.rewardSum);
        s.policy.update(x, a, reward[j]);
      }
    }),
  );
  return C;
}

/**
 * Accepted-event indices (1-based) at which to report a curve of up to `max` events: every event
 * when points <= 0 or max <= points, else `points` evenly spaced indices ending at max.
 */
export function curveGrid(max: number, points: number): number[] {
  if (max <= 0) return [];
  if (points <= 0 || max <= points) return Array.from({ length: max }, (_, k) => k + 1);
  const out: number[] = [];
  for (let k = 1; k <= points; k++) {
    const v = Math.round((k * max) / points);
    if (v >= 1 && (out.length === 0 || v > out[out.length - 1])) out.push(v);
  }
  return out;
}
