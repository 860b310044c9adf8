import { estimatorNeedsRewardModel } from '../../estimators/registry.js';
import type { RewardModelReport } from '../reward-model/fit-log.js';
import { fmt } from './format.js';

/** One footer line: what was fitted, where, and how good it is on held-out rows. */
export function rewardModelLine(r: RewardModelReport): string {
  const q = r.quality;
  const fit = r.likelihood === 'bernoulli' ? `held-out log loss ${fmt(q.logLoss ?? NaN)}, RMSE ${fmt(q.rmse)}` : `held-out RMSE ${fmt(q.rmse)}`;
  const epochs = r.foldReports.map((f) => f.bestEpoch).join('/');
  return (
    `reward model (dm and the DR family): ${r.kind}, ${r.folds}-fold cross-fitted on ${r.n} rows (${r.features} features, ${r.actions} actions` +
    `${r.positions > 0 ? `, ${r.positions} positions` : ''}), ${fit} (constant predictor ${fmt(q.baselineRmse)}), ECE ${fmt(q.ece)}; best epochs ${epochs}; ` +
    `${r.backend}; ${r.seconds.toFixed(1)} s` +
    (r.backendFallbacks.length > 0 ? ` (${r.backendFallbacks.join('; ')})` : '')
  );
}

/** The model's summary in snake_case for `--json`. */
export function rewardModelSummary(r: RewardModelReport): Record<string, unknown> {
  return {
    kind: r.kind,
    backend: r.backend,
    folds: r.folds,
    likelihood: r.likelihood,
    log_loss: r.quality.logLoss ?? null,
    rmse: r.quality.rmse,
    baseline_rmse: r.quality.baselineRmse,
    ece: r.quality.ece,
  };
}

/**
 * Adds `reward_model` (backend, folds, per-fold training, quality with the reliability table) to
 * the document, and the quality summary to every estimate that used the fitted q_hat.
 */
export function rewardModelJson(doc: Record<string, unknown>, r: RewardModelReport): void {
  doc.reward_model = rewardModelDocument(r);
  const summary = rewardModelSummary(r);
  const policies = doc.policies as { estimates: { estimator: string; reward_model?: unknown }[] }[];
  for (const p of policies) for (const e of p.estimates) if (estimatorNeedsRewardModel(e.estimator)) e.reward_model = summary;
}

/** The whole `reward_model` object of `--json` (`ope evaluate --reward-model`, `ope fit`). */
export function rewardModelDocument(r: RewardModelReport): Record<string, unknown> {
  return {
    ...rewardModelSummary(r),
    backend_fallbacks: r.backendFallbacks,
    seed: r.seed,
    n: r.n,
    features: r.features,
    actions: r.actions,
    positions: r.positions,
    seconds: r.seconds,
    folds_detail: r.foldReports.map((f) => ({
      fold: f.fold,
      train_rows: f.trainRows,
      validation_rows: f.validationRows,
      held_out_rows: f.heldOutRows,
      epochs: f.epochs,
      best_epoch: f.bestEpoch,
      validation_loss: f.validationLoss,
    })),
    reliability: r.quality.reliability.map((b) => ({ lower: b.lower, upper: b.upper, count: b.count, mean_predicted: b.meanPredicted, mean_observed: b.meanObserved })),
  };
}
