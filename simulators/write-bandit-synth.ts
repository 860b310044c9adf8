/**
 * Writes one synthetic bandit run to a directory:
 *   log.<ext>            request_id, action, reward, propensity, context, q_hat, expected_reward_logged
 *   policy-<name>.<ext>  action_dist, target_propensity per target, aligned with the log by row order
 *   truth.json           the true value of every target and of the logger (BanditSynthTruth)
 * in one pass over the generator, all files at once, in bounded memory. truth.json is written last,
 * so its presence means the run is complete.
 */
import { join } from 'node:path';
import { writeFileAtomic, writeTable, type OutColumnSpec } from '../src/data/write-log.js';
import { TOOL_VERSION } from '../src/version.js';
import type { TargetSpec } from './bandit-policies.js';
import { populationTruth, SampleTruthAccumulator } from './bandit-truth.js';
import { generateBanditLog, resolveBanditConfig, type BanditSynthConfig, type ResolvedBanditSynthConfig, type SynthBatch } from './bandit-world.js';
import { fanOut } from './fan-out.js';
import { createOutputDir, mapBatches } from './synth-output.js';

export type SynthFormat = 'arrow' | 'parquet' | 'csv' | 'jsonl';

export const SYNTH_FORMATS: readonly SynthFormat[] = ['arrow', 'parquet', 'csv', 'jsonl'];

export interface WriteBanditSynthOptions {
  readonly outDir: string;
  readonly format: SynthFormat;
  /** Rows per generated and written batch (default 100000); the output does not depend on it. */
  readonly batchRows?: number;
  /** Called after each batch is generated. */
  readonly onProgress?: (rowsDone: number, rowsTotal: number) => void;
}

export interface SynthTargetTruth {
  readonly name: string;
  readonly spec: TargetSpec;
  /** File name inside the output directory. */
  readonly file: string;
  readonly value_sample: number;
  readonly value_population: number;
  readonly value_population_se: number;
}

/** The content of truth.json. */
export interface BanditSynthTruth {
  readonly tool: 'ope-toolkit';
  readonly tool_version: string;
  readonly seed: number;
  readonly config: ResolvedBanditSynthConfig;
  readonly n: number;
  readonly K: number;
  readonly d: number;
  /** Known a priori (for bounds such as empirical Bernstein); null when rewards are unbounded. */
  readonly reward_range: readonly [number, number] | null;
  /** Every logged propensity is at least this (0: no floor was asked for). */
  readonly propensity_floor: number;
  readonly log_file: string;
  readonly mean_reward: number;
  /** The logging policy's sample truth; population value and se beside it. */
  readonly logging_value: number;
  readonly logging_value_population: number;
  readonly logging_value_population_se: number;
  readonly population_samples: number;
  readonly targets: readonly SynthTargetTruth[];
}

export interface BanditSynthResult {
  /** Paths of every file written, log first and truth.json last. */
  readonly files: readonly string[];
  readonly truth: BanditSynthTruth;
}

function logSchema(K: number, d: number): OutColumnSpec[] {
  return [
    { name: 'request_id', kind: 'int32' },
    { name: 'action', kind: 'int32' },
    { name: 'reward', kind: 'float64' },
    { name: 'propensity', kind: 'float64' },
    { name: 'context', kind: 'list', width: d },
    { name: 'q_hat', kind: 'list', width: K },
    { name: 'expected_reward_logged', kind: 'float64' },
  ];
}

function policySchema(K: number): OutColumnSpec[] {
  return [
    { name: 'action_dist', kind: 'list', width: K },
    { name: 'target_propensity', kind: 'float64' },
  ];
}

export async function writeBanditSynth(config: BanditSynthConfig, options: WriteBanditSynthOptions): Promise<BanditSynthResult> {
  const cfg = resolveBanditConfig(config);
  const { outDir, format } = options;
  const K = cfg.actions;
  const d = cfg.dim;
  await createOutputDir(outDir);

  const population = populationTruth(cfg);
  const logFile = `log.${format}`;
  const policyFiles = population.targets.map((t) => `policy-${t.name}.${format}`);

  const sample = new SampleTruthAccumulator();
  const onProgress = options.onProgress;
  function* observed(): Generator<SynthBatch, void, undefined> {
    for (const batch of generateBanditLog(cfg, options.batchRows)) {
      sample.add(batch);
      onProgress?.(batch.rowOffset + batch.n, cfg.n);
      yield batch;
    }
  }

  const writeLog = (batches: AsyncIterable<SynthBatch>): Promise<unknown> =>
    writeTable(
      join(outDir, logFile),
      logSchema(K, d),
      mapBatches(batches, (b) => ({
        n: b.n,
        columns: {
          request_id: b.requestId,
          action: b.action,
          reward: b.reward,
          propensity: b.propensity,
          context: b.context,
          q_hat: b.qHat,
          expected_reward_logged: b.expectedRewardLogged,
        },
      })),
    );
  const writePolicies = policyFiles.map(
    (file, t) =>
      (batches: AsyncIterable<SynthBatch>): Promise<unknown> =>
        writeTable(
          join(outDir, file),
          policySchema(K),
          mapBatches(batches, (b) => ({ n: b.n, columns: { action_dist: b.targets[t].actionDist, target_propensity: b.targets[t].targetPropensity } })),
        ),
  );
  await fanOut(observed(), [writeLog, ...writePolicies]);

  const s = sample.result();
  const truth: BanditSynthTruth = {
    tool: 'ope-toolkit',
    tool_version: TOOL_VERSION,
    seed: cfg.seed,
    config: cfg,
    n: cfg.n,
    K,
    d,
    reward_range: cfg.reward === 'logistic' ? [0, 1] : null,
    propensity_floor: cfg.minPropensity,
    log_file: logFile,
    mean_reward: s.meanReward,
    logging_value: s.logging,
    logging_value_population: population.logging.value,
    logging_value_population_se: population.logging.se,
    population_samples: population.samples,
    targets: cfg.targets.map((spec, t) => ({
      name: population.targets[t].name,
      spec,
      file: policyFiles[t],
      value_sample: s.targets[t],
      value_population: population.targets[t].value,
      value_population_se: population.targets[t].se,
    })),
  };
  const truthPath = join(outDir, 'truth.json');
  await writeFileAtomic(truthPath, JSON.stringify(truth, null, 2) + '\n');
  return { files: [join(outDir, logFile), ...policyFiles.map((f) => join(outDir, f)), truthPath], truth };
}
