import type { EvaluationResult } from '../engine/results.js';
import { fmt, renderTable } from './format.js';

/** The terminal report of `ope evaluate`: one table of estimates, then diagnostics and warnings. */
export function renderEvaluation(r: EvaluationResult, footer: readonly string[]): string {
  const level = `${Math.round((1 - r.alpha) * 1000) / 10}%`;
  const rows = r.estimates.map((e) => {
    const pd = r.policies.find((p) => p.policy === e.policy);
    // Slate estimators report the ESS of the weights they apply (over slates or slots).
    return [e.policy, e.label, fmt(e.value), fmt(e.se), `[${fmt(e.ci.lower)}, ${fmt(e.ci.upper)}]`, ess(e.diagnostics.weight_ess ?? pd?.ess), e.warnings.length > 0 ? '!' : ''];
  });
  const out: string[] = [];
  out.push(renderTable(['policy', 'estimator', 'estimate', 'se', `${level} CI (${r.ciMethod})`, 'ESS', '!'], rows));
  out.push('');
  out.push(
    renderTable(
      ['policy', 'n', 'requests', 'ESS', 'ESS/n', 'mean w', 'mean w CI', 'max w', 'max w share', 'unsupported', `finite-sample ${level} CI`],
      r.policies.map((p) => [
        p.policy,
        String(p.n),
        String(p.requests),
        ess(p.ess),
        fmt(p.essShare, 3),
        fmt(p.meanWeight),
        `[${fmt(p.meanWeightCi.lower)}, ${fmt(p.meanWeightCi.upper)}]`,
        fmt(p.maxWeight),
        fmt(p.maxWeightShare, 3),
        p.unsupportedMass === undefined ? '-' : fmt(p.unsupportedMass, 3),
        p.valueInterval === undefined ? '-' : `[${fmt(p.valueInterval.lower)}, ${fmt(p.valueInterval.upper)}]`,
      ]),
    ),
  );
  const slatePolicies = r.policies.filter((p) => p.slate !== undefined);
  if (slatePolicies.length > 0) {
    out.push('');
    out.push(
      renderTable(
        ['policy', 'slates', 'slate ESS', 'slate ESS share', 'max slate w', 'max slate w share'],
        slatePolicies.map((p) => {
          const s = p.slate as NonNullable<typeof p.slate>;
          return [p.policy, String(s.slates), ess(s.ess), fmt(s.essShare, 3), fmt(s.maxWeight), fmt(s.maxWeightShare, 3)];
        }),
      ),
    );
  }
  const warnings: string[] = [];
  for (const p of r.policies) for (const w of p.warnings) warnings.push(`${p.policy}: ${w}`);
  for (const e of r.estimates) for (const w of e.warnings) warnings.push(`${e.policy} ${e.label}: ${w}`);
  for (const w of r.warnings) warnings.push(w);
  if (warnings.length > 0) {
    out.push('');
    out.push('Warnings (! in the table):');
    for (const w of warnings) out.push(`  - ${w}`);
  }
  out.push('');
  out.push(...footer);
  return out.join('\n') + '\n';
}

/** Effective sample sizes are counts of rows: whole numbers read best. */
function ess(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '-' : String(Math.round(x));
}
