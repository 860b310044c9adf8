import { describe, expect, it } from 'vitest';
import type { LogBatch, PolicyBatch } from '../src/data/batch.js';
import { evaluateStream } from '../src/engine/evaluate.js';
import { parseEstimatorList } from '../estimators/registry.js';
import { randomAligned } from './helpers/tiny-log.js';
import type { ListColumn } from '../src/data/batch.js';
import { InputError, UsageError } from '../src/data/errors.js';

const f = (xs: number[]) => Float64Array.from(xs);
const list = (width: number, xs: number[]): ListColumn => ({ width, values: f(xs) });
const ALL = 'all-slate,pbm-ips:theta0=1,theta1=0.5';

/**
 * Three slates of length 2 (rows in slate order). Per slate, by hand:
 *   A: w = 0.3/0.2 = 1.5, r = (1, 0): slate-ips 1.5, iips 0.6/0.5 = 1.2, rips 1.2
 *   B: w = 0.05/0.1 = 0.5, r = (0, 1): slate-ips 0.5, iips 0.25/0.5 = 0.5, rips 0.05/0.1 = 0.5
 *   C: w = 1, r = (1, 1): slate-ips 2, iips 0.3/0.6 + 1/0.5 = 2.5, rips 0.3/0.6 + 0.3/0.3 = 1.5
 * Means over the 3 slates (the reference divides slate sums by the number of slates):
 *   slate-ips 4/3, iips 4.2/3, rips 3.2/3.
 * pi, Gamma = sum_k w_ip - 2 + 1 times the slate reward: A 0.7 x 1, B 1.5 x 1, C 1.5 x 2: 5.2/3.
 * cascade-dr, per row w_1:k (r - q) + w_1:k-1 qpi with the q / qpi below:
 *   A: 1.2 (1 - 0.5) + 0.4 = 1, 1.5 (0 - 0.2) + 1.2 x 0.3 = 0.06
 *   B: 2 (0 - 0.1) + 0.2 = 0, 0.5 (1 - 0.4) + 2 x 0.2 = 0.7
 *   C: 0.5 (1 - 0.3) + 0.5 = 0.85, 1 (1 - 0.6) + 0.5 x 0.7 = 0.75;  sum 3.36, mean 1.12.
 * pbm-ips with theta = (1, 0.5), weight (pi@0 + 0.5 pi@1) / (mu@0 + 0.5 mu@1) on rewarded rows:
 *   A0 0.7/0.55 = 14/11, B1 0.525/0.45 = 7/6, C0 0.45/0.7 = 9/14, C1 0.5/0.35 = 10/7.
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
    propensityItemPositions: list(2, [0.5, 0.1, 0.3, 0.4, 0.25, 0.25, 0.2, 0.5, 0.6, 0.2, 0.1, 0.5]),
    qHatLogged: f([0.5, 0.2, 0.1, 0.4, 0.3, 0.6]),
  };
  const policy: PolicyBatch = {
    n: 6,
    targetPropensity: f([0.3, 0.3, 0.05, 0.05, 0.3, 0.3]),
    targetPropensityItemPosition: f([0.6, 0.2, 0.5, 0.25, 0.3, 1.0]),
    targetPropensityCascade: f([0.6, 0.3, 0.5, 0.05, 0.3, 0.3]),
    targetPropensityItemPositions: list(2, [0.6, 0.2, 0.1, 0.2, 0.5, 0.1, 0.4, 0.25, 0.3, 0.3, 0, 1.0]),
    qHatTarget: f([0.4, 0.3, 0.2, 0.2, 0.5, 0.7]),
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
    const v = await values(log, policy, ALL);
    expect(v['slate-ips']).toBeCloseTo(4 / 3, 14);
    expect(v.iips).toBeCloseTo(4.2 / 3, 14);
    expect(v.rips).toBeCloseTo(3.2 / 3, 14);
    expect(v.pi).toBeCloseTo(5.2 / 3, 14);
    expect(v['cascade-dr']).toBeCloseTo(1.12, 14);
    expect(v['pbm-ips:theta0=1,theta1=0.5']).toBeCloseTo((14 / 11 + 7 / 6 + 9 / 14 + 10 / 7) / 3, 14);
  });

  it('report the ESS and heaviest weight of the weights each estimator applies', async () => {
    const { log, policy } = threeSlates();
    const r = await evaluateStream([{ log, policies: [policy] }], { estimators: parseEstimatorList(ALL), policyNames: ['t'], replicates: 0 });
    const d = (label: string) => r.estimates.find((e) => e.label === label)?.diagnostics ?? {};
    // joint slate weights 1.5, 0.5, 1: ESS 3^2 / 3.5 over 3 slates; heaviest 1.5 of 3
    expect(d('slate-ips').weight_ess).toBeCloseTo(9 / 3.5, 14);
    expect(d('slate-ips').weight_ess_share).toBeCloseTo(9 / 3.5 / 3, 14);
    expect(d('slate-ips').max_weight).toBeCloseTo(1.5, 14);
    expect(d('slate-ips').max_weight_share).toBeCloseTo(0.5, 14);
    expect(r.policies[0].slate).toEqual({
      slates: 3,
      ess: d('slate-ips').weight_ess,
      essShare: d('slate-ips').weight_ess_share,
      maxWeight: d('slate-ips').max_weight,
      maxWeightShare: d('slate-ips').max_weight_share,
    });
    // pi: Gamma = 0.7, 1.5, 1.5 per slate
    expect(d('pi').weight_ess).toBeCloseTo(3.7 ** 2 / (0.49 + 2.25 + 2.25), 13);
    expect(d('pi').max_weight).toBeCloseTo(1.5, 14);
    // iips: six slot weights 1.2, 0.5, 2, 0.5, 0.5, 2
    expect(d('iips').weight_ess).toBeCloseTo(6.7 ** 2 / 10.19, 13);
    expect(d('iips').weight_ess_share).toBeCloseTo(6.7 ** 2 / 10.19 / 6, 13);
    expect(d('iips').max_weight).toBe(2);
    // rips and cascade-dr: prefix weights 1.2, 1.5, 2, 0.5, 0.5, 1
    expect(d('rips').weight_ess).toBeCloseTo(6.7 ** 2 / (1.44 + 2.25 + 4 + 0.25 + 0.25 + 1), 13);
    expect(d('cascade-dr').max_weight).toBe(2);
  });

  it('warn that slate-ips is degenerate when the joint weights have an ESS under 1% of slates', async () => {
    // 200 slates of length 2; slate 0 has joint weight 100, the others 0.001: ESS about 1 slate.
    const S = 200;
    const n = 2 * S;
    const joint = Array.from({ length: n }, (_, i) => (i < 2 ? 0.001 : 0.5));
    const targetJoint = Array.from({ length: n }, (_, i) => (i < 2 ? 0.1 : 0.0005));
    const log: LogBatch = {
      source: 'degenerate',
      rowOffset: 0,
      n,
      action: Int32Array.from({ length: n }, (_, i) => i % 2),
      reward: f(Array.from({ length: n }, () => 1)),
      position: Int32Array.from({ length: n }, (_, i) => i % 2),
      clusterKey: Uint32Array.from({ length: n }, (_, i) => i >> 1),
      propensity: f(joint),
      propensityItemPosition: f(Array.from({ length: n }, () => 0.5)),
    };
    const policy: PolicyBatch = { n, targetPropensity: f(targetJoint), targetPropensityItemPosition: f(Array.from({ length: n }, () => 0.5)) };
    const r = await evaluateStream([{ log, policies: [policy] }], { estimators: parseEstimatorList('slate-ips,iips,pi'), policyNames: ['t'], replicates: 0 });
    const slate = r.policies[0].slate;
    expect(slate?.ess).toBeCloseTo((100 + 199 * 0.001) ** 2 / (100 ** 2 + 199 * 1e-6), 10);
    expect(r.policies[0].warnings.some((w) => w.startsWith('DEGENERATE SLATE WEIGHTS') && /iips/.test(w) && /rips/.test(w) && /\bpi\b/.test(w))).toBe(true);
    const byLabel = (l: string) => r.estimates.find((e) => e.label === l);
    expect(byLabel('slate-ips')?.warnings.some((w) => w.startsWith('DEGENERATE'))).toBe(true);
    // iips and pi apply weight 1 everywhere here: no weight warning for them
    expect(byLabel('iips')?.warnings).toEqual([]);
    expect(byLabel('pi')?.warnings).toEqual([]);
    expect(byLabel('iips')?.value).toBe(2);
  });

  it('pi and cascade-dr follow slates across canonical blocks and read batches (independent per-slate computation)', async () => {
    // 5001 slates of length 3 = 15003 rows: slates straddle the 8192-row block boundary.
    const S = 5001;
    const L = 3;
    const n = S * L;
    let seed = 7;
    const u = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const cols = {
      reward: f(Array.from({ length: n }, () => (u() < 0.3 ? 1 : 0))),
      wip: Array.from({ length: n }, () => 0.2 + u()),
      wc: Array.from({ length: n }, () => 0.1 + 2 * u()),
      q: f(Array.from({ length: n }, () => u())),
      qpi: f(Array.from({ length: n }, () => u())),
    };
    const log: LogBatch = {
      source: 'many',
      rowOffset: 0,
      n,
      action: Int32Array.from({ length: n }, (_, i) => i % L),
      reward: cols.reward,
      position: Int32Array.from({ length: n }, (_, i) => i % L),
      clusterKey: Uint32Array.from({ length: n }, (_, i) => Math.floor(i / L)),
      propensity: f(Array.from({ length: n }, () => 0.5)),
      propensityItemPosition: f(Array.from({ length: n }, () => 0.5)),
      propensityCascade: f(Array.from({ length: n }, () => 0.5)),
      qHatLogged: cols.q,
    };
    const policy: PolicyBatch = {
      n,
      targetPropensity: f(Array.from({ length: n }, () => 0.5)),
      targetPropensityItemPosition: f(cols.wip.map((w) => 0.5 * w)),
      targetPropensityCascade: f(cols.wc.map((w) => 0.5 * w)),
      qHatTarget: cols.qpi,
    };
    let pi = 0;
    let cdr = 0;
    for (let s = 0; s < S; s++) {
      let gamma = 1 - L;
      let sr = 0;
      for (let k = 0; k < L; k++) {
        const i = s * L + k;
        gamma += cols.wip[i];
        sr += cols.reward[i];
        cdr += cols.wc[i] * (cols.reward[i] - cols.q[i]) + (k === 0 ? 1 : cols.wc[i - 1]) * cols.qpi[i];
      }
      pi += gamma * sr;
    }
    const whole = await values(log, policy, 'pi,cascade-dr');
    expect(whole.pi).toBeCloseTo(pi / S, 12);
    expect(whole['cascade-dr']).toBeCloseTo(cdr / S, 12);
    // The same rows cut into read batches of 1000 (slates split across batches): bit-identical.
    const batches = [];
    for (let o = 0; o < n; o += 1000) batches.push({ log: sliceLog(log, o, Math.min(n, o + 1000)), policies: [slicePolicy(policy, o, Math.min(n, o + 1000))] });
    const split = await evaluateStream(batches, { estimators: parseEstimatorList('pi,cascade-dr'), policyNames: ['t'], replicates: 20, seed: 1 });
    const once = await evaluateStream([{ log, policies: [policy] }], { estimators: parseEstimatorList('pi,cascade-dr'), policyNames: ['t'], replicates: 20, seed: 1 });
    expect(split).toEqual(once);
  });

  it('pi and cascade-dr reject a slate whose rows are out of position order, naming the row', async () => {
    const { log, policy } = threeSlates();
    const swapped: LogBatch = { ...log, position: Int32Array.from([0, 1, 1, 0, 0, 1]) };
    for (const spec of ['pi', 'cascade-dr']) {
      const err = await values(swapped, policy, spec).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).message).toMatch(new RegExp(`row 2: ${spec} reads each slate's rows adjacent and in position order`));
      expect((err as InputError).row).toBe(2);
      expect((err as InputError).column).toBe('position');
    }
  });

  it('pbm-ips checks its examination probabilities against the slate length', async () => {
    const { log, policy } = threeSlates();
    await expect(values(log, policy, 'pbm-ips:theta0=1,theta1=0.5,theta2=0.3')).rejects.toThrow(/given 3 \(theta0..theta2\) but the slates have 2 positions/);
    await expect(values(log, policy, 'pbm-ips')).rejects.toThrow(UsageError);
    await expect(values(log, policy, 'pbm-ips:theta0=1,theta2=0.5')).rejects.toThrow(/theta1 is missing/);
    const { propensityItemPositions: _drop, ...without } = log;
    void _drop;
    await expect(values(without, policy, 'pbm-ips:theta0=1,theta1=0.5')).rejects.toThrow(/needs propensity_item_positions in the log/);
  });

  it('cascade-dr equals the reward model under the target when rewards equal q_hat, and the mean slate reward when q_hat = 0 and target = logger', async () => {
    const { log, policy } = threeSlates();
    const exact: LogBatch = { ...log, reward: log.qHatLogged as Float64Array };
    // sum_k w_1:k-1 qpi_k: A 0.4 + 1.2 x 0.3, B 0.2 + 2 x 0.2, C 0.5 + 0.5 x 0.7
    expect((await values(exact, policy, 'cascade-dr'))['cascade-dr']).toBeCloseTo((0.76 + 0.6 + 0.85) / 3, 14);
    const zero = new Float64Array(6);
    const same: PolicyBatch = { n: 6, targetPropensity: log.propensity, targetPropensityCascade: log.propensityCascade, qHatTarget: zero };
    expect((await values({ ...log, qHatLogged: zero }, same, 'cascade-dr'))['cascade-dr']).toBeCloseTo(4 / 3, 14);
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
      propensityItemPositions: list(1, raw.propensity),
    };
    const policy: PolicyBatch = { n: 500, targetPropensity: f(target), targetPropensityItemPosition: f(target), targetPropensityCascade: f(target) };
    const v = await values(log, { ...policy, targetPropensityItemPositions: list(1, target) }, 'ips,slate-ips,iips,rips,pi,pbm-ips:theta0=0.7');
    for (const k of ['slate-ips', 'iips', 'rips', 'pi', 'pbm-ips:theta0=0.7']) expect(v[k], k).toBeCloseTo(v.ips, 14);
  });

  it('equal the mean slate reward when the target is the logger', async () => {
    const { log } = threeSlates();
    const same: PolicyBatch = {
      n: 6,
      targetPropensity: log.propensity,
      targetPropensityItemPosition: log.propensityItemPosition,
      targetPropensityCascade: log.propensityCascade,
      targetPropensityItemPositions: log.propensityItemPositions,
    };
    const v = await values(log, same, 'slate-ips,iips,rips,pi,pbm-ips:theta0=1,theta1=0.5');
    for (const k of ['slate-ips', 'iips', 'rips', 'pi', 'pbm-ips:theta0=1,theta1=0.5']) expect(v[k], k).toBeCloseTo(4 / 3, 14); // rewards 1 + 1 + 2 over 3 slates
  });

  it('name what is missing when a slate estimator meets a bandit log', async () => {
    const { log: raw, dist } = randomAligned(50, 3, 1);
    const log: LogBatch = { source: 'bandit', rowOffset: 0, n: 50, action: Int32Array.from(raw.action), reward: f(raw.reward), propensity: f(raw.propensity) };
    const policy: PolicyBatch = { n: 50, targetPropensity: f(raw.action.map((a, i) => dist[i][a])) };
    await expect(values(log, policy, 'iips')).rejects.toThrow(/estimator 'iips' needs propensity_item_position/);
  });

  it('bootstrap whole slates (3 clusters), reproducibly from the seed', async () => {
    const { log, policy } = threeSlates();
    const run = () => evaluateStream([{ log, policies: [policy] }], { estimators: parseEstimatorList(ALL), policyNames: ['t'], replicates: 50, seed: 3 });
    const a = await run();
    expect(a.policies[0].requests).toBe(3);
    expect(await run()).toEqual(a);
  });
});

/** Rows [a, b) of a batch: every typed-array field sliced, list columns by their width. */
function sliceFields<T extends object>(batch: T, a: number, b: number): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(batch)) {
    if (ArrayBuffer.isView(v) && 'subarray' in v) out[k] = (v as Float64Array).subarray(a, b);
    else if (typeof v === 'object' && v !== null && 'width' in v) {
      const l = v as ListColumn;
      out[k] = { width: l.width, values: l.values.subarray(a * l.width, b * l.width) };
    } else out[k] = v;
  }
  out.n = b - a;
  return out as T;
}

function sliceLog(log: LogBatch, a: number, b: number): LogBatch {
  return { ...sliceFields(log, a, b), rowOffset: log.rowOffset + a };
}

function slicePolicy(p: PolicyBatch, a: number, b: number): PolicyBatch {
  return sliceFields(p, a, b);
}
