import { requireFinite, requireInteger } from './config-checks.js';
/**
 * Configuration of the synthetic slate world (issue 4, item 3): what a run is made of, its defaults
 * and its checks. Everything that decides how the output is computed (exact or Monte Carlo item-
 * position marginals, and the error bound of the latter) is derived here, before any row is drawn,
 * so truth.json can state it and the CLI can reject a bad setting at once.
 */

export type SlateLoggerKind = 'plackett-luce' | 'factorized';

export const SLATE_LOGGERS: readonly SlateLoggerKind[] = ['plackett-luce', 'factorized'];

/**
 * - independent: r_k ~ Bernoulli(c(x, a_k)), slots independent (the assumption of IIPS);
 * - cascade: the user scans top-down and stops at the first click (the reward of slot k depends on
 *   the prefix: the assumption of RIPS and Cascade-DR);
 * - additive: r_k ~ Bernoulli(theta_k c(x, a_k)), position-based examination theta_k (PBM).
 * c(x, a) = sigmoid(x . theta_a + b_a) with the true parameters.
 */
export type SlateRewardStructure = 'independent' | 'cascade' | 'additive';

export const SLATE_REWARDS: readonly SlateRewardStructure[] = ['independent', 'cascade', 'additive'];

/** How Plackett-Luce item-position marginals are computed; factorized marginals are always exact. */
export type MarginalMethodChoice = 'auto' | 'exact' | 'monte-carlo';

export type MarginalMethod = 'exact' | 'monte-carlo';

/**
 * A target policy of the logger's family. `scores: 'true'` (default) ranks by the true parameters,
 * `'logging'` by the logger's perturbed ones: with the logger's temperature that is the logger itself.
 */
export interface SlateTargetSpec {
  kind: SlateLoggerKind;
  temperature: number;
  scores?: 'true' | 'logging';
  name?: string;
}

export interface SlateSynthConfig {
  /** Number of slates; the log has n * slateLength rows. */
  n: number;
  /** K: items to choose from. */
  actions: number;
  /** L <= K: slots per slate. */
  slateLength: number;
  /** Context dimension d. */
  dim: number;
  logger: SlateLoggerKind;
  reward: SlateRewardStructure;
  /** eta in the examination probabilities theta_k = 1 / (k + 1)^eta (additive rewards; default 1). */
  examinationDecay?: number;
  loggingTemperature: number;
  /** Size of the logger's parameter perturbation relative to the true parameters (default 0.5). */
  loggingPerturbation?: number;
  /** Default: defaultSlateTargets(logger). */
  targets?: readonly SlateTargetSpec[];
  /** sd of the gaussian noise added to the true per-slot reward model for q_hat. */
  qHatNoise: number;
  /** sd of x . theta_a (default 1). */
  rewardScale?: number;
  /**
   * Added to the true score inside the click probability, c(x, a) = sigmoid(s(x, a) + clickBias)
   * (default 0). Negative values give the low click rates of real lists; with 0 a cascade user clicks
   * somewhere in a 5-slot slate about 99% of the time. Rankings use s(x, a) alone.
   */
  clickBias?: number;
  /** Default 'auto': exact when the lattice of unordered prefixes has at most exactPrefixLimit sets. */
  marginals?: MarginalMethodChoice;
  /** Monte Carlo slates per context and Plackett-Luce policy (default 1000, at least 2). */
  marginalSamples?: number;
  /** Largest prefix lattice ('auto' chooses exact up to it; default 20000 sets). */
  exactPrefixLimit?: number;
  /** Fresh contexts for the population truth (default 1e6). */
  populationSamples?: number;
  seed: number;
}

export type ResolvedSlateSynthConfig = Required<SlateSynthConfig>;

/** int32 slate_id and row counts. */
const MAX_ROWS = 2 ** 31 - 1;

/**
 * A forced exact run keeps one Int32 successor per (prefix set, item) and one probability per set;
 * past this many entries it would need hundreds of MB, so it must use Monte Carlo.
 */
export const MAX_LATTICE_ENTRIES = 20_000_000;

/** Names become file names (`policy-<name>.<ext>`), hence the restricted alphabet. */
const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

/**
 * From close to the logger to far from it: the true scores at the logger's default temperature
 * (differs from the logger by its parameter perturbation only), a sharper ranking by the true
 * scores, and the logger's own scores flattened.
 */
export function defaultSlateTargets(logger: SlateLoggerKind): SlateTargetSpec[] {
  return [
    { kind: logger, temperature: 1 },
    { kind: logger, temperature: 0.5 },
    { kind: logger, temperature: 2, scores: 'logging' },
  ];
}

/** `pl-0.5`, `pl-logger-2`, `factorized-1`, ...; mirrors the CLI syntax with ':' replaced by '-'. */
export function slateTargetName(spec: SlateTargetSpec): string {
  if (spec.name !== undefined) return spec.name;
  const family = spec.kind === 'plackett-luce' ? 'pl' : 'factorized';
  return `${family}${spec.scores === 'logging' ? '-logger' : ''}-${spec.temperature}`;
}

/** A target that is the logger itself gets the logger's numbers, bit for bit (also Monte Carlo ones). */
export function isLoggerTarget(spec: SlateTargetSpec, cfg: Pick<SlateSynthConfig, 'logger' | 'loggingTemperature'>): boolean {
  return spec.kind === cfg.logger && spec.scores === 'logging' && spec.temperature === cfg.loggingTemperature;
}

/** C(n, r) as a double (exact below 2^53, which is all a buildable lattice needs). */
export function binomial(n: number, r: number): number {
  if (r < 0 || r > n) return 0;
  let c = 1;
  for (let i = 1; i <= r; i++) c = (c * (n - r + i)) / i;
  return Math.round(c);
}

/**
 * Number of unordered prefixes a Plackett-Luce slate can have before its last slot,
 * sum_{j < L} C(K, j): the size of the lattice the exact marginals are computed on (slate-lattice.ts).
 */
export function prefixSetCount(K: number, L: number): number {
  let total = 0;
  for (let j = 0; j < L; j++) total += binomial(K, j);
  return total;
}

export function resolveSlateConfig(cfg: SlateSynthConfig): ResolvedSlateSynthConfig {
  const resolved: ResolvedSlateSynthConfig = {
    n: cfg.n,
    actions: cfg.actions,
    slateLength: cfg.slateLength,
    dim: cfg.dim,
    logger: cfg.logger,
    reward: cfg.reward,
    examinationDecay: cfg.examinationDecay ?? 1,
    loggingTemperature: cfg.loggingTemperature,
    loggingPerturbation: cfg.loggingPerturbation ?? 0.5,
    targets: cfg.targets ?? defaultSlateTargets(cfg.logger),
    qHatNoise: cfg.qHatNoise,
    rewardScale: cfg.rewardScale ?? 1,
    clickBias: cfg.clickBias ?? 0,
    marginals: cfg.marginals ?? 'auto',
    marginalSamples: cfg.marginalSamples ?? 1000,
    exactPrefixLimit: cfg.exactPrefixLimit ?? 20_000,
    populationSamples: cfg.populationSamples ?? 1_000_000,
    seed: cfg.seed,
  };
  requireInteger('actions', resolved.actions, 2, 1_000_000);
  requireInteger('slateLength', resolved.slateLength, 1, resolved.actions);
  requireInteger('n', resolved.n, 1, Math.floor(MAX_ROWS / resolved.slateLength));
  requireInteger('dim', resolved.dim, 1, 1_000_000);
  if (!SLATE_LOGGERS.includes(resolved.logger)) {
    throw new RangeError(`logger must be one of ${SLATE_LOGGERS.join(', ')}, got '${String(resolved.logger)}'`);
  }
  if (!SLATE_REWARDS.includes(resolved.reward)) {
    throw new RangeError(`reward must be one of ${SLATE_REWARDS.join(', ')}, got '${String(resolved.reward)}'`);
  }
  requireFinite('examinationDecay', resolved.examinationDecay, 0, false);
  requireFinite('loggingTemperature', resolved.loggingTemperature, 0, true);
  requireFinite('loggingPerturbation', resolved.loggingPerturbation, 0, false);
  requireFinite('qHatNoise', resolved.qHatNoise, 0, false);
  requireFinite('rewardScale', resolved.rewardScale, 0, false);
  if (!Number.isFinite(resolved.clickBias)) throw new RangeError(`clickBias must be a finite number, got ${resolved.clickBias}`);
  if (!['auto', 'exact', 'monte-carlo'].includes(resolved.marginals)) {
    throw new RangeError(`marginals must be 'auto', 'exact' or 'monte-carlo', got '${String(resolved.marginals)}'`);
  }
  // Two at least, so each Monte Carlo value comes with a variance.
  requireInteger('marginalSamples', resolved.marginalSamples, 2, 100_000_000);
  requireInteger('exactPrefixLimit', resolved.exactPrefixLimit, 1);
  requireInteger('populationSamples', resolved.populationSamples, 2);
  requireInteger('seed', resolved.seed, Number.MIN_SAFE_INTEGER);
  if (resolved.marginals === 'exact' && resolved.logger === 'plackett-luce') {
    const entries = prefixSetCount(resolved.actions, resolved.slateLength) * (resolved.actions + 1);
    if (entries > MAX_LATTICE_ENTRIES) {
      throw new RangeError(
        `marginals: exact Plackett-Luce marginals for K=${resolved.actions}, L=${resolved.slateLength} need a lattice of ` +
          `${prefixSetCount(resolved.actions, resolved.slateLength)} prefix sets (over ${MAX_LATTICE_ENTRIES} entries); use 'monte-carlo'`,
      );
    }
  }
  validateSlateTargets(resolved);
  return resolved;
}

/** Throws RangeError naming the first invalid target. */
function validateSlateTargets(cfg: ResolvedSlateSynthConfig): void {
  if (cfg.targets.length === 0) throw new RangeError('at least one target policy is needed');
  const seen = new Set<string>();
  for (const spec of cfg.targets) {
    const name = slateTargetName(spec);
    if (!NAME_PATTERN.test(name)) throw new RangeError(`target name '${name}' may contain only letters, digits, '.', '_' and '-'`);
    if (seen.has(name)) throw new RangeError(`two targets are named '${name}'; give them different names`);
    seen.add(name);
    // A Plackett-Luce target under a factorized logger would be supported, a factorized target under
    // a Plackett-Luce logger would not (repeated items are never logged); one family keeps it simple.
    if (spec.kind !== cfg.logger) throw new RangeError(`target '${name}' is ${spec.kind} but the logger is ${cfg.logger}; targets must be of the logger's family`);
    if (!(Number.isFinite(spec.temperature) && spec.temperature > 0)) {
      throw new RangeError(`target '${name}': temperature must be a positive number, got ${spec.temperature}`);
    }
    if (spec.scores !== undefined && spec.scores !== 'true' && spec.scores !== 'logging') {
      throw new RangeError(`target '${name}': scores must be 'true' or 'logging', got '${String(spec.scores)}'`);
    }
  }
}

/** What the resolved config asks for; factorized policies have exact marginals in closed form. */
export function marginalMethodOf(cfg: ResolvedSlateSynthConfig): MarginalMethod {
  if (cfg.logger === 'factorized' || cfg.marginals === 'exact') return 'exact';
  if (cfg.marginals === 'monte-carlo') return 'monte-carlo';
  return prefixSetCount(cfg.actions, cfg.slateLength) <= cfg.exactPrefixLimit ? 'exact' : 'monte-carlo';
}

/** Simultaneous confidence of the stated Monte Carlo error bound. */
export const MARGINAL_CONFIDENCE = 0.95;

export interface MarginalErrorStatement {
  readonly method: MarginalMethod;
  /** Monte Carlo slates per context and policy; 0 when exact. */
  readonly samples: number;
  /** Unordered prefixes of the exact computation (0 for Monte Carlo; factorized: 0, closed form). */
  readonly prefix_sets: number;
  /** Item-position marginals estimated by Monte Carlo over the whole log (the union bound's count). */
  readonly entries: number;
  readonly confidence: number;
  /**
   * With probability at least `confidence`, every Monte Carlo marginal of the run (logger and
   * targets, every slate, every position > 0, every item) is within this of the exact value; 0 when
   * exact. Hoeffding (1963) for means of [0, 1] terms plus a union bound over `entries`.
   */
  readonly max_abs_error_bound: number;
  /** The same bound for one marginal on its own (no union bound). */
  readonly per_entry_error_bound: number;
  readonly bound: string;
  /** Where the draws come from (seedrandom Alea streams keyed by seed, purpose and block). */
  readonly stream: string | null;
}

/** Hoeffding: P(|mean - p| >= eps) <= 2 exp(-2 m eps^2) for m i.i.d. terms in [0, 1]; union over `entries`. */
export function hoeffdingBound(samples: number, entries: number, confidence: number): number {
  return Math.sqrt(unionLogTerm(entries, confidence) / (2 * samples));
}

/**
 * Bernstein's inequality (Bernstein 1924; Boucheron, Lugosi & Massart 2013, Thm 2.10) for the mean
 * of m i.i.d. terms in [0, u] with mean mu, whose variance is then at most u mu:
 *   |mean - mu| <= sqrt(2 u mu l / m) + 2 u l / (3 m)   with probability >= 1 - 2 exp(-l).
 * Solved for mu, it gives the interval of means consistent with an estimate; for small mu it is
 * relative (width ~ sqrt(mu)) where Hoeffding's is additive. logTerm l = ln(2 entries / (1 - confidence)).
 */
export function bernsteinInterval(estimate: number, u: number, samples: number, logTerm: number): { lower: number; upper: number } {
  if (u === 0) return { lower: estimate, upper: estimate };
  const a = Math.sqrt((2 * u * logTerm) / samples);
  const c = (2 * u * logTerm) / (3 * samples);
  const upperRoot = (a + Math.sqrt(a * a + 4 * (estimate + c))) / 2;
  const lowerRoot = estimate > c ? (-a + Math.sqrt(a * a + 4 * (estimate - c))) / 2 : 0;
  return { lower: lowerRoot * lowerRoot, upper: upperRoot * upperRoot };
}

/** ln(2 N / (1 - confidence)): the union bound's log term over N estimated entries. */
export function unionLogTerm(entries: number, confidence: number): number {
  return Math.log((2 * Math.max(1, entries)) / (1 - confidence));
}

/** Policies whose marginals are estimated: the logger and every target that is not the logger. */
export function monteCarloPolicies(cfg: ResolvedSlateSynthConfig): number {
  return 1 + cfg.targets.filter((t) => !isLoggerTarget(t, cfg)).length;
}

export function marginalErrorStatement(cfg: ResolvedSlateSynthConfig): MarginalErrorStatement {
  const method = marginalMethodOf(cfg);
  const K = cfg.actions;
  const L = cfg.slateLength;
  if (method === 'exact') {
    return {
      method,
      samples: 0,
      prefix_sets: cfg.logger === 'plackett-luce' ? prefixSetCount(K, L) : 0,
      entries: 0,
      confidence: 1,
      max_abs_error_bound: 0,
      per_entry_error_bound: 0,
      bound: cfg.logger === 'plackett-luce' ? 'exact: dynamic programme over unordered prefixes' : 'exact: closed form (factorized)',
      stream: null,
    };
  }
  // Position 0 is exact (the first slot's distribution is a softmax), so L - 1 positions are estimated.
  const entries = cfg.n * (L - 1) * K * monteCarloPolicies(cfg);
  return {
    method,
    samples: cfg.marginalSamples,
    prefix_sets: 0,
    entries,
    confidence: MARGINAL_CONFIDENCE,
    max_abs_error_bound: L === 1 ? 0 : hoeffdingBound(cfg.marginalSamples, entries, MARGINAL_CONFIDENCE),
    per_entry_error_bound: L === 1 ? 0 : hoeffdingBound(cfg.marginalSamples, 1, MARGINAL_CONFIDENCE),
    bound:
      'Hoeffding (1963) with a union bound over all estimated entries; Rao-Blackwellized estimator with terms in [0, u], u <= 1 ' +
      "per entry, so each entry's own bound is max_abs_error_bound * u; iips_error_bound uses Bernstein intervals (variance <= u mu)",
    stream: `${cfg.seed}:marginals:<block>`,
  };
}
