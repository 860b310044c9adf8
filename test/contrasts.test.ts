import { describe, expect, it } from 'vitest';
import { parseEstimatorList } from '../estimators/registry.js';
import { logBatchFromArrays, policyBatchFromArrays } from '../src/data/from-arrays.js';
import { evaluateStream } from '../src/engine/evaluate.js';
import type { AlignedBatch } from '../src/engine/reblock.js';
import { RandomStream } from '../simulators/random-streams.js';

/**
 * Paired differences candidate - baseline (issue 7; DESIGN.md §1: the same bootstrap weights for
 * both policies). Checked against direct computations on the rows.
 */

/** A log of n rows over K = 4 actions, uniform logger, and two targets that mostly agree (and a twin of the first). */
function makeLog(n: number, seed: number): { batch: AlignedBatch; w: [Float64Array, Float64Array]; reward: Float64Array } {
  const rs = new RandomStream(`contrasts-test:${seed}`);
  const K = 4;
  const action = new Int32Array(n);
  const reward = new Float64Array(n);
  const propensity = new Float64Array(n).fill(1 / K);
  const pc = new Float64Array(n);
  const pb = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    action[i] = Math.floor(rs.uniform() * K);
    reward[i] = rs.uniform() < 0.2 + 0.15 * action[i] ? 1 : 0;
    // both favour action 3 (0.7 and 0.6), so their estimates share most of their noise
    pc[i] = action[i] === 3 ? 0.7 : 0.1;
    pb[i] = action[i] === 3 ? 0.6 : action[i] === 2 ? 0.2 : 0.1;
  }
  const wc = Float64Array.from(pc, (p) => p * K);
  const wb = Float64Array.from(pb, (p) => p * K);
  const batch: AlignedBatch = {
    log: logBatchFromArrays({ action, reward, propensity }),
    policies: [policyBatchFromArrays({ targetPropensity: pc }), policyBatchFromArrays({ targetPropensity: pb }), policyBatchFromArrays({ targetPropensity: pc })],
  };
  return { batch, w: [wc, wb], reward };
}

describe('paired differences', () => {
  const n = 20_000;
  const { batch, w, reward } = makeLog(n, 1);
  const run = (replicates: number) =>
    evaluateStream([batch], {
      estimators: parseEstimatorList('ips,snips'),
      policyNames: ['cand', 'base', 'twin'],
      replicates,
      seed: 7,
      contrasts: [
        { candidate: 'cand', baseline: 'base' },
        { candidate: 'cand', baseline: 'twin' },
      ],
    });

  it('ips: the value is the difference of the estimates; the delta-method se is sd(d_i) / sqrt(n) of d_i = (w_c - w_b) r_i', async () => {
    const r = await run(0);
    const d = r.differences?.find((x) => x.baseline === 'base' && x.label === 'ips');
    const est = (p: string) => r.estimates.find((e) => e.policy === p && e.label === 'ips')?.value as number;
    expect(d?.value).toBeCloseTo(est('cand') - est('base'), 14);
    let mean = 0;
    for (let i = 0; i < n; i++) mean += (w[0][i] - w[1][i]) * reward[i];
    mean /= n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += ((w[0][i] - w[1][i]) * reward[i] - mean) ** 2;
    expect(d?.value).toBeCloseTo(mean, 12);
    expect(d?.se).toBeCloseTo(Math.sqrt(ss) / n, 12);
    expect(d?.seMethod).toBe('delta');
  });

  it('a policy against its twin: difference 0 with se 0 and a [0, 0] interval, in every replicate', async () => {
    const r = await run(200);
    for (const label of ['ips', 'snips']) {
      const d = r.differences?.find((x) => x.baseline === 'twin' && x.label === label);
      expect(d?.value).toBe(0);
      expect(d?.se).toBe(0);
      expect([d?.ci.lower, d?.ci.upper]).toEqual([0, 0]);
      expect(d?.replicates?.every((v) => v === 0)).toBe(true);
    }
  });

  it('bootstrap se of the difference agrees with the delta method (Monte Carlo error of B = 2000), and pairing beats treating the two as independent', async () => {
    const r = await run(2000);
    for (const label of ['ips', 'snips']) {
      const d = r.differences?.find((x) => x.baseline === 'base' && x.label === label);
      const delta = d?.intervals.normal as { lower: number; upper: number };
      const deltaSe = (delta.upper - delta.lower) / (2 * 1.959963984540054);
      // The sd of B = 2000 replicates has relative sd about 1 / sqrt(2 B) = 1.6%; 4 of them.
      expect(Math.abs((d?.se as number) / deltaSe - 1)).toBeLessThan(0.064);
      const seOf = (p: string) => r.estimates.find((e) => e.policy === p && e.label === label)?.se as number;
      // Both estimates move with the shared rewards, so the paired se is well below the unpaired one.
      expect(d?.se).toBeLessThan(0.9 * Math.sqrt(seOf('cand') ** 2 + seOf('base') ** 2));
      expect(d?.replicates).toHaveLength(2000);
    }
  });

  it('names an unknown policy and refuses a policy against itself', async () => {
    await expect(
      evaluateStream([batch], { estimators: parseEstimatorList('ips'), policyNames: ['cand', 'base', 'twin'], replicates: 0, contrasts: [{ candidate: 'cand', baseline: 'nope' }] }),
    ).rejects.toThrow(/no policy named 'nope'/);
    await expect(
      evaluateStream([batch], { estimators: parseEstimatorList('ips'), policyNames: ['cand', 'base', 'twin'], replicates: 0, contrasts: [{ candidate: 'cand', baseline: 'cand' }] }),
    ).rejects.toThrow(/against itself/);
  });
});
