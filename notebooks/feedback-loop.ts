/**
 * The feedback loop in issue 6's default configuration (1,000 users, 1,000 items, slates of 10,
 * embedding size 32, 10 rounds), every scenario preset side by side on one world with common random
 * numbers: does the loop amplify popularity without exploration, and does exploration dampen it
 * (Chaney, Stewart & Engelhardt 2018; Mansoury et al. 2020)? And how well does OPE on each round's
 * log predict the policy that serves the next round?
 *
 * Run: `npm run notebook -- feedback-loop` (about 2 minutes on 2 cores with the wasm backend).
 * Writes notebooks/out/feedback-loop/ (or OPE_NOTEBOOK_OUT): README.md, metrics.csv and one SVG per
 * figure; the project README shows these figures. OPE_NOTEBOOK_SIZE=smoke: a 100 x 100 world,
 * slates of 5, embedding size 8, 2 rounds, 2 scenarios (a few seconds; for CI).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg, loadTf, runFeedbackLoop, SCENARIO_PRESETS, seriesFromRows, type FeedbackLoopConfig, type FeedbackRoundMetrics } from 'ope-toolkit';
import { notebookOut, notebookSize } from './lib/env.js';

const FULL = notebookSize() === 'full';
const OUT = notebookOut('feedback-loop');
const ROUNDS = FULL ? 10 : 2;
const LAST = ROUNDS - 1;
const SCENARIOS = FULL ? [...SCENARIO_PRESETS] : (['topk', 'softmax'] as const);
const SMOKE: FeedbackLoopConfig = { world: { users: 100, items: 100, slateSize: 5 }, model: { dim: 8, epochs: 1 } };

const rt = await loadTf();
const started = performance.now();
const result = await runFeedbackLoop(rt, { ...(FULL ? {} : SMOKE), rounds: ROUNDS, scenarios: [...SCENARIOS], opeOn: 'holdout' });
const seconds = (performance.now() - started) / 1000;
const rows = result.metrics as unknown as Record<string, string | number>[];

// metrics.csv, as `ope simulate` writes it (every column, one row per (scenario, round)).
const columns = Object.keys(result.metrics[0]);
const csv = [columns.join(','), ...result.metrics.map((m) => columns.map((c) => String((m as unknown as Record<string, unknown>)[c])).join(','))].join('\n') + '\n';
writeFileSync(join(OUT, 'metrics.csv'), csv);

interface Figure {
  file: string;
  metric: keyof FeedbackRoundMetrics;
  title: string;
  yTitle: string;
}
const figures: Figure[] = [
  { file: 'gini.svg', metric: 'gini', title: 'Gini index of item exposure', yTitle: 'Gini (0 = equal exposure)' },
  { file: 'coverage.svg', metric: 'coverage_at_k', title: 'Catalog coverage@K', yTitle: 'share of items shown' },
  { file: 'arp.svg', metric: 'arp', title: 'Average recommendation popularity', yTitle: 'mean clicks of shown items' },
  { file: 'ctr.svg', metric: 'ctr_true', title: 'True CTR of the served policy', yTitle: 'expected clicks per item shown' },
];
for (const f of figures) {
  const svg = await lineChartSvg({ series: seriesFromRows(rows, 'round', f.metric, 'scenario'), title: f.title, xTitle: 'round', yTitle: f.yTitle, width: 360, height: 220 });
  writeFileSync(join(OUT, f.file), svg);
}

// OPE of the next round's policy for the softmax scenario: truth against the estimates, with 95% bands.
const softmax = rows.filter((r) => r.scenario === 'softmax');
const estimators = ['snips', 'dr', 'slate-ips', 'iips', 'rips'];
const opeSeries = [
  { ...seriesFromRows(softmax, 'round', 'value_next_true', 'scenario')[0], name: 'truth', dashed: true },
  ...estimators.map((e) => ({
    ...seriesFromRows(softmax, 'round', `value_next_${e}`, 'scenario', {
      lower: (r) => Number(r[`value_next_${e}`]) - 1.96 * Number(r[`value_next_${e}_se`]),
      upper: (r) => Number(r[`value_next_${e}`]) + 1.96 * Number(r[`value_next_${e}_se`]),
    })[0],
    name: e,
  })),
];
writeFileSync(
  join(OUT, 'ope-softmax.svg'),
  await lineChartSvg({
    series: opeSeries,
    title: "softmax: next round's policy, truth and estimates",
    xTitle: 'round (log the estimate is computed on)',
    yTitle: 'expected clicks per slate',
    width: 360,
    height: 220,
  }),
);

// The numbers the README quotes: first and last round per scenario.
const at = (s: string, r: number): FeedbackRoundMetrics => result.metrics.find((m) => m.scenario === s && m.round === r) as FeedbackRoundMetrics;
const f4 = (x: number): string => x.toFixed(4);
const table = [
  `| scenario | Gini r0 -> r${LAST} | coverage@K r0 -> r${LAST} | ARP r${LAST} | CTR r${LAST} (oracle) |`,
  '|---|---|---|---|---|',
  ...SCENARIOS.map((s) => {
    const [a, b] = [at(s, 0), at(s, LAST)];
    return `| ${s} | ${f4(a.gini)} -> ${f4(b.gini)} | ${f4(a.coverage_at_k)} -> ${f4(b.coverage_at_k)} | ${b.arp.toFixed(1)} | ${f4(b.ctr_true)} (${f4(b.ctr_oracle)}) |`;
  }),
];
// How far each estimator lands from the truth, in its own standard errors: over the (scenario, round)s
// whose next policy is randomized (identified from a randomized log), and over the top-K ones.
const zTable = ['| estimator | randomized next policy: median abs(z) | within 2 se | deterministic next policy: median abs(z) | within 2 se |', '|---|---|---|---|---|'];
const randomized = new Set(['softmax', 'epsilon-greedy']);
const zStats = (e: string, keep: (m: FeedbackRoundMetrics) => boolean): string => {
  const zs = result.metrics
    .filter((m) => keep(m) && m.round > 0)
    .map((m) => Math.abs((m[`value_next_${e}`] - m.value_next_true) / m[`value_next_${e}_se`]))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  return zs.length === 0 ? '- | -' : `${zs[Math.floor(zs.length / 2)].toFixed(2)} | ${((100 * zs.filter((z) => z <= 2).length) / zs.length).toFixed(0)}%`;
};
for (const e of estimators) zTable.push(`| ${e} | ${zStats(e, (m) => randomized.has(m.scenario))} | ${zStats(e, (m) => !randomized.has(m.scenario))} |`);
// The published findings, checked against this run (first and last round of each scenario).
const change = (s: string, k: keyof FeedbackRoundMetrics): number => Number(at(s, LAST)[k]) - Number(at(s, 0)[k]);
const has = (s: string) => (SCENARIOS as readonly string[]).includes(s);
const explore = (SCENARIOS as readonly string[]).filter((s) => s === 'softmax' || s === 'epsilon-greedy');
const verdict = (ok: boolean) => (ok ? 'reproduced' : 'not reproduced');
const literature = has('topk')
  ? [
      '| finding | measured here | |',
      '|---|---|---|',
      `| Chaney, Stewart & Engelhardt 2018: the loop homogenizes what users are shown | homogenization under topk ${f4(at('topk', 0).homogenization)} -> ${f4(at('topk', LAST).homogenization)}${explore.map((s) => `; ${s} ${f4(at(s, LAST).homogenization)}`).join('')} | ${verdict(change('topk', 'homogenization') > 0 && explore.every((s) => at(s, LAST).homogenization < at('topk', LAST).homogenization))} |`,
      `| Chaney et al. 2018: homogenization without a matching gain in utility (the oracle stays far ahead) | topk CTR ${f4(at('topk', LAST).ctr_true)} against the oracle's ${f4(at('topk', LAST).ctr_oracle)} in round ${LAST} | ${verdict(at('topk', LAST).regret > 0.5 * at('topk', LAST).utility_oracle)} |`,
      `| Mansoury et al. 2020: popularity bias is amplified round after round (exposure concentrates) | topk Gini ${f4(at('topk', 0).gini)} -> ${f4(at('topk', LAST).gini)}, ARP ${at('topk', 1).arp.toFixed(1)} (round 1) -> ${at('topk', LAST).arp.toFixed(1)} | ${verdict(change('topk', 'gini') > 0 && at('topk', LAST).arp > at('topk', 1).arp)} |`,
      `| Mansoury et al. 2020: aggregate diversity (coverage) falls | topk coverage@K ${f4(at('topk', 0).coverage_at_k)} -> ${f4(at('topk', LAST).coverage_at_k)} | ${verdict(change('topk', 'coverage_at_k') < 0)} |`,
      ...(explore.length > 0
        ? [
            `| both: exploration dampens the loop | round ${LAST}: Gini ${explore.map((s) => `${s} ${f4(at(s, LAST).gini)}`).join(', ')} against topk ${f4(at('topk', LAST).gini)}; coverage ${explore.map((s) => `${s} ${f4(at(s, LAST).coverage_at_k)}`).join(', ')} against ${f4(at('topk', LAST).coverage_at_k)} | ${verdict(explore.every((s) => at(s, LAST).gini < at('topk', LAST).gini && at(s, LAST).coverage_at_k > at('topk', LAST).coverage_at_k))} |`,
          ]
        : []),
    ].join('\n')
  : '(the comparison needs the topk scenario)';
const readme = `# The feedback loop, ${FULL ? 'default configuration' : 'smoke size'}

${result.config.world.users} users, ${result.config.world.items} items, slates of ${result.config.world.slateSize}, embedding size ${FULL ? 32 : SMOKE.model?.dim}, ${ROUNDS} rounds, seed ${result.config.world.seed}; ${FULL ? 'every scenario preset' : SCENARIOS.join(' and ')} on one world with common random numbers; round 0 served by the uniform logger. Backend: ${rt.description}; ${seconds.toFixed(0)} s.

![Gini](gini.svg) ![coverage](coverage.svg)
![ARP](arp.svg) ![CTR](ctr.svg)

${table.join('\n')}

## Against the literature

${literature}

Chaney et al. measure homogenization as the Jaccard similarity of users' interactions and Mansoury et
al. popularity as the average popularity of recommended items against users' profiles; our columns
\`homogenization\` (Jaccard of users' recommendation sets) and \`arp\` / \`popularity_lift\` are the
same quantities on the simulator's slates (simulators/feedback-metrics.ts has the definitions).
Round 0 is the shared uniform logger, so its ARP is that of a random slate; ARP is compared from
round 1, the first round a model serves.

## OPE of the next round's policy (on an independent holdout log of each round)

![OPE, softmax](ope-softmax.svg)

${zTable.join('\n')}

Rounds 1 to ${LAST} (round 0's log comes from the shared uniform logger). The estimates of a deterministic
next policy from a deterministic log (topk, topk-window, popularity-debiased) are not identified: the
log never shows the items the next top-K would swap in, so the importance-weighted estimators fall
short of the truth and the DR estimate leans on its reward model. With a randomized logger and
target, the joint slate weights of slate-ips and snips are so heavy-tailed at 1,000 items and slates
of 10 that their intervals rarely cover; the item-position estimators (iips, and dr with its reward
model) do much better.
`;
writeFileSync(join(OUT, 'README.md'), readme);
console.log(`${OUT}: README.md, metrics.csv, ${figures.length + 1} SVG figures (${seconds.toFixed(0)} s on ${rt.description})`);
