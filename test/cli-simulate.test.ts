import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveFeedbackWorldConfig } from '../simulators/feedback-config.js';
import { FEEDBACK_LOOP_MODEL_DEFAULTS, runFeedbackLoop, SCENARIO_PRESETS, type FeedbackRoundRows } from '../simulators/feedback-loop.js';
import { roundLogBatches } from '../src/cli/commands/simulate.js';
import { writeTable } from '../src/data/write-log.js';
import { loadTf } from '../src/tf/backend.js';
import { TWO_TOWER_DEFAULTS } from '../simulators/two-tower.js';
import { BIN, runCli } from './helpers/run-cli.js';

/**
 * `ope simulate` as a user types it (issue 6, item 5): a tiny world through --config writes
 * config.json, one slate-contract log per (scenario, round) that `ope validate` accepts, and
 * metrics.csv with one row per (scenario, round), byte-identical across runs with the same seed.
 */

const METRIC_COLUMNS = [
  'scenario',
  'round',
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
  'train_loss',
  'ope_mean_slate_weight',
  'ope_slate_ess_share',
  'value_next_true',
  'value_next_snips',
  'value_next_snips_se',
  'value_next_dr',
  'value_next_dr_se',
  'value_next_slate-ips',
  'value_next_slate-ips_se',
  'value_next_iips',
  'value_next_iips_se',
  'value_next_rips',
  'value_next_rips_se',
];

let dir: string;
let configPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-cli-simulate-'));
  configPath = join(dir, 'tiny.json');
  await writeFile(configPath, JSON.stringify({ world: { users: 40, items: 15, dim: 4, slateSize: 3 }, rounds: 3, model: { dim: 4, epochs: 2 } }));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function simulate(out: string, extra: string[] = []): { code: number; stdout: string; stderr: string } {
  return runCli(['simulate', '--out', join(dir, out), '--config', configPath, '--scenario', 'topk,softmax', '--seed', '7', ...extra]);
}

describe('ope simulate', () => {
  it('writes config.json, the round logs and metrics.csv; a round log passes ope validate; reruns are byte-identical', async () => {
    const r = simulate('a');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ope simulate: 2 scenarios x 3 rounds .* 6 round logs/);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);

    const config = JSON.parse(await readFile(join(dir, 'a', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config.command).toBe('simulate');
    expect(config.opeOn).toBe('holdout');
    expect(config.rounds).toBe(3);
    expect(typeof config.backend).toBe('string');
    expect(typeof config.version).toBe('string');
    expect((config.world as { seed: number; users: number }).seed).toBe(7);
    expect((config.world as { seed: number; users: number }).users).toBe(40);

    for (const scenario of ['topk', 'softmax']) for (const round of ['000', '001', '002']) expect((await stat(join(dir, 'a', 'logs', scenario, `round-${round}.parquet`))).size).toBeGreaterThan(0);

    const metrics = await readFile(join(dir, 'a', 'metrics.csv'), 'utf8');
    const lines = metrics.trim().split('\n');
    expect(lines[0].split(',')).toEqual(METRIC_COLUMNS);
    expect(lines.slice(1).map((l) => l.split(',').slice(0, 2).join(','))).toEqual(['topk,0', 'softmax,0', 'topk,1', 'softmax,1', 'topk,2', 'softmax,2']);

    const v = runCli(['validate', '--log', join(dir, 'a', 'logs', 'softmax', 'round-001.parquet'), '--json']);
    expect(v.code, v.stderr).toBe(0);
    const report = JSON.parse(v.stdout) as { valid?: boolean; rows?: number; slates?: number };
    expect(report.valid).toBe(true);
    expect(report.rows).toBe(40 * 3);
    expect(report.slates).toBe(40);

    const again = simulate('b');
    expect(again.code, again.stderr).toBe(0);
    expect(await readFile(join(dir, 'b', 'metrics.csv'))).toEqual(await readFile(join(dir, 'a', 'metrics.csv')));
  });

  it('writes Arrow round logs with --format arrow, with the action_dist of the next policy on request', async () => {
    const r = runCli(['simulate', '--out', join(dir, 'c'), '--config', configPath, '--scenario', 'epsilon-greedy', '--rounds', '2', '--format', 'arrow', '--action-dist']);
    expect(r.code, r.stderr).toBe(0);
    const v = runCli(['validate', '--log', join(dir, 'c', 'logs', 'epsilon-greedy', 'round-001.arrow')]);
    expect(v.code, v.stderr).toBe(0);
    const table = tableFromIPC(await readFile(join(dir, 'c', 'logs', 'epsilon-greedy', 'round-001.arrow')));
    const dist = table.getChild('action_dist');
    // one list of the 15 items per row; each row a distribution
    expect(dist?.get(0)?.length).toBe(15);
    const row = Array.from(dist?.get(7) as Iterable<number>);
    expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('exits 2 naming a bad scenario or an unknown config key', async () => {
    const r = simulate('d', ['--scenario', 'topk,nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown scenario 'nope'");
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ rounds: 2, colour: 'blue' }));
    const b = runCli(['simulate', '--out', join(dir, 'e'), '--config', bad]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("unknown key 'colour'");
  });

  it("model.optimizer 'lazy-adam' (config.json keeps it); --json reports training and the shared oracle apart from serving and metrics; a bad optimizer exits 2", async () => {
    const lazy = join(dir, 'lazy.json');
    await writeFile(lazy, JSON.stringify({ world: { users: 40, items: 15, dim: 4, slateSize: 3 }, rounds: 2, model: { dim: 4, epochs: 2, optimizer: 'lazy-adam' } }));
    const r = runCli(['simulate', '--out', join(dir, 'lazy'), '--config', lazy, '--scenario', 'topk', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { secondsByStage: Record<string, number> };
    expect(Object.keys(doc.secondsByStage).sort()).toEqual(['log', 'metrics', 'ope', 'oracle', 'report', 'serve', 'train']);
    expect(doc.secondsByStage.train).toBeGreaterThan(0);
    const config = JSON.parse(await readFile(join(dir, 'lazy', 'config.json'), 'utf8')) as { model: { optimizer?: string } };
    expect(config.model.optimizer).toBe('lazy-adam');
    await writeFile(lazy, JSON.stringify({ rounds: 2, model: { optimizer: 'sgd' } }));
    const b = runCli(['simulate', '--out', join(dir, 'lazy-bad'), '--config', lazy, '--scenario', 'topk']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("optimizer must be 'adam' or 'lazy-adam', got 'sgd'");
  });

  it('a round log is written in batches of whole slates (bounded memory); the rows are the same as in one batch', async () => {
    let round: FeedbackRoundRows | undefined;
    await runFeedbackLoop(
      await loadTf('wasm'),
      { world: { users: 40, items: 15, dim: 4, slateSize: 3 }, rounds: 1, scenarios: ['softmax'], model: { dim: 4, epochs: 1 } },
      { onRound: (r) => void (round = r) },
    );
    const r = round as FeedbackRoundRows;
    const one = roundLogBatches(r, 1_000);
    const seven = roundLogBatches(r, 7);
    expect(seven.schema).toEqual(one.schema);
    const [whole] = [...one.batches];
    const parts = [...seven.batches];
    expect(parts.map((b) => b.n)).toEqual([21, 21, 21, 21, 21, 15]);
    for (const c of one.schema) {
      const joined = parts.flatMap((b) => Array.from(b.columns[c.name] as Float64Array));
      expect(joined).toEqual(Array.from(whole.columns[c.name] as Float64Array));
    }
    await writeTable(join(dir, 'one.arrow'), one.schema, [whole]);
    await writeTable(join(dir, 'seven.arrow'), seven.schema, parts);
    const [a, b] = [tableFromIPC(await readFile(join(dir, 'one.arrow'))), tableFromIPC(await readFile(join(dir, 'seven.arrow')))];
    expect(b.batches).toHaveLength(6);
    expect(JSON.stringify(b.toArray())).toBe(JSON.stringify(a.toArray()));
  });

  it("--resume after a kill (SIGKILL, mid-round): the outputs equal an uninterrupted run's, byte for byte", async () => {
    const args = (out: string) => ['simulate', '--out', join(dir, out), '--config', configPath, '--scenario', 'topk,softmax,topk-window', '--rounds', '6', '--seed', '5'];
    const straight = runCli(args('straight'));
    expect(straight.code, straight.stderr).toBe(0);
    // Kill the second run as soon as its first round is committed.
    const child = spawn(process.execPath, [BIN, ...args('killed')], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const state = join(dir, 'killed', 'checkpoint', 'state.json');
    while (!existsSync(state) && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await exited;
    const resumed = runCli([...args('killed'), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await treeBytes(join(dir, 'killed'))).toEqual(await treeBytes(join(dir, 'straight')));
    // Resuming a finished run changes nothing; extending it runs only the new rounds.
    const again = runCli([...args('killed'), '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(await treeBytes(join(dir, 'killed'))).toEqual(await treeBytes(join(dir, 'straight')));
  });

  it('--resume refuses what it cannot continue: no run, other settings, fewer rounds', async () => {
    const none = simulate('never-ran', ['--resume']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no config.json');
    expect(simulate('f', ['--rounds', '2']).code).toBe(0);
    const other = simulate('f', ['--seed', '8', '--resume']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/'world' differs/);
    const fewer = simulate('f', ['--rounds', '1', '--resume']);
    expect(fewer.code).toBe(2);
    expect(fewer.stderr).toContain('already holds 2 rounds');
  });
});

/** Every file under root (relative path -> bytes as base64), sorted. */
async function treeBytes(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    out[path.slice(root.length + 1)] = (await readFile(path)).toString('base64');
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

describe('simulators/simulate-config.json, the documented defaults', () => {
  it('holds exactly the defaults the loop resolves', async () => {
    const doc = JSON.parse(await readFile(new URL('../simulators/simulate-config.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    const world = resolveFeedbackWorldConfig({});
    expect(doc.world).toEqual(world);
    expect(doc.model).toEqual({
      dim: FEEDBACK_LOOP_MODEL_DEFAULTS.dim,
      epochs: FEEDBACK_LOOP_MODEL_DEFAULTS.epochs,
      learningRate: TWO_TOWER_DEFAULTS.learningRate,
      batchSize: TWO_TOWER_DEFAULTS.batchSize,
      l2: TWO_TOWER_DEFAULTS.l2,
      optimizer: TWO_TOWER_DEFAULTS.optimizer,
    });
    expect(doc.scenarios).toEqual([...SCENARIO_PRESETS]);
    expect([doc.rounds, doc.logging, doc.estimators, doc.homogenizationPairs, doc.headShare, doc.opeOn, doc.actionDist]).toEqual([10, 'uniform', 'slate-ips,iips,rips', 2000, 0.2, 'holdout', false]);
  });
});
