import { type Estimator, labelOf, meanOf } from './estimator.js';
import { switchTerm, weightAbove } from './row-statistics.js';

/**
 * Switch-DR: V = (1/n) sum_i [ qpi_i + w_i (r_i - q_i) 1[w_i <= tau] ]
 * (Wang, Agarwal & Dudik 2017, ICML, "Optimal and adaptive off-policy evaluation in contextual
 * bandits", eq. 10, in the DR form OBP implements as SwitchDR). tau = Infinity is DR, tau = 0 is
 * DM (up to rows with w = 0, whose correction is 0 either way). Reports the share switched to DM.
 */
export function switchDoublyRobust(params: { tau: number }): Estimator {
  const { tau } = params;
  return {
    name: 'switch-dr',
    params: { tau },
    label: labelOf('switch-dr', { tau }),
    stats: [switchTerm(tau)],
    ...meanOf(0),
    diagnostics: [{ name: 'switched_share', stat: weightAbove(tau) }],
  };
}
