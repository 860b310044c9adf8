import type { EvaluationResult } from '../engine/results.js';
import { TOOL_VERSION } from '../version.js';

export interface RunInfo {
  readonly command: string;
  readonly log: string;
  /** What computed the numbers (the estimators run on typed arrays in JS; reward models name their TF.js backend). */
  readonly backend: string;
  readonly threads: number;
}

/**
 * The `--json` document of `ope evaluate` (DESIGN.md §4): per policy its diagnostics and, per
 * estimator, {estimator, params, value, se, ci: {method, alpha, lower, upper}}, plus every other
 * interval computed. Non-finite numbers become null (JSON has no NaN).
 */
export function evaluationDocument(r: EvaluationResult, info: RunInfo): Record<string, unknown> {
  return {
    tool: 'ope-toolkit',
    version: TOOL_VERSION,
    command: info.command,
    log: info.log,
    backend: info.backend,
    threads: info.threads,
    seed: r.seed,
    n: r.n,
    bootstrap: r.bootstrap,
    alpha: r.alpha,
    ci_method: r.ciMethod,
    bounds: r.bounds ?? null,
    policies: r.policies.map((p) => ({
      name: p.policy,
      diagnostics: {
        n: p.n,
        requests: p.requests,
        ess: p.ess,
        ess_share: p.essShare,
        mean_weight: p.meanWeight,
        mean_weight_ci: p.meanWeightCi,
        max_weight: p.maxWeight,
        max_weight_share: p.maxWeightShare,
        rows_weight_above_1000: p.rowsWeightAbove1000,
        unsupported_mass: p.unsupportedMass ?? null,
        value_interval_finite_sample: p.valueInterval ?? null,
        ...(p.slate === undefined
          ? {}
          : {
              slates: p.slate.slates,
              slate_ess: p.slate.ess,
              slate_ess_share: p.slate.essShare,
              max_slate_weight: p.slate.maxWeight,
              max_slate_weight_share: p.slate.maxWeightShare,
            }),
      },
      warnings: p.warnings,
      estimates: r.estimates
        .filter((e) => e.policy === p.policy)
        .map((e) => ({
          estimator: e.estimator,
          label: e.label,
          params: e.params,
          value: e.value,
          se: e.se,
          se_method: e.seMethod,
          ci: e.ci,
          intervals: e.intervals,
          diagnostics: e.diagnostics,
          warnings: e.warnings,
        })),
    })),
    warnings: r.warnings,
  };
}

/** JSON with non-finite numbers as null and a trailing newline. */
export function toJson(doc: unknown): string {
  return JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}
