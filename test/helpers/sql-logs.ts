import { generateBanditLog, resolveBanditConfig } from '../../simulators/bandit-world.js';
import { expect } from 'vitest';
import type { EvaluationResult } from '../../src/engine/results.js';
import { writeTable, type OutBatch, type OutColumnSpec } from '../../src/data/write-log.js';

/** Every bandit estimator the SQL path compiles, some with parameters. */
export const SQL_ESTIMATORS = 'dm,ips,snips,clipped-ips:clip=3,sg-ips:lambda=0.1,dr,sndr,switch-dr:tau=2,dr-os:lambda=5';

/** A bandit log with inline target columns (the O(n) scalars) from the library's generator. */
/**
 * `lists`: the target and the reward model as the lists action_dist and q_hat (width K) instead of
 * the scalars target_propensity, q_hat_logged, q_hat_target.
 */
export async function writeLog(path: string, opts: { requestsOf: number; ids: 'int' | 'string' | 'none'; n: number; lists?: boolean }): Promise<void> {
  const cfg = resolveBanditConfig({ n: opts.n, actions: 5, dim: 3, reward: 'logistic', loggingTemperature: 1, qHatNoise: 0.1, requestsOf: opts.requestsOf, seed: 7, populationSamples: 1000 });
  const schema: OutColumnSpec[] = [
    ...(opts.ids === 'none' ? [] : [{ name: 'request_id', kind: opts.ids === 'int' ? 'int32' : 'string' } as OutColumnSpec]),
    { name: 'action', kind: 'int32' },
    { name: 'reward', kind: 'float64' },
    { name: 'propensity', kind: 'float64' },
    ...((opts.lists === true
      ? [
          { name: 'action_dist', kind: 'list', width: 5 },
          { name: 'q_hat', kind: 'list', width: 5 },
        ]
      : [
          { name: 'target_propensity', kind: 'float64' },
          { name: 'q_hat_logged', kind: 'float64' },
          { name: 'q_hat_target', kind: 'float64' },
        ]) as OutColumnSpec[]),
  ];
  function* batches(): Generator<OutBatch> {
    for (const b of generateBanditLog(cfg)) {
      const t = b.targets[0];
      const K = b.K;
      const q = new Float64Array(b.n);
      const qpi = new Float64Array(b.n);
      for (let i = 0; i < b.n; i++) {
        q[i] = b.qHat[i * K + b.action[i]];
        let s = 0;
        for (let a = 0; a < K; a++) s += t.actionDist[i * K + a] * b.qHat[i * K + a];
        qpi[i] = s;
      }
      const columns: OutBatch['columns'] = {
        action: b.action,
        reward: b.reward,
        propensity: b.propensity,
        ...(opts.lists === true ? { action_dist: t.actionDist, q_hat: b.qHat } : { target_propensity: t.targetPropensity, q_hat_logged: q, q_hat_target: qpi }),
      };
      if (opts.ids === 'int') yield { n: b.n, columns: { ...columns, request_id: b.requestId } };
      else if (opts.ids === 'string') yield { n: b.n, columns: { ...columns, request_id: Array.from(b.requestId, (id) => (id % 7 === 0 ? `req-${id}-é` : String(id))) } };
      else yield { n: b.n, columns };
    }
  }
  await writeTable(path, schema, batches());
}

function rel(a: number, b: number): number {
  if (a === b) return 0;
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

/** Two evaluations agree to `tol` relative: estimates, se, intervals, diagnostics, warnings. */
export function expectSame(js: EvaluationResult, sql: EvaluationResult, tol = 1e-12): void {
  expect(sql.n).toBe(js.n);
  expect(sql.bootstrap).toEqual(js.bootstrap);
  expect(sql.estimates.length).toBe(js.estimates.length);
  js.estimates.forEach((e, k) => {
    const s = sql.estimates[k];
    expect(s.label).toBe(e.label);
    expect(rel(s.value, e.value), `${e.label} value`).toBeLessThan(tol);
    expect(rel(s.se, e.se), `${e.label} se`).toBeLessThan(tol);
    expect(s.seMethod).toBe(e.seMethod);
    for (const m of Object.keys(e.intervals) as (keyof typeof e.intervals)[]) {
      expect(s.intervals[m], `${e.label} ${m}`).toBeDefined();
      expect(rel(s.intervals[m]!.lower, e.intervals[m]!.lower), `${e.label} ${m} lower`).toBeLessThan(tol);
      expect(rel(s.intervals[m]!.upper, e.intervals[m]!.upper), `${e.label} ${m} upper`).toBeLessThan(tol);
    }
    expect(Object.keys(s.diagnostics).sort()).toEqual(Object.keys(e.diagnostics).sort());
    for (const d of Object.keys(e.diagnostics)) expect(rel(s.diagnostics[d], e.diagnostics[d]), d).toBeLessThan(tol);
    expect(s.warnings).toEqual(e.warnings);
  });
  const [pj, ps] = [js.policies[0], sql.policies[0]];
  for (const f of ['ess', 'essShare', 'meanWeight', 'maxWeight', 'maxWeightShare', 'requests', 'rowsWeightAbove1000'] as const) expect(rel(ps[f] as number, pj[f] as number), f).toBeLessThan(tol);
  expect(rel(ps.meanWeightCi.lower, pj.meanWeightCi.lower)).toBeLessThan(tol);
  expect(rel(ps.meanWeightCi.upper, pj.meanWeightCi.upper)).toBeLessThan(tol);
  // Slate logs have no finite-sample value interval (summarize.ts): absent on both.
  if (pj.valueInterval === undefined) expect(ps.valueInterval).toBeUndefined();
  else {
    expect(rel(ps.valueInterval!.lower, pj.valueInterval.lower)).toBeLessThan(tol);
    expect(rel(ps.valueInterval!.upper, pj.valueInterval.upper)).toBeLessThan(tol);
  }
  expect(ps.slate === undefined).toBe(pj.slate === undefined);
  if (pj.slate !== undefined && ps.slate !== undefined) {
    for (const f of ['slates', 'ess', 'essShare', 'maxWeight', 'maxWeightShare'] as const) expect(rel(ps.slate[f], pj.slate[f]), `slate ${f}`).toBeLessThan(tol);
  }
  expect(ps.warnings).toEqual(pj.warnings);
  expect(sql.warnings).toEqual(js.warnings);
}
