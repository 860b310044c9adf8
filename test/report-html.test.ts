import { describe, expect, it } from 'vitest';
import { lineChartSvg, type LineSeries } from '../src/report/charts.js';
import { escapeHtml, formatNumber, htmlPage, htmlTable } from '../src/report/html-page.js';
import { SIMULATE_METRICS, simulateReportHtml, type SimulateReportInput } from '../src/report/simulate-report.js';

/** The stroked line paths vega draws with geometry: one per series with at least one finite point (an all-NaN series gets a path without d). */
const linePaths = (svg: string): string[] => (svg.match(/<path[^>]*aria-roledescription="line mark"[^>]*>/g) ?? []).filter((p) => / d="M/.test(p));
const legendLabels = (svg: string): string[] => [...svg.matchAll(/role-legend-label[^>]*>(?:<text[^>]*>([^<]*)<\/text>)/g)].map((m) => m[1]);
/** Every d="..." and transform="..." value: the coordinates a NaN would poison. */
const coordinates = (svg: string): string[] => [...svg.matchAll(/\s(?:d|transform|x|y|x2|y2)="([^"]*)"/g)].map((m) => m[1]);

/** Any attribute or CSS reference that would make a browser fetch something. */
function networkReferences(html: string): string[] {
  const refs = [...html.matchAll(/\b(?:src|href|action|poster|data)\s*=\s*["']?\s*((?:https?:)?\/\/[^"'\s>]*)/gi)].map((m) => m[1]);
  const cssUrls = [...html.matchAll(/url\(\s*["']?((?:https?:)?\/\/[^)"']*)/gi)].map((m) => m[1]);
  const imports = [...html.matchAll(/@import\s+[^;]+/gi)].map((m) => m[0]);
  return [...refs, ...cssUrls, ...imports];
}

const rounds = [0, 1, 2, 3, 4, 5];

describe('lineChartSvg', () => {
  const series: LineSeries[] = [
    { name: 'topk', x: rounds, y: [0.05, 0.08, NaN, 0.1, 0.11, 0.12] },
    { name: 'softmax', x: rounds, y: [0.05, 0.06, 0.07, null, 0.09, 0.1], lower: [0.04, 0.05, 0.06, null, 0.08, 0.09], upper: [0.06, 0.07, 0.08, null, 0.1, 0.11] },
    { name: 'popularity <debiased>', x: rounds, y: [0.05, 0.05, 0.06, 0.07, 0.07, Infinity] },
    { name: 'oracle', x: rounds, y: rounds.map(() => 0.28), dashed: true },
  ];
  const opts = { title: 'CTR', xTitle: 'round', yTitle: 'ctr_true', series };

  it('draws one path per series, a legend label per series, the reference dashed', async () => {
    const svg = await lineChartSvg(opts);
    const paths = linePaths(svg);
    expect(paths).toHaveLength(series.length);
    expect(legendLabels(svg)).toEqual(['topk', 'softmax', 'popularity &lt;debiased&gt;', 'oracle']);
    const dashed = paths.filter((p) => /stroke-dasharray="6,4"/.test(p));
    expect(dashed).toHaveLength(1);
    expect(dashed[0]).toContain('series: oracle');
    // The band of 'softmax' is drawn (one area path per series layer), the others' are empty.
    expect(svg.match(/aria-roledescription="area mark"[^>]*d="M/g)).toHaveLength(1);
  });

  it('leaves gaps for NaN, null and infinite values instead of zeros or NaN coordinates', async () => {
    const svg = await lineChartSvg(opts);
    for (const c of coordinates(svg)) expect(c).not.toMatch(/NaN|Infinity/);
    const paths = linePaths(svg);
    // A gap restarts the path: a second 'M' (moveto) in topk and softmax, none in oracle.
    const moves = (p: string) => (/ d="([^"]*)"/.exec(p)?.[1].match(/M/g) ?? []).length;
    expect(moves(paths[0])).toBe(2);
    expect(moves(paths[1])).toBe(2);
    expect(moves(paths[3])).toBe(1);
    // topk: 5 finite points drawn (one point mark each), 4 + 1 + 5 segments' worth of points elsewhere.
    const points = svg.match(/aria-roledescription="point"/g) ?? [];
    expect(points).toHaveLength(5 + 5 + 5 + 6);
  });

  it('is byte-identical across calls, inline-ready and has no ids to collide', async () => {
    const a = await lineChartSvg(opts);
    const b = await lineChartSvg(opts);
    expect(a).toBe(b);
    expect(a.startsWith('<svg')).toBe(true);
    expect(a).not.toContain('<?xml');
    expect(a).not.toMatch(/\sid="/);
    expect(a).toMatch(/width="\d+" height="\d+"/);
  });

  it('rejects mismatched lengths and duplicate names', async () => {
    await expect(lineChartSvg({ ...opts, series: [{ name: 'a', x: [0, 1], y: [1] }] })).rejects.toThrow(/2 x values and 1 y values/);
    await expect(lineChartSvg({ ...opts, series: [series[0], series[0]] })).rejects.toThrow(/duplicate/);
  });
});

describe('html-page', () => {
  it('escapes the five HTML specials', () => {
    expect(escapeHtml(`<a href="x">Tom & 'Jerry'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;');
    expect(escapeHtml('plain')).toBe('plain');
  });

  it('formats numbers with 4 significant digits and NaN as a dash', () => {
    expect(formatNumber(0.123456)).toBe('0.1235');
    expect(formatNumber(1234.5678)).toBe('1235');
    expect(formatNumber(12)).toBe('12');
    expect(formatNumber(NaN)).toBe('–');
    expect(formatNumber(1.5e-5)).toBe('1.500e-5');
  });

  it('builds a table with rows x columns cells, escaped, with a custom number format', () => {
    const html = htmlTable(
      ['name', 'x', 'y'],
      [
        ['a<b', 1.23456, NaN],
        ['c', 2, 3],
      ],
      { numberFormat: (x) => (Number.isNaN(x) ? 'NaN' : x.toFixed(1)) },
    );
    expect(html.match(/<th /g)).toHaveLength(3);
    expect(html.match(/<td/g)).toHaveLength(2 * 3);
    expect(html).toContain('<td>a&lt;b</td>');
    expect(html).toContain('<td class="num">1.2</td>');
    expect(html).toContain('<td class="num">NaN</td>');
  });

  it('makes a self-contained page with escaped title and unique section ids', () => {
    const html = htmlPage({
      title: 'A & B',
      sections: [
        { heading: 'Same', html: '<p>1</p>' },
        { heading: 'Same', html: '<p>2</p>' },
      ],
    });
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<title>A &amp; B</title>');
    expect(html).toContain('id="same"');
    expect(html).toContain('id="same-2"');
    expect(networkReferences(html)).toEqual([]);
    expect(html).not.toMatch(/<script|<link|<img|<iframe/i);
  });
});

/** Metrics shaped like metrics.csv of `ope simulate`: 2 scenarios x 4 rounds, NaN where the loop writes NaN. */
function simulateInput(): SimulateReportInput {
  const scenarios = ['topk', 'softmax'];
  const metrics: Record<string, string | number>[] = [];
  for (let round = 0; round < 4; round++) {
    for (const [s, scenario] of scenarios.entries()) {
      const ctr = 0.05 + 0.01 * round * (s + 1);
      metrics.push({
        scenario,
        round,
        ctr_true: ctr,
        ctr_oracle: 0.28,
        utility_true: 5 * ctr,
        utility_oracle: 1.4,
        regret: 1.4 - 5 * ctr,
        clicks: 100 + round,
        coverage_at_k: 1 / (round + 1 + s),
        gini: 0.2 + 0.1 * round,
        entropy: 5 - 0.2 * round,
        arp: 0.6 + round,
        long_tail_share: 0.7 - 0.1 * round,
        popularity_lift: round === 0 ? NaN : 0.1 * round,
        homogenization: 0.01 * round,
        train_loss: 4 - 0.3 * round,
        ope_mean_slate_weight: 1,
        ope_slate_ess_share: 0.5,
        mystery_metric: round * s,
        value_next_true: 0.4 + 0.02 * round,
        value_next_snips: s === 0 ? NaN : 0.41 + 0.02 * round,
        value_next_snips_se: s === 0 ? NaN : 0.03,
        'value_next_slate-ips': 0.39 + 0.02 * round,
        'value_next_slate-ips_se': 0.05,
      });
    }
  }
  return { config: { world: { users: 400, items: 200, slateSize: 5, seed: 12345 }, rounds: 4, note: '<b>not markup</b>' }, backend: 'wasm (TF.js 4.22.0, @tensorflow/tfjs-backend-wasm)', metrics };
}

describe('simulateReportHtml', () => {
  it('is byte-identical across calls and self-contained', async () => {
    const input = simulateInput();
    const a = await simulateReportHtml(input);
    const b = await simulateReportHtml(simulateInput());
    expect(a).toBe(b);
    expect(networkReferences(a)).toEqual([]);
    expect(a).not.toMatch(/<script|<link|<img|<iframe|@font-face/i);
  });

  it('charts every known metric present, one line per scenario plus the oracle', async () => {
    const input = simulateInput();
    const html = await simulateReportHtml(input);
    const present = SIMULATE_METRICS.filter((m) => m.column in input.metrics[0]);
    expect(present.map((m) => m.column)).toEqual(
      expect.arrayContaining(['ctr_true', 'regret', 'coverage_at_k', 'gini', 'entropy', 'arp', 'long_tail_share', 'popularity_lift', 'homogenization', 'train_loss']),
    );
    for (const m of present) expect(html).toContain(`<h3>${escapeHtml(m.title)}</h3>`);
    const figures = [...html.matchAll(/<figure class="chart"><h3>([^<]*)<\/h3>[\s\S]*?<\/figure>/g)];
    const ctr = figures.find((f) => f[1] === 'CTR of the served policy')![0];
    expect(linePaths(ctr)).toHaveLength(3);
    expect(legendLabels(ctr)).toEqual(['topk', 'softmax', 'oracle']);
    expect(linePaths(ctr).filter((p) => p.includes('stroke-dasharray="6,4"'))).toHaveLength(1);
    // NaN in popularity_lift (round 0) is a gap, not a NaN coordinate.
    for (const c of coordinates(html)) expect(c).not.toMatch(/NaN/);
    // The unknown numeric column is not lost.
    expect(html).toContain('<h3>mystery_metric</h3>');
  });

  it('has an OPE chart per scenario with truth and every estimator, without the se columns as lines', async () => {
    const html = await simulateReportHtml(simulateInput());
    const ope = /<section id="ope">[\s\S]*?<\/section>/.exec(html)![0];
    for (const scenario of ['topk', 'softmax']) {
      const fig = new RegExp(`<h3>Scenario ${scenario}</h3>[\\s\\S]*?</figure>`).exec(ope)![0];
      expect(legendLabels(fig)).toEqual(['truth', 'snips', 'slate-ips']);
      // topk's snips is NaN throughout: no path for it.
      expect(linePaths(fig)).toHaveLength(scenario === 'topk' ? 2 : 3);
    }
    expect(ope).not.toMatch(/series: [a-z-]*_se/);
  });

  it('shows backend, world, seed, config and a full metrics table', async () => {
    const input = simulateInput();
    const html = await simulateReportHtml(input);
    expect(html).toContain('wasm (TF.js 4.22.0, @tensorflow/tfjs-backend-wasm)');
    expect(html).toContain('400 users, 200 items, slate size 5');
    expect(html).toContain('world.seed = 12345');
    expect(html).toContain('&lt;b&gt;not markup&lt;/b&gt;');
    expect(html).not.toContain('<b>not markup</b>');
    const table = /<section id="table">[\s\S]*?<\/section>/.exec(html)![0];
    const columns = Object.keys(input.metrics[0]).length;
    expect(table.match(/<th /g)).toHaveLength(columns);
    expect(table.match(/<tr>/g)).toHaveLength(input.metrics.length + 1);
    expect(table.match(/<td/g)).toHaveLength(input.metrics.length * columns);
    expect(table).toContain('<td class="num">–</td>');
  });
});
