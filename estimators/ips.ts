import { type Estimator, meanOf } from './estimator.js';
import { weightedReward } from './row-statistics.js';

/**
 * Inverse propensity scoring: V = (1/n) sum_i w_i r_i, w_i = pi(a_i|x_i) / mu(a_i|x_i)
 * (Horvitz & Thompson 1952; Precup, Sutton & Singh 2000). Unbiased under full support.
 */
export function inversePropensityScoring(): Estimator {
  return {
    name: 'ips',
    params: {},
    label: 'ips',
    stats: [weightedReward],
    ...meanOf(0),
  };
}
