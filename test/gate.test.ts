import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATE_DEFAULTS, resolveGateConfig } from '../src/gate/config.js';
import { populationStabilityIndex } from '../src/gate/log-profile.js';
import { runGate } from '../src/gate/run-gate.js';
import type { GateCheckId, GateResult } from '../src/gate/types.js';
import { RandomStream } from '../simulators/random-streams.js';
import { runCli } from './helpers/run-cli.js';

/**
 * `ope gate` on logs whose truth is known (issue 7, "how it is checked"): a world of K = 5 actions
 * with click rates THETA and no context, logged by a known policy, written as CSV (empty cells are
 * nulls, as real logs have them for labels not in yet); candidate and baseline as action_dist files.
 */

const K = 5;
const THETA = [0.05, 0.1, 0.15, 0.2, 0.3];
const DAY = 86400;
const T0 = 1_700_000_000;

interface Scenario {
  n: number;
  /** Logger's distribution for row i. */
  logger: (i: number) => number[];
  candidate: (i: number) => number[];
  baseline: (i: number) => number[];
  /** Event time of row i (seconds); rows are in time order. */
  eventTs?: (i: number) => number;
  /** Row i's label is not in yet (reward and reward_ts empty). */
  immature?: (i: number) => boolean;
  /** Per-row click rate override (for slices). */
  theta?: (i: number, a: number) => number;
  surface?: (i: number) => string;
  seed: number;
}

function draw(p: number[], u: number): number {
  let c = 0;
  for (let a = 0; a < p.length; a++) {
    c += p[a];
    if (u < c) return a;
  }
  return p.length - 1;
}

async function writeScenario(dir: string, name: string, s: Scenario): Promise<{ log: string; cand: string; base: string }> {
  const rs = new RandomStream(`gate-test:${s.seed}`);
  const log = ['action,reward,propensity' + (s.eventTs ? ',event_ts,reward_ts' : '') + (s.surface ? ',surface' : '')];
  const cand = [Array.from({ length: K }, (_, a) => `action_dist_${a}`).join(',')];
  const base = [cand[0]];
  for (let i = 0; i < s.n; i++) {
    const mu = s.logger(i);
    const a = draw(mu, rs.uniform());
    const theta = s.theta?.(i, a) ?? THETA[a];
    const r = rs.uniform() < theta ? 1 : 0;
    const young = s.immature?.(i) ?? false;
    let row = `${a},${young ? '' : r},${mu[a]}`;
    if (s.eventTs) row += `,${s.eventTs(i)},${young ? '' : s.eventTs(i) + 3600}`;
    if (s.surface) row += `,${s.surface(i)}`;
    log.push(row);
    cand.push(s.candidate(i).join(','));
    base.push(s.baseline(i).join(','));
  }
  const paths = { log: join(dir, `${name}-log.csv`), cand: join(dir, `${name}-cand.csv`), base: join(dir, `${name}-base.csv`) };
  await writeFile(paths.log, log.join('\n') + '\n');
  await writeFile(paths.cand, cand.join('\n') + '\n');
  await writeFile(paths.base, base.join('\n') + '\n');
  return paths;
}

const UNIFORM = [0.2, 0.2, 0.2, 0.2, 0.2];
/** Favours the good actions. */
const GOOD = [0.05, 0.05, 0.1, 0.3, 0.5];
/** Favours the bad ones. */
const BAD = [0.5, 0.3, 0.1, 0.05, 0.05];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-gate-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const colour = (r: GateResult, id: GateCheckId) => r.checks.find((c) => c.id === id)?.colour;
const config = (o: Record<string, unknown> = {}) => resolveGateConfig({ bootstrap: 300, ...o });

async function gate(name: string, s: Scenario, cfg = config(), sliceBy: string[] = []): Promise<GateResult> {
  const p = await writeScenario(dir, name, s);
  return runGate({ log: p.log, candidate: { name: 'cand', file: p.cand }, baseline: { name: 'base', file: p.base }, config: cfg, sliceBy });
}

describe('ope gate: scenarios with a known truth', () => {
  it('a candidate truly better than the baseline, with good overlap: green', async () => {
    // truth: GOOD . THETA = 0.2325, UNIFORM . THETA = 0.16
    const r = await gate('better', { n: 20_000, logger: () => UNIFORM, candidate: () => GOOD, baseline: () => UNIFORM, seed: 1 });
    const d = r.differences.find((x) => x.estimator === 'snips');
    expect(d?.ci.lower).toBeLessThan(0.2325 - 0.16);
    expect(d?.ci.upper).toBeGreaterThan(0.2325 - 0.16);
    expect(r.verdict.colour).toBe('green');
    expect(r.verdict.decision).toBe('go');
    for (const c of r.checks) expect(c.colour, c.id).toBe('green');
    // no q_hat in the log: dr and switch-dr are left out, and the gate says so
    expect(r.differences.map((x) => x.estimator)).toEqual(['snips']);
    expect(r.warnings.join(' ')).toContain('left out dr, switch-dr');
  });

  it('a candidate truly worse: red on the difference (non-inferiority), verdict hold', async () => {
    const r = await gate('worse', { n: 20_000, logger: () => UNIFORM, candidate: () => BAD, baseline: () => UNIFORM, seed: 2 });
    expect(colour(r, 'non_inferiority')).toBe('red');
    expect(r.verdict).toMatchObject({ colour: 'red', decision: 'hold' });
  });

  it('a deterministic candidate on an action the logger rarely takes: red on ESS although its point estimate looks better', async () => {
    // The logger takes action 4 (the best, 0.3) with probability 0.002; the candidate always takes it.
    const logger = [0.4, 0.3, 0.2, 0.098, 0.002];
    const r = await gate('rare', { n: 20_000, logger: () => logger, candidate: () => [0, 0, 0, 0, 1], baseline: () => logger, seed: 3 });
    const d = r.differences.find((x) => x.estimator === 'snips');
    expect(d?.difference).toBeGreaterThan(0);
    expect(colour(r, 'ess')).toBe('red');
    expect(r.verdict.colour).toBe('red');
  });

  it('labels not in yet: left out of the estimates and counted; 30% immature is red, 10% yellow', async () => {
    const base: Scenario = { n: 10_000, logger: () => UNIFORM, candidate: () => GOOD, baseline: () => UNIFORM, eventTs: (i) => T0 + Math.floor((i * 30 * DAY) / 10_000), seed: 4 };
    // The last 9 days of a 30-day log have no label: 30% of rows; the 7-day window counts them all
    // (their reward_ts is missing and their reward null).
    const r = await gate('immature30', { ...base, immature: (i) => i >= 7_000 });
    expect(r.rows).toEqual({ read: 10_000, used: 7_000, immature: 3_000 });
    expect(colour(r, 'label_maturity')).toBe('red');
    // 10%: the last 3 days without labels.
    const y = await gate('immature10', { ...base, immature: (i) => i >= 9_000 });
    expect(y.rows.immature).toBe(1_000);
    expect(colour(y, 'label_maturity')).toBe('yellow');
    expect(y.checks.find((c) => c.id === 'label_maturity')?.mitigation).toBeDefined();
    // Within the window, a row whose reward_ts is set counts as mature; the window reaches 7 days
    // back from the log's end: with labels everywhere, nothing is left out.
    const none = await gate('mature', base);
    expect(none.rows.immature).toBe(0);
    expect(colour(none, 'label_maturity')).toBe('green');
  });

  it('a logging policy that changed halfway: flagged on stability', async () => {
    const r = await gate('drift', { n: 20_000, logger: (i) => (i < 10_000 ? UNIFORM : [0.6, 0.1, 0.1, 0.1, 0.1]), candidate: () => GOOD, baseline: () => UNIFORM, seed: 5 });
    // PSI of the action shares: 0.2 -> 0.6 on one action, 0.2 -> 0.1 on four: 0.4 ln 3 + 4 (0.1 ln 2) = 0.72
    expect(r.checks.find((c) => c.id === 'stability_action')?.value).toBeCloseTo(0.4 * Math.log(3) + 0.4 * Math.log(2), 1);
    expect(colour(r, 'stability_action')).toBe('red');
    expect(colour(r, 'stability_propensity')).toBe('red');
  });

  it('slices: a candidate worse on one surface is flagged there, with the slice estimates', async () => {
    // On 'home' the click rates are reversed, so GOOD is worse than UNIFORM there.
    const r = await gate(
      'slices',
      {
        n: 20_000,
        logger: () => UNIFORM,
        candidate: () => GOOD,
        baseline: () => UNIFORM,
        surface: (i) => (i % 2 === 0 ? 'home' : 'search'),
        theta: (i, a) => (i % 2 === 0 ? THETA[K - 1 - a] : THETA[a]),
        seed: 6,
      },
      config({ slices: { minRows: 100 } }),
      ['surface'],
    );
    expect(r.slices.map((s) => [s.value, s.n, s.worse])).toEqual([
      ['home', 10_000, true],
      ['search', 10_000, false],
    ]);
    expect(colour(r, 'slices')).toBe('red');
  });
});

describe('ope gate: the CLI', () => {
  it('exit codes 0 green, 4 red, 2 bad input; --json carries every check with value, thresholds and colour', async () => {
    const good = await writeScenario(dir, 'cli-good', { n: 5_000, logger: () => UNIFORM, candidate: () => GOOD, baseline: () => UNIFORM, seed: 7 });
    const memo = join(dir, 'memo.md');
    const report = join(dir, 'report.html');
    const r = runCli([
      'gate',
      '--log',
      good.log,
      '--candidate',
      `new=${good.cand}`,
      '--baseline',
      `prod=${good.base}`,
      '--bootstrap',
      '200',
      '--json',
      '--memo',
      memo,
      '--report',
      report,
      '--release-id',
      'r7',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(memo, 'utf8')).toMatch(/release_id:\*\* r7[\s\S]*decision: \*\*go\*\*/);
    expect(await readFile(report, 'utf8')).toContain('data-colour="green"');
    const doc = JSON.parse(r.stdout) as GateResult;
    expect(doc.verdict.colour).toBe('green');
    for (const c of doc.checks) expect(Object.keys(c)).toEqual(expect.arrayContaining(['id', 'name', 'colour', 'value', 'unit', 'thresholds', 'detail']));
    const worse = runCli(['gate', '--log', good.log, '--candidate', `new=${good.base}`, '--baseline', `prod=${good.cand}`, '--bootstrap', '200']);
    expect(worse.code).toBe(4);
    expect(worse.stdout).toContain('verdict: RED (hold)');
    const missing = runCli(['gate', '--log', join(dir, 'nope.csv'), '--candidate', `new=${good.cand}`, '--baseline', `prod=${good.base}`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file');
    const badArg = runCli(['gate', '--log', good.log, '--candidate', good.cand, '--baseline', `prod=${good.base}`]);
    expect(badArg.code).toBe(2);
    expect(badArg.stderr).toContain('--candidate needs NAME=FILE');
  });

  it('a log that breaks the contract: the validation check is red (exit 4), naming the row', async () => {
    const bad = join(dir, 'bad-log.csv');
    await writeFile(bad, 'action,reward,propensity\n0,1,0.2\n1,0,0\n');
    const pol = join(dir, 'bad-pol.csv');
    await writeFile(pol, 'target_propensity\n0.2\n0.2\n');
    const r = runCli(['gate', '--log', bad, '--candidate', `new=${pol}`, '--baseline', `prod=${pol}`]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/RED {4}Log contract: .*row 1.*propensity must be in \(0, 1\]/);
  });
});

describe('ope gate on ope synth logs', () => {
  it('synth targets with known values: the better one passes green, the worse one is held red', async () => {
    const out = join(dir, 'synth');
    const s = runCli(['synth', '--out', out, '--n', '20000', '--format', 'parquet', '--seed', '3']);
    expect(s.code, s.stderr).toBe(0);
    const truth = JSON.parse(await readFile(join(out, 'truth.json'), 'utf8')) as { targets: { name: string; file: string; value_population: number }[] };
    const byName = (n: string) => truth.targets.find((t) => t.name === n) as { file: string; value_population: number };
    // softmax-0.5 is worth more than uniform in this world (truth.json), by far more than the noise
    expect(byName('softmax-0.5').value_population - byName('uniform').value_population).toBeGreaterThan(0.05);
    const args = (c: string, b: string) => [
      'gate',
      '--log',
      join(out, 'log.parquet'),
      '--candidate',
      `c=${join(out, byName(c).file)}`,
      '--baseline',
      `b=${join(out, byName(b).file)}`,
      '--bootstrap',
      '200',
      '--json',
    ];
    const up = runCli(args('softmax-0.5', 'uniform'));
    expect(up.code, up.stderr).toBe(0);
    const upDoc = JSON.parse(up.stdout) as GateResult;
    const truthDiff = byName('softmax-0.5').value_population - byName('uniform').value_population;
    for (const d of upDoc.differences) expect(Math.abs(d.difference - truthDiff), d.estimator).toBeLessThan(4 * d.se);
    const down = runCli(args('uniform', 'softmax-0.5'));
    expect(down.code).toBe(4);
    expect((JSON.parse(down.stdout) as GateResult).checks.find((c) => c.id === 'non_inferiority')?.colour).toBe('red');
  });
});

describe('gate config and PSI', () => {
  it('defaults, overrides, and errors naming the key', () => {
    expect(resolveGateConfig(undefined)).toBe(GATE_DEFAULTS);
    expect(resolveGateConfig({ minEffect: 0.01, stability: { red: 0.5 } })).toMatchObject({ minEffect: 0.01, stability: { yellow: 0.1, red: 0.5 } });
    expect(() => resolveGateConfig({ colour: 'red' })).toThrow(/unknown key 'colour'/);
    expect(() => resolveGateConfig({ essShare: { yellow: 0.01, red: 0.1 } })).toThrow(/red \(0.1\) must be at most yellow/);
  });

  it('PSI: 0 for equal histograms, the closed form otherwise, symmetric, scale-free', () => {
    expect(populationStabilityIndex([10, 20, 30], [1, 2, 3])).toBe(0);
    const psi = populationStabilityIndex([50, 50], [80, 20]);
    expect(psi).toBeCloseTo(0.3 * Math.log(0.8 / 0.5) + -0.3 * Math.log(0.2 / 0.5), 12);
    expect(populationStabilityIndex([80, 20], [50, 50])).toBeCloseTo(psi, 12);
    expect(populationStabilityIndex([0, 0], [1, 2])).toBeNaN();
  });
});
