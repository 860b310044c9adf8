import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/run-cli.js';

/** `ope evaluate --reward-model` as a user runs it: what it prints, what --json carries, how it fails. */

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-cli-rm-'));
  const r = runCli(['synth', '--out', dir, '--n', '4000', '--seed', '8']);
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const log = () => join(dir, 'log.arrow');
const policy = () => `greedy=${join(dir, 'policy-softmax-0.1.arrow')}`;

describe('ope evaluate --reward-model', () => {
  it('names the TF.js backend and reports the model quality in --json, on the estimates that used it too', async () => {
    const r = runCli(['evaluate', '--log', log(), '--policy', policy(), '--reward-model', 'logistic', '--folds', '2', '--estimators', 'ips,dm,dr', '--bootstrap', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      backend: string;
      reward_model: { backend: string; folds: number; likelihood: string; log_loss: number; ece: number; reliability: { count: number }[]; folds_detail: unknown[] };
      policies: { estimates: { estimator: string; reward_model?: { backend: string; log_loss: number } }[] }[];
    };
    expect(doc.backend).toMatch(/reward model on tfjs 4\.22\.0 \((wasm|cpu)|reward model on tfjs-node/);
    expect(doc.reward_model.backend).toBe(doc.backend.replace(/^.*reward model on /, ''));
    expect(doc.reward_model.folds).toBe(2);
    expect(doc.reward_model.folds_detail).toHaveLength(2);
    expect(doc.reward_model.likelihood).toBe('bernoulli');
    expect(doc.reward_model.reliability.reduce((s, b) => s + b.count, 0)).toBe(4000);
    const est = doc.policies[0].estimates;
    expect(est.find((e) => e.estimator === 'ips')?.reward_model).toBeUndefined();
    for (const name of ['dm', 'dr']) expect(est.find((e) => e.estimator === name)?.reward_model?.log_loss).toBe(doc.reward_model.log_loss);
    // The synthetic q_hat in the log was replaced: the table footer says which model ran.
    const table = runCli(['evaluate', '--log', log(), '--policy', policy(), '--reward-model', 'logistic', '--folds', '2', '--estimators', 'dm', '--bootstrap', '0']);
    expect(table.stdout).toMatch(/reward model \(dm and the DR family\): logistic, 2-fold cross-fitted on 4000 rows \(5 features, 10 actions\), held-out log loss/);
  });

  it('gives the same numbers on every run with the same seed', () => {
    const args = ['evaluate', '--log', log(), '--policy', policy(), '--reward-model', 'mlp', '--folds', '2', '--estimators', 'dr', '--bootstrap', '20', '--json'];
    const a = JSON.parse(runCli(args).stdout) as { policies: unknown; reward_model: { seconds: number } };
    const b = JSON.parse(runCli(args).stdout) as { policies: unknown; reward_model: { seconds: number } };
    expect(b.policies).toEqual(a.policies);
  });

  it('rejects a forced backend that is not installed, a bad backend name and a target without action_dist, with exit 2', async () => {
    const node = runCli(['evaluate', '--log', log(), '--policy', policy(), '--reward-model', 'logistic', '--tf-backend', 'node']);
    expect(node.code).toBe(2);
    expect(node.stderr).toMatch(/^ope: error: the tfjs-node backend was asked for but @tensorflow\/tfjs-node does not load here/);
    const bad = runCli(['evaluate', '--log', log(), '--policy', policy(), '--reward-model', 'logistic', '--tf-backend', 'gpu']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--tf-backend must be one of auto, node, wasm, cpu, got 'gpu'/);
    // A policy file with target_propensity only: q_hat cannot be averaged under the target.
    const scalarOnly = join(dir, 'scalar-policy.csv');
    const { writeFile } = await import('node:fs/promises');
    const truth = JSON.parse(await readFile(join(dir, 'truth.json'), 'utf8')) as { n: number };
    await writeFile(scalarOnly, 'target_propensity\n' + Array.from({ length: truth.n }, () => '0.1').join('\n') + '\n');
    // A missing feature would make every q_hat NaN: an input error naming the file, column and row.
    const nanLog = join(dir, 'nan-context.csv');
    await writeFile(nanLog, 'action,reward,propensity,x_0,action_dist_0,action_dist_1\n0,1,0.5,0.3,0.5,0.5\n1,0,0.5,NaN,0.5,0.5\n');
    const nan = runCli(['evaluate', '--log', nanLog, '--reward-model', 'logistic']);
    expect(nan.code).toBe(2);
    expect(nan.stderr).toMatch(/nan-context\.csv: column 'context', row 1: context feature 0 is NaN \(missing or not finite\)/);
    const noDist = runCli(['evaluate', '--log', log(), '--policy', `p=${scalarOnly}`, '--reward-model', 'logistic']);
    expect(noDist.code).toBe(2);
    expect(noDist.stderr).toMatch(/policy 'p': a fitted reward model needs the target's action_dist/);
  });
});
