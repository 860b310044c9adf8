import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTable } from '../src/data/write-log.js';
import { runFilter } from '../src/gate/filter.js';
import { holmAdjusted, maxTCritical } from '../src/stats/simultaneous.js';
import { RandomStream } from '../simulators/random-streams.js';
import { runCli } from './helpers/run-cli.js';

/**
 * `ope filter` (issue 7): 20 candidates against a baseline, 10 truly better and 10 truly worse, on
 * logs of a K = 5 world without context whose values are known in closed form; over 20 seeds the
 * shortlist must keep the clearly better ones and hold a worse one in at most the stated share of
 * runs (family-wise error rate alpha = 0.05).
 */

const K = 5;
const THETA = [0.05, 0.1, 0.15, 0.2, 0.3];
const UNIFORM = [0.2, 0.2, 0.2, 0.2, 0.2];
const GOOD = [0.05, 0.05, 0.1, 0.3, 0.5];
const BAD = [0.5, 0.3, 0.1, 0.05, 0.05];
const N = 10_000;
const mix = (lambda: number, toward: number[]): number[] => UNIFORM.map((u, a) => (1 - lambda) * u + lambda * toward[a]);
const value = (p: number[]): number => p.reduce((s, x, a) => s + x * THETA[a], 0);

// Better: value 0.16 + lambda 0.0725; worse: 0.16 - lambda 0.065, down to lambdas that are nearly ties.
const LAMBDAS = [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1];
const CANDIDATES = [...LAMBDAS.map((l) => ({ name: `better-${l}`, dist: mix(l, GOOD) })), ...LAMBDAS.map((l) => ({ name: `worse-${l}`, dist: mix(l, BAD) }))];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-filter-'));
  // Without context a policy file is the same row repeated: written once, shared by every seed.
  for (const p of [{ name: 'baseline', dist: UNIFORM }, ...CANDIDATES]) {
    const values = new Float64Array(N * K);
    for (let i = 0; i < N; i++) values.set(p.dist, i * K);
    await writeTable(join(dir, `${p.name}.arrow`), [{ name: 'action_dist', kind: 'list', width: K }], [{ n: N, columns: { action_dist: values } }]);
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeLog(seed: number): Promise<string> {
  const rs = new RandomStream(`filter-test:${seed}`);
  const action = new Int32Array(N);
  const reward = new Float64Array(N);
  const propensity = new Float64Array(N).fill(0.2);
  for (let i = 0; i < N; i++) {
    action[i] = Math.floor(rs.uniform() * K);
    reward[i] = rs.uniform() < THETA[action[i]] ? 1 : 0;
  }
  const path = join(dir, `log-${seed}.arrow`);
  await writeTable(
    path,
    [
      { name: 'action', kind: 'int32' },
      { name: 'reward', kind: 'float64' },
      { name: 'propensity', kind: 'float64' },
    ],
    [{ n: N, columns: { action, reward, propensity } }],
  );
  return path;
}

describe('ope filter', () => {
  it('over 20 seeds: keeps the clearly better candidates, and holds a worse one in at most 3 of 20 runs (FWER 0.05)', async () => {
    let runsWithFalse = 0;
    const kept = new Map<string, number>();
    for (let seed = 1; seed <= 20; seed++) {
      const log = await writeLog(seed);
      const r = await runFilter({
        log,
        baseline: { name: 'baseline', file: join(dir, 'baseline.arrow') },
        candidates: CANDIDATES.map((c) => ({ name: c.name, file: join(dir, `${c.name}.arrow`) })),
        bootstrap: 400,
        seed,
      });
      expect(r.estimator).toBe('snips');
      if (r.shortlist.some((s) => s.startsWith('worse'))) runsWithFalse++;
      for (const s of r.shortlist) kept.set(s, (kept.get(s) ?? 0) + 1);
      // The ranking follows the truth where the gaps are large.
      const rankOf = (name: string) => r.candidates.find((c) => c.name === name)?.rank as number;
      expect(rankOf('better-1')).toBeLessThan(rankOf('better-0.5'));
      expect(rankOf('better-0.5')).toBeLessThan(rankOf('worse-0.5'));
    }
    // At FWER 0.05, P(4 or more runs of 20 with a false positive) = 1.6%.
    expect(runsWithFalse).toBeLessThanOrEqual(3);
    // From lambda = 0.4 the improvement (0.029 and up) is many standard errors of the difference (about 0.003 here): kept every time.
    for (const l of [0.4, 0.5, 0.6, 0.8, 1]) expect(kept.get(`better-${l}`), `better-${l}`).toBe(20);
    expect(value(mix(0.4, GOOD)) - value(UNIFORM)).toBeCloseTo(0.4 * 0.0725, 12);
  }, 120_000);

  it('the CLI: candidates, --out CSV, Holm', async () => {
    const log = await writeLog(99);
    const out = join(dir, 'shortlist.csv');
    const r = runCli([
      'filter',
      '--log',
      log,
      '--baseline',
      `baseline=${join(dir, 'baseline.arrow')}`,
      '--policy',
      `a=${join(dir, 'better-1.arrow')}`,
      '--policy',
      `b=${join(dir, 'worse-1.arrow')}`,
      '--method',
      'holm',
      '--bootstrap',
      '0',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('shortlist for shadow: a');
    const csv = (await import('node:fs')).readFileSync(out, 'utf8').trim().split('\n');
    expect(csv[0]).toBe('rank,candidate,file,value,difference,se,lower,upper,adjusted_p,shortlisted');
    expect(csv.slice(1).map((l) => l.split(',')[1] + ':' + l.split(',').at(-1))).toEqual(['a:true', 'b:false']);
  });
});

describe('simultaneous intervals', () => {
  it('max-t: one candidate is the two-sided bootstrap-t quantile; perfectly correlated candidates share it; independent ones need more', () => {
    const B = 4000;
    const rs = new RandomStream('max-t');
    const z1 = Float64Array.from({ length: B }, () => rs.normal());
    const z2 = Float64Array.from({ length: B }, () => rs.normal());
    const one = maxTCritical([{ value: 0, se: 1, replicates: z1 }], 0.05);
    expect(one).toBeGreaterThan(1.96 - 0.1);
    expect(one).toBeLessThan(1.96 + 0.1);
    const twins = maxTCritical(
      [
        { value: 0, se: 1, replicates: z1 },
        { value: 0, se: 2, replicates: z1.map((x) => 2 * x) },
      ],
      0.05,
    );
    expect(twins).toBeCloseTo(one, 12);
    // two independent: P(max |Z| > c) = 0.05 at c = z_{1 - (1 - sqrt(0.95)) / 2} = 2.236
    const indep = maxTCritical(
      [
        { value: 0, se: 1, replicates: z1 },
        { value: 0, se: 1, replicates: z2 },
      ],
      0.05,
    );
    expect(indep).toBeGreaterThan(2.236 - 0.1);
    expect(indep).toBeLessThan(2.236 + 0.1);
  });

  it('Holm: the step-down adjusted p-values of a hand-worked example', () => {
    // raw one-sided p of z = 3, 2, 1: 0.00135, 0.02275, 0.15866 -> 3p, max(2p, .), max(p, .)
    const adj = holmAdjusted(
      [
        { value: 1, se: 1 },
        { value: 3, se: 1 },
        { value: 2, se: 1 },
      ],
      0,
    );
    expect(adj[1]).toBeCloseTo(3 * 0.0013498980316301, 9);
    expect(adj[2]).toBeCloseTo(2 * 0.0227501319481792, 9);
    expect(adj[0]).toBeCloseTo(0.158655253931457, 9);
  });
});
