import { type Estimator, meanOf } from './estimator.js';
import { targetRewardModel } from './row-statistics.js';

/**
 * Direct method: V = mean_i sum_a pi(a|x_i) q_hat(x_i, a)  (Beygelzimer & Langford 2009).
 * Unbiased only if q_hat is; no importance weights, so its variance hides its bias.
 */
export function directMethod(): Estimator {
  return {
    name: 'dm',
    params: {},
    label: 'dm',
    stats: [targetRewardModel],
    ...meanOf(0),
  };
}
