import { REFERENCE_COLOR, lineChartSvg, seriesFromRows, type LineSeries } from './charts.js';
import { chartGrid, details, escapeHtml, htmlPage, htmlTable, pre, type ChartFigure, type HtmlSection } from './html-page.js';

/*
 * report.html of `ope simulate`: the feedback loop's metrics over rounds, one chart per metric with a
 * line per scenario, then the OPE of the next round's policy against its true value, then the full
 * table. Every numeric column of metrics.csv ends up in a chart (unknown ones in 'Other metrics'),
 * so a new metric in the simulator is never silently dropped from the report.
 */

export interface SimulateReportInput {
  title?: string;
  /** The resolved config as written to config.json (any JSON object) — shown in a collapsible <details> block as pretty JSON. */
  config: Record<string, unknown>;
  /** e.g. 'wasm (TF.js 4.22.0, @tensorflow/tfjs-backend-wasm)'; printed in the header. */
  backend: string;
  /** One record per (scenario, round): keys 'scenario' (string), 'round' (number) and numeric metric columns (NaN allowed). */
  metrics: readonly Record<string, string | number>[];
}

type MetricRow = Record<string, string | number>;

interface KnownMetric {
  readonly column: string;
  readonly title: string;
  readonly note: string;
  /** A column drawn as one dashed reference line (shared by the scenarios), e.g. the oracle. */
  readonly reference?: { readonly column: string; readonly label: string };
  /** Counts and shares start at zero; a CTR close to its oracle reads better zoomed in. */
  readonly yZero?: boolean;
}

/** The loop's metrics in reading order: outcome first, then exposure diversity, then training. */
export const SIMULATE_METRICS: readonly KnownMetric[] = [
  {
    column: 'ctr_true',
    title: 'CTR of the served policy',
    note: 'True expected CTR of the served policy (expected clicks per item shown); dashed: the oracle that knows the click model.',
    reference: { column: 'ctr_oracle', label: 'oracle' },
  },
  {
    column: 'utility_true',
    title: 'Expected clicks per slate',
    note: 'True expected clicks per slate of the served policy; dashed: the oracle.',
    reference: { column: 'utility_oracle', label: 'oracle' },
  },
  { column: 'regret', title: 'Regret', note: 'Expected clicks per slate the oracle gets and the served policy does not (lower is better).', yZero: true },
  { column: 'clicks', title: 'Clicks', note: 'Clicks actually drawn in the round.', yZero: true },
  { column: 'coverage_at_k', title: 'Catalog coverage@K', note: 'Share of the catalog shown at least once in the round’s slates.', yZero: true },
  { column: 'gini', title: 'Gini of exposure', note: 'Inequality of item exposure: 0 when every item is shown equally often, near 1 when one item takes all.' },
  { column: 'entropy', title: 'Exposure entropy', note: 'Shannon entropy (nats) of the item exposure distribution; higher is more diverse, ln(items) at most.' },
  { column: 'arp', title: 'Average recommendation popularity', note: 'Mean click-popularity of the items shown (ARP); rising ARP means the loop favours what was already clicked.' },
  { column: 'long_tail_share', title: 'Long-tail share', note: 'Share of the shown items outside the most clicked head of the catalog.', yZero: true },
  { column: 'popularity_lift', title: 'Popularity lift', note: 'ARP of the recommendations relative to the ARP of the clicked items; above 0 amplifies popularity.' },
  { column: 'homogenization', title: 'Homogenization', note: 'Mean Jaccard similarity of the slates of two different users; 1 when everyone sees the same items.' },
  { column: 'train_loss', title: 'Training loss', note: 'Mean training loss of the last epoch after the round (gaps: no training examples).' },
];

/** OPE weight diagnostics, charted in the OPE section rather than among the loop's metrics. */
const OPE_DIAGNOSTICS: readonly KnownMetric[] = [
  { column: 'ope_mean_slate_weight', title: 'Mean slate weight', note: 'Mean of pi_next(slate) / mu(slate) on the evaluated log; 1 in expectation, far from 1 flags heavy-tailed weights.' },
  {
    column: 'ope_slate_ess_share',
    title: 'Slate-weight ESS share',
    note: 'Effective sample size of the slate weights over the number of slates; small means few slates carry the estimate.',
    yZero: true,
  },
];

const VALUE_PREFIX = 'value_next_';
const VALUE_TRUE = 'value_next_true';
/** 1.96: the two-sided 95% normal quantile of the delta-method intervals. */
const Z95 = 1.96;

const isSe = (c: string): boolean => c.endsWith('_se');

/** Columns in first-seen order over all rows (rows may differ, e.g. an estimator absent in some scenario). */
function columnsOf(rows: readonly MetricRow[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

const isNumericColumn = (rows: readonly MetricRow[], c: string): boolean => rows.some((r) => typeof r[c] === 'number');

const finite = (v: string | number | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Scenarios in first-seen order (the config's order, since the loop writes them so). */
function scenariosOf(rows: readonly MetricRow[]): string[] {
  return [...new Set(rows.map((r) => String(r.scenario)))];
}

/** Sorted distinct rounds. */
function roundsOf(rows: readonly MetricRow[]): number[] {
  return [...new Set(rows.map((r) => Number(r.round)))].filter(Number.isFinite).sort((a, b) => a - b);
}

/**
 * The reference line(s) of a metric. The oracle is a property of the world and the arrivals (keyed
 * by seed and round, not scenario), so the scenarios share it and one dashed line says it; should
 * they disagree (a config where arrivals differ per scenario), each scenario gets its own.
 */
function referenceSeries(rows: readonly MetricRow[], column: string, label: string): LineSeries[] {
  const rounds = roundsOf(rows);
  const scenarios = scenariosOf(rows);
  const byScenario = new Map(scenarios.map((s) => [s, new Map<number, number | null>()]));
  for (const r of rows) byScenario.get(String(r.scenario))?.set(Number(r.round), finite(r[column]));
  const shared = rounds.map((round) => {
    const vals = scenarios.map((s) => byScenario.get(s)?.get(round)).filter((v): v is number => typeof v === 'number');
    if (vals.length === 0) return { value: null, agree: true };
    const agree = vals.every((v) => Math.abs(v - vals[0]) <= 1e-12 * Math.max(1, Math.abs(vals[0])));
    return { value: vals[0], agree };
  });
  if (shared.every((p) => p.agree)) return [{ name: label, x: rounds, y: shared.map((p) => p.value), dashed: true }];
  return scenarios.map((s) => ({ name: `${label} (${s})`, x: rounds, y: rounds.map((round) => byScenario.get(s)?.get(round) ?? null), dashed: true }));
}

async function metricFigure(rows: readonly MetricRow[], metric: KnownMetric, columns: ReadonlySet<string>): Promise<ChartFigure> {
  const series = seriesFromRows(rows, 'round', metric.column, 'scenario');
  if (metric.reference !== undefined && columns.has(metric.reference.column)) series.push(...referenceSeries(rows, metric.reference.column, metric.reference.label));
  const svg = await lineChartSvg({ series, xTitle: 'round', yTitle: metric.column, yZero: metric.yZero });
  return { heading: metric.title, note: metric.note, svg };
}

/** Estimator names from value_next_<est> columns, in column order; 'true' and the _se columns excluded. */
function estimatorColumns(columns: readonly string[]): string[] {
  return columns.filter((c) => c.startsWith(VALUE_PREFIX) && c !== VALUE_TRUE && !isSe(c));
}

/** One chart per scenario: the next policy's true value (dark solid line) and each estimate with its 95% delta-method band. */
async function opeFigures(rows: readonly MetricRow[], columns: readonly string[]): Promise<ChartFigure[]> {
  const estimators = estimatorColumns(columns);
  const hasTruth = columns.includes(VALUE_TRUE);
  if (estimators.length === 0 && !hasTruth) return [];
  const figures: ChartFigure[] = [];
  for (const scenario of scenariosOf(rows)) {
    const mine = rows.filter((r) => String(r.scenario) === scenario).sort((a, b) => Number(a.round) - Number(b.round));
    const x = mine.map((r) => Number(r.round));
    const series: LineSeries[] = [];
    // Solid and dark: the truth is what the estimates are read against, not one more estimate.
    if (hasTruth) series.push({ name: 'truth', x, y: mine.map((r) => finite(r[VALUE_TRUE])), color: REFERENCE_COLOR });
    for (const c of estimators) {
      const se = `${c}_se`;
      const y = mine.map((r) => finite(r[c]));
      const band = columns.includes(se) ? mine.map((r) => finite(r[se])) : undefined;
      series.push({
        name: c.slice(VALUE_PREFIX.length),
        x,
        y,
        ...(band !== undefined
          ? {
              lower: y.map((v, i) => (v === null || band[i] === null ? null : v - Z95 * (band[i] as number))),
              upper: y.map((v, i) => (v === null || band[i] === null ? null : v + Z95 * (band[i] as number))),
            }
          : {}),
      });
    }
    const svg = await lineChartSvg({ series, xTitle: 'round', yTitle: 'expected clicks per slate' });
    figures.push({
      heading: `Scenario ${scenario}`,
      note: 'Estimates of the next round’s policy value (shaded: ±1.96 se); dark line: its true value.',
      svg,
    });
  }
  return figures;
}

/** The header lines: backend, world size, seeds, scenarios and rounds. */
function subtitleHtml(input: SimulateReportInput, scenarios: readonly string[], rounds: readonly number[]): string {
  const lines = [`Backend: ${escapeHtml(input.backend)}`];
  const world = input.config.world;
  if (isObject(world)) {
    const parts: string[] = [];
    if (typeof world.users === 'number') parts.push(`${world.users} users`);
    if (typeof world.items === 'number') parts.push(`${world.items} items`);
    const slateSize = typeof world.slateSize === 'number' ? world.slateSize : input.config.slateSize;
    if (typeof slateSize === 'number') parts.push(`slate size ${slateSize}`);
    if (parts.length > 0) lines.push(`World: ${escapeHtml(parts.join(', '))}`);
  }
  const seeds = seedsOf(input.config);
  if (seeds.length > 0) lines.push(`Seed${seeds.length > 1 ? 's' : ''}: ${escapeHtml(seeds.join(', '))}`);
  const roundText = rounds.length > 0 ? `${rounds.length} rounds (${rounds[0]}–${rounds[rounds.length - 1]})` : 'no rounds';
  lines.push(`Scenarios: ${escapeHtml(scenarios.join(', ') || 'none')}; ${escapeHtml(roundText)}`);
  return lines.map((l) => `<p>${l}</p>`).join('');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every 'seed' value of the config (world.seed, a top-level seed, ...), path-labelled, in key order. */
function seedsOf(config: Record<string, unknown>): string[] {
  const out: string[] = [];
  const walk = (v: unknown, path: string, depth: number): void => {
    if (!isObject(v) || depth > 4) return;
    for (const [k, w] of Object.entries(v)) {
      const p = path === '' ? k : `${path}.${k}`;
      if (/^seeds?$/i.test(k) && (typeof w === 'number' || typeof w === 'string')) out.push(`${p} = ${w}`);
      else walk(w, p, depth + 1);
    }
  };
  walk(config, '', 0);
  return out;
}

/** The self-contained report.html of `ope simulate` (deterministic: same input, same bytes). */
export async function simulateReportHtml(input: SimulateReportInput): Promise<string> {
  const rows = input.metrics;
  const columns = columnsOf(rows);
  const columnSet = new Set(columns);
  const scenarios = scenariosOf(rows);
  const rounds = roundsOf(rows);
  const sections: HtmlSection[] = [];

  const known = SIMULATE_METRICS.filter((m) => columnSet.has(m.column));
  const loopFigures: ChartFigure[] = [];
  for (const m of known) loopFigures.push(await metricFigure(rows, m, columnSet));
  if (loopFigures.length > 0) sections.push({ heading: 'Feedback-loop metrics', id: 'metrics', html: chartGrid(loopFigures) });

  const ope = await opeFigures(rows, columns);
  const diagnostics: ChartFigure[] = [];
  for (const m of OPE_DIAGNOSTICS.filter((d) => columnSet.has(d.column))) diagnostics.push(await metricFigure(rows, m, columnSet));
  if (ope.length > 0 || diagnostics.length > 0) {
    sections.push({ heading: 'OPE of the next round’s policy', id: 'ope', html: chartGrid([...ope, ...diagnostics]) });
  }

  // Whatever the lists above do not name (and is not an se or a reference already drawn) still gets a chart.
  const claimed = new Set<string>(['scenario', 'round']);
  for (const m of [...SIMULATE_METRICS, ...OPE_DIAGNOSTICS]) {
    claimed.add(m.column);
    if (m.reference !== undefined && columnSet.has(m.column)) claimed.add(m.reference.column);
  }
  const other = columns.filter((c) => !claimed.has(c) && !c.startsWith(VALUE_PREFIX) && !isSe(c) && isNumericColumn(rows, c));
  const otherFigures: ChartFigure[] = [];
  for (const c of other) otherFigures.push(await metricFigure(rows, { column: c, title: c, note: `Column ${c} of metrics.csv.` }, columnSet));
  if (otherFigures.length > 0) sections.push({ heading: 'Other metrics', id: 'other', html: chartGrid(otherFigures) });

  const tableRows = rows.map((r) => columns.map((c) => r[c]));
  sections.push({
    heading: 'All metrics',
    id: 'table',
    html: details(`metrics.csv: ${rows.length} rows × ${columns.length} columns`, htmlTable(columns, tableRows)),
  });
  sections.push({ heading: 'Configuration', id: 'config', html: details('config.json (resolved)', pre(JSON.stringify(input.config, null, 2))) });

  return htmlPage({
    title: input.title ?? 'ope simulate: feedback-loop report',
    subtitle: subtitleHtml(input, scenarios, rounds),
    sections,
    footer: 'Generated by ope-toolkit <code>ope simulate</code>. Self-contained: no scripts, fonts or network requests.',
  });
}
