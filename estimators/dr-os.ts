import { type Estimator, labelOf, meanOf } from './estimator.js';
import { shrinkageTerm } from './row-statistics.js';

/**
 * DR with optimistic shrinkage: V = (1/n) sum_i [ qpi_i + (l w_i / (w_i^2 + l)) (r_i - q_i) ]
 * (Su, Dimakopoulou, Krishnamurthy & Dudik 2020, ICML, "Doubly robust off-policy evaluation with
 * shrinkage", eq. 8; OBP's DoublyRobustWithShrinkage). l -> Infinity is DR, l = 0 is DM.
 */
export function doublyRobustOptimisticShrinkage(params: { lambda: number }): Estimator {
  const { lambda } = params;
  return {
    name: 'dr-os',
    params: { lambda },
    label: labelOf('dr-os', { lambda }),
    stats: [shrinkageTerm(lambda)],
    ...meanOf(0),
  };
}
