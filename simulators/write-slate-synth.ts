/**
 * Writes one synthetic slate run to a directory (long slate format of DESIGN.md §2, one row per
 * (slate, position)):
 *   log.<ext>            slate_id, position, action, reward, propensity, propensity_item_position,
 *                        propensity_cascade, propensity_item_positions (list of L), context, q_hat,
 *                        expected_reward_logged
 *   policy-<name>.<ext>  target_propensity, target_propensity_item_position, target_propensity_cascade,
 *                        target_propensity_item_positions (list of L), action_dist per target,
 *                        aligned with the log by row order
 *   truth.json           the true value of every target and of the logger (SlateSynthTruth)
 * in one pass over the generator, all files at once, in bounded memory; every file is written
 * atomically and truth.json last, so its presence means the run is complete.
 */
import { join } from 'node:path';
import { writeFileAtomic, writeTable, type OutBatch, type OutColumnSpec } from '../src/data/write-log.js';
import { TOOL_VERSION } from '../src/version.js';
import { fanOut } from './fan-out.js';
import {
  isLoggerTarget,
  marginalErrorStatement,
  resolveSlateConfig,
  slateTargetName,
  type MarginalErrorStatement,
  type ResolvedSlateSynthConfig,
  type SlateLoggerKind,
  type SlateRewardStructure,
  type SlateSynthConfig,
  type SlateTargetSpec,
} from './slate-config.js';
import { examinationProbabilities } from './slate-rewards.js';
import { SlateSampleTruthAccumulator, slatePopulationTruth } from './slate-truth.js';
import { generateSlateLog, type SlateSynthBatch } from './slate-world.js';
import type { SynthFormat } from './write-bandit-synth.js';
import { createOutputDir, mapBatches } from './synth-output.js';

export interface WriteSlateSynthOptions {
  readonly outDir: string;
  readonly format: SynthFormat;
  /** Slates per generated and written batch (default 4096); the output does not depend on it. */
  readonly batchSlates?: number;
  /** Called after each batch is generated. */
  readonly onProgress?: (slatesDone: number, slatesTotal: number) => void;
}

export interface SlateSynthTargetTruth {
  readonly name: string;
  readonly spec: SlateTargetSpec;
  /** File name inside the output directory. */
  readonly file: string;
  /** The target is the logger itself: every weight is 1. */
  readonly same_as_logger: boolean;
  /** Mean over the logged contexts of E_{slate ~ target}[sum_k r_k | x]. */
  readonly value_sample: number;
  /** Monte Carlo standard error of value_sample (0 when exact). */
  readonly value_sample_se: number;
  readonly value_population: number;
  readonly value_population_se: number;
  /**
   * Bound on |IIPS with the written item-position marginals - IIPS with the exact ones| for this log,
   * holding with the marginals' stated confidence (per-entry Bernstein intervals, union-bounded like
   * max_abs_error_bound); 0 when the marginals are exact. Large when rare items were logged and
   * the sample count is small: then raise --marginal-samples.
   */
  readonly iips_error_bound: number;
}

/** The content of truth.json. */
export interface SlateSynthTruth {
  readonly tool: 'ope-toolkit';
  readonly tool_version: string;
  readonly kind: 'slate';
  readonly seed: number;
  readonly config: ResolvedSlateSynthConfig;
  /** Slates. */
  readonly n: number;
  /** Rows: n * L. */
  readonly n_rows: number;
  readonly L: number;
  readonly K: number;
  readonly d: number;
  readonly logger: { readonly kind: SlateLoggerKind; readonly temperature: number; readonly perturbation: number };
  readonly reward_structure: SlateRewardStructure;
  /** theta_k = 1 / (k + 1)^eta for k = 0..L-1 (additive rewards, what pbm-ips needs); null otherwise. */
  readonly examination: readonly number[] | null;
  /** Per-slot rewards are in this range. */
  readonly slot_reward_range: readonly [number, number];
  /** Slate rewards sum_k r_k are in this range. */
  readonly reward_range: readonly [number, number];
  readonly log_file: string;
  readonly mean_slate_reward: number;
  /**
   * How propensity_item_position and target_propensity_item_position were computed, and their error;
   * logged_max_abs_error_bound: the largest bound of a written entry, each entry's bound being
   * max_abs_error_bound times the largest value its Monte Carlo terms can take (Hoeffding for terms
   * in [0, u]); it holds with the same confidence. The lists propensity_item_positions and
   * target_propensity_item_positions hold the same marginals at every position: at other positions
   * than the row's own they are Monte Carlo estimates too (position 0 exact), within
   * max_abs_error_bound (with its confidence) but not counted in logged_max_abs_error_bound.
   */
  readonly marginals: MarginalErrorStatement & { readonly logged_max_abs_error_bound: number };
  /** Whether value_sample (and logging_value) are exact given the logged contexts. */
  readonly value_sample_exact: boolean;
  readonly logging_value: number;
  readonly logging_value_se: number;
  readonly logging_value_population: number;
  readonly logging_value_population_se: number;
  readonly population_samples: number;
  /** 'exact': each fresh context's value is exact (factorized); else a one-slate Rao-Blackwellized estimate. */
  readonly population_per_context: 'exact' | 'one-slate-rao-blackwellized';
  readonly targets: readonly SlateSynthTargetTruth[];
}

export interface SlateSynthResult {
  /** Paths of every file written, log first and truth.json last. */
  readonly files: readonly string[];
  readonly truth: SlateSynthTruth;
}

/** The logger's columns of the slate contract (DESIGN.md §2), as `ope synth --slate` and `ope simulate` write them. */
export function slateLoggerSchema(L: number): OutColumnSpec[] {
  return [
    { name: 'slate_id', kind: 'int32' },
    { name: 'position', kind: 'int32' },
    { name: 'action', kind: 'int32' },
    { name: 'reward', kind: 'float64' },
    { name: 'propensity', kind: 'float64' },
    { name: 'propensity_item_position', kind: 'float64' },
    { name: 'propensity_cascade', kind: 'float64' },
    { name: 'propensity_item_positions', kind: 'list', width: L },
  ];
}

/** A target's columns of the slate contract, without action_dist. */
export function slateTargetSchema(L: number): OutColumnSpec[] {
  return [
    { name: 'target_propensity', kind: 'float64' },
    { name: 'target_propensity_item_position', kind: 'float64' },
    { name: 'target_propensity_cascade', kind: 'float64' },
    { name: 'target_propensity_item_positions', kind: 'list', width: L },
  ];
}

export function slateLogSchema(K: number, d: number, L: number): OutColumnSpec[] {
  return [...slateLoggerSchema(L), { name: 'context', kind: 'list', width: d }, { name: 'q_hat', kind: 'list', width: K }, { name: 'expected_reward_logged', kind: 'float64' }];
}

export function slatePolicySchema(K: number, L: number): OutColumnSpec[] {
  return [...slateTargetSchema(L), { name: 'action_dist', kind: 'list', width: K }];
}

export function slateLogColumns(b: SlateSynthBatch): OutBatch {
  return {
    n: b.n,
    columns: {
      slate_id: b.slateId,
      position: b.position,
      action: b.action,
      reward: b.reward,
      propensity: b.propensity,
      propensity_item_position: b.propensityItemPosition,
      propensity_cascade: b.propensityCascade,
      propensity_item_positions: b.propensityItemPositions,
      context: b.context,
      q_hat: b.qHat,
      expected_reward_logged: b.expectedRewardLogged,
    },
  };
}

export function slatePolicyColumns(b: SlateSynthBatch, target: number): OutBatch {
  const t = b.targets[target];
  return {
    n: b.n,
    columns: {
      target_propensity: t.targetPropensity,
      target_propensity_item_position: t.targetPropensityItemPosition,
      target_propensity_cascade: t.targetPropensityCascade,
      target_propensity_item_positions: t.targetPropensityItemPositions,
      action_dist: t.actionDist,
    },
  };
}

export async function writeSlateSynth(config: SlateSynthConfig, options: WriteSlateSynthOptions): Promise<SlateSynthResult> {
  const cfg = resolveSlateConfig(config);
  const { outDir, format } = options;
  const K = cfg.actions;
  const L = cfg.slateLength;
  const d = cfg.dim;
  await createOutputDir(outDir);

  const marginals = marginalErrorStatement(cfg);
  const population = slatePopulationTruth(cfg);
  const logFile = `log.${format}`;
  const names = cfg.targets.map(slateTargetName);
  const policyFiles = names.map((name) => `policy-${name}.${format}`);

  const sample = new SlateSampleTruthAccumulator(marginals);
  const onProgress = options.onProgress;
  function* observed(): Generator<SlateSynthBatch, void, undefined> {
    for (const batch of generateSlateLog(cfg, options.batchSlates)) {
      sample.add(batch);
      onProgress?.(batch.slateOffset + batch.slates, cfg.n);
      yield batch;
    }
  }

  const writeLog = (batches: AsyncIterable<SlateSynthBatch>): Promise<unknown> => writeTable(join(outDir, logFile), slateLogSchema(K, d, L), mapBatches(batches, slateLogColumns));
  const writePolicies = policyFiles.map(
    (file, t) =>
      (batches: AsyncIterable<SlateSynthBatch>): Promise<unknown> =>
        writeTable(
          join(outDir, file),
          slatePolicySchema(K, L),
          mapBatches(batches, (b) => slatePolicyColumns(b, t)),
        ),
  );
  await fanOut(observed(), [writeLog, ...writePolicies]);

  const s = sample.result();
  const truth: SlateSynthTruth = {
    tool: 'ope-toolkit',
    tool_version: TOOL_VERSION,
    kind: 'slate',
    seed: cfg.seed,
    config: cfg,
    n: cfg.n,
    n_rows: cfg.n * L,
    L,
    K,
    d,
    logger: { kind: cfg.logger, temperature: cfg.loggingTemperature, perturbation: cfg.loggingPerturbation },
    reward_structure: cfg.reward,
    examination: cfg.reward === 'additive' ? Array.from(examinationProbabilities(L, cfg.examinationDecay)) : null,
    slot_reward_range: [0, 1],
    reward_range: [0, L],
    log_file: logFile,
    mean_slate_reward: s.meanSlateReward,
    marginals: { ...marginals, logged_max_abs_error_bound: s.loggedItemPositionErrorBound },
    value_sample_exact: s.exact,
    logging_value: s.logging.value,
    logging_value_se: s.logging.se,
    logging_value_population: population.logging.value,
    logging_value_population_se: population.logging.se,
    population_samples: population.samples,
    population_per_context: population.perContext,
    targets: cfg.targets.map((spec, t) => ({
      name: names[t],
      spec,
      file: policyFiles[t],
      same_as_logger: isLoggerTarget(spec, cfg),
      value_sample: s.targets[t].value,
      value_sample_se: s.targets[t].se,
      value_population: population.targets[t].value,
      value_population_se: population.targets[t].se,
      iips_error_bound: s.targets[t].iipsErrorBound,
    })),
  };
  const truthPath = join(outDir, 'truth.json');
  await writeFileAtomic(truthPath, JSON.stringify(truth, null, 2) + '\n');
  return { files: [join(outDir, logFile), ...policyFiles.map((f) => join(outDir, f)), truthPath], truth };
}
