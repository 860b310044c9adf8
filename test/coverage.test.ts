import { describe, expect, it } from 'vitest';
import { runCoverageStudy } from '../simulators/coverage-study.js';

/**
 * Honest intervals: on `ope synth` data with good overlap (ESS/n near 1), the default 95%
 * percentile intervals of snips and dr cover the population truth in 90% to 98% of 200 seeds.
 * If the true coverage were 95%, the count would be Binomial(200, 0.95) with sd 3.1, so the band
 * [180, 196] is about -3.2 to +2 sd: a real miscalibration (say 88% or 99%) fails it.
 */
describe('interval coverage over 200 seeds (good overlap)', () => {
  it('snips and dr 95% percentile intervals cover the truth 90-98% of the time', async () => {
    const cells = await runCoverageStudy({
      config: { n: 2000, actions: 5, dim: 3, reward: 'logistic', loggingTemperature: 1, qHatNoise: 0.1, targets: [{ kind: 'softmax', temperature: 1 }], populationSamples: 200_000 },
      seeds: Array.from({ length: 200 }, (_, i) => i + 1),
      estimators: 'snips,dr',
      replicates: 200,
      methods: ['percentile'],
    });
    expect(cells.length).toBe(2);
    for (const c of cells) {
      expect(c.runs).toBe(200);
      expect(c.coverage, `${c.estimator} covered ${c.covered}/200`).toBeGreaterThanOrEqual(0.9);
      expect(c.coverage, `${c.estimator} covered ${c.covered}/200`).toBeLessThanOrEqual(0.98);
      expect(c.warned).toBe(0);
    }
  });
});
