/**
 * ope-toolkit's library entry point: read logs, run estimators with bootstrap intervals and
 * diagnostics, generate synthetic logs with known truth. The CLI (`ope`) is built on exactly this.
 */

// Data: the log contract, readers, writers, validation.
export type { LogBatch, PolicyBatch, ListColumn } from './data/batch.js';
export { InputError, UsageError } from './data/errors.js';
export { openLog, openPolicy, type LogSource, type PolicySource, type ReadOptions } from './data/read-log.js';
export { writeTable, writeFileAtomic, type OutBatch, type OutColumnSpec, type OutColumnKind } from './data/write-log.js';
export { validateLog, type ValidationReport, type ValidationWarning } from './data/validate.js';
export { logBatchFromArrays, policyBatchFromArrays, type ArrayLog, type ArrayPolicy } from './data/from-arrays.js';
export { resolveBanditColumns, type BanditColumns } from './data/bandit-columns.js';
export { clusterKeyOf } from './data/cluster-key.js';

// Estimators: one file each in estimators/, parsed from 'switch-dr:tau=5' specs.
export type { Estimator, RowStatistic } from '../estimators/estimator.js';
export { parseEstimatorSpec, parseEstimatorList, ESTIMATOR_NAMES } from '../estimators/registry.js';
export { directMethod } from '../estimators/dm.js';
export { inversePropensityScoring } from '../estimators/ips.js';
export { selfNormalizedIps } from '../estimators/snips.js';
export { clippedIps } from '../estimators/clipped-ips.js';
export { subGaussianIps } from '../estimators/sg-ips.js';
export { doublyRobust } from '../estimators/dr.js';
export { selfNormalizedDoublyRobust } from '../estimators/sndr.js';
export { switchDoublyRobust } from '../estimators/switch-dr.js';
export { doublyRobustOptimisticShrinkage } from '../estimators/dr-os.js';
export { slateIps } from '../estimators/slate-ips.js';
export { independentIps } from '../estimators/iips.js';
export { rewardInteractionIps } from '../estimators/rips.js';
export { pseudoInverse } from '../estimators/pi.js';
export { pbmIps } from '../estimators/pbm-ips.js';
export { cascadeDoublyRobust } from '../estimators/cascade-dr.js';

// Engine: one pass, every estimator and policy, bootstrap on shared weights.
export { evaluateLog, type EvaluateLogOptions, type EvaluateLogResult } from './evaluate-log.js';
export { evaluateStream, type EvaluateOptions } from './engine/evaluate.js';
export { alignPolicies, type PolicyInput } from './engine/align.js';
export type { AlignedBatch } from './engine/reblock.js';
export type { EvaluationResult, EstimateResult, PolicyDiagnostics, KnownBounds } from './engine/results.js';
export { evaluationDocument, toJson } from './report/evaluation-json.js';

// Reward models (issue 5): fit once, write a copy of the log with q_hat for reuse.
export { writeFittedLog, fittedPolicyPath, type WriteFittedOptions, type WriteFittedResult, type FittedFile } from './reward-model/write-fitted.js';

// Replay of adaptive policies (issue 8): the policy interface, built-in learners, the engine.
export {
  replayLog,
  summarizeLog,
  curveGrid,
  REPLAY_METHODS,
  type ReplayLog,
  type ReplayOptions,
  type ReplayResult,
  type ReplayRun,
  type PolicyReplayResult,
  type ReplayMethod,
  type LogSummary,
} from './replay/engine.js';
export type { ReplayPolicy, ReplayPolicyFactory, ReplayPolicySpec } from './replay/policy.js';
export { parseReplayPolicySpec, resolveReplayPolicies, type LearnerSpec } from './replay/specs.js';
export { epsilonGreedy } from './replay/learners/epsilon-greedy.js';
export { linUcb } from './replay/learners/linucb.js';
export { thompsonLinear } from './replay/learners/thompson.js';
export { loadFixedPolicy } from './replay/learners/fixed.js';
export { acceptanceProbability, defaultMaxRatio, uniformLoggerAccepts, sampleFromDistribution } from '../estimators/replay.js';

// Statistics: the exact bootstrap-weight spec and the intervals.
export { mix32, poissonWeight, poisson1, POISSON1_THRESHOLDS } from './stats/hash.js';
export { percentileInterval, bcaInterval, normalInterval, bernsteinInterval, type Interval, type IntervalMethod } from './stats/intervals.js';
export { normalCdf, normalQuantile } from './stats/normal.js';

// Simulators: synthetic bandit logs with known ground truth.
export { generateBanditLog, type BanditSynthConfig, type SynthBatch, type TargetSpec } from '../simulators/bandit-world.js';
export { populationTruth } from '../simulators/bandit-truth.js';
export { writeBanditSynth } from '../simulators/write-bandit-synth.js';
export { synthAligned, synthToAligned } from '../simulators/synth-batches.js';
export { generateSlateLog, type SlateSynthConfig, type SlateSynthBatch } from '../simulators/slate-world.js';
export { writeSlateSynth } from '../simulators/write-slate-synth.js';
export { slateSynthAligned, slateSynthToAligned } from '../simulators/slate-batches.js';
export { slatePopulationTruth, type SlatePopulationTruth } from '../simulators/slate-truth.js';
export type { SlateTargetSpec } from '../simulators/slate-config.js';
export { makeBanditWorld, resolveBanditConfig, expectedRewardsInto, type BanditWorld } from '../simulators/bandit-world.js';
export { servedLog, runOnline, type OnlineLogger } from '../simulators/bandit-online.js';
export { simulateReleases, clickRankingMetrics, DEFAULT_CANDIDATES, RELEASE_LAGS_DAYS, RELEASE_WORLD_DEFAULTS, type CandidateRecipe, type ReleaseRow, type ReleaseSimulation, type ReleaseSimulationConfig } from '../simulators/releases.js';
export { runCoverageStudy, type CoverageStudy, type CoverageCell } from '../simulators/coverage-study.js';

// The feedback-loop simulator (issue 6): a ground-truth world, a TF.js two-tower recommender
// retrained on its own logs, exploration wrappers with exact propensities, metrics per round.
export { loadTf, type TfRuntime, type BackendChoice } from './tf/backend.js';
export {
  runFeedbackLoop,
  resolveScenario,
  trainingLogOf,
  SCENARIO_PRESETS,
  FEEDBACK_LOOP_MODEL_DEFAULTS,
  type FeedbackLoopConfig,
  type FeedbackLoopOptions,
  type FeedbackLoopResult,
  type FeedbackLoopCheckpoint,
  type FeedbackLoopTiming,
  type FeedbackRoundMetrics,
  type FeedbackRoundRows,
  type FeedbackTrainingLog,
  type ScenarioPreset,
  type ScenarioSpec,
} from '../simulators/feedback-loop.js';
export { FEEDBACK_WORLD_DEFAULTS, resolveFeedbackWorldConfig, type FeedbackWorldConfig } from '../simulators/feedback-config.js';
export { makeFeedbackWorld, arrivals, relevance, examination, oracleValue, policyValueFromMarginals, type FeedbackWorld } from '../simulators/feedback-world.js';
export { makeExploration, SlateRowBuilder, type ExplorationPolicy, type ExplorationSpec } from '../simulators/exploration.js';
export { createTwoTower, scoreAll, type TwoTowerConfig, type TwoTowerModel, type TwoTowerOptimizer, type TwoTowerState } from '../simulators/two-tower.js';
export { readCheckpoint, writeCheckpoint, readHistory, writeHistory } from '../simulators/feedback-checkpoint.js';

// Reports: self-contained HTML pages with SVG charts (vega-lite, rendered offline).
export { simulateReportHtml, type SimulateReportInput } from './report/simulate-report.js';
export { gateReportHtml, GATE_CHART_IDS } from './report/gate-html.js';
export { gateMemoMarkdown, type GateMemoMeta } from './report/gate-memo.js';
export { lineChartSvg, seriesFromRows, type LineChartOptions, type LineSeries } from './report/charts.js';
export { htmlPage, htmlTable, escapeHtml, chartFigure, chartGrid } from './report/html-page.js';

// The OPE sanity gate and candidate filtering (issue 7).
export { runGate, type GateOptions } from './gate/run-gate.js';
export { GATE_DEFAULTS, resolveGateConfig, readGateConfig, type GateConfig } from './gate/config.js';
export { runFilter, policiesInFolder, type FilterOptions, type FilterResult, type FilterRow, type FilterMethod } from './gate/filter.js';
export { GATE_EXIT_CODES, type GateResult, type GateCheck, type GateColour, type GateDifference, type GateSlice } from './gate/types.js';
export { gateSummary } from './report/gate-summary.js';
export { maxTCritical, holmAdjusted } from './stats/simultaneous.js';

// Predictive validation (issue 9): does an offline delta predict the online delta of a release?
export { midRanks, pearson, spearman, signAgreement } from './stats/rank-correlation.js';
export { readReleases, type ReleaseRecord } from './predictive/read-releases.js';
export {
  evaluatePredictive,
  runPredictive,
  PREDICTIVE_DEFAULTS,
  PREDICTIVE_RULES,
  type PredictiveLag,
  type PredictiveMetric,
  type PredictiveOptions,
  type PredictivePoint,
  type PredictiveResult,
  type PredictiveRules,
  type PredictiveVerdict,
  type StatWithInterval,
} from './predictive/protocol.js';
export { predictiveReportHtml, predictiveTable } from './report/predictive-report.js';

export { TOOL_VERSION } from './version.js';
