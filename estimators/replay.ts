/**
 * The estimator-facing part of replay (issue 8): the acceptance rules that make the accepted
 * events distributed as if the candidate had served them online. Pure functions of one event;
 * the engine (src/replay/engine.ts) streams the log, calls the policy and keeps the tallies.
 *
 * Uniform logger (Li, Chu, Langford & Wang 2011): draw a ~ pi(. | x_i) and accept iff a = a_i.
 * The accepted (x, a) then have density p(x) pi(a | x) up to the constant 1/K, and the reward of an
 * accepted event is a draw from r | x, a: the candidate's online experience, one event in K on
 * average.
 *
 * Any logger with known propensities mu_i = mu(a_i | x_i) (Dudik, Erhan, Langford & Li 2012):
 * accept with probability pi(a_i | x_i) / (M mu_i), with M >= max over x, a of pi(a|x) / mu(a|x).
 * Then P(accept, a_i = a | x) = mu(a|x) pi(a|x) / (M mu(a|x)) = pi(a|x) / M: accepted events are
 * exactly draws of the candidate, and the acceptance rate is 1/M whatever the candidate (since
 * sum_a pi(a|x) = 1). The cost of M: one event in M is used, so M is chosen as small as the bound
 * allows; an event with pi/mu > M would need probability > 1 and is accepted with probability 1
 * (a bias, counted and reported as a violation).
 */

/** min(1, pi / (M mu)): the acceptance probability of an event (Dudik et al. 2012). */
export function acceptanceProbability(targetProbability: number, propensity: number, maxRatio: number): number {
  const p = targetProbability / (maxRatio * propensity);
  return p < 1 ? p : 1;
}

/** True when pi / mu exceeds M: the event's acceptance probability was capped at 1 (biased). */
export function violatesMaxRatio(targetProbability: number, propensity: number, maxRatio: number): boolean {
  return targetProbability > maxRatio * propensity * (1 + 1e-12);
}

/** The action a ~ dist with P(a) = dist[a], by inverse CDF of one uniform u in [0, 1). */
export function sampleFromDistribution(dist: ArrayLike<number>, K: number, u: number): number {
  let c = 0;
  for (let a = 0; a < K; a++) {
    c += dist[a];
    if (u < c) return a;
  }
  // Rounding left u above the total mass: the last action with positive mass.
  for (let a = K - 1; a >= 0; a--) if (dist[a] > 0) return a;
  return K - 1;
}

/**
 * Li et al. (2011) for a uniform logger: draw a ~ pi(. | x) with u, accept iff it is the logged
 * action. Same acceptance probability as `acceptanceProbability(pi, 1/K, K)` = pi(a_i | x).
 */
export function uniformLoggerAccepts(dist: ArrayLike<number>, K: number, loggedAction: number, u: number): boolean {
  return sampleFromDistribution(dist, K, u) === loggedAction;
}

/**
 * The default M when the user gives none: max_i 1 / mu_i over the log (one pass). Since
 * pi(a|x) <= 1, pi / mu <= 1 / mu for every candidate, so it is a valid bound for all of them;
 * for a uniform logger it is K (Li et al.'s 1/K acceptance), for a logger with a propensity floor
 * f it is 1/f. It can be loose for a candidate close to the logger (whose true max ratio is
 * near 1): give --max-ratio then, trading the violation count for data.
 */
export function defaultMaxRatio(minPropensity: number): number {
  return 1 / minPropensity;
}
