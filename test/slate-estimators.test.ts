import { describe, expect, it } from 'vitest';
import type { LogBatch, PolicyBatch } from '../src/data/batch.js';
import { evaluateStream } from '../src/engine/evaluate.js';
import { parseEstimatorList } from '../estimators/registry.js';
import { randomAligned } from './helpers/tiny-log.js';

const f = (xs: number[]) => Float64Array.from(xs);

/**
 * Three slates of length 2 (rows in slate order). Per slate, by hand:
 *   A: w = 0.3/0.2 = 1.5, r = (1, 0): slate-ips 1.5, iips 0.6/0.5 = 1.2, rips 1.2
 *   B: w = 0.05/0.1 = 0.5, r = (0, 1): slate-ips 0.5, iips 0.25/0.5 = 0.5, rips 0.05/0.1 = 0.5
 *   C: w = 1, r = (1, 1): slate-ips 2, iips 0.3/0.6 + 1/0.5 = 2.5, rips 0.3/0.6 + 0.3/0.3 = 1.5
 * Means over the 3 slates (the reference divides slate sums by the number of slates):
 *   slate-ips 4/3, iips 4.2/3, rips 3.2/3.
 */
function threeSlates(): { log: LogBatch; policy: PolicyBatch } {
  const log: LogBatch = {
    source: 'slates',
    rowOffset: 0,
    n: 6,
    action: Int32Array.from([0, 1, 2, 3, 1, 4]),
    reward: f([1, 0, 0, 1, 1, 1]),
    position: Int32Array.from([0, 1, 0, 1, 0, 1]),
    clusterKey: Uint32Array.from([1, 1, 2, 2, 3, 3]),
    propensity: f([0.2, 0.2, 0.1, 0.1, 0.3, 0.3]),
    propensityItemPosition: f([0.5, 0.4, 0.25, 0.5, 0.6, 0.5]),
    propensityCascade: f([0.5, 0.2, 0.25, 0.1, 0.6, 0.3]),
  };
  const policy: PolicyBatch = {
    n: 6,
    targetPropensity: f([0.3, 0.3, 0.05, 0.05, 0.3, 0.3]),
    targetPropensityItemPosition: f([0.6, 0.2, 0.5, 0.25, 0.3, 1.0]),
    targetPropensityCascade: f([0.6, 0.3, 0.5, 0.05, 0.3, 0.3]),
  };
  return { log, policy };
}

async function values(log: LogBatch, policy: PolicyBatch, spec: string): Promise<Record<string, number>> {
  const r = await evaluateStream([{ log, policies: [policy] }], { estimators: parseEstimatorList(spec), policyNames: ['t'], replicates: 0 });
  return Object.fromEntries(r.estimates.map((e) => [e.label, e.value]));
}

describe('slate estimators', () => {
  it('match the hand-computed values on a 3-slate log', async () => {
    const { log, policy } = threeSlates();
    const v = await values(log, policy, 'all-slate');
    expect(v['slate-ips']).toBeCloseTo(4 / 3, 14);
    expect(v.iips).toBeCloseTo(4.2 / 3, 14);
    expect(v.rips).toBeCloseTo(3.2 / 3, 14);
  });

  it('with L = 1 all equal ips', async () => {
    const { log: raw, dist } = randomAligned(500, 4, 3);
    const target = raw.action.map((a, i) => dist[i][a]);
    const log: LogBatch = {
      source: 'l1',
      rowOffset: 0,
      n: 500,
      action: Int32Array.from(raw.action),
      reward: f(raw.reward),
      position: new Int32Array(500),
      propensity: f(raw.propensity),
      propensityItemPosition: f(raw.propensity),
      propensityCascade: f(raw.propensity),
    };
    const policy: PolicyBatch = { n: 500, targetPropensity: f(target), targetPropensityItemPosition: f(target), targetPropensityCascade: f(target) };
    const v = await values(log, policy, 'ips,slate-ips,iips,rips');
    for (const k of ['slate-ips', 'iips', 'rips']) expect(v[k], k).toBeCloseTo(v.ips, 14);
  });

  it('equal the mean slate reward when the target is the logger', async () => {
    const { log } = threeSlates();
    const same: PolicyBatch = { n: 6, targetPropensity: log.propensity, targetPropensityItemPosition: log.propensityItemPosition, targetPropensityCascade: log.propensityCascade };
    const v = await values(log, same, 'all-slate');
    for (const k of ['slate-ips', 'iips', 'rips']) expect(v[k], k).toBeCloseTo(4 / 3, 14); // rewards 1 + 1 + 2 over 3 slates
  });

  it('name what is missing when a slate estimator meets a bandit log', async () => {
    const { log: raw, dist } = randomAligned(50, 3, 1);
    const log: LogBatch = { source: 'bandit', rowOffset: 0, n: 50, action: Int32Array.from(raw.action), reward: f(raw.reward), propensity: f(raw.propensity) };
    const policy: PolicyBatch = { n: 50, targetPropensity: f(raw.action.map((a, i) => dist[i][a])) };
    await expect(values(log, policy, 'iips')).rejects.toThrow(/estimator 'iips' needs propensity_item_position/);
  });

  it('bootstrap whole slates (3 clusters), reproducibly from the seed', async () => {
    const { log, policy } = threeSlates();
    const run = () => evaluateStream([{ log, policies: [policy] }], { estimators: parseEstimatorList('all-slate'), policyNames: ['t'], replicates: 50, seed: 3 });
    const a = await run();
    expect(a.policies[0].requests).toBe(3);
    expect(await run()).toEqual(a);
  });
});
