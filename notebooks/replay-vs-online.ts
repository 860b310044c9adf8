/**
 * Replay against the truth (issue 8): learners replayed on logs of a simulated contextual bandit
 * (10 actions, 5 context features, logistic rewards), beside the same learners served online in the
 * same world for as many events. Two loggers: uniform (Li et al. 2011's exact replay) and the
 * world's own softmax logger (rejection with M = max 1 / propensity, Dudik et al. 2012).
 *
 * Run: `npm run notebook -- replay-vs-online` (about a minute on 2 cores). Writes
 * notebooks/out/replay-vs-online/ (or OPE_NOTEBOOK_OUT): README.md, curves.csv and one SVG per
 * logger. OPE_NOTEBOOK_SIZE=smoke: 5,000 events, 2 replays, 2 online runs (seconds; for CI).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { epsilonGreedy, lineChartSvg, linUcb, makeBanditWorld, replayLog, resolveBanditConfig, runOnline, servedLog, thompsonLinear, type LineSeries, type OnlineLogger } from 'ope-toolkit';
import { notebookOut, notebookSize } from './lib/env.js';

const FULL = notebookSize() === 'full';
const OUT = notebookOut('replay-vs-online');

const world = makeBanditWorld(resolveBanditConfig({ n: 1, actions: 10, dim: 5, reward: 'logistic', loggingTemperature: 1, qHatNoise: 0, seed: 11 }));
const learners = [
  { label: 'linucb:alpha=1', factory: linUcb(1) },
  { label: 'ts:v=0.5', factory: thompsonLinear(0.5, 1) },
  { label: 'eps:epsilon=0.1', factory: epsilonGreedy(0.1) },
];
const N = FULL ? 200_000 : 5_000;
const REPLAYS = FULL ? 10 : 2;
const ONLINE_RUNS = FULL ? 10 : 2;
const POINTS = FULL ? 40 : 10;
/** One colour per learner, for its replayed (solid) and online (dashed) curve. */
const COLORS = ['#4c78a8', '#f58518', '#e45756'];

const csv = ['logger,learner,source,events,running_ctr'];
const summary = ['| logger | learner | replay: average reward (95% interval) | accepted events | online: average reward over as many events (sd of runs) |', '|---|---|---|---|---|'];
const started = performance.now();
for (const logger of ['uniform', 'world'] as OnlineLogger[]) {
  const log = servedLog(world, N, logger, 1);
  const res = await replayLog(log, { policies: learners, replays: REPLAYS, seed: 2 });
  const series: LineSeries[] = [];
  for (const [p, learner] of learners.entries()) {
    const runs = res.policies[p].runs;
    const T = Math.min(...runs.map((r) => r.accepted));
    const grid = Array.from({ length: POINTS }, (_, k) => Math.max(1, Math.round(((k + 1) * T) / POINTS)));
    const replayCtr = grid.map((t) => runs.reduce((s, r) => s + r.cumulative[t - 1] / t, 0) / runs.length);
    const online = Array.from({ length: ONLINE_RUNS }, (_, s) => runOnline(world, learner.factory, T, 100 + s));
    const onlineCtr = grid.map((t) => online.reduce((s, c) => s + c[t - 1] / t, 0) / ONLINE_RUNS);
    series.push({ name: `${learner.label} replay`, x: grid, y: replayCtr, color: COLORS[p] });
    series.push({ name: `${learner.label} online`, x: grid, y: onlineCtr, dashed: true, color: COLORS[p] });
    grid.forEach((t, k) => {
      csv.push(`${logger},${learner.label},replay,${t},${replayCtr[k]}`);
      csv.push(`${logger},${learner.label},online,${t},${onlineCtr[k]}`);
    });
    const finals = online.map((c) => c[T - 1] / T);
    const mean = finals.reduce((s, v) => s + v, 0) / finals.length;
    const sd = Math.sqrt(finals.reduce((s, v) => s + (v - mean) ** 2, 0) / (finals.length - 1));
    const r = res.policies[p];
    summary.push(
      `| ${logger} | ${learner.label} | ${r.value.toFixed(4)} [${r.interval.lower.toFixed(4)}, ${r.interval.upper.toFixed(4)}] | ${Math.round(r.meanAccepted)} | ${mean.toFixed(4)} (${sd.toFixed(4)}) |`,
    );
  }
  const title = logger === 'uniform' ? 'Uniform logger: replayed (solid) and online (dashed)' : "The world's softmax logger: replayed (solid) and online (dashed)";
  writeFileSync(join(OUT, `${logger}.svg`), await lineChartSvg({ series, title, xTitle: 'events the learner has seen', yTitle: 'running CTR (average reward so far)', width: 420, height: 240 }));
}
const seconds = (performance.now() - started) / 1000;
writeFileSync(join(OUT, 'curves.csv'), csv.join('\n') + '\n');
writeFileSync(
  join(OUT, 'README.md'),
  `# Replay against the truth

A contextual bandit world (10 actions, 5 features, logistic rewards, seed 11); ${N} logged events
per logger; ${REPLAYS} replays per learner (each on a Poisson-resampled log); the same learners served
online in the world for as many events as the replay accepted, ${ONLINE_RUNS} runs. Curves: running
CTR against events seen, mean over replays and over online runs. ${seconds.toFixed(0)} s.

![uniform logger](uniform.svg)
![softmax logger](world.svg)

${summary.join('\n')}
`,
);
console.log(`${OUT}: README.md, curves.csv, 2 SVG figures (${seconds.toFixed(0)} s)`);
