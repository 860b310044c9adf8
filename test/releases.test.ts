import { beforeAll, describe, expect, it } from 'vitest';
import { loadTf, type TfRuntime } from '../src/tf/backend.js';
import { clickRankingMetrics, DEFAULT_CANDIDATES, RELEASE_LAGS_DAYS, simulateReleases } from '../simulators/releases.js';

/** Simulated releases for the predictive-validation protocol (issue 9, item 2). */

let rt: TfRuntime;
beforeAll(async () => {
  rt = await loadTf('wasm');
});

describe('clickRankingMetrics', () => {
  it('recall@L and nDCG@L of the top-L ranking against the clicked items, by hand', () => {
    // I = 4 items, L = 2. Slate 0 shows [0, 1], item 1 clicked; the scores rank [1, 2]: recall 1,
    // nDCG 1 (the click at rank 1). Slate 1 shows [2, 3], both clicked; the scores rank [0, 3]:
    // recall 1/2, DCG = 1/log2(3), ideal = 1 + 1/log2(3). Slate 2 has no click: not counted.
    const scores = Float64Array.from([0, 9, 5, 1, 7, 0, 1, 6, 3, 2, 1, 0]);
    const slates = Int32Array.from([0, 1, 2, 3, 0, 1]);
    const clicks = Float64Array.from([0, 1, 1, 1, 0, 0]);
    const m = clickRankingMetrics(scores, 4, 2, slates, clicks);
    const dcg1 = 1 / Math.log2(3) / (1 + 1 / Math.log2(3));
    expect(m.recall).toBeCloseTo((1 + 0.5) / 2, 14);
    expect(m.ndcg).toBeCloseTo((1 + dcg1) / 2, 14);
  });
});

describe('simulateReleases', () => {
  const small = { world: { users: 30, items: 20, dim: 4, slateSize: 4, usersPerRound: 90, preferenceDrift: 0.2, seed: 5 }, dim: 4 } as const;

  it('one row per (release, metric, lag); the online delta is shared by a release and lag; deterministic', async () => {
    const a = await simulateReleases(rt, small);
    const metrics = ['snips', 'dr', 'slate-ips', 'iips', 'rips', 'recall@4', 'ndcg@4'];
    expect(a.rows).toHaveLength(DEFAULT_CANDIDATES.length * metrics.length * RELEASE_LAGS_DAYS.length);
    expect(new Set(a.rows.map((r) => r.metric))).toEqual(new Set(metrics));
    for (const c of DEFAULT_CANDIDATES) {
      for (const lag of RELEASE_LAGS_DAYS) {
        const rows = a.rows.filter((r) => r.release_id === c.name && r.lag_days === lag);
        expect(rows).toHaveLength(metrics.length);
        expect(new Set(rows.map((r) => r.delta_online)).size).toBe(1);
        for (const r of rows) expect(Number.isFinite(r.delta_offline) && Number.isFinite(r.delta_online)).toBe(true);
      }
      // lag 0's online delta is the candidate's true value minus the current policy's
      const row0 = a.rows.find((r) => r.release_id === c.name && r.lag_days === 0);
      const cand = a.candidates.find((x) => x.name === c.name);
      expect(row0?.delta_online).toBeCloseTo((cand?.valueTrue as number) - a.current.valueTrue, 12);
    }
    // preferences drift: the later lags' online deltas differ from the immediate ones
    const lagged = a.rows.filter((r) => r.metric === 'dr');
    expect(lagged.some((r, i) => r.lag_days > 0 && r.delta_online !== lagged[i - r.lag_days / 7].delta_online)).toBe(true);
    const b = await simulateReleases(rt, small);
    expect(b.rows).toEqual(a.rows);
  });
});
