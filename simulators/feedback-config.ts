import { requireFinite, requireInteger } from './config-checks.js';
/**
 * Configuration of the ground-truth world of the feedback-loop simulator (issue 6, item 1): what a
 * world is made of, its defaults and its checks. The generative model itself is stated in
 * feedback-world.ts; the defaults below are the bench's world (1,000 users, 1,000 items, slates of
 * 10, latent dimension 32) and give a world in which personalization matters. With seed 12345 a
 * uniformly random slate earns 0.34 expected clicks (its top slot is clicked 11.6% of the time), the
 * ten most popular items shown to everyone 0.75, the best non-personalized slate 1.08 and the oracle
 * 2.02 (of at most sum_k theta_k = 2.93).
 */

export interface FeedbackWorldConfig {
  /** Number of users U (default 1000). */
  users?: number;
  /** Number of items I (default 1000). */
  items?: number;
  /** Latent dimension d of the true user and item vectors (default 32); not the model's embedding size. */
  dim?: number;
  /** L: items per slate (default 10), at most `items`. */
  slateSize?: number;
  /** eta >= 0 of the position-based examination theta_k = 1 / (k + 1)^eta, k = 0 the top slot (default 1). */
  examinationDecay?: number;
  /** alpha >= 0 of the Zipf popularity weights w = rank^-alpha / sum_r r^-alpha (default 1; 0: all items equally popular). */
  popularityExponent?: number;
  /** a >= 0: weight of the user-item affinity u . v_i in the relevance logit (default 1). */
  affinityWeight?: number;
  /** b >= 0: weight of the item quality q_i ~ N(0, 1) in the relevance logit (default 0.5). */
  qualityWeight?: number;
  /**
   * c: weight of the centred log popularity in the relevance logit (default 0.3). Any finite value;
   * a negative c makes users shun the mainstream.
   */
  popularityWeight?: number;
  /** Intercept of the relevance logit (default -2.5): the logit of an item of average quality and popularity at zero affinity. */
  clickBias?: number;
  /**
   * delta in [0, 1]: user vectors move by the AR(1) step u' = sqrt(1 - delta^2) u + delta eps between
   * rounds (default 0: preferences fixed). The stationary spread is preserved, so affinities keep their scale.
   */
  preferenceDrift?: number;
  /** Arrivals per round (default: `users`, every user once per round in random order). */
  usersPerRound?: number;
  /** Every random draw of the world, its arrivals and its click uniforms comes from this seed (default 12345). */
  seed?: number;
}

export type ResolvedFeedbackWorldConfig = Required<FeedbackWorldConfig>;

export const FEEDBACK_WORLD_DEFAULTS: Readonly<Omit<ResolvedFeedbackWorldConfig, 'usersPerRound'>> = {
  users: 1000,
  items: 1000,
  dim: 32,
  slateSize: 10,
  examinationDecay: 1,
  popularityExponent: 1,
  affinityWeight: 1,
  qualityWeight: 0.5,
  popularityWeight: 0.3,
  clickBias: -2.5,
  preferenceDrift: 0,
  seed: 12345,
};

/** Users and items are counted in int32 ids. */
const MAX_ENTITIES = 10_000_000;
/** Entries of one vector matrix (users x dim or items x dim): 2^27 doubles is 1 GiB. */
const MAX_MATRIX_ENTRIES = 2 ** 27;
/** The click uniform of slot (arrival j, position k) is keyed by the 32-bit counter j * L + k (feedback-world.ts). */
const MAX_SLOTS_PER_ROUND = 2 ** 32;

/** Fills in the defaults and checks every field; throws RangeError naming the first bad one. */
export function resolveFeedbackWorldConfig(cfg: FeedbackWorldConfig = {}): ResolvedFeedbackWorldConfig {
  const d = FEEDBACK_WORLD_DEFAULTS;
  const users = cfg.users ?? d.users;
  const resolved: ResolvedFeedbackWorldConfig = {
    users,
    items: cfg.items ?? d.items,
    dim: cfg.dim ?? d.dim,
    slateSize: cfg.slateSize ?? d.slateSize,
    examinationDecay: cfg.examinationDecay ?? d.examinationDecay,
    popularityExponent: cfg.popularityExponent ?? d.popularityExponent,
    affinityWeight: cfg.affinityWeight ?? d.affinityWeight,
    qualityWeight: cfg.qualityWeight ?? d.qualityWeight,
    popularityWeight: cfg.popularityWeight ?? d.popularityWeight,
    clickBias: cfg.clickBias ?? d.clickBias,
    preferenceDrift: cfg.preferenceDrift ?? d.preferenceDrift,
    usersPerRound: cfg.usersPerRound ?? users,
    seed: cfg.seed ?? d.seed,
  };
  requireInteger('users', resolved.users, 1, MAX_ENTITIES);
  requireInteger('items', resolved.items, 1, MAX_ENTITIES);
  requireInteger('dim', resolved.dim, 1, 4096);
  if (resolved.users * resolved.dim > MAX_MATRIX_ENTRIES) {
    throw new RangeError(`users x dim must be at most ${MAX_MATRIX_ENTRIES} (the user matrix), got ${resolved.users} x ${resolved.dim}`);
  }
  if (resolved.items * resolved.dim > MAX_MATRIX_ENTRIES) {
    throw new RangeError(`items x dim must be at most ${MAX_MATRIX_ENTRIES} (the item matrix), got ${resolved.items} x ${resolved.dim}`);
  }
  requireInteger('slateSize', resolved.slateSize, 1, resolved.items);
  requireFinite('examinationDecay', resolved.examinationDecay, 0, false);
  requireFinite('popularityExponent', resolved.popularityExponent, 0, false);
  requireFinite('affinityWeight', resolved.affinityWeight, 0, false);
  requireFinite('qualityWeight', resolved.qualityWeight, 0, false);
  if (!Number.isFinite(resolved.popularityWeight)) throw new RangeError(`popularityWeight must be a finite number, got ${resolved.popularityWeight}`);
  if (!Number.isFinite(resolved.clickBias)) throw new RangeError(`clickBias must be a finite number, got ${resolved.clickBias}`);
  if (!(Number.isFinite(resolved.preferenceDrift) && resolved.preferenceDrift >= 0 && resolved.preferenceDrift <= 1)) {
    throw new RangeError(`preferenceDrift must be a number in [0, 1], got ${resolved.preferenceDrift}`);
  }
  requireInteger('usersPerRound', resolved.usersPerRound, 1, Math.min(2 ** 31 - 1, Math.floor(MAX_SLOTS_PER_ROUND / resolved.slateSize)));
  requireInteger('seed', resolved.seed, Number.MIN_SAFE_INTEGER);
  return resolved;
}
