import type { GateResult } from '../gate/types.js';
import { renderTable } from './format.js';

/**
 * The gate's terminal summary: the estimates, then one line per check (worst first), then the
 * verdict and what it asks for. Plain text, no colour codes (it goes to CI logs as often as to a
 * terminal).
 */

function f(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(4);
}

const signed = (x: number): string => (x >= 0 ? '+' : '') + f(x);

const ORDER = { red: 0, yellow: 1, green: 2 } as const;

export function gateSummary(r: GateResult): string {
  const lines: string[] = [];
  const level = Math.round(100 * (1 - r.bootstrap.alpha));
  lines.push(
    `ope gate: candidate '${r.candidate.name}' against baseline '${r.baseline.name}' on ${r.log}: ${r.rows.used} of ${r.rows.read} rows used` +
      (r.rows.immature > 0 ? ` (${r.rows.immature} without a mature label left out)` : '') +
      `, ${r.bootstrap.replicates} bootstrap replicates, seed ${r.bootstrap.seed}`,
  );
  if (r.differences.length > 0) {
    lines.push('');
    const head = ['estimator', r.candidate.name, r.baseline.name, `difference [${level}% CI]`];
    const rows = r.differences.map((d) => [d.estimator, f(d.candidate), f(d.baseline), `${signed(d.difference)} [${f(d.ci.lower)}, ${f(d.ci.upper)}]`]);
    lines.push(
      ...renderTable(head, rows)
        .split('\n')
        .map((l) => '  ' + l),
    );
  }
  if (r.slices.length > 0) {
    lines.push('');
    for (const s of r.slices) lines.push(`  slice ${s.column} = ${s.value}: ${s.n} rows, difference ${signed(s.difference)} [${f(s.ci.lower)}, ${f(s.ci.upper)}]${s.worse ? '  WORSE' : ''}`);
  }
  lines.push('');
  for (const c of [...r.checks].sort((a, b) => ORDER[a.colour] - ORDER[b.colour])) lines.push(`  ${c.colour.toUpperCase().padEnd(6)} ${c.name}: ${c.detail}`);
  lines.push('');
  const decision = r.verdict.decision === 'go' ? 'go' : r.verdict.decision === 'hold' ? 'hold' : 'go with the mitigations below';
  lines.push(`verdict: ${r.verdict.colour.toUpperCase()} (${decision})`);
  for (const c of r.checks) if (c.colour === 'yellow' && c.mitigation !== undefined) lines.push(`  mitigation (${c.name}): ${c.mitigation}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n') + '\n';
}
