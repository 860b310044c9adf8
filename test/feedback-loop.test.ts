import { beforeAll, describe, expect, it } from 'vitest';
import { loadTf, type TfRuntime } from '../src/tf/backend.js';
import {
  resolveScenario,
  runFeedbackLoop,
  trainingLogOf,
  type FeedbackLoopCheckpoint,
  type FeedbackLoopResult,
  type FeedbackRoundMetrics,
  type FeedbackRoundRows,
  type FeedbackTrainingLog,
} from '../simulators/feedback-loop.js';

let rt: TfRuntime;
/** A small world for fast loops (the default is issue 6's 1,000 x 1,000, L = 10: bench/). */
const SMALL = { world: { users: 400, items: 200, dim: 16, slateSize: 5 }, model: { dim: 16 } } as const;
/** The default configuration (small world, 10 rounds, topk and softmax), run once and shared. */
let first: FeedbackLoopResult;
const firstRows: FeedbackRoundRows[] = [];

beforeAll(async () => {
  rt = await loadTf('wasm');
  first = await runFeedbackLoop(rt, { ...SMALL, rounds: 10, scenarios: ['topk', 'softmax'] }, { onRound: (r) => void firstRows.push(r) });
});

/** Every number of every record, in order, as the bytes of float64s (NaN payloads and -0 included). */
function metricBits(ms: readonly FeedbackRoundMetrics[]): { keys: string[]; bits: Buffer } {
  const keys: string[] = [];
  const values: number[] = [];
  for (const m of ms) {
    for (const [k, v] of Object.entries(m)) {
      keys.push(`${m.scenario}/${m.round}/${k}`);
      if (typeof v === 'number') values.push(v);
    }
  }
  return { keys, bits: Buffer.from(Float64Array.from(values).buffer) };
}

const SERVED: readonly (keyof FeedbackRoundMetrics)[] = [
  'ctr_true',
  'ctr_oracle',
  'utility_true',
  'utility_oracle',
  'regret',
  'clicks',
  'coverage_at_k',
  'gini',
  'entropy',
  'arp',
  'long_tail_share',
  'popularity_lift',
  'homogenization',
];

describe('feedback loop', () => {
  it('has every column of the issue for every (scenario, round)', () => {
    expect(first.metrics).toHaveLength(20);
    expect(first.metrics.map((m) => `${m.scenario}:${m.round}`)).toEqual(Array.from({ length: 10 }, (_, r) => [`topk:${r}`, `softmax:${r}`]).flat());
    for (const m of first.metrics) {
      for (const k of [...SERVED, 'value_next_true', 'value_next_snips', 'value_next_dr', 'value_next_slate-ips', 'value_next_iips', 'value_next_rips'] as const) expect(m).toHaveProperty(k);
      expect(m.ctr_true).toBeGreaterThan(0);
      expect(m.ctr_true).toBeLessThanOrEqual(m.ctr_oracle);
      expect(m.regret).toBeCloseTo(m.utility_oracle - m.utility_true, 12);
      expect(m.ctr_true).toBeCloseTo(m.utility_true / 5, 12);
      expect(Number.isFinite(m.value_next_true)).toBe(true);
    }
    expect(first.config.estimators).toEqual(['snips', 'dr', 'slate-ips', 'iips', 'rips']);
  });

  it('same seed and backend: the same metrics, bit for bit', async () => {
    const again = await runFeedbackLoop(rt, { ...SMALL, rounds: 10, scenarios: ['topk', 'softmax'] });
    const a = metricBits(first.metrics);
    const b = metricBits(again.metrics);
    expect(b.keys).toEqual(a.keys);
    expect(b.bits.equals(a.bits)).toBe(true);
    // And a different seed gives a different run (the comparison can fail).
    const other = await runFeedbackLoop(rt, { ...SMALL, rounds: 2, world: { ...SMALL.world, seed: 7 }, scenarios: ['topk', 'softmax'] });
    expect(other.metrics[0].ctr_true).not.toBe(first.metrics[0].ctr_true);
  });

  it('common random numbers: the same arrivals everywhere, and round 0 (the shared logger) identical across scenarios', () => {
    expect(firstRows).toHaveLength(20);
    for (let r = 0; r < 10; r++) {
      const [topk, softmax] = [firstRows[2 * r], firstRows[2 * r + 1]];
      expect([topk.scenario, softmax.scenario, topk.round, softmax.round]).toEqual(['topk', 'softmax', r, r]);
      expect(softmax.users).toEqual(topk.users);
    }
    const [t0, s0] = [firstRows[0].rows, firstRows[1].rows];
    expect(s0.action).toEqual(t0.action);
    expect(s0.reward).toEqual(t0.reward);
    expect(s0.propensity).toEqual(t0.propensity);
    expect(s0.propensityItemPosition).toEqual(t0.propensityItemPosition);
    const [m0t, m0s] = [first.metrics[0], first.metrics[1]];
    for (const k of SERVED) expect(Object.is(m0s[k], m0t[k]), String(k)).toBe(true);
    // Later rounds differ: the scenarios' policies take over.
    expect(firstRows[3].rows.action).not.toEqual(firstRows[2].rows.action);
  });

  it('Chaney / Mansoury: after 10 rounds top-K concentrates exposure (higher Gini, lower coverage) more than softmax exploration', () => {
    const last = (s: string) => first.metrics.find((m) => m.scenario === s && m.round === 9) as FeedbackRoundMetrics;
    const topk = last('topk');
    const softmax = last('softmax');
    expect(topk.gini).toBeGreaterThan(softmax.gini + 0.1);
    expect(topk.coverage_at_k).toBeLessThan(softmax.coverage_at_k - 0.1);
    // Both start from the same uniform round 0, and top-K's Gini rises from it.
    expect(first.metrics[0].gini).toBe(first.metrics[1].gini);
    expect(topk.gini).toBeGreaterThan(first.metrics[0].gini + 0.3);
    expect(topk.homogenization).toBeGreaterThan(softmax.homogenization);
  });

  it('OPE of the next policy: finite estimates; slate-ips on an independent softmax log within 4 se of the truth in most rounds', async () => {
    for (const m of first.metrics.filter((x) => x.scenario === 'softmax')) {
      for (const e of ['slate-ips', 'iips', 'rips', 'dr']) {
        expect(Number.isFinite(m[`value_next_${e}`]), e).toBe(true);
        expect(Number.isFinite(m[`value_next_${e}_se`]), e).toBe(true);
      }
      expect(Number.isFinite(m.value_next_snips)).toBe(true);
    }
    // A small catalog keeps the joint slate weights tame; the holdout log is one the next policy was
    // not trained on (on the training log itself the estimate is optimistic, see feedback-loop.ts).
    const softmax = { ...resolveScenario('softmax'), exploration: { kind: 'softmax' as const, temperature: 1 } };
    const run = await runFeedbackLoop(rt, { ...SMALL, rounds: 6, world: { users: 400, items: 50, dim: 16, seed: 3 }, slateSize: 3, opeOn: 'holdout', scenarios: [softmax] });
    const zOf = (m: FeedbackRoundMetrics) => (m['value_next_slate-ips'] - m.value_next_true) / m['value_next_slate-ips_se'];
    const zs = run.metrics.map(zOf);
    for (const z of zs) expect(Number.isFinite(z)).toBe(true);
    expect(zs.filter((z) => Math.abs(z) <= 4).length).toBeGreaterThanOrEqual(5);
    // No systematic bias across rounds either.
    expect(Math.abs(zs.reduce((a, b) => a + b, 0) / zs.length)).toBeLessThan(2);
    // DR (item-position weights, position-based reward model) is unbiased in this position-based
    // world: the same check.
    const zDr = run.metrics.map((m) => (m.value_next_dr - m.value_next_true) / m.value_next_dr_se);
    expect(zDr.filter((z) => Math.abs(z) <= 4).length).toBeGreaterThanOrEqual(5);
    expect(Math.abs(zDr.reduce((a, b) => a + b, 0) / zDr.length)).toBeLessThan(2);
    // On the training log itself (the default) the same estimator is optimistic: the next policy
    // learned this log's clicks, so its weights are high exactly where the clicks are.
    const inSample = await runFeedbackLoop(rt, { ...SMALL, rounds: 6, world: { users: 400, items: 50, dim: 16, seed: 3 }, slateSize: 3, scenarios: [softmax] });
    const zIn = inSample.metrics.map(zOf);
    expect(zIn.reduce((a, b) => a + b, 0) / zIn.length).toBeGreaterThan(2);
  });

  it('results do not depend on how many arrivals are scored at once', async () => {
    const cfg = { ...SMALL, rounds: 3, scenarios: ['topk', 'softmax', 'popularity-debiased'] as const, opeOn: 'holdout' as const };
    const a = await runFeedbackLoop(rt, { ...cfg, scenarios: [...cfg.scenarios] });
    const b = await runFeedbackLoop(rt, { ...cfg, scenarios: [...cfg.scenarios] }, { chunkUsers: 7 });
    expect(metricBits(b.metrics).bits.equals(metricBits(a.metrics).bits)).toBe(true);
  });

  it('resumes from a checkpoint: the same metrics and logs as an uninterrupted run, bit for bit', async () => {
    const cfg = { ...SMALL, rounds: 5, scenarios: ['topk', 'softmax', 'topk-window'] as ('topk' | 'softmax' | 'topk-window')[], opeOn: 'holdout' as const };
    const history = new Map<string, FeedbackTrainingLog>();
    const straightRows: FeedbackRoundRows[] = [];
    let saved: FeedbackLoopCheckpoint | undefined;
    const straight = await runFeedbackLoop(rt, cfg, {
      onRound: (r) => {
        history.set(`${r.scenario}/${r.round}`, trainingLogOf(r));
        straightRows.push(r);
      },
      onCheckpoint: (cp) => {
        if (cp.rounds === 2) saved = cp;
      },
    });
    expect(saved?.rounds).toBe(2);
    expect(saved?.metrics).toHaveLength(6);
    const resumedRows: FeedbackRoundRows[] = [];
    const resumed = await runFeedbackLoop(rt, cfg, {
      resume: { checkpoint: saved as FeedbackLoopCheckpoint, history: async (s, r) => history.get(`${s}/${r}`) as FeedbackTrainingLog },
      onRound: (r) => void resumedRows.push(r),
    });
    expect(resumed.metrics).toHaveLength(15);
    expect(metricBits(resumed.metrics).bits.equals(metricBits(straight.metrics).bits)).toBe(true);
    expect(resumedRows.map((r) => `${r.scenario}/${r.round}`)).toEqual(straightRows.slice(6).map((r) => `${r.scenario}/${r.round}`));
    resumedRows.forEach((r, i) => {
      const s = straightRows[6 + i].rows;
      expect(r.rows.action).toEqual(s.action);
      expect(Buffer.from(r.rows.propensity.buffer).equals(Buffer.from(s.propensity.buffer))).toBe(true);
      expect(Buffer.from(r.rows.targets[0].targetPropensityItemPositions.buffer).equals(Buffer.from(s.targets[0].targetPropensityItemPositions.buffer))).toBe(true);
    });
    // A checkpoint of another run does not fit: a scenario without a model is refused.
    await expect(
      runFeedbackLoop(rt, { ...cfg, scenarios: ['epsilon-greedy'] }, { resume: { checkpoint: saved as FeedbackLoopCheckpoint, history: async () => trainingLogOf(straightRows[0]) } }),
    ).rejects.toThrow(/no model of scenario 'epsilon-greedy'/);
  });

  it('baselines: the oracle has regret 0 exactly; uniform covers the catalog; most-popular concentrates on what its own logs made popular', async () => {
    const run = await runFeedbackLoop(rt, { ...SMALL, rounds: 4, scenarios: ['oracle', 'uniform', 'most-popular'] });
    for (const m of run.metrics.filter((x) => x.round > 0)) {
      if (m.scenario === 'oracle') {
        expect(m.utility_true).toBe(m.utility_oracle);
        expect(m.regret).toBe(0);
      }
      expect(Number.isNaN(m.train_loss)).toBe(true); // no model
    }
    const last = (s: string) => run.metrics.find((m) => m.scenario === s && m.round === 3) as FeedbackRoundMetrics;
    // 400 users x 5 uniform draws from 200 items: P(an item is never shown) = (1 - 5/200)^400 = 4e-5.
    expect(last('uniform').coverage_at_k).toBeGreaterThan(0.99);
    // most-popular shows one slate to everyone: coverage 5/200, homogenization 1.
    expect(last('most-popular').coverage_at_k).toBe(5 / 200);
    expect(last('most-popular').homogenization).toBe(1);
    expect(last('uniform').ctr_true).toBeLessThan(last('oracle').ctr_true);
  });

  it("actionDist: the next policy's per-position action_dist rows are distributions consistent with its cascade propensities", async () => {
    const rows: FeedbackRoundRows[] = [];
    await runFeedbackLoop(rt, { ...SMALL, world: { ...SMALL.world, users: 50, items: 30 }, rounds: 2, scenarios: ['softmax'], actionDist: true }, { onRound: (r) => void rows.push(r) });
    const r = rows[1].rows;
    const t = r.targets[0];
    const dist = t.actionDist as Float64Array;
    expect(dist).toHaveLength(r.rows * 30);
    for (let i = 0; i < r.rows; i++) {
      let sum = 0;
      for (let a = 0; a < 30; a++) sum += dist[i * 30 + a];
      expect(sum).toBeCloseTo(1, 12);
      // P(the logged item at slot k | the slate's items before k) = cascade_k / cascade_{k-1}
      const k = r.position[i];
      const conditional = k === 0 ? t.targetPropensityCascade[i] : t.targetPropensityCascade[i] / t.targetPropensityCascade[i - 1];
      expect(dist[i * 30 + r.action[i]]).toBeCloseTo(conditional, 12);
    }
  });
});
