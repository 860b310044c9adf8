import { describe, expect, it } from 'vitest';
import type { GateResult } from '../src/gate/types.js';
import { formatValue } from '../src/report/gate-format.js';
import { GATE_CHART_IDS, gateReportHtml } from '../src/report/gate-html.js';
import { gateMemoMarkdown } from '../src/report/gate-memo.js';
import { gateFixture, gateFixtureAll } from './helpers/gate-fixture.js';

const SECTIONS = ['release_id', 'scope', 'gates', 'estimates', 'known_risks', 'mitigations', 'decision', 'next_review_at'];
const WORD = { green: 'GREEN', yellow: 'YELLOW', red: 'RED' } as const;

/** The lines under a '## heading' of the memo, up to the next heading. */
function memoSection(memo: string, heading: string): string[] {
  const lines = memo.split('\n');
  const start = lines.indexOf(`## ${heading}`);
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? undefined : end).filter((l) => l.trim() !== '');
}

/** Any attribute or CSS reference that would make a browser fetch something. */
function networkReferences(html: string): string[] {
  const refs = [...html.matchAll(/\b(?:src|href|action|poster|data|xlink:href)\s*=\s*["']?\s*((?:https?:)?\/\/[^"'\s>]*)/gi)].map((m) => m[1]);
  const cssUrls = [...html.matchAll(/url\(\s*["']?((?:https?:|\/\/)[^)"']*)/gi)].map((m) => m[1]);
  const imports = [...html.matchAll(/@import\s+[^;]+/gi)].map((m) => m[0]);
  return [...refs, ...cssUrls, ...imports];
}

/** The inner HTML of the element with this id (the figure, the table, the verdict div). */
function elementById(html: string, id: string, tag: string): string {
  const start = html.search(new RegExp(`<${tag}[^>]*\\sid="${id}"`));
  if (start < 0) return '';
  const end = html.indexOf(`</${tag}>`, start);
  return html.slice(start, end + tag.length + 3);
}

describe('gateMemoMarkdown', () => {
  const result = gateFixture();
  const memo = gateMemoMarkdown(result, { releaseId: 'ranker-v7 2025-10-14', nextReviewAt: '2025-10-21' });

  it('has every section, in order', () => {
    const positions = SECTIONS.map((s) => memo.search(new RegExp(`(^|\\n)(## ${s}\\n|- \\*\\*${s}:\\*\\*)`)));
    for (const [i, p] of positions.entries()) expect(p, SECTIONS[i]).toBeGreaterThanOrEqual(0);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(memo).toContain('- **release_id:** ranker-v7 2025-10-14');
    expect(memoSection(memo, 'next_review_at')).toEqual(['2025-10-21']);
  });

  it('lists every check with its colour word, value and thresholds in the gates table', () => {
    const rows = memoSection(memo, 'gates').filter((l) => l.startsWith('| ') && !l.startsWith('| check '));
    expect(rows).toHaveLength(result.checks.length);
    for (const [i, c] of result.checks.entries()) {
      expect(rows[i]).toContain(`| ${c.name} |`);
      expect(rows[i]).toContain(`| **${WORD[c.colour]}** |`);
      expect(rows[i]).toContain(`| ${formatValue(c.value)} | ${c.unit} |`);
    }
    expect(memo).not.toMatch(/[\u{1F300}-\u{1FAFF}\u{2600}-\u{27BF}]/u);
  });

  it('has one known risk per non-green check and the yellow checks’ mitigations', () => {
    const risks = memoSection(memo, 'known_risks').filter((l) => l.startsWith('- **'));
    const nonGreen = result.checks.filter((c) => c.colour !== 'green');
    expect(risks).toHaveLength(nonGreen.length);
    for (const [i, c] of nonGreen.entries()) expect(risks[i]).toBe(`- **${WORD[c.colour]}** ${c.name}: ${c.detail}`);
    const mitigations = memoSection(memo, 'mitigations');
    for (const c of result.checks.filter((c) => c.colour === 'yellow')) expect(mitigations).toContain(`- ${c.name}: ${c.mitigation}`);
    for (const w of result.warnings) expect(memoSection(memo, 'known_risks')).toContain(`- warning: ${w}`);
  });

  it('writes the differences with their intervals', () => {
    const rows = memoSection(memo, 'estimates').filter((l) => l.startsWith('| ') && !l.startsWith('| estimator '));
    expect(rows.map((r) => r.split('|')[1].trim())).toEqual(['snips', 'dr', 'switch-dr']);
    expect(rows[1]).toContain('| +0.0032 | [0.0013, 0.00529] (95% bca) |');
  });

  it.each([
    ['red', 'hold'],
    ['yellow', 'go with mitigations'],
    ['green', 'go'],
  ] as const)('decides from the verdict: %s -> %s, and never asks for a rollback', (colour, decision) => {
    const r: GateResult = colour === 'red' ? gateFixture() : gateFixtureAll(colour);
    expect(r.verdict.colour).toBe(colour);
    const m = gateMemoMarkdown(r, {});
    const lines = memoSection(m, 'decision');
    expect(lines[0]).toMatch(new RegExp(`^decision: \\*\\*${decision}\\*\\* \\(verdict \\*\\*${WORD[colour]}\\*\\*\\)`));
    expect(lines.join('\n')).toMatch(/'rollback' is a decision for a live release/);
    expect(lines.join('\n')).not.toMatch(/decision: \*\*rollback/);
    expect(m).toContain('- **release_id:** not set');
    expect(memoSection(m, 'next_review_at')).toEqual(['not set']);
    if (colour === 'green') {
      expect(memoSection(m, 'known_risks')[0]).toBe('- none: every check is green.');
      expect(memoSection(m, 'mitigations')).toEqual(['- none required: no check is yellow.']);
    }
  });

  it('is deterministic and keeps table cells on one line', () => {
    const weird = gateFixture({ checks: [{ ...result.checks[0], name: 'a | b\nc', colour: 'yellow' }] });
    const a = gateMemoMarkdown(weird, { scope: 'all traffic' });
    expect(a).toBe(gateMemoMarkdown(weird, { scope: 'all traffic' }));
    expect(a).toContain('| a \\| b c |');
    expect(a).toContain('- **scope:** all traffic');
  });
});

describe('gateReportHtml', () => {
  const result = gateFixture();

  it('is self-contained: no network references, scripts, images or links', async () => {
    const html = await gateReportHtml(result);
    expect(networkReferences(html)).toEqual([]);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|<object|<embed/i);
    expect(html).not.toMatch(/\s(?:src|href)\s*=\s*["']?https?:/i);
  });

  it('has the verdict banner with a stable id, data-colour and the reasons', async () => {
    const html = await gateReportHtml(result);
    const verdict = elementById(html, 'verdict', 'div');
    expect(verdict).toMatch(/^<div id="verdict" class="verdict verdict-red" data-colour="red" data-decision="hold"/);
    expect(verdict).toContain('<strong>hold</strong>');
    expect(verdict.match(/<li>/g)).toHaveLength(result.verdict.reasons.length);
    const green = elementById(await gateReportHtml(gateFixtureAll('green')), 'verdict', 'div');
    expect(green).toMatch(/data-colour="green" data-decision="go"/);
  });

  it('draws one SVG per required figure, each in its own identified figure', async () => {
    const html = await gateReportHtml(result);
    expect(html.match(/<svg/g)).toHaveLength(GATE_CHART_IDS.length);
    for (const id of GATE_CHART_IDS) {
      const fig = elementById(html, id, 'figure');
      expect(fig, id).toMatch(/^<figure class="chart" id="/);
      expect(fig.match(/<svg/g), id).toHaveLength(1);
      // No NaN coordinates from a missing value.
      expect(fig, id).not.toMatch(/="[^"]*NaN/);
    }
  });

  it('charts the estimates, the references and the weight bins', async () => {
    const html = await gateReportHtml(result);
    const est = elementById(html, 'chart-estimates', 'figure');
    expect(est.match(/aria-roledescription="point"/g)).toHaveLength(2 * result.differences.length);
    const diff = elementById(html, 'chart-differences', 'figure');
    expect(diff).toContain('minimum effect (+0.002)');
    expect(diff).toContain('non-inferiority margin (-0.001)');
    const weights = elementById(html, 'chart-weights', 'figure');
    expect(weights.match(/aria-roledescription="bar"/g)).toHaveLength(result.weights.counts.length);
    // The axis is labelled with bin edges: the first and the last.
    expect(weights).toContain('>0.001</text>');
    expect(weights).toContain('>1,000</text>');
  });

  it('has a row per check (coloured) and per slice (worse highlighted)', async () => {
    const html = await gateReportHtml(result);
    const checks = [...html.matchAll(/<tr class="check" data-check="([^"]+)" data-colour="([^"]+)">/g)].map((m) => [m[1], m[2]]);
    expect(checks).toEqual(result.checks.map((c) => [c.id, c.colour]));
    const slices = elementById(html, 'slices-table', 'table');
    const rows = [...slices.matchAll(/<tr class="slice( worse)?" data-worse="(true|false)"><td>([^<]*)<\/td>/g)].map((m) => [m[3], m[2]]);
    expect(rows).toEqual([
      ['surface = home', 'false'],
      ['surface = search', 'true'],
    ]);
    expect(elementById(html, 'chart-slices', 'figure')).toContain('significantly worse');
  });

  it('shows the warnings and the config', async () => {
    const html = await gateReportHtml(result);
    for (const w of result.warnings) expect(html).toContain(`<li>${w.replace(/'/g, '&#39;')}</li>`);
    expect(html).toContain('&quot;nonInferiorityMargin&quot;: 0.001');
  });

  it('is byte-identical across calls', async () => {
    const a = await gateReportHtml(result);
    const b = await gateReportHtml(gateFixture());
    expect(a).toBe(b);
  });

  it('renders a result without estimators, slices or bins (and with NaN values) without charts that would be empty', async () => {
    const empty = gateFixture({
      differences: [],
      slices: [],
      weights: { edges: [], counts: [] },
      checks: [{ ...result.checks[4], value: NaN }],
      warnings: [],
    });
    const html = await gateReportHtml(empty);
    expect(html.match(/<svg/g)).toBeNull();
    expect(html).toContain('No estimator could be computed');
    expect(html).toContain('No warnings.');
    expect(html).toContain('not measurable');
  });

  it('falls back to a band per bin when the edges cannot sit on a log axis', async () => {
    const html = await gateReportHtml(gateFixture({ weights: { edges: [0, 0.5, 1, 2], counts: [3, 5, 2] } }));
    const weights = elementById(html, 'chart-weights', 'figure');
    expect(weights.match(/aria-roledescription="bar"/g)).toHaveLength(3);
    expect(weights).toContain('>0–0.5</text>');
  });
});
