import { type Estimator, labelOf, ratioOf } from './estimator.js';
import { pbmWeightedReward, pbmWeights, slateStart } from './slate-statistics.js';

/**
 * Position-based-model IPS: V = (1/S) sum_s sum_k [sum_j theta_j pi(a_sk at j) / sum_j theta_j
 * mu(a_sk at j)] r_sk, with examination probabilities theta_j given (Li, Abbasi-Yadkori, Kveton,
 * Muthukrishnan, Vinay & Wen 2018, "Offline evaluation of ranking policies with click models",
 * KDD, arXiv 1804.10488, the PBM estimator). Under the position-based click model a click on item a
 * at position j happens with probability theta_j times a's attraction, so only the expected
 * examination an item receives matters: the weight compares it between target and logger. Where the
 * target moves an item to a position the logger rarely uses for it, the weight stays moderate as
 * long as the logger shows the item somewhere examined; iips would need it at that very position.
 * The scale of theta cancels.
 */
export function pbmIps(opts: { readonly theta: readonly number[] }): Estimator {
  const theta = [...opts.theta];
  const params: Record<string, number> = {};
  theta.forEach((t, j) => (params[`theta${j}`] = t));
  return {
    name: 'pbm-ips',
    params,
    label: labelOf('pbm-ips', params),
    stats: [pbmWeightedReward(theta), slateStart],
    ...ratioOf(0, 1),
    weights: pbmWeights(theta),
  };
}
