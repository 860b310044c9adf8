import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLog, openPolicy } from '../src/data/read-log.js';
import { runCli } from './helpers/run-cli.js';

/** `ope fit`: the copy of the log with the fitted q_hat gives exactly what `ope evaluate --reward-model` gives. */

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-cli-fit-'));
  const r = runCli(['synth', '--out', dir, '--n', '3000', '--seed', '3', '--population-samples', '20000']);
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const log = () => join(dir, 'log.arrow');
const greedy = () => join(dir, 'policy-softmax-0.1.arrow');
const uniform = () => join(dir, 'policy-uniform.arrow');
const MODEL = ['--folds', '2', '--seed', '7'];

interface EvalDoc {
  policies: { name: string; estimates: { estimator: string; value: number; se: number }[] }[];
}

/** dm and dr of every policy, as `ope evaluate --json` prints them. */
function dmDr(args: readonly string[]): Record<string, { estimator: string; value: number; se: number }[]> {
  const r = runCli(['evaluate', ...args, '--estimators', 'dm,dr', '--bootstrap', '0', '--json']);
  expect(r.code, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout) as EvalDoc;
  return Object.fromEntries(doc.policies.map((p) => [p.name, p.estimates.map((e) => ({ estimator: e.estimator, value: e.value, se: e.se }))]));
}

interface Rows {
  action: number[];
  reward: number[];
  propensity: number[];
  clusterKey: number[];
  context: number[];
  qHat: number[];
  qHatLogged: number[];
  qHatTarget: number[];
}

async function readRows(path: string): Promise<Rows> {
  const rows: Rows = { action: [], reward: [], propensity: [], clusterKey: [], context: [], qHat: [], qHatLogged: [], qHatTarget: [] };
  for await (const b of openLog(path).batches()) {
    rows.action.push(...b.action);
    rows.reward.push(...b.reward);
    rows.propensity.push(...b.propensity);
    rows.clusterKey.push(...(b.clusterKey ?? []));
    rows.context.push(...(b.context?.values ?? []));
    rows.qHat.push(...(b.qHat?.values ?? []));
    rows.qHatLogged.push(...(b.qHatLogged ?? []));
    rows.qHatTarget.push(...(b.qHatTarget ?? []));
  }
  return rows;
}

async function readPolicy(path: string): Promise<{ targetPropensity: number[]; actionDist: number[]; qHatTarget: number[] }> {
  const out = { targetPropensity: [] as number[], actionDist: [] as number[], qHatTarget: [] as number[] };
  for await (const b of openPolicy(path).batches()) {
    out.targetPropensity.push(...(b.targetPropensity ?? []));
    out.actionDist.push(...(b.actionDist?.values ?? []));
    out.qHatTarget.push(...(b.qHatTarget ?? []));
  }
  return out;
}

describe('ope fit', () => {
  let fitted: string;
  let direct: ReturnType<typeof dmDr>;

  beforeAll(() => {
    fitted = join(dir, 'fitted.arrow');
    direct = dmDr(['--log', log(), '--policy', `greedy=${greedy()}`, '--policy', `uniform=${uniform()}`, '--reward-model', 'logistic', ...MODEL]);
    expect(Object.keys(direct)).toEqual(['greedy', 'uniform']);
    for (const estimates of Object.values(direct)) expect(estimates.map((e) => e.estimator)).toEqual(['dm', 'dr']);
  });

  it('writes the log with q_hat: ope evaluate on the copy gives bit-identical dm and dr to --reward-model on the log', () => {
    const r = runCli(['fit', '--log', log(), '--out', fitted, '--policy', `greedy=${greedy()}`, ...MODEL]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`wrote ${fitted} (3000 rows; the log's contract columns + q_hat, 10 per row)`);
    expect(lines[0]).toMatch(/replaced the log's q_hat/);
    expect(lines[0]).toMatch(/reward model \(dm and the DR family\): logistic, 2-fold cross-fitted on 3000 rows .*tfjs/);
    const reused = dmDr(['--log', fitted, '--policy', `greedy=${greedy()}`, '--policy', `uniform=${uniform()}`]);
    expect(reused).toEqual(direct);
  });

  it('keeps the log: the copy reads back with the same actions, rewards, propensities, request keys and contexts', async () => {
    const [a, b] = await Promise.all([readRows(log()), readRows(fitted)]);
    for (const key of ['action', 'reward', 'propensity', 'clusterKey', 'context'] as const) {
      expect(b[key], key).toEqual(a[key]);
      expect(b[key].length, key).toBeGreaterThan(0);
    }
    // The synthetic q_hat of the log was replaced by the fitted one.
    expect(b.qHat).toHaveLength(30000);
    expect(b.qHat).not.toEqual(a.qHat);
  });

  it('--scalars writes q_hat_logged and policy copies with q_hat_target (Parquet): the same dm and dr, bit for bit', async () => {
    const out = join(dir, 'scalars.parquet');
    const r = runCli(['fit', '--log', log(), '--out', out, '--scalars', '--policy', `greedy=${greedy()}`, '--policy', `uniform=${uniform()}`, ...MODEL, '--batch-rows', '1000', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      tool: string;
      command: string;
      log: string;
      out: string;
      backend: string;
      files: { path: string; kind: string; policy: string | null; rows: number; columns: string[] }[];
      reward_model: { kind: string; backend: string; folds: number; seed: number; n: number; actions: number; log_loss: number; folds_detail: unknown[]; reliability: unknown[] };
    };
    expect(doc).toMatchObject({ tool: 'ope-toolkit', command: 'fit', log: log(), out });
    expect(doc.backend).toMatch(/^tfjs/);
    expect(doc.reward_model).toMatchObject({ kind: 'logistic', backend: doc.backend, folds: 2, seed: 7, n: 3000, actions: 10 });
    expect(doc.reward_model.folds_detail).toHaveLength(2);
    const copies = { greedy: join(dir, 'scalars.policy-greedy.parquet'), uniform: join(dir, 'scalars.policy-uniform.parquet') };
    expect(doc.files.map((f) => [f.path, f.kind, f.policy, f.rows])).toEqual([
      [out, 'log', null, 3000],
      [copies.greedy, 'policy', 'greedy', 3000],
      [copies.uniform, 'policy', 'uniform', 3000],
    ]);
    expect(doc.files[0].columns).toContain('q_hat_logged');
    expect(doc.files[0].columns).not.toContain('q_hat');
    expect(doc.files[1].columns).toEqual(['target_propensity', 'action_dist', 'q_hat_target']);

    const reused = dmDr(['--log', out, '--policy', `greedy=${copies.greedy}`, '--policy', `uniform=${copies.uniform}`]);
    expect(reused).toEqual(direct);

    // The scalars are the list's entries: q_hat at the logged action, and action_dist . q_hat.
    const list = await readRows(fitted);
    const scalars = await readRows(out);
    expect(scalars.qHatLogged).toEqual(list.action.map((a, i) => list.qHat[i * 10 + a]));
    expect(scalars.propensity).toEqual(list.propensity);
    const orig = await readPolicy(greedy());
    const copy = await readPolicy(copies.greedy);
    expect(copy.targetPropensity).toEqual(orig.targetPropensity);
    expect(copy.actionDist).toEqual(orig.actionDist);
    expect(copy.qHatTarget).toEqual(
      orig.targetPropensity.map((_, i) => {
        let s = 0;
        for (let a = 0; a < 10; a++) s += orig.actionDist[i * 10 + a] * list.qHat[i * 10 + a];
        return s;
      }),
    );
  });

  it('--scalars without --policy writes q_hat_logged only and says q_hat_target needs a policy; Parquet lists match Arrow', async () => {
    const out = join(dir, 'list.parquet');
    const r = runCli(['fit', '--log', log(), '--out', out, ...MODEL]);
    expect(r.code, r.stderr).toBe(0);
    const [arrow, parquet] = await Promise.all([readRows(fitted), readRows(out)]);
    expect(parquet).toEqual(arrow);

    const lone = join(dir, 'lone.arrow');
    const s = runCli(['fit', '--log', log(), '--out', lone, '--scalars', ...MODEL]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/q_hat_target needs a target distribution: give --policy NAME=FILE/);
    const rows = await readRows(lone);
    expect(rows.qHatLogged).toEqual(arrow.action.map((a, i) => arrow.qHat[i * 10 + a]));
    expect(rows.qHatTarget).toEqual([]);
  });

  it('exits 2 with one line naming the problem: bad --out extension, --out = --log, a policy without action_dist, a log without rows', async () => {
    const before = readdirSync(dir).sort();
    const ext = runCli(['fit', '--log', log(), '--out', join(dir, 'fitted.txt')]);
    expect(ext.code).toBe(2);
    expect(ext.stderr).toMatch(/^ope: error: cannot write .*fitted\.txt: unsupported file extension '\.txt'; the fitted log can be written as \.arrow, .*\.parquet/);

    const same = runCli(['fit', '--log', log(), '--out', log()]);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/^ope: error: the output .*log\.arrow is the log .*never overwrites its inputs/);

    const scalarOnly = join(dir, 'scalar-policy.csv');
    await writeFile(scalarOnly, 'target_propensity\n' + Array.from({ length: 3000 }, () => '0.1').join('\n') + '\n');
    const noDist = runCli(['fit', '--log', log(), '--out', join(dir, 'x.arrow'), '--policy', `p=${scalarOnly}`]);
    expect(noDist.code).toBe(2);
    expect(noDist.stderr).toMatch(/^ope: error: policy 'p': ope fit needs the target's action_dist .* has no action_dist\n$/);

    const empty = join(dir, 'empty.csv');
    await writeFile(empty, 'action,reward,propensity\n');
    const noRows = runCli(['fit', '--log', empty, '--out', join(dir, 'x.arrow')]);
    expect(noRows.code).toBe(2);
    expect(noRows.stderr).toMatch(/^ope: error: .*empty\.csv: no rows/);

    for (const r of [ext, same, noDist, noRows]) expect(r.stderr.trim().split('\n')).toHaveLength(1);
    // Nothing was written (not even a temporary file).
    expect(readdirSync(dir).sort()).toEqual([...before, 'empty.csv', 'scalar-policy.csv'].sort());
    expect(existsSync(join(dir, 'x.arrow'))).toBe(false);
  });
});
