import type { GateResult } from '../gate/types.js';
import { COLOUR_WORD, DECISION_MEANING, DECISION_TEXT, ROLLBACK_NOTE, confidenceLevel, formatCount, formatInterval, formatSigned, formatThresholds, formatValue } from './gate-format.js';

/*
 * The one-page Markdown release memo of `ope gate` (issue 7), in the shape release teams file:
 * release_id, scope, gates, estimates, known_risks, mitigations, decision, next_review_at. A
 * rendering of the GateResult and the caller's metadata only: no clock, no environment, so the
 * same inputs give the same bytes.
 */

export interface GateMemoMeta {
  /** e.g. 'ranker-v7 2025-10-14'; 'not set' when absent. */
  readonly releaseId?: string;
  /** What the release covers; default: candidate vs baseline on the log and its rows. */
  readonly scope?: string;
  /** When the decision is looked at again (any text, e.g. an ISO date); 'not set' when absent. */
  readonly nextReviewAt?: string;
}

/** Text safe in a Markdown table cell: one line, pipes escaped. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

/** Text safe on one Markdown line (a bullet or a paragraph). */
function line(text: string): string {
  return text.replace(/\r?\n/g, ' ');
}

function table(columns: readonly string[], rows: readonly (readonly string[])[], align: readonly ('l' | 'r')[]): string[] {
  return [`| ${columns.map(cell).join(' | ')} |`, `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}

function defaultScope(result: GateResult): string {
  const rows =
    `${formatCount(result.rows.used)} of ${formatCount(result.rows.read)} rows used` + (result.rows.immature > 0 ? `, ${formatCount(result.rows.immature)} with immature labels left out` : '');
  return `candidate \`${result.candidate.name}\` against baseline \`${result.baseline.name}\` on the log \`${result.log}\` (${rows})`;
}

/** The Markdown release memo of a gate result (deterministic: same inputs, same text). */
export function gateMemoMarkdown(result: GateResult, meta: GateMemoMeta = {}): string {
  const out: string[] = [];
  const v = result.verdict;
  out.push(`# Release memo: ${line(result.candidate.name)} vs ${line(result.baseline.name)}`);
  out.push('');
  out.push(`- **release_id:** ${line(meta.releaseId ?? 'not set')}`);
  out.push(`- **scope:** ${line(meta.scope ?? defaultScope(result))}`);
  out.push(`- **verdict:** **${COLOUR_WORD[v.colour]}**, ${DECISION_TEXT[v.decision]}`);
  out.push(
    `- **evidence:** offline evaluation (\`ope gate\`, ${result.tool} ${result.version}); ${result.bootstrap.replicates} bootstrap replicates, seed ${result.bootstrap.seed}, ${confidenceLevel(result.bootstrap.alpha)} intervals`,
  );
  out.push('');

  out.push('## gates');
  out.push('');
  out.push(
    ...table(
      ['check', 'status', 'value', 'unit', 'thresholds'],
      result.checks.map((c) => [c.name, `**${COLOUR_WORD[c.colour]}**`, formatValue(c.value), c.unit, formatThresholds(c.thresholds)]),
      ['l', 'l', 'r', 'l', 'l'],
    ),
  );
  out.push('');

  out.push('## estimates');
  out.push('');
  out.push(`Difference candidate - baseline per estimator (paired, on the same bootstrap weights), reward per decision.`);
  out.push('');
  out.push(
    ...table(
      ['estimator', 'candidate', 'baseline', 'difference', 'interval'],
      result.differences.map((d) => [d.estimator, formatValue(d.candidate), formatValue(d.baseline), formatSigned(d.difference), formatInterval(d.ci)]),
      ['l', 'r', 'r', 'r', 'l'],
    ),
  );
  if (result.differences.length === 0) out.push('', 'No estimator could be computed on these inputs.');
  out.push('');

  const nonGreen = result.checks.filter((c) => c.colour !== 'green');
  out.push('## known_risks');
  out.push('');
  if (nonGreen.length === 0) out.push('- none: every check is green.');
  for (const c of nonGreen) out.push(`- **${COLOUR_WORD[c.colour]}** ${line(c.name)}: ${line(c.detail)}`);
  for (const w of result.warnings) out.push(`- warning: ${line(w)}`);
  out.push('');

  const yellow = result.checks.filter((c) => c.colour === 'yellow');
  out.push('## mitigations');
  out.push('');
  if (yellow.length === 0) out.push('- none required: no check is yellow.');
  for (const c of yellow) out.push(`- ${line(c.name)}: ${line(c.mitigation ?? 'no mitigation given by the gate; decide one before shipping.')}`);
  const redWithFix = result.checks.filter((c) => c.colour === 'red' && c.mitigation !== undefined);
  if (redWithFix.length > 0) {
    out.push('');
    out.push('To clear the red checks (the gate holds until they are):');
    out.push('');
    for (const c of redWithFix) out.push(`- ${line(c.name)}: ${line(c.mitigation as string)}`);
  }
  out.push('');

  out.push('## decision');
  out.push('');
  out.push(`decision: **${DECISION_TEXT[v.decision]}** (verdict **${COLOUR_WORD[v.colour]}**): ${DECISION_MEANING[v.decision]}`);
  out.push('');
  out.push(ROLLBACK_NOTE);
  out.push('');

  out.push('## next_review_at');
  out.push('');
  out.push(line(meta.nextReviewAt ?? 'not set'));
  out.push('');
  return out.join('\n');
}
