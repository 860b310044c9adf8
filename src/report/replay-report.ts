import type { OutBatch, OutColumnSpec } from '../data/write-log.js';
import { curveGrid, type PolicyReplayResult, type ReplayResult } from '../replay/engine.js';
import { quantileSorted } from '../stats/quantile.js';
import { TOOL_VERSION } from '../version.js';
import { lineChartSvg } from './charts.js';
import { chartGrid, escapeHtml, formatNumber, htmlPage, htmlTable } from './html-page.js';
import { fmt, renderTable } from './format.js';

/** Table, JSON, curves CSV and HTML report of `ope replay` (issue 8). */

export function replayTable(res: ReplayResult, footer: readonly string[] = []): string {
  const level = Math.round(100 * (1 - (res.policies[0]?.interval.alpha ?? 0.05)));
  const head = ['policy', 'avg reward', `${level}% interval (replays)`, 'accepted (mean)', 'acceptance', ...(res.method === 'rejection' ? ['violations'] : [])];
  const rows = res.policies.map((p) => [
    p.label,
    fmt(p.value),
    `[${fmt(p.interval.lower)}, ${fmt(p.interval.upper)}]`,
    fmt(p.meanAccepted),
    `${fmt(100 * p.acceptanceRate, 3)}%`,
    ...(res.method === 'rejection' ? [String(p.violations)] : []),
  ]);
  const lines = [
    `ope replay (${res.method}): ${res.policies.length} policies x ${res.replays} replays on ${res.log.n} events, K = ${res.log.K}, d = ${res.log.d}; logger average reward ${fmt(res.log.rewardSum / res.log.n)}`,
    '',
    renderTable(head, rows),
    '',
    res.method === 'rejection'
      ? `M = ${fmt(res.maxRatio)} (${res.maxRatioSource}): about 1 event in M is accepted`
      : `queue-based replay (Mandel et al. 2016): ${res.distinctContexts} distinct contexts; each replay stops at its first empty (context, action) queue`,
    res.resampled
      ? `interval: ${res.policies[0]?.interval.method ?? ''}: each replay weighs its accepted events by Poisson(1) bootstrap weights, so it covers the log's reward noise and the replay's own draws; seed ${res.seed}`
      : `interval: ${res.policies[0]?.interval.method ?? ''} (${res.bootstrap} resamples), replay randomness only, not the log's sampling noise; seed ${res.seed}`,
    ...(res.method === 'queue' && (res.distinctContexts ?? 0) > res.log.n / 2
      ? [
          `warning: ${res.distinctContexts} distinct contexts in ${res.log.n} events look continuous; the queue method needs discrete contexts (each queue holds one exact context), use --method rejection`,
        ]
      : []),
    ...footer,
  ];
  return lines.join('\n') + '\n';
}

export function replayJson(res: ReplayResult, info: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return {
    ...info,
    tool_version: TOOL_VERSION,
    method: res.method,
    seed: res.seed,
    replays: res.replays,
    bootstrap: res.bootstrap,
    log: {
      n: res.log.n,
      K: res.log.K,
      d: res.log.d,
      min_propensity: res.log.minPropensity,
      max_propensity: res.log.maxPropensity,
      uniform_logger: res.log.uniformLogger,
      average_reward: res.log.rewardSum / res.log.n,
    },
    max_ratio: Number.isFinite(res.maxRatio) ? res.maxRatio : null,
    max_ratio_source: res.maxRatioSource,
    ...(res.distinctContexts !== undefined ? { distinct_contexts: res.distinctContexts } : {}),
    policies: res.policies.map((p) => ({
      policy: p.label,
      value: num(p.value),
      ci: { method: p.interval.method, alpha: p.interval.alpha, lower: num(p.interval.lower), upper: num(p.interval.upper) },
      mean_accepted: p.meanAccepted,
      acceptance_rate: p.acceptanceRate,
      violations: p.violations,
      replays: p.runs.map((r) => ({ replay: r.replay, accepted: r.accepted, reward_sum: r.rewardSum, value: num(r.mean), acceptance_rate: r.acceptanceRate, violations: r.violations })),
    })),
  };
}

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);

export const CURVE_SCHEMA: readonly OutColumnSpec[] = [
  { name: 'policy', kind: 'string' },
  { name: 'replay', kind: 'int32' },
  { name: 'accepted_event', kind: 'int32' },
  { name: 'cumulative_reward', kind: 'float64' },
  { name: 'running_ctr', kind: 'float64' },
];

/** The curves as table batches (one per policy and replay), at up to `points` accepted events each (0 = all). */
export function* curveBatches(res: ReplayResult, points: number): Generator<OutBatch> {
  for (const p of res.policies) {
    const max = Math.max(0, ...p.runs.map((r) => r.accepted));
    const grid = curveGrid(max, points);
    for (const run of p.runs) {
      const idx = grid.filter((g) => g <= run.accepted);
      if (run.accepted > 0 && idx[idx.length - 1] !== run.accepted) idx.push(run.accepted);
      const m = idx.length;
      const cum = new Float64Array(m);
      const ctr = new Float64Array(m);
      for (let k = 0; k < m; k++) {
        cum[k] = run.cumulative[idx[k] - 1];
        ctr[k] = cum[k] / idx[k];
      }
      yield {
        n: m,
        columns: { policy: new Array<string>(m).fill(p.label), replay: new Int32Array(m).fill(run.replay), accepted_event: Int32Array.from(idx), cumulative_reward: cum, running_ctr: ctr },
      };
    }
  }
}

/** Mean running CTR over replays (and its 2.5-97.5% spread across replays) up to the shortest replay. */
export function meanRunningCtr(p: PolicyReplayResult, points: number): { x: number[]; y: number[]; lower: number[]; upper: number[] } {
  const min = Math.min(...p.runs.map((r) => r.accepted));
  const grid = curveGrid(min, points);
  const y: number[] = [];
  const lower: number[] = [];
  const upper: number[] = [];
  const v = new Float64Array(p.runs.length);
  for (const g of grid) {
    p.runs.forEach((r, k) => (v[k] = r.cumulative[g - 1] / g));
    y.push(v.reduce((s, t) => s + t, 0) / v.length);
    const sorted = Float64Array.from(v).sort();
    lower.push(quantileSorted(sorted, 0.025));
    upper.push(quantileSorted(sorted, 0.975));
  }
  return { x: grid, y, lower, upper };
}

export async function replayHtml(res: ReplayResult, logPath: string, points = 200): Promise<string> {
  const series = res.policies.map((p) => ({ name: p.label, ...meanRunningCtr(p, points) }));
  const ctr = await lineChartSvg({ series, xTitle: 'accepted events', yTitle: 'running average reward (mean over replays)', width: 640, height: 320 });
  const cumSeries = res.policies.map((p) => {
    const m = meanRunningCtr(p, points);
    return { name: p.label, x: m.x, y: m.x.map((g, k) => m.y[k] * g) };
  });
  const cum = await lineChartSvg({ series: cumSeries, xTitle: 'accepted events', yTitle: 'cumulative reward (mean over replays)', width: 640, height: 320 });
  const level = Math.round(100 * (1 - (res.policies[0]?.interval.alpha ?? 0.05)));
  const table = htmlTable(
    ['policy', 'average reward', `${level}% lower`, `${level}% upper`, 'accepted (mean)', 'acceptance rate', ...(res.method === 'rejection' ? ['violations'] : [])],
    res.policies.map((p) => [p.label, p.value, p.interval.lower, p.interval.upper, p.meanAccepted, p.acceptanceRate, ...(res.method === 'rejection' ? [p.violations] : [])]),
  );
  const method =
    res.method === 'rejection'
      ? `Rejection replay: M = ${formatNumber(res.maxRatio)} (${res.maxRatioSource}); about one event in M is accepted.`
      : `Queue-based replay (Mandel et al. 2016): ${res.distinctContexts} distinct contexts; a replay stops at its first empty (context, action) queue.`;
  return htmlPage({
    title: 'ope replay: adaptive policies on a log',
    subtitle: `<p>${escapeHtml(logPath)}: ${res.log.n} events, K = ${res.log.K}, d = ${res.log.d}; ${res.replays} replays, seed ${res.seed}</p><p>${escapeHtml(method)}</p>`,
    sections: [
      {
        heading: 'Average reward per accepted event',
        html:
          table +
          `<p class="note">${escapeHtml(
            res.resampled
              ? `Interval: ${res.policies[0]?.interval.method ?? ''}; every replay weighs its accepted events by Poisson(1) bootstrap weights, so it covers the log's reward noise as well as the replay's own draws.`
              : `Interval: ${res.policies[0]?.interval.method ?? ''} of the replay means; it shows the replay's own randomness on this log, not the log's sampling noise.`,
          )}</p>`,
      },
      {
        heading: 'Learning curves',
        html: chartGrid([
          { heading: 'Running average reward', note: 'mean over replays, band: 2.5-97.5% of the replays; up to the shortest replay', svg: ctr },
          { heading: 'Cumulative reward', note: 'mean over replays', svg: cum },
        ]),
      },
    ],
    footer: `ope-toolkit ${escapeHtml(TOOL_VERSION)}`,
  });
}
