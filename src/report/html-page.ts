/*
 * The shell of every HTML report of the toolkit: one self-contained file (inline CSS, inline SVG,
 * no script, font, image or link to fetch) so a report opens offline, attaches to an e-mail or a
 * CI artifact, and prints. Pure string building: same input, byte-identical page.
 */

export interface HtmlSection {
  readonly heading: string;
  /** Trusted HTML (built with the helpers below); the heading is escaped, this is not. */
  readonly html: string;
  /** Optional id for in-page links; derived from the heading when absent. */
  readonly id?: string;
}

export interface HtmlPageOptions {
  readonly title: string;
  /** Trusted HTML under the title (e.g. backend, seeds). */
  readonly subtitle?: string;
  readonly sections: readonly HtmlSection[];
  /** Trusted HTML at the bottom of the page. */
  readonly footer?: string;
  /** Extra CSS (trusted) appended to the page's stylesheet, e.g. a report's own classes. */
  readonly css?: string;
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text to HTML, safe in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** A lowercase slug for ids and anchors: letters, digits and dashes only. */
export function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'section'
  );
}

/**
 * 4 significant digits by default; exponent form outside [1e-3, 1e5) so columns stay narrow;
 * NaN as an en dash (a value that is undefined, e.g. popularity lift without clicks, not an error).
 */
export function formatNumber(x: number, digits = 4): string {
  if (Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (x === 0) return '0';
  if (Number.isInteger(x) && Math.abs(x) < 1e9) return String(x);
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(digits - 1);
  return x.toPrecision(digits);
}

export interface HtmlTableOptions {
  /** Number formatting; default `formatNumber` (4 significant digits, NaN as '–'). */
  readonly numberFormat?: (x: number) => string;
  /** Optional caption above the table (text, escaped). */
  readonly caption?: string;
}

/** A table of numbers and strings; numbers right-aligned in tabular figures. Missing cells are empty. */
export function htmlTable(columns: readonly string[], rows: readonly (readonly (string | number | null | undefined)[])[], options: HtmlTableOptions = {}): string {
  const format = options.numberFormat ?? ((x: number) => formatNumber(x));
  const cell = (v: string | number | null | undefined): string => {
    if (typeof v === 'number') return `<td class="num">${escapeHtml(format(v))}</td>`;
    return `<td>${v === null || v === undefined ? '' : escapeHtml(v)}</td>`;
  };
  const head = `<thead><tr>${columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('')}</tr></thead>`;
  const body = `<tbody>\n${rows.map((r) => `<tr>${columns.map((_, j) => cell(r[j])).join('')}</tr>`).join('\n')}\n</tbody>`;
  const caption = options.caption !== undefined ? `<caption>${escapeHtml(options.caption)}</caption>` : '';
  // The wrapper scrolls wide tables sideways instead of widening the page.
  return `<div class="table-wrap"><table>${caption}${head}\n${body}</table></div>`;
}

export interface ChartFigure {
  readonly heading: string;
  /** One line under the heading (text, escaped). */
  readonly note?: string;
  /** Inline SVG (trusted). */
  readonly svg: string;
  /** Optional stable id of the figure element (e.g. for links and browser tests). */
  readonly id?: string;
}

/** A figure: heading, one-line note, chart. */
export function chartFigure(fig: ChartFigure): string {
  const note = fig.note !== undefined ? `<p class="note">${escapeHtml(fig.note)}</p>` : '';
  const id = fig.id !== undefined ? ` id="${escapeHtml(fig.id)}"` : '';
  return `<figure class="chart"${id}><h3>${escapeHtml(fig.heading)}</h3>${note}\n${fig.svg}\n</figure>`;
}

/** A responsive grid of figures: as many columns as fit, one on a phone or in print. */
export function chartGrid(figures: readonly ChartFigure[]): string {
  return `<div class="grid">\n${figures.map(chartFigure).join('\n')}\n</div>`;
}

/** A collapsible block, closed by default (long tables, configs). */
export function details(summary: string, html: string, open = false): string {
  return `<details${open ? ' open' : ''}><summary>${escapeHtml(summary)}</summary>\n${html}\n</details>`;
}

/** Preformatted text (escaped), e.g. pretty JSON. */
export function pre(text: string): string {
  return `<pre>${escapeHtml(text)}</pre>`;
}

const CSS = `
:root { --fg: #1f2328; --muted: #59636e; --rule: #d1d9e0; --bg-soft: #f6f8fa; --accent: #4c78a8; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--fg); background: #fff; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 20px 40px; }
header { border-bottom: 2px solid var(--rule); margin-bottom: 16px; padding-bottom: 8px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.25em; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1em; margin: 0 0 2px; }
.subtitle { color: var(--muted); margin: 0; }
.subtitle p { margin: 2px 0; }
.note { color: var(--muted); font-size: 0.9em; margin: 0 0 6px; }
nav ul { list-style: none; padding: 0; margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 0.9em; }
nav a, footer a { color: var(--accent); text-decoration: none; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 520px), 1fr)); gap: 16px; }
figure.chart { margin: 0; padding: 10px 12px; border: 1px solid var(--rule); border-radius: 6px; background: #fff; break-inside: avoid; page-break-inside: avoid; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
.table-wrap { overflow-x: auto; margin: 8px 0; }
table { border-collapse: collapse; font-size: 0.85em; }
caption { text-align: left; color: var(--muted); padding: 4px 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--rule); text-align: left; white-space: nowrap; }
th { background: var(--bg-soft); position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fbfcfd; }
details { margin: 8px 0; border: 1px solid var(--rule); border-radius: 6px; padding: 6px 12px; }
summary { cursor: pointer; font-weight: 600; }
pre { background: var(--bg-soft); padding: 10px; border-radius: 4px; overflow-x: auto; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
footer { margin-top: 32px; padding-top: 8px; border-top: 1px solid var(--rule); color: var(--muted); font-size: 0.85em; }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  .grid { grid-template-columns: 1fr 1fr; }
  figure.chart { border: none; padding: 0; }
  details > summary { list-style: none; }
  th { position: static; }
  h2 { break-after: avoid; page-break-after: avoid; }
}
`;

/** A complete, self-contained HTML document: title, optional subtitle, a contents list, sections, footer. */
export function htmlPage(opts: HtmlPageOptions): string {
  const ids = uniqueIds(opts.sections.map((s) => s.id ?? slug(s.heading)));
  const nav = opts.sections.length > 1 ? `<nav><ul>${opts.sections.map((s, i) => `<li><a href="#${ids[i]}">${escapeHtml(s.heading)}</a></li>`).join('')}</ul></nav>` : '';
  const sections = opts.sections.map((s, i) => `<section id="${ids[i]}">\n<h2>${escapeHtml(s.heading)}</h2>\n${s.html}\n</section>`).join('\n');
  const subtitle = opts.subtitle !== undefined ? `<div class="subtitle">${opts.subtitle}</div>` : '';
  const footer = opts.footer !== undefined ? `<footer>${opts.footer}</footer>` : '';
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // No network: forbids any fetch the page might try (fonts, images, scripts) even if a string slipped in.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>${escapeHtml(opts.title)}</title>`,
    `<style>${CSS}${opts.css ?? ''}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<header><h1>${escapeHtml(opts.title)}</h1>${subtitle}${nav}</header>`,
    sections,
    footer,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Ids made unique by suffixing -2, -3, ... so in-page links always land on the right section. */
function uniqueIds(ids: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return ids.map((id) => {
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    return n === 1 ? id : `${id}-${n}`;
  });
}
