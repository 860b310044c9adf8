/**
 * Interval coverage against known truth, in the regime where the bootstrap is honest and in the
 * one where heavy weights make it under-cover (README "How honest are the intervals").
 * Run: npm run build && node dist/bench/coverage.js [--seeds 200]
 */
import { runCoverageStudy, type CoverageCell } from '../simulators/coverage-study.js';
import type { BanditSynthConfig } from '../simulators/bandit-world.js';

const args = process.argv.slice(2);
const seedsArg = args.indexOf('--seeds');
const nSeeds = seedsArg >= 0 ? Number(args[seedsArg + 1]) : 200;
const seeds = Array.from({ length: nSeeds }, (_, i) => i + 1);

const regimes: { name: string; config: Omit<BanditSynthConfig, 'seed'> }[] = [
  {
    name: 'good overlap (logging temperature 1, target softmax:1)',
    config: { n: 2000, actions: 5, dim: 3, reward: 'logistic', loggingTemperature: 1, qHatNoise: 0.1, targets: [{ kind: 'softmax', temperature: 1 }], populationSamples: 200_000 },
  },
  {
    name: 'heavy weights (peaked logger, temperature 0.1, floor 0.001; target softmax:0.1)',
    config: { n: 2000, actions: 10, dim: 3, reward: 'logistic', loggingTemperature: 0.1, loggingPerturbation: 2, minPropensity: 0.001, qHatNoise: 0.1, targets: [{ kind: 'softmax', temperature: 0.1 }], populationSamples: 200_000 },
  },
];

const row = (c: CoverageCell) =>
  `| ${c.estimator} | ${c.method} | ${(100 * c.coverage).toFixed(1)}% (${c.covered}/${c.runs}) | ${c.meanWidth.toFixed(4)} | ${(100 * c.meanEssShare).toFixed(1)}% | ${c.warned}/${c.runs} |`;

for (const r of regimes) {
  const cells = await runCoverageStudy({ config: r.config, seeds, estimators: 'ips,snips,dr', replicates: 200, methods: ['percentile', 'bca', 'normal', 'bernstein'] });
  console.log(`\n${r.name}, n = ${r.config.n}, ${nSeeds} seeds, B = 200\n`);
  console.log('| estimator | interval | coverage of the truth | mean width | mean ESS/n | heavy-weight warning |');
  console.log('|---|---|---|---|---|---|');
  for (const c of cells) console.log(row(c));
}
