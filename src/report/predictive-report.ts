import { renderTable } from './format.js';
import type * as vl from 'vega-lite';
import type { PredictiveLag, PredictiveMetric, PredictiveResult, PredictiveVerdict, StatWithInterval } from '../predictive/protocol.js';
import { REFERENCE_COLOR, renderVegaLiteSvg } from './charts.js';
import { chartGrid, details, escapeHtml, formatNumber, htmlPage, pre, slug, type ChartFigure, type HtmlSection } from './html-page.js';

/*
 * The outputs of `ope predictive` (issue 9): the text table, and the self-contained report.html in
 * the gate's style: the verdict per metric, the table (metrics x lags, each statistic with its
 * interval), one scatter plot per metric (offline delta against online delta, a point per release,
 * coloured by lag, with the zero lines) and the warnings. Same result, same bytes.
 *
 * Stable hooks: verdict rows carry `data-metric` and `data-verdict`; the figures are
 * `#chart-<slug of the metric>` (class `chart`).
 */

const VERDICT_COLOURS: Readonly<Record<PredictiveVerdict, { fg: string; bg: string; border: string }>> = {
  gate: { fg: '#1a7f37', bg: '#e6f4ea', border: '#1a7f37' },
  supporting: { fg: '#7d5a00', bg: '#fff4cc', border: '#d4a72c' },
  drop: { fg: '#b3261e', bg: '#fde7e7', border: '#b3261e' },
};

const VERDICT_MEANING: Readonly<Record<PredictiveVerdict, string>> = {
  gate: 'may gate releases: its offline delta has predicted the online direction with confidence',
  supporting: 'a supporting signal only: positively related, but not reliably enough to gate',
  drop: 'does not predict the online delta: do not use it to decide releases',
};

const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#9d755d', '#eeca3b'];

const CSS = `
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 700; font-size: 0.85em; letter-spacing: 0.03em; border: 1px solid; }
${(['gate', 'supporting', 'drop'] as const).map((v) => `.badge-${v} { color: ${VERDICT_COLOURS[v].fg}; background: ${VERDICT_COLOURS[v].bg}; border-color: ${VERDICT_COLOURS[v].border}; }`).join('\n')}
#verdicts td.text { white-space: normal; min-width: 320px; }
ul.warnings li { margin: 2px 0; }
`;

const CHART_CONFIG = {
  font: 'sans-serif',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#eee' },
  legend: { orient: 'right', labelFontSize: 11, titleFontSize: 11, labelLimit: 200 },
  title: { fontSize: 13, anchor: 'start' },
} as const;

const level = (alpha: number): string => `${Number((100 * (1 - alpha)).toPrecision(3))}%`;

function f(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  return x.toFixed(3);
}

function withCi(s: StatWithInterval): string {
  return `${f(s.estimate)} [${f(s.lower)}, ${f(s.upper)}]`;
}

/** The text table: metrics x lags, Spearman, Pearson and sign agreement with intervals, n and the verdict. */
export function predictiveTable(r: PredictiveResult): string {
  const lv = level(r.bootstrap.alpha);
  const lines = [
    `ope predictive: ${r.metrics.length} metric${r.metrics.length === 1 ? '' : 's'} from ${r.rows} rows of ${r.releases}; ` +
      `${lv} percentile bootstrap intervals over releases (${r.bootstrap.replicates} replicates, seed ${r.bootstrap.seed})`,
    '',
  ];
  const head = ['metric', 'lag', 'n', `Spearman [${lv} CI]`, `Pearson [${lv} CI]`, `sign agreement [${lv} CI]`, 'verdict'];
  const rows: string[][] = [];
  for (const m of r.metrics) {
    for (const l of m.lags) {
      rows.push([m.metric, String(l.lagDays), String(l.n), withCi(l.spearman), withCi(l.pearson), withCi(l.signAgreement), l.lagDays === m.verdictLag ? m.verdict : '']);
    }
  }
  lines.push(
    ...renderTable(head, rows)
      .split('\n')
      .map((l) => '  ' + l),
  );
  lines.push('');
  for (const m of r.metrics) lines.push(`${m.metric}: ${m.verdict}: ${m.reasons.join('; ')}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n') + '\n';
}

function badge(v: PredictiveVerdict): string {
  return `<span class="badge badge-${v}">${escapeHtml(v)}</span>`;
}

function verdictsHtml(r: PredictiveResult): string {
  const rows = r.metrics.map(
    (m) =>
      `<tr data-metric="${escapeHtml(m.metric)}" data-verdict="${m.verdict}"><td>${escapeHtml(m.metric)}</td><td>${badge(m.verdict)}</td>` +
      `<td class="num">${m.verdictLag}</td><td class="text">${escapeHtml(VERDICT_MEANING[m.verdict])}.<br>${m.reasons.map(escapeHtml).join('; ')}</td></tr>`,
  );
  return (
    `<div class="table-wrap"><table id="verdicts"><thead><tr><th scope="col">metric</th><th scope="col">verdict</th><th scope="col">lag read</th><th scope="col">why</th></tr></thead>\n` +
    `<tbody>\n${rows.join('\n')}\n</tbody></table></div>`
  );
}

function statCell(s: StatWithInterval): string {
  return `<td class="num">${escapeHtml(formatNumber(s.estimate, 3))}</td><td class="num">[${escapeHtml(formatNumber(s.lower, 3))}, ${escapeHtml(formatNumber(s.upper, 3))}]</td>`;
}

function correlationsHtml(r: PredictiveResult): string {
  const lv = level(r.bootstrap.alpha);
  const head = ['metric', 'lag (days)', 'n', 'Spearman', `${lv} CI`, 'Pearson', `${lv} CI`, 'sign agreement', `${lv} CI`, 'verdict'];
  const rows = r.metrics.flatMap((m) =>
    m.lags.map(
      (l: PredictiveLag) =>
        `<tr data-metric="${escapeHtml(m.metric)}" data-lag="${l.lagDays}"><td>${escapeHtml(m.metric)}</td><td class="num">${l.lagDays}</td><td class="num">${l.n}</td>` +
        `${statCell(l.spearman)}${statCell(l.pearson)}${statCell(l.signAgreement)}<td>${l.lagDays === m.verdictLag ? badge(m.verdict) : ''}</td></tr>`,
    ),
  );
  return (
    `<div class="table-wrap"><table id="correlations"><thead><tr>${head.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('')}</tr></thead>\n` +
    `<tbody>\n${rows.join('\n')}\n</tbody></table></div>`
  );
}

/** Offline delta (x) against online delta (y), a point per release and lag, coloured by lag, with the zero lines. */
export function scatterSpec(m: PredictiveMetric): vl.TopLevelSpec {
  const lagNames = m.lags.map((l) => `lag ${l.lagDays} d`);
  const values = m.lags.flatMap((l) => l.points.map((p) => ({ release: p.releaseId, offline: p.offline, online: p.online, lag: `lag ${l.lagDays} d` })));
  const color = { field: 'lag', type: 'nominal', title: null, scale: { domain: lagNames, range: lagNames.map((_, i) => PALETTE[i % PALETTE.length]) }, sort: lagNames } as const;
  const rule = { type: 'rule', color: REFERENCE_COLOR, strokeWidth: 1, strokeDash: [4, 3] } as const;
  return {
    width: 360,
    height: 260,
    background: 'white',
    padding: 6,
    layer: [
      { data: { values: [{ zero: 0 }] }, mark: rule, encoding: { x: { field: 'zero', type: 'quantitative' } } },
      { data: { values: [{ zero: 0 }] }, mark: rule, encoding: { y: { field: 'zero', type: 'quantitative' } } },
      {
        data: { values },
        mark: { type: 'point', filled: true, size: 60, opacity: 0.9 },
        encoding: {
          x: { field: 'offline', type: 'quantitative', title: 'offline delta', scale: { zero: true, nice: true } },
          y: { field: 'online', type: 'quantitative', title: 'online delta', scale: { zero: true, nice: true } },
          color,
          shape: { field: 'lag', type: 'nominal', title: null, scale: { domain: lagNames }, sort: lagNames },
        },
      },
    ],
    resolve: { scale: { x: 'shared', y: 'shared' } },
    config: CHART_CONFIG,
  } as unknown as vl.TopLevelSpec;
}

/** The self-contained report.html of `ope predictive` (deterministic: same result, same bytes). */
export async function predictiveReportHtml(r: PredictiveResult): Promise<string> {
  const lv = level(r.bootstrap.alpha);
  const figures: ChartFigure[] = [];
  const ids = new Set<string>();
  for (const m of r.metrics) {
    let id = `chart-${slug(m.metric)}`;
    for (let k = 2; ids.has(id); k++) id = `chart-${slug(m.metric)}-${k}`;
    ids.add(id);
    const primary = m.lags.find((l) => l.lagDays === m.verdictLag) ?? m.lags[0];
    figures.push({
      id,
      heading: `${m.metric}: ${m.verdict}`,
      note: `A point per release; lag ${primary.lagDays}: n = ${primary.n}, Spearman ${formatNumber(primary.spearman.estimate, 3)}, Pearson ${formatNumber(primary.pearson.estimate, 3)}, sign agreement ${formatNumber(primary.signAgreement.estimate, 3)}.`,
      svg: await renderVegaLiteSvg(scatterSpec(m)),
    });
  }
  const rulesText =
    `gate: at the primary lag (0 when present) n >= ${r.rules.minReleases}, Spearman's ${lv} lower bound > ${r.rules.spearmanLower}, ` +
    `sign agreement's ${lv} lower bound > ${r.rules.signAgreementLower}` +
    (r.rules.stableDirection ? ', and Spearman > 0 at every lag present' : '') +
    '; supporting: Spearman > 0 at the primary lag but a gate rule fails; drop: otherwise.';
  const sections: HtmlSection[] = [
    { heading: 'Verdicts', id: 'verdicts-section', html: `${verdictsHtml(r)}\n<p class="note">${escapeHtml(rulesText)}</p>` },
    {
      heading: 'Correlations',
      id: 'correlations-section',
      html:
        correlationsHtml(r) +
        `\n<p class="note">${escapeHtml(`Spearman: Pearson's correlation of the mid-ranks (ties averaged). Sign agreement: share of releases with sign(offline) = sign(online), a zero agreeing only with a zero. Intervals: ${lv} percentile bootstrap over releases; replicates where a correlation is undefined (constant resample) are left out and counted in the JSON.`)}</p>`,
    },
    { heading: 'Offline against online', id: 'scatter', html: figures.length > 0 ? chartGrid(figures) : '<p>No metrics.</p>' },
    {
      heading: 'Warnings',
      id: 'warnings',
      html: r.warnings.length > 0 ? `<ul class="warnings">${r.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>` : '<p>No warnings.</p>',
    },
    { heading: 'Configuration', id: 'config', html: details('rules and bootstrap (resolved)', pre(JSON.stringify({ rules: r.rules, bootstrap: r.bootstrap }, null, 2))) },
  ];
  return htmlPage({
    title: 'ope predictive: does offline predict online?',
    subtitle: `<p>Releases: ${escapeHtml(r.releases)}; ${r.rows} rows, ${r.metrics.length} metric${r.metrics.length === 1 ? '' : 's'}</p><p>Bootstrap: ${r.bootstrap.replicates} replicates over releases, seed ${r.bootstrap.seed}, ${escapeHtml(lv)} percentile intervals</p>`,
    sections,
    css: CSS,
    footer: `Generated by ${escapeHtml(r.tool)} ${escapeHtml(r.version)} <code>ope predictive</code>. Self-contained: no scripts, fonts or network requests.`,
  });
}
