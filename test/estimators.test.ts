import { describe, expect, it } from 'vitest';
import { evaluateStream } from '../src/engine/evaluate.js';
import { parseEstimatorList, parseEstimatorSpec } from '../estimators/registry.js';
import { logBatchFromArrays, policyBatchFromArrays } from '../src/data/from-arrays.js';
import type { AlignedBatch } from '../src/engine/reblock.js';
import { TINY, randomAligned, tinyAligned } from './helpers/tiny-log.js';

async function values(batches: AlignedBatch[], spec: string): Promise<Record<string, number>> {
  const r = await evaluateStream(batches, { estimators: parseEstimatorList(spec), policyNames: ['t'], replicates: 0, ci: 'normal' });
  return Object.fromEntries(r.estimates.map((e) => [e.label, e.value]));
}

describe('bandit estimators on a 4-row log computed by hand', () => {
  // Expected values computed independently (Python, straight from the formulas in DESIGN.md §3).
  const expected: Record<string, number> = {
    ips: 1.4333333333333333, // (0.4 + 0 + 4 + 4/3) / 4
    snips: 0.6417910447761194, // 5.7333 / 8.9333
    'clipped-ips:clip=2': 0.9333333333333333, // (0.4 + 0 + 2 + 4/3) / 4
    'sg-ips:lambda=0.5': 0.8285714285714287, // w / (0.5 + 0.5 w) r
    dm: 0.4775000000000001, // (0.31 + 0.4 + 0.9 + 0.3) / 4
    dr: 0.5408333333333333,
    sndr: 0.5058582089552239,
    'switch-dr:tau=2': 0.7608333333333333, // rows with w <= 2 keep the correction
    'dr-os:lambda=1': 0.5820160503273588,
  };
  it('matches every hand-computed value to 1e-12 relative', async () => {
    const got = await values(tinyAligned(), Object.keys(expected).join(','));
    for (const [label, v] of Object.entries(expected)) {
      expect(got[label], label).toBeCloseTo(v, 12);
      expect(Math.abs(got[label] - v) / Math.abs(v), label).toBeLessThan(1e-12);
    }
  });

  it('scalar inputs (target_propensity, q_hat_logged, q_hat_target) give identical results to lists', async () => {
    const w = TINY.action.map((a, i) => TINY.actionDist[i][a]);
    const qLogged = TINY.action.map((a, i) => TINY.qHat[i][a]);
    const qTarget = TINY.qHat.map((q, i) => q.reduce((s, v, a) => s + v * TINY.actionDist[i][a], 0));
    const log = logBatchFromArrays({ action: TINY.action, reward: TINY.reward, propensity: TINY.propensity, qHatLogged: qLogged });
    const pol = policyBatchFromArrays({ targetPropensity: w, qHatTarget: qTarget });
    const all = Object.keys(expected).join(',');
    expect(await values([{ log, policies: [pol] }], all)).toEqual(await values(tinyAligned(), all));
  });
});

describe('invariants', () => {
  const big = randomAligned(3000, 5, 7);
  const batches = (): AlignedBatch[] => [{ log: logBatchFromArrays(big.log), policies: [policyBatchFromArrays({ actionDist: big.dist })] }];

  it('SNIPS equals IPS when the weights average exactly 1', async () => {
    // Target = logger: every weight is 1.
    const log = logBatchFromArrays(big.log);
    const w1 = policyBatchFromArrays({ targetPropensity: big.log.propensity });
    const v = await values([{ log, policies: [w1] }], 'ips,snips');
    expect(v.snips).toBeCloseTo(v.ips, 14);
  });

  it('DR equals DM when q_hat equals the reward at the logged action', async () => {
    const qHat = big.log.qHat!.map((q, i) => q.map((v, a) => (a === big.log.action[i] ? big.log.reward[i] : v)));
    const log = logBatchFromArrays({ ...big.log, qHat });
    const v = await values([{ log, policies: [policyBatchFromArrays({ actionDist: big.dist })] }], 'dm,dr,sndr');
    expect(v.dr).toBeCloseTo(v.dm, 14);
    expect(v.sndr).toBeCloseTo(v.dm, 14);
  });

  it('tuned estimators reduce to their limits', async () => {
    const v = await values(batches(), 'ips,dm,dr,clipped-ips:clip=1e12,switch-dr:tau=inf,switch-dr:tau=0,dr-os:lambda=inf,dr-os:lambda=0,sg-ips:lambda=0');
    expect(v['clipped-ips:clip=1000000000000']).toBe(v.ips);
    expect(v['sg-ips:lambda=0']).toBeCloseTo(v.ips, 14);
    expect(v['switch-dr:tau=Infinity']).toBe(v.dr);
    expect(v['switch-dr:tau=0']).toBeCloseTo(v.dm, 14);
    expect(v['dr-os:lambda=Infinity']).toBe(v.dr);
    expect(v['dr-os:lambda=0']).toBeCloseTo(v.dm, 14);
  });

  it('dr-os approaches DR as lambda grows', async () => {
    const v = await values(batches(), 'dr,dr-os:lambda=1e9');
    expect(Math.abs(v['dr-os:lambda=1000000000'] - v.dr)).toBeLessThan(1e-6);
  });
});

describe('estimator specs', () => {
  it('parses parameters, infinity and lists with parameters', () => {
    expect(parseEstimatorSpec('switch-dr:tau=5').label).toBe('switch-dr:tau=5');
    expect(parseEstimatorSpec('clipped-ips:clip=inf').params.clip).toBe(Infinity);
    expect(parseEstimatorList('ips,switch-dr:tau=5,dr').map((e) => e.label)).toEqual(['ips', 'switch-dr:tau=5', 'dr']);
    expect(parseEstimatorList('all').length).toBe(9);
  });
  it('rejects unknown names and parameters with a usage error', () => {
    expect(() => parseEstimatorSpec('ipss')).toThrow(/unknown estimator 'ipss'/);
    expect(() => parseEstimatorSpec('dr:tau=5')).toThrow(/has no parameter 'tau'/);
    expect(() => parseEstimatorSpec('clipped-ips:clip=-1')).toThrow(/clip must be > 0/);
    expect(() => parseEstimatorSpec('switch-dr:tau=abc')).toThrow(/needs a number/);
  });
});
