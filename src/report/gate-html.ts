import type * as vl from 'vega-lite';
import type { GateCheck, GateColour, GateDifference, GateResult, GateSlice, GateWeightHistogram } from '../gate/types.js';
import { REFERENCE_COLOR, renderVegaLiteSvg } from './charts.js';
import {
  COLOUR_WORD,
  DECISION_MEANING,
  DECISION_TEXT,
  ROLLBACK_NOTE,
  confidenceLevel,
  formatCount,
  formatInterval,
  formatSigned,
  formatThresholds,
  formatValue,
  gateReferences,
} from './gate-format.js';
import { chartGrid, details, escapeHtml, htmlPage, htmlTable, pre, type ChartFigure, type HtmlSection } from './html-page.js';

/*
 * report.html of `ope gate` (issue 7): the verdict banner, the checks with their colours, the
 * estimates and paired differences with their intervals (against 0, the minimum effect and the
 * non-inferiority margin), the candidate's importance-weight histogram, the slices, the warnings
 * and the resolved config. One self-contained page (inline CSS and SVG, no script, nothing to
 * fetch); a rendering of the GateResult only, so the same result gives the same bytes.
 *
 * Stable hooks for browser tests and scrapers: the banner is `#verdict` with `data-colour` and
 * `data-decision`; the figures are `#chart-estimates`, `#chart-differences`, `#chart-weights`
 * and `#chart-slices` (class `chart`); check rows carry `data-check`/`data-colour`, slice rows
 * `data-worse`.
 */

/** Chart ids in page order; a figure is left out when it has nothing to draw (no estimators, no bins, no slices). */
export const GATE_CHART_IDS = ['chart-estimates', 'chart-differences', 'chart-weights', 'chart-slices'] as const;

const COLOURS: Readonly<Record<GateColour, { fg: string; bg: string; border: string }>> = {
  green: { fg: '#1a7f37', bg: '#e6f4ea', border: '#1a7f37' },
  yellow: { fg: '#7d5a00', bg: '#fff4cc', border: '#d4a72c' },
  red: { fg: '#b3261e', bg: '#fde7e7', border: '#b3261e' },
};

const ACCENT = '#4c78a8';
const BASELINE_COLOR = '#9a9a9a';
const WORSE_COLOR = COLOURS.red.fg;
const MIN_EFFECT_COLOR = COLOURS.green.fg;
const MARGIN_COLOR = COLOURS.red.fg;

const CSS = `
.verdict { border: 2px solid; border-radius: 8px; padding: 12px 16px; margin: 8px 0 4px; }
.verdict .head { font-size: 1.35em; margin: 0 0 6px; }
.verdict ul { margin: 4px 0 6px; padding-left: 20px; }
.verdict .note { margin-top: 6px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 700; font-size: 0.85em; letter-spacing: 0.03em; border: 1px solid; }
${(['green', 'yellow', 'red'] as const)
  .map(
    (c) =>
      `.verdict-${c} { border-color: ${COLOURS[c].border}; background: ${COLOURS[c].bg}; }\n.badge-${c} { color: ${COLOURS[c].fg}; background: ${COLOURS[c].bg}; border-color: ${COLOURS[c].border}; }`,
  )
  .join('\n')}
#checks td.wrap { white-space: normal; min-width: 150px; }
#checks td.text { white-space: normal; min-width: 300px; }
#checks td.text .mitigation { display: block; color: var(--muted); margin-top: 2px; }
tr.worse td { background: ${COLOURS.red.bg}; }
ul.warnings li { margin: 2px 0; }
`;

const CHART_CONFIG = {
  font: 'sans-serif',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#eee' },
  legend: { orient: 'bottom', direction: 'vertical', labelFontSize: 11, titleFontSize: 11, labelLimit: 300, symbolStrokeWidth: 2 },
  title: { fontSize: 13, anchor: 'start' },
} as const;

const finiteOr = (x: number, fallback: number | null = null): number | null => (Number.isFinite(x) ? x : fallback);

interface ReferenceLine {
  readonly label: string;
  readonly x: number;
  readonly color: string;
  readonly dash: readonly number[];
}

/** 0, the minimum effect and -margin, each once (a reference equal to an earlier one is merged into its label). */
function referenceLines(minEffect: number | undefined, margin: number | undefined): ReferenceLine[] {
  const out: ReferenceLine[] = [{ label: 'no difference (0)', x: 0, color: REFERENCE_COLOR, dash: [1, 0] }];
  const add = (line: ReferenceLine): void => {
    const same = out.findIndex((r) => r.x === line.x);
    if (same >= 0) out[same] = { ...out[same], label: `${out[same].label} = ${line.label}` };
    else out.push(line);
  };
  if (minEffect !== undefined) add({ label: `minimum effect (${formatSigned(minEffect)})`, x: minEffect, color: MIN_EFFECT_COLOR, dash: [6, 4] });
  if (margin !== undefined) add({ label: `non-inferiority margin (${formatSigned(-margin)})`, x: -margin, color: MARGIN_COLOR, dash: [3, 3] });
  return out;
}

/** Vertical reference rules (stroke legend) for a horizontal interval chart. */
function referenceLayer(refs: readonly ReferenceLine[]): Record<string, unknown> {
  const labels = refs.map((r) => r.label);
  return {
    data: { values: refs.map((r) => ({ ref: r.label, x: r.x })) },
    mark: { type: 'rule', strokeWidth: 1.5 },
    encoding: {
      x: { field: 'x', type: 'quantitative' },
      stroke: { field: 'ref', type: 'nominal', title: 'reference', scale: { domain: labels, range: refs.map((r) => r.color) }, sort: labels },
      strokeDash: { field: 'ref', type: 'nominal', title: 'reference', scale: { domain: labels, range: refs.map((r) => [...r.dash]) }, sort: labels },
    },
  };
}

/** Candidate and baseline value per estimator with their intervals: dot and horizontal error bar, one row per estimator. */
function estimatesSpec(differences: readonly GateDifference[], level: string): vl.TopLevelSpec {
  const estimators = differences.map((d) => d.estimator);
  const policies = ['candidate', 'baseline'];
  const values = differences.flatMap((d) => [
    { estimator: d.estimator, policy: 'candidate', value: finiteOr(d.candidate), lo: finiteOr(d.candidateCi.lower), hi: finiteOr(d.candidateCi.upper) },
    { estimator: d.estimator, policy: 'baseline', value: finiteOr(d.baseline), lo: finiteOr(d.baselineCi.lower), hi: finiteOr(d.baselineCi.upper) },
  ]);
  const y = { field: 'estimator', type: 'nominal', title: null, sort: estimators, scale: { domain: estimators, paddingInner: 0.25 } } as const;
  const yOffset = { field: 'policy', type: 'nominal', sort: policies, scale: { domain: policies } } as const;
  const color = { field: 'policy', type: 'nominal', title: null, scale: { domain: policies, range: [ACCENT, BASELINE_COLOR] }, sort: policies } as const;
  const x = { type: 'quantitative', title: `policy value, reward per decision (${level} interval)`, scale: { zero: false } } as const;
  return {
    width: 440,
    height: Math.max(110, 56 * estimators.length),
    background: 'white',
    padding: 6,
    data: { values },
    layer: [
      { mark: { type: 'rule', strokeWidth: 2 }, encoding: { y, yOffset, x: { ...x, field: 'lo' }, x2: { field: 'hi' }, color } },
      { mark: { type: 'point', filled: true, size: 60, opacity: 1 }, encoding: { y, yOffset, x: { ...x, field: 'value' }, color } },
    ],
    config: CHART_CONFIG,
  } as unknown as vl.TopLevelSpec;
}

/** Rows of a horizontal interval chart: label, estimate, interval, highlighted or not. */
interface IntervalRow {
  readonly label: string;
  readonly estimate: number;
  readonly lo: number;
  readonly hi: number;
  readonly highlight: boolean;
}

/** Estimates with intervals as dots and error bars, one row each, against vertical reference rules. */
function intervalSpec(rows: readonly IntervalRow[], refs: readonly ReferenceLine[], xTitle: string, highlight?: { readonly on: string; readonly off: string }): vl.TopLevelSpec {
  const labels = rows.map((r) => r.label);
  const values = rows.map((r) => ({
    label: r.label,
    estimate: finiteOr(r.estimate),
    lo: finiteOr(r.lo),
    hi: finiteOr(r.hi),
    group: highlight === undefined ? 'estimate' : r.highlight ? highlight.on : highlight.off,
  }));
  const y = { field: 'label', type: 'nominal', title: null, sort: labels, scale: { domain: labels } } as const;
  const groups = highlight === undefined ? ['estimate'] : [highlight.off, highlight.on];
  const color = highlight === undefined ? { value: ACCENT } : ({ field: 'group', type: 'nominal', title: null, scale: { domain: groups, range: [ACCENT, WORSE_COLOR] }, sort: groups } as const);
  const x = { type: 'quantitative', title: xTitle, scale: { zero: false } } as const;
  return {
    width: 440,
    height: Math.max(90, 34 * labels.length),
    background: 'white',
    padding: 6,
    layer: [
      referenceLayer(refs),
      { data: { values }, mark: { type: 'rule', strokeWidth: 2.5 }, encoding: { y, x: { ...x, field: 'lo' }, x2: { field: 'hi' }, color } },
      { data: { values }, mark: { type: 'point', filled: true, size: 70, opacity: 1 }, encoding: { y, x: { ...x, field: 'estimate' }, color } },
    ],
    config: CHART_CONFIG,
  } as unknown as vl.TopLevelSpec;
}

/** True when the edges are finite, positive and strictly increasing: they can sit on a log axis. */
function logSpaceable(edges: readonly number[]): boolean {
  return edges.every((e, i) => Number.isFinite(e) && e > 0 && (i === 0 || e > edges[i - 1]));
}

/** At most `max` evenly picked edges (first and last kept), so the axis labels do not collide. */
function thinEdges(edges: readonly number[], max: number): number[] {
  if (edges.length <= max) return [...edges];
  const step = Math.ceil((edges.length - 1) / (max - 1));
  const out = edges.filter((_, i) => i % step === 0);
  if (out[out.length - 1] !== edges[edges.length - 1]) out.push(edges[edges.length - 1]);
  return out;
}

/**
 * The weight histogram: bars between consecutive edges on a log axis labelled with the edges,
 * and a dashed rule at weight 1. Edges that cannot sit on a log axis (0, unsorted) fall back to
 * one labelled band per bin.
 */
function weightsSpec(h: GateWeightHistogram): vl.TopLevelSpec {
  const bins = h.counts.map((count, i) => ({ lo: h.edges[i], hi: h.edges[i + 1], count, bin: `${formatValue(h.edges[i])}–${formatValue(h.edges[i + 1])}` }));
  const y = { field: 'count', type: 'quantitative', title: 'rows' } as const;
  const base = { width: 440, height: 220, background: 'white', padding: 6, config: CHART_CONFIG } as const;
  if (logSpaceable(h.edges)) {
    const first = h.edges[0];
    const last = h.edges[h.edges.length - 1];
    const ticks = thinEdges(h.edges, 9);
    const x = {
      field: 'lo',
      type: 'quantitative',
      title: 'importance weight of the candidate (log scale; ticks at bin edges)',
      scale: { type: 'log', domain: [first, last], nice: false },
      // d3's '.3~g' writes 1000 as '1e+3': thousands and up get grouped digits instead.
      axis: { values: ticks, labelExpr: "datum.value >= 1000 ? format(datum.value, ',.0f') : format(datum.value, '.3~g')", labelAngle: -35, labelFlush: true, grid: false },
    } as const;
    const layers: unknown[] = [{ data: { values: bins }, mark: { type: 'bar', stroke: 'white', strokeWidth: 0.5, color: ACCENT }, encoding: { x, x2: { field: 'hi' }, y, y2: { datum: 0 } } }];
    if (first < 1 && last > 1) {
      layers.push({
        data: { values: [{ w: 1, label: 'weight 1' }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: REFERENCE_COLOR, strokeWidth: 1.5 },
        encoding: { x: { field: 'w', type: 'quantitative' } },
      });
    }
    return { ...base, layer: layers } as unknown as vl.TopLevelSpec;
  }
  const order = bins.map((b) => b.bin);
  return {
    ...base,
    data: { values: bins },
    mark: { type: 'bar', color: ACCENT },
    encoding: { x: { field: 'bin', type: 'ordinal', title: 'importance weight of the candidate (bin edges)', sort: order, axis: { labelAngle: -45 } }, y },
  } as unknown as vl.TopLevelSpec;
}

const sliceLabel = (s: GateSlice): string => `${s.column} = ${s.value}`;

function statusBadge(colour: GateColour): string {
  return `<span class="badge badge-${colour}">${COLOUR_WORD[colour]}</span>`;
}

function verdictHtml(result: GateResult): string {
  const v = result.verdict;
  const reasons = v.reasons.length > 0 ? `<ul class="reasons">${v.reasons.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ul>` : '';
  return [
    `<div id="verdict" class="verdict verdict-${v.colour}" data-colour="${v.colour}" data-decision="${v.decision}" role="status">`,
    `<p class="head">${statusBadge(v.colour)} <strong>${escapeHtml(DECISION_TEXT[v.decision])}</strong>: ${escapeHtml(DECISION_MEANING[v.decision])}</p>`,
    reasons,
    `<p class="note">${escapeHtml(ROLLBACK_NOTE)}</p>`,
    `</div>`,
  ].join('\n');
}

function checksTable(checks: readonly GateCheck[]): string {
  const head = ['status', 'check', 'value', 'unit', 'thresholds', 'detail'].map((c) => `<th scope="col">${c}</th>`).join('');
  const rows = checks.map(
    (c) =>
      `<tr class="check" data-check="${escapeHtml(c.id)}" data-colour="${c.colour}">` +
      `<td>${statusBadge(c.colour)}</td><td class="wrap">${escapeHtml(c.name)}</td><td class="num">${escapeHtml(formatValue(c.value))}</td><td class="wrap">${escapeHtml(c.unit)}</td>` +
      `<td class="wrap">${escapeHtml(formatThresholds(c.thresholds))}</td><td class="text">${escapeHtml(c.detail)}` +
      (c.mitigation !== undefined && c.colour !== 'green' ? `<span class="mitigation">Mitigation: ${escapeHtml(c.mitigation)}</span>` : '') +
      `</td></tr>`,
  );
  return `<div class="table-wrap"><table id="checks"><thead><tr>${head}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

function slicesTable(slices: readonly GateSlice[], level: string): string {
  const head = ['slice', 'rows', 'difference', `${level} interval`, 'significantly worse'].map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('');
  const rows = slices.map(
    (s) =>
      `<tr class="slice${s.worse ? ' worse' : ''}" data-worse="${s.worse}">` +
      `<td>${escapeHtml(sliceLabel(s))}</td><td class="num">${escapeHtml(formatCount(s.n))}</td><td class="num">${escapeHtml(formatSigned(s.difference))}</td>` +
      `<td class="num">[${escapeHtml(formatValue(s.ci.lower))}, ${escapeHtml(formatValue(s.ci.upper))}]</td><td>${s.worse ? '<strong>yes</strong>' : 'no'}</td></tr>`,
  );
  return `<div class="table-wrap"><table id="slices-table"><thead><tr>${head}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

function differencesTable(differences: readonly GateDifference[]): string {
  return htmlTable(
    ['estimator', 'candidate', 'interval', 'baseline', 'interval', 'difference', 'interval', 'se'],
    differences.map((d) => [d.estimator, d.candidate, formatInterval(d.candidateCi), d.baseline, formatInterval(d.baselineCi), formatSigned(d.difference), formatInterval(d.ci), d.se]),
    { numberFormat: formatValue },
  );
}

function subtitleHtml(result: GateResult): string {
  const lines = [
    `Candidate <code>${escapeHtml(result.candidate.name)}</code> (${escapeHtml(result.candidate.file)}) against baseline <code>${escapeHtml(result.baseline.name)}</code> (${escapeHtml(result.baseline.file)})`,
    `Log: ${escapeHtml(result.log)}; ${escapeHtml(formatCount(result.rows.used))} of ${escapeHtml(formatCount(result.rows.read))} rows used` +
      (result.rows.immature > 0 ? `, ${escapeHtml(formatCount(result.rows.immature))} with immature labels left out` : ''),
    `Bootstrap: ${result.bootstrap.replicates} replicates, seed ${result.bootstrap.seed}, ${escapeHtml(confidenceLevel(result.bootstrap.alpha))} intervals`,
  ];
  return lines.map((l) => `<p>${l}</p>`).join('');
}

/** The self-contained report.html of `ope gate` (deterministic: same result, same bytes). */
export async function gateReportHtml(result: GateResult): Promise<string> {
  const level = confidenceLevel(result.bootstrap.alpha);
  const refs = gateReferences(result);
  const sections: HtmlSection[] = [];

  sections.push({ heading: 'Verdict', id: 'verdict-section', html: verdictHtml(result) });
  sections.push({ heading: 'Checks', id: 'checks-section', html: checksTable(result.checks) });

  const estimateFigures: ChartFigure[] = [];
  if (result.differences.length > 0) {
    estimateFigures.push({
      id: 'chart-estimates',
      heading: 'Policy values',
      note: `Candidate and baseline value per estimator, with ${level} intervals.`,
      svg: await renderVegaLiteSvg(estimatesSpec(result.differences, level)),
    });
    const diffNote = ['0 (no difference)'];
    if (refs.minEffect !== undefined) diffNote.push('the minimum effect (green, dashed)');
    if (refs.margin !== undefined) diffNote.push('minus the non-inferiority margin (red, dotted)');
    estimateFigures.push({
      id: 'chart-differences',
      heading: 'Difference candidate − baseline',
      note: `Paired difference per estimator with its ${level} interval, against ${diffNote.join(', ')}.`,
      svg: await renderVegaLiteSvg(
        intervalSpec(
          result.differences.map((d) => ({ label: d.estimator, estimate: d.difference, lo: d.ci.lower, hi: d.ci.upper, highlight: false })),
          referenceLines(refs.minEffect, refs.margin),
          'difference candidate − baseline, reward per decision',
        ),
      ),
    });
  }
  sections.push({
    heading: 'Estimates',
    id: 'estimates',
    html:
      (estimateFigures.length > 0 ? chartGrid(estimateFigures) : '<p>No estimator could be computed on these inputs.</p>') +
      (result.differences.length > 0 ? `\n${differencesTable(result.differences)}` : ''),
  });

  const h = result.weights;
  const hasBins = h.counts.length > 0 && h.edges.length === h.counts.length + 1;
  const total = h.counts.reduce((a, b) => a + b, 0);
  sections.push({
    heading: 'Importance weights',
    id: 'weights',
    html: hasBins
      ? chartGrid([
          {
            id: 'chart-weights',
            heading: 'Weight distribution of the candidate',
            note: `${formatCount(total)} rows in ${h.counts.length} log-spaced bins from ${formatValue(h.edges[0])} to ${formatValue(h.edges[h.edges.length - 1])}; dashed: weight 1.`,
            svg: await renderVegaLiteSvg(weightsSpec(h)),
          },
        ])
      : '<p>No weight histogram in this result.</p>',
  });

  if (result.slices.length > 0) {
    const sliceMargin = firstMargin(result) ?? refs.margin;
    const sliceFigure: ChartFigure = {
      id: 'chart-slices',
      heading: 'Difference per slice',
      note: `Difference candidate − baseline per slice under the primary estimator, ${level} intervals; red: significantly worse.`,
      svg: await renderVegaLiteSvg(
        intervalSpec(
          result.slices.map((s) => ({ label: sliceLabel(s), estimate: s.difference, lo: s.ci.lower, hi: s.ci.upper, highlight: s.worse })),
          referenceLines(undefined, sliceMargin),
          'difference candidate − baseline, reward per decision',
          { on: 'significantly worse', off: 'not worse' },
        ),
      ),
    };
    sections.push({ heading: 'Slices', id: 'slices', html: `${chartGrid([sliceFigure])}\n${slicesTable(result.slices, level)}` });
  } else {
    sections.push({ heading: 'Slices', id: 'slices', html: '<p>No slices in this result.</p>' });
  }

  sections.push({
    heading: 'Warnings',
    id: 'warnings',
    html: result.warnings.length > 0 ? `<ul class="warnings">${result.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>` : '<p>No warnings.</p>',
  });
  sections.push({ heading: 'Configuration', id: 'config', html: details('gate config (resolved)', pre(JSON.stringify(result.config, null, 2))) });

  return htmlPage({
    title: `ope gate: ${result.candidate.name} vs ${result.baseline.name}`,
    subtitle: subtitleHtml(result),
    sections,
    css: CSS,
    footer: `Generated by ${escapeHtml(result.tool)} ${escapeHtml(result.version)} <code>ope gate</code>. Self-contained: no scripts, fonts or network requests.`,
  });
}

/** The slice check's own margin, when its thresholds carry one. */
function firstMargin(result: GateResult): number | undefined {
  const t = result.checks.find((c) => c.id === 'slices')?.thresholds;
  const m = t?.margin ?? t?.nonInferiorityMargin;
  return typeof m === 'number' && Number.isFinite(m) ? m : undefined;
}
