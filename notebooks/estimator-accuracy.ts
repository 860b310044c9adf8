/**
 * Estimator accuracy against known truth (issue 9): bias, RMSE and 95% interval coverage of every
 * estimator, against the log size n and against overlap (the logging temperature), on `ope synth`
 * data (the library's generators, straight into evaluateStream without files), bandit and slate.
 *
 * Design. Repetition r uses seed r for the world (its parameters), the log and the bootstrap, so
 * every repetition is a fresh world from the generator and the errors are averaged over worlds as
 * well as over logs. Each world's truth is its population value (populationTruth /
 * slatePopulationTruth, Monte Carlo over fresh contexts), which does not depend on n or on the
 * logging temperature: it is computed once per seed. The first m rows of a log do not depend on n,
 * so the smaller logs are prefixes of the larger ones (common random numbers across n).
 * Intervals: the default of `ope evaluate`, the Poisson bootstrap percentile interval (B replicates);
 * the delta-method normal interval is in the CSV too.
 *
 * - Bandit: 10 actions, 5 context features, logistic (Bernoulli) rewards, q_hat = mu + N(0, 0.1^2),
 *   propensities floored at 0.001; the target is softmax:0.1 over the true expected rewards (a sharp
 *   candidate); all nine bandit estimators at their default settings. Overlap: the logger is a
 *   softmax over a perturbed copy of mu at the logging temperature; since mu lies in [0, 1], a
 *   temperature of 0.5 or more gives an almost uniform logger (ESS about 40% of n for this target
 *   at 0.5, 1 and 2 alike); the overlap is set by temperatures from 0.02 to 0.25.
 * - Slate: 10 items, slates of 5, Plackett-Luce logger, additive (position-based) clicks with
 *   examination 1/(k+1); the target is Plackett-Luce at temperature 0.5 over the true scores; every
 *   slate estimator (slate-ips, iips, rips, pi, cascade-dr, and pbm-ips given the true examination
 *   probabilities). Overlap: logging temperatures 1, 2, 4 (the logger flattens away from the
 *   target).
 *
 * Full size (the committed output): bandit n in {1e3, 1e4, 1e5} x temperature in {0.02, 0.05, 0.1,
 * 0.25} with 100 repetitions (50 at n = 1e5), B = 200; slate n in {1e3, 3e3, 1e4} slates x
 * temperature in {1, 2, 4} with 100 repetitions (50 at 1e4), B = 200. About 6 minutes on 2 cores
 * (5.8 min measured: bandit 2.7, slate 3.0, with other work on the machine). Smoke size (CI): two
 * small n, two temperatures, 3 repetitions, B = 50; a few seconds.
 *
 * Run: `npm run notebook -- estimator-accuracy` (OPE_NOTEBOOK_SIZE=smoke for the smoke size).
 * Writes README.md, bandit.csv, slate.csv and the SVG figures into notebooks/out/estimator-accuracy/
 * (or OPE_NOTEBOOK_OUT).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  evaluateStream,
  lineChartSvg,
  parseEstimatorList,
  populationTruth,
  slatePopulationTruth,
  slateSynthAligned,
  synthAligned,
  type AlignedBatch,
  type BanditSynthConfig,
  type EvaluationResult,
  type LineSeries,
  type SlateSynthConfig,
} from 'ope-toolkit';
import { notebookOut, notebookSize } from './lib/env.js';

const SIZE = notebookSize();
const OUT = notebookOut('estimator-accuracy');
const FULL = SIZE === 'full';
const ALPHA = 0.05;

interface Study {
  readonly family: 'bandit' | 'slate';
  readonly ns: readonly number[];
  readonly temperatures: readonly number[];
  /** Repetitions at each n. */
  readonly reps: (n: number) => number;
  readonly replicates: number;
  readonly estimators: string;
  /** Truth of the (single) target for a seed. */
  readonly truth: (seed: number) => number;
  /** The log as aligned batches, with the target's name. */
  readonly batches: (n: number, temperature: number, seed: number) => { names: string[]; batches: Iterable<AlignedBatch> };
  /** Unit of n in the tables. */
  readonly unit: string;
}

const banditBase: Omit<BanditSynthConfig, 'n' | 'loggingTemperature' | 'seed'> = {
  actions: 10,
  dim: 5,
  reward: 'logistic',
  minPropensity: 0.001,
  qHatNoise: 0.1,
  targets: [{ kind: 'softmax', temperature: 0.1 }],
  populationSamples: FULL ? 200_000 : 5_000,
};
const bandit: Study = {
  family: 'bandit',
  ns: FULL ? [1_000, 10_000, 100_000] : [300, 1_000],
  temperatures: FULL ? [0.02, 0.05, 0.1, 0.25] : [0.05, 0.25],
  reps: (n) => (FULL ? (n >= 100_000 ? 50 : 100) : 3),
  replicates: FULL ? 200 : 50,
  estimators: 'all',
  truth: (seed) => populationTruth({ ...banditBase, n: 1, loggingTemperature: 1, seed }).targets[0].value,
  batches: (n, loggingTemperature, seed) => synthAligned({ ...banditBase, n, loggingTemperature, seed }),
  unit: 'decisions',
};

/** Examination probabilities of the additive slate world (examinationDecay 1): theta_k = 1/(k+1). */
const L = 5;
const theta = Array.from({ length: L }, (_, k) => `theta${k}=${1 / (k + 1)}`).join(',');
const slateBase: Omit<SlateSynthConfig, 'n' | 'loggingTemperature' | 'seed'> = {
  actions: 10,
  slateLength: L,
  dim: 5,
  logger: 'plackett-luce',
  reward: 'additive',
  qHatNoise: 0.1,
  targets: [{ kind: 'plackett-luce', temperature: 0.5 }],
  populationSamples: FULL ? 50_000 : 2_000,
};
const slate: Study = {
  family: 'slate',
  ns: FULL ? [1_000, 3_000, 10_000] : [100, 300],
  temperatures: FULL ? [1, 2, 4] : [1, 4],
  reps: (n) => (FULL ? (n >= 10_000 ? 50 : 100) : 3),
  replicates: FULL ? 200 : 50,
  estimators: `all-slate,pbm-ips:${theta}`,
  truth: (seed) => slatePopulationTruth({ ...slateBase, n: 1, loggingTemperature: 1, seed }).targets[0].value,
  batches: (n, loggingTemperature, seed) => slateSynthAligned({ ...slateBase, n, loggingTemperature, seed }),
  unit: 'slates',
};

/** One (family, n, temperature, estimator) cell. */
interface Cell {
  family: string;
  n: number;
  temperature: number;
  estimator: string;
  reps: number;
  /** Repetitions without a finite estimate (left out of the error statistics). */
  failed: number;
  sumErr: number;
  sumSqErr: number;
  covered: number;
  coveredNormal: number;
  sumWidth: number;
  sumEssShare: number;
  warned: number;
}

/** A short label: the estimator name without its default parameters, pbm-ips without its thetas. */
const short = (label: string): string => (label.startsWith('pbm-ips:') ? 'pbm-ips' : label.replace(/:.*$/, ''));

async function runStudy(s: Study): Promise<Cell[]> {
  const estimators = parseEstimatorList(s.estimators);
  const maxReps = Math.max(...s.ns.map(s.reps));
  const truths = Array.from({ length: maxReps }, (_, r) => s.truth(r + 1));
  const cells = new Map<string, Cell>();
  for (const n of s.ns) {
    for (const temperature of s.temperatures) {
      const t0 = performance.now();
      for (let r = 0; r < s.reps(n); r++) {
        const seed = r + 1;
        const { names, batches } = s.batches(n, temperature, seed);
        const res: EvaluationResult = await evaluateStream(batches, { estimators, policyNames: names, replicates: s.replicates, seed, alpha: ALPHA });
        const policy = res.policies[0];
        for (const e of res.estimates) {
          const estimator = short(e.label);
          const key = `${n}|${temperature}|${estimator}`;
          const c: Cell = cells.get(key) ?? {
            family: s.family,
            n,
            temperature,
            estimator,
            reps: 0,
            failed: 0,
            sumErr: 0,
            sumSqErr: 0,
            covered: 0,
            coveredNormal: 0,
            sumWidth: 0,
            sumEssShare: 0,
            warned: 0,
          };
          cells.set(key, c);
          c.reps++;
          c.sumEssShare += policy.essShare;
          if ((policy.warnings ?? []).some((w) => w.startsWith('HEAVY WEIGHTS'))) c.warned++;
          const v = truths[r];
          if (!Number.isFinite(e.value) || !Number.isFinite(e.ci.lower) || !Number.isFinite(e.ci.upper)) {
            c.failed++;
            continue;
          }
          const err = e.value - v;
          c.sumErr += err;
          c.sumSqErr += err * err;
          if (e.ci.lower <= v && v <= e.ci.upper) c.covered++;
          const nm = e.intervals.normal;
          if (nm !== undefined && nm.lower <= v && v <= nm.upper) c.coveredNormal++;
          c.sumWidth += e.ci.upper - e.ci.lower;
        }
      }
      console.log(`${s.family} n=${n} temperature=${temperature}: ${s.reps(n)} repetitions, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
  return [...cells.values()];
}

interface Row {
  family: string;
  n: number;
  temperature: number;
  estimator: string;
  reps: number;
  failed: number;
  bias: number;
  bias_se: number;
  rmse: number;
  coverage: number;
  coverage_normal: number;
  mean_width: number;
  ess_share: number;
  heavy_weight_warnings: number;
}

function rowOf(c: Cell): Row {
  const m = c.reps - c.failed;
  const bias = c.sumErr / m;
  const variance = Math.max(0, c.sumSqErr / m - bias * bias);
  return {
    family: c.family,
    n: c.n,
    temperature: c.temperature,
    estimator: c.estimator,
    reps: c.reps,
    failed: c.failed,
    bias,
    bias_se: m > 1 ? Math.sqrt((variance * m) / (m - 1) / m) : NaN,
    rmse: Math.sqrt(c.sumSqErr / m),
    coverage: c.covered / m,
    coverage_normal: c.coveredNormal / m,
    mean_width: c.sumWidth / m,
    ess_share: c.sumEssShare / c.reps,
    heavy_weight_warnings: c.warned,
  };
}

const COLUMNS: (keyof Row)[] = [
  'family',
  'n',
  'temperature',
  'estimator',
  'reps',
  'failed',
  'bias',
  'bias_se',
  'rmse',
  'coverage',
  'coverage_normal',
  'mean_width',
  'ess_share',
  'heavy_weight_warnings',
];
const csvOf = (rows: readonly Row[]): string => [COLUMNS.join(','), ...rows.map((r) => COLUMNS.map((k) => String(r[k])).join(','))].join('\n') + '\n';

const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;
const sig = (x: number): string => (Number.isFinite(x) ? (Math.abs(x) >= 0.01 ? x.toFixed(3) : x.toPrecision(2)) : '-');
/** Bias flagged with * when it is more than 3 Monte Carlo standard errors from 0. */
const biasCell = (r: Row): string => `${sig(r.bias)}${Math.abs(r.bias) > 3 * r.bias_se ? '*' : ''}`;

/** One table per temperature: estimators in rows, per n bias / RMSE / coverage. */
function markdownTables(s: Study, rows: readonly Row[], estimators: readonly string[]): string {
  const out: string[] = [];
  for (const t of s.temperatures) {
    const at = rows.filter((r) => r.temperature === t);
    const ess = s.ns.map((n) => pct(at.find((r) => r.n === n)?.ess_share ?? NaN)).join(' / ');
    out.push(`**logging temperature ${t}** (ESS/n of the target's weights at n = ${s.ns.join(' / ')}: ${ess})\n`);
    out.push(`| estimator | ${s.ns.map((n) => `n=${n}: bias | RMSE | coverage`).join(' | ')} |`);
    out.push(`|---|${s.ns.map(() => '---|---|---').join('|')}|`);
    for (const e of estimators) {
      const cellsOf = s.ns.map((n) => {
        const r = at.find((x) => x.n === n && x.estimator === e);
        return r === undefined ? '- | - | -' : `${biasCell(r)} | ${sig(r.rmse)} | ${pct(r.coverage)}${r.failed > 0 ? ` (${r.failed} failed)` : ''}`;
      });
      out.push(`| ${e} | ${cellsOf.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

async function figures(s: Study, rows: readonly Row[], estimators: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  const midT = s.temperatures[Math.floor((s.temperatures.length - 1) / 2)];
  const bigN = s.ns[s.ns.length - 1];
  const series = (x: (r: Row) => number, y: (r: Row) => number, keep: (r: Row) => boolean): LineSeries[] =>
    estimators.map((e) => {
      const rs = rows.filter((r) => r.estimator === e && keep(r));
      return { name: e, x: rs.map(x), y: rs.map(y) };
    });
  const rmseFile = `${s.family}-rmse-vs-n.svg`;
  writeFileSync(
    join(OUT, rmseFile),
    await lineChartSvg({
      series: series(
        (r) => Math.log10(r.n),
        (r) => Math.log10(r.rmse),
        (r) => r.temperature === midT,
      ),
      title: `${s.family}: RMSE against n (logging temperature ${midT})`,
      xTitle: `log10 n (${s.unit})`,
      yTitle: 'log10 RMSE',
      width: 380,
      height: 240,
    }),
  );
  files.push(rmseFile);
  for (const n of [s.ns[0], bigN]) {
    const file = `${s.family}-coverage-vs-temperature-n${n}.svg`;
    const nominal: LineSeries = { name: 'nominal 95%', x: s.temperatures.map((t) => t), y: s.temperatures.map(() => 0.95), dashed: true };
    writeFileSync(
      join(OUT, file),
      await lineChartSvg({
        series: [
          nominal,
          ...series(
            (r) => r.temperature,
            (r) => r.coverage,
            (r) => r.n === n,
          ),
        ],
        title: `${s.family}: coverage of the 95% interval against overlap, n = ${n}`,
        xTitle: 'logging temperature (higher: flatter logger)',
        yTitle: 'share of intervals covering the truth',
        width: 380,
        height: 240,
      }),
    );
    files.push(file);
  }
  return files;
}

const started = performance.now();
const results: { s: Study; rows: Row[]; estimators: string[]; seconds: number; figures: string[] }[] = [];
for (const s of [bandit, slate]) {
  const t0 = performance.now();
  const rows = (await runStudy(s)).map(rowOf);
  const seconds = (performance.now() - t0) / 1000;
  const estimators = [...new Set(rows.map((r) => r.estimator))];
  writeFileSync(join(OUT, `${s.family}.csv`), csvOf(rows));
  results.push({ s, rows, estimators, seconds, figures: await figures(s, rows, estimators) });
}
const seconds = (performance.now() - started) / 1000;

/** Findings computed from the rows, so the text states what this run found. */
function findings(s: Study, rows: readonly Row[], estimators: readonly string[]): string[] {
  const lines: string[] = [];
  const bigN = s.ns[s.ns.length - 1];
  const best = s.temperatures.reduce((a, t) => ((rows.find((r) => r.temperature === t)?.ess_share ?? 0) > (rows.find((r) => r.temperature === a)?.ess_share ?? 0) ? t : a), s.temperatures[0]);
  const worst = s.temperatures.reduce((a, t) => ((rows.find((r) => r.temperature === t)?.ess_share ?? 1) < (rows.find((r) => r.temperature === a)?.ess_share ?? 1) ? t : a), s.temperatures[0]);
  for (const [label, t] of [
    ['best overlap', best],
    ['worst overlap', worst],
  ] as const) {
    const at = rows.filter((r) => r.temperature === t && r.n === bigN);
    const ok = at.filter((r) => r.coverage >= 0.9).map((r) => r.estimator);
    const short_ = at.filter((r) => r.coverage < 0.9).map((r) => `${r.estimator} ${pct(r.coverage)}`);
    const biased = at.filter((r) => Math.abs(r.bias) > 3 * r.bias_se).map((r) => `${r.estimator} (${sig(r.bias)}, ${(Math.abs(r.bias) / r.rmse).toFixed(2)} of its RMSE)`);
    lines.push(
      `- ${label} (temperature ${t}, ESS ${pct(at[0]?.ess_share ?? NaN)} of n), n = ${bigN}: coverage at least 90% for ${ok.length === 0 ? 'none' : ok.join(', ')}; short of 90% for ${short_.length === 0 ? 'none' : short_.join(', ')}. Bias distinguishable from 0 (beyond 3 Monte Carlo se): ${biased.length === 0 ? 'none' : biased.join('; ')}.`,
    );
  }
  // RMSE rate between the smallest and the largest n at the best overlap: slope of log RMSE on log n.
  const slopes = estimators.map((e) => {
    const a = rows.find((r) => r.estimator === e && r.temperature === best && r.n === s.ns[0]);
    const b = rows.find((r) => r.estimator === e && r.temperature === best && r.n === bigN);
    return a === undefined || b === undefined ? `${e} -` : `${e} ${(Math.log(b.rmse / a.rmse) / Math.log(bigN / s.ns[0])).toFixed(2)}`;
  });
  lines.push(`- RMSE against n at the best overlap, slope of log RMSE on log n (-0.5 is the root-n rate; flatter means a bias that does not shrink): ${slopes.join(', ')}.`);
  const lowest = s.ns.map((n) => {
    const at = rows.filter((r) => r.temperature === worst && r.n === n).sort((x, y) => x.rmse - y.rmse);
    return `n = ${n}: ${at[0]?.estimator} (${sig(at[0]?.rmse ?? NaN)})`;
  });
  lines.push(`- Lowest RMSE at the worst overlap: ${lowest.join('; ')}.`);
  return lines;
}

const fmtSeconds = (x: number): string => (x >= 90 ? `${(x / 60).toFixed(1)} min` : `${x.toFixed(0)} s`);
const section = (title: string, intro: string, r: (typeof results)[number]): string => `## ${title}

${intro}

Repetitions: ${r.s.ns.map((n) => `${r.s.reps(n)} at n = ${n}`).join(', ')}; B = ${r.s.replicates}; ${fmtSeconds(r.seconds)}. \`*\` marks a bias more than 3 Monte Carlo standard errors from 0; coverage is of the 95% bootstrap percentile interval (the Monte Carlo error of a coverage of 95% over 100 repetitions is about 2 points, over 50 about 3).

${r.figures.map((f) => `![${f}](${f})`).join('\n')}

${markdownTables(r.s, r.rows, r.estimators)}
What this run found:

${findings(r.s, r.rows, r.estimators).join('\n')}
`;

const [b, sl] = results;
writeFileSync(
  join(OUT, 'README.md'),
  `# Estimator accuracy against known truth

Bias, RMSE and coverage of the 95% interval of every estimator against the log size n and against
overlap (the logging temperature), on \`ope synth\` worlds with known truth; every repetition is a
fresh world (seed r), scored against that world's population value. Size: ${SIZE}; ${fmtSeconds(seconds)} in all.
Tables as CSV: [bandit.csv](bandit.csv), [slate.csv](slate.csv) (also the delta-method normal
interval's coverage, the mean interval width and the heavy-weight warnings).

${section(
  'Bandit',
  `10 actions, 5 features, logistic rewards, q_hat = mu + N(0, 0.1^2), logging propensities floored at 0.001; target softmax:0.1 over the true mu; the nine bandit estimators at their defaults (clip = tau = 100, sg-ips lambda 0.01, dr-os lambda 1e4). Lower logging temperature: a more peaked logger on a perturbed copy of mu, hence worse overlap with the target (temperatures of 0.5 and above all give an almost uniform logger, since mu lies in [0, 1]).`,
  b,
)}
${section(
  'Slate',
  `10 items, slates of 5, Plackett-Luce logger over perturbed scores, additive (position-based) clicks with examination 1/(k+1); target Plackett-Luce at temperature 0.5 over the true scores; every slate estimator (pbm-ips given the true examination probabilities). Higher logging temperature: a flatter logger, further from the sharp target. n counts slates (5 rows each).`,
  sl,
)}
## Why coverage falls short where it does

- **Heavy weights.** When a few rows carry much of the total weight (low ESS/n), the bootstrap
  distribution of IPS-type estimators is skewed and too narrow: the rare large-weight rows that
  would move the estimate are missing from most resamples, so the percentile interval under-covers
  (the README's "How honest are the intervals" shows the same at n = 2000). It improves with n only
  as fast as the effective sample size grows. \`ope evaluate\` flags these logs (HEAVY WEIGHTS) and
  prints the finite-sample Bernstein interval beside the estimate.
- **Bias of the tamed estimators.** clipped-ips and sg-ips trade variance for a bias that does not
  shrink with n (sg-ips with lambda = 0.01 shrinks every weight, so it is biased even with good
  overlap); at large n their intervals, centred on the biased value and narrowing like 1/sqrt(n),
  stop covering the truth. switch-dr and dr-os also fall back on or shrink toward the reward model
  where weights are large, but here that model is close to the truth, so their bias stays small.
  The self-normalized estimators (snips, sndr) have an O(1/n) bias that the bootstrap captures.
- **DM** is as good as its reward model. q_hat here is the truth plus noise of sd 0.1, clipped to
  [0, 1]: an unrealistically good model, so DM has the lowest RMSE when the weights are heavy, but
  the clipping leaves a small bias that does not shrink with n, and its interval reflects only the
  sampling of contexts: it covers less and less as n grows (0% at n = 1e5). With a fitted model
  on real data the bias is larger and unknown.
- **Slates.** slate-ips uses the joint slate weights (ESS a few percent of n), so it has by far the
  largest RMSE; iips and pbm-ips use item-position weights and rips and cascade-dr prefix weights,
  all unbiased for these additive clicks (a coverage of 88% to 92% over 50 repetitions is within
  about two Monte Carlo standard errors of 95%). pi assumes a factorized logger: on this
  Plackett-Luce log it is biased, more so the flatter the logger, and its coverage falls with n.
`,
);
console.log(`${OUT}: README.md, bandit.csv, slate.csv, ${results.reduce((k, r) => k + r.figures.length, 0)} SVG figures (${fmtSeconds(seconds)})`);
