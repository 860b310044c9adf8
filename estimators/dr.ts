import { type Estimator, meanOf } from './estimator.js';
import { doublyRobustTerm } from './row-statistics.js';

/**
 * Doubly robust: V = (1/n) sum_i [ qpi_i + w_i (r_i - q_hat(x_i, a_i)) ]
 * (Dudik, Langford & Li 2011, ICML, eq. 3; Dudik et al. 2014, Statistical Science).
 * Unbiased if either the propensities or the reward model are correct.
 */
export function doublyRobust(): Estimator {
  return {
    name: 'dr',
    params: {},
    label: 'dr',
    stats: [doublyRobustTerm],
    ...meanOf(0),
  };
}
