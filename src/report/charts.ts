import type * as vega from 'vega';
import type * as vl from 'vega-lite';

/*
 * SVG line charts for the HTML reports, drawn by vega-lite + vega in Node with renderer 'none' (no
 * canvas, no DOM): the scenegraph is serialized straight to SVG markup. Text widths are then
 * estimated (vega falls back to a per-character estimate without node-canvas), so the output does
 * not depend on the fonts installed on the machine: same input, byte-identical SVG.
 */

/** One line of a chart. Values that are null, NaN or infinite are left out: the line has a gap there, not a zero. */
export interface LineSeries {
  readonly name: string;
  readonly x: readonly number[];
  readonly y: readonly (number | null)[];
  /** Optional band around the line (e.g. a 95% interval), same length as y; drawn as a light area of the line's colour. */
  readonly lower?: readonly (number | null)[];
  readonly upper?: readonly (number | null)[];
  /** Dashed line: a reference (e.g. the oracle or the true value) rather than an observed or estimated series. */
  readonly dashed?: boolean;
  /** Fixed colour (CSS colour); default: dashed series dark grey, the others Tableau 10 in order. */
  readonly color?: string;
}

export interface LineChartOptions {
  readonly series: readonly LineSeries[];
  /** Drawn inside the SVG; leave it out when the page prints a heading above the chart. */
  readonly title?: string;
  readonly xTitle: string;
  readonly yTitle: string;
  /** Plot area in px, axes and legend excluded. Default 420 x 260. */
  readonly width?: number;
  readonly height?: number;
  /** Legend title; default none (the series names speak for themselves). */
  readonly legendTitle?: string;
  /** Start the y axis at zero; default false, since CTRs and values live far from 0 and would be flattened. */
  readonly yZero?: boolean;
}

interface Datum {
  x: number;
  y: number | null;
  lo: number | null;
  hi: number | null;
  series: string;
}

/** Vega's own 'category' palette (Tableau 10), listed so the colours do not depend on vega's defaults. */
const PALETTE = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];
/** References are drawn in dark grey so they read as 'not one of the compared series'. */
export const REFERENCE_COLOR = '#333333';
const DASH = [6, 4];
const SOLID = [1, 0];

const finiteOrNull = (v: number | null | undefined): number | null => (v === null || v === undefined || !Number.isFinite(v) ? null : v);

/** The long-format rows vega-lite wants: one per (series, x). */
function chartData(series: readonly LineSeries[]): Datum[] {
  const out: Datum[] = [];
  for (const s of series) {
    if (s.y.length !== s.x.length) throw new RangeError(`lineChartSvg: series '${s.name}' has ${s.x.length} x values and ${s.y.length} y values`);
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i];
      // A point without a finite x cannot be placed; leave it out like a missing y.
      if (!Number.isFinite(x)) continue;
      out.push({ x, y: finiteOrNull(s.y[i]), lo: finiteOrNull(s.lower?.[i]), hi: finiteOrNull(s.upper?.[i]), series: s.name });
    }
  }
  return out;
}

/** Colours in series order: fixed ones kept, references grey, the others through the palette (cycling past 10). */
function seriesColors(series: readonly LineSeries[]): string[] {
  let k = 0;
  return series.map((s) => s.color ?? (s.dashed ? REFERENCE_COLOR : PALETTE[k++ % PALETTE.length]));
}

/** The vega-lite spec of a line chart; exported so callers (and tests) can inspect or tweak it. */
export function lineChartSpec(opts: LineChartOptions): vl.TopLevelSpec {
  const names = opts.series.map((s) => s.name);
  if (new Set(names).size !== names.length) throw new RangeError(`lineChartSvg: duplicate series names in ${JSON.stringify(names)}`);
  const values = chartData(opts.series);
  const integerX = values.every((d) => Number.isInteger(d.x));
  // Explicit domains keep legend and colours in the caller's series order instead of vega's sorted order.
  const color = { field: 'series', type: 'nominal', title: opts.legendTitle ?? null, scale: { domain: names, range: seriesColors(opts.series) }, sort: names } as const;
  const strokeDash = { field: 'series', type: 'nominal', title: opts.legendTitle ?? null, scale: { domain: names, range: opts.series.map((s) => (s.dashed ? DASH : SOLID)) }, sort: names } as const;
  const x = {
    field: 'x',
    type: 'quantitative',
    title: opts.xTitle,
    scale: { zero: false, nice: false },
    // Rounds are integers: no 0.5 ticks.
    axis: integerX ? { tickMinStep: 1, format: 'd' } : {},
  } as const;
  const y = { field: 'y', type: 'quantitative', title: opts.yTitle, scale: { zero: opts.yZero ?? false } } as const;
  const hasBand = values.some((d) => d.lo !== null && d.hi !== null);
  const band = { mark: { type: 'area', opacity: 0.15 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: opts.yTitle }, y2: { field: 'hi' }, color } } as const;
  // Lines and points are separate layers so the points stay solid discs on dashed lines.
  const line = { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y, color, strokeDash } } as const;
  const point = { mark: { type: 'point', filled: true, size: 28, opacity: 1 }, encoding: { x, y, color } } as const;
  return {
    ...(opts.title !== undefined ? { title: opts.title } : {}),
    width: opts.width ?? 420,
    height: opts.height ?? 260,
    background: 'white',
    padding: 6,
    data: { values },
    layer: hasBand ? [band, line, point] : [line, point],
    config: {
      font: 'sans-serif',
      view: { stroke: '#ddd' },
      axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#eee' },
      legend: { orient: 'right', symbolType: 'stroke', symbolStrokeWidth: 2, symbolOpacity: 1, symbolSize: 400, labelFontSize: 11, labelLimit: 260 },
      title: { fontSize: 13, anchor: 'start' },
    },
  };
}

/*
 * vega-lite and vega log warnings to the console (e.g. merged legends); a report must not chatter
 * on stderr, and real problems surface as thrown errors anyway.
 */
const silentLogger = {
  level(): number {
    return 0;
  },
  error(...args: readonly unknown[]): never {
    throw new Error(args.map(String).join(' '));
  },
  warn() {
    return silentLogger;
  },
  info() {
    return silentLogger;
  },
  debug() {
    return silentLogger;
  },
};

/**
 * vega and vega-lite, loaded on first use: they take about half a second to load, which every `ope`
 * command would otherwise pay at start-up.
 */
let libraries: Promise<{ vega: typeof vega; vl: typeof vl }> | undefined;
function loadLibraries(): Promise<{ vega: typeof vega; vl: typeof vl }> {
  libraries ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vl]) => ({ vega, vl }));
  return libraries;
}

/** Render a vega-lite spec to an SVG string ready to inline in HTML (no XML prolog). */
export async function renderVegaLiteSvg(spec: vl.TopLevelSpec): Promise<string> {
  const { vega, vl } = await loadLibraries();
  // A loader that refuses every request: charts carry their data inline, so nothing may touch the network or disk.
  const noLoader = {
    ...vega.loader(),
    load: () => Promise.reject(new Error('report charts load no external data')),
    sanitize: () => Promise.reject(new Error('report charts load no external data')),
  };
  const compiled = vl.compile(spec, { logger: silentLogger as unknown as NonNullable<NonNullable<Parameters<typeof vl.compile>[1]>['logger']> }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader: noLoader as unknown as vega.Loader, logLevel: vega.None });
  try {
    const svg = await view.toSVG();
    return svg.replace(/^<\?xml[^>]*>\s*/, '');
  } finally {
    // Releases the dataflow's timers and listeners; renderer 'none' has no DOM, but finalize is cheap.
    view.finalize();
  }
}

/** A line chart over a numeric x with one line per series (references dashed, optional bands), as inline SVG. */
export async function lineChartSvg(opts: LineChartOptions): Promise<string> {
  return renderVegaLiteSvg(lineChartSpec(opts));
}

/** Series for `lineChartSvg` from long-format rows: one line per value of `groupKey`, in first-seen order, sorted by x. */
export function seriesFromRows(
  rows: readonly Record<string, string | number>[],
  xKey: string,
  yKey: string,
  groupKey: string,
  band?: { readonly lower: (row: Record<string, string | number>) => number; readonly upper: (row: Record<string, string | number>) => number },
): LineSeries[] {
  const groups = new Map<string, Record<string, string | number>[]>();
  for (const r of rows) {
    const g = String(r[groupKey]);
    let list = groups.get(g);
    if (list === undefined) groups.set(g, (list = []));
    list.push(r);
  }
  const num = (v: string | number | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return [...groups].map(([name, list]) => {
    const sorted = [...list].sort((a, b) => Number(a[xKey]) - Number(b[xKey]));
    return {
      name,
      x: sorted.map((r) => Number(r[xKey])),
      y: sorted.map((r) => num(r[yKey])),
      ...(band !== undefined ? { lower: sorted.map((r) => finiteOrNull(band.lower(r))), upper: sorted.map((r) => finiteOrNull(band.upper(r))) } : {}),
    };
  });
}
