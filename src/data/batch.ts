/**
 * The one columnar batch type every reader produces and every estimator consumes (DESIGN.md §1-2).
 * Columns are typed arrays of length n (lists: n * width, row-major). Rows are numbered globally
 * from 0 across batches (`rowOffset` is the global index of this batch's first row), so errors,
 * bootstrap cluster keys and the canonical summation order never depend on how a file was split.
 */
export interface ListColumn {
  /** Number of entries per row (K for action_dist / q_hat, d for context). */
  readonly width: number;
  /** Row-major values, length n * width. */
  readonly values: Float64Array;
}

export interface LogBatch {
  /** File the rows came from (for error messages). */
  readonly source: string;
  /** Global index of the first row of this batch. */
  readonly rowOffset: number;
  readonly n: number;
  /** Logged action as an integer 0..K-1 (string ids are dictionary-encoded by the reader). */
  readonly action: Int32Array;
  readonly reward: Float64Array;
  /** Logging policy's probability of the logged action (at the logged position for ranking logs). */
  readonly propensity: Float64Array;
  readonly position?: Int32Array;
  /**
   * 32-bit bootstrap cluster key of each row: a hash of `request_id` (or `slate_id`) when present,
   * so all rows of one request share one bootstrap weight; absent means "each row is its own cluster"
   * and the row's global ordinal is used.
   */
  readonly clusterKey?: Uint32Array;
  /** Target policy columns carried inline in the log (a policy file may supply them instead). */
  readonly targetPropensity?: Float64Array;
  readonly actionDist?: ListColumn;
  /** Reward model: q_hat(x_i, a) for every action, or the O(n) scalars. */
  readonly qHat?: ListColumn;
  readonly qHatLogged?: Float64Array;
  readonly qHatTarget?: Float64Array;
  /**
   * Slate logs, one row per (slate, position): the logger's probability of this item at this
   * position, and of the slate's prefix up to and including this position (`propensity` is then
   * the probability of the whole slate); the target's, when carried inline.
   */
  readonly propensityItemPosition?: Float64Array;
  readonly propensityCascade?: Float64Array;
  readonly targetPropensityItemPosition?: Float64Array;
  readonly targetPropensityCascade?: Float64Array;
  /**
   * Slate logs, for pbm-ips: the logger's (and the target's) marginal probability of this row's
   * item at every position 0..L-1 of the slate (width L); entry `position` is the item-position
   * propensity itself.
   */
  readonly propensityItemPositions?: ListColumn;
  readonly targetPropensityItemPositions?: ListColumn;
  readonly context?: ListColumn;
  /** Seconds since epoch (NaN when missing) for label maturity. */
  readonly eventTs?: Float64Array;
  readonly rewardTs?: Float64Array;
  /** String columns carried through for slicing and audit (policy_id, surface, ...). */
  readonly strings?: ReadonlyMap<string, ReadonlyArray<string | null>>;
}

/**
 * The target (candidate) policy's columns for one batch: either from a policy file aligned by row
 * order, or from the log itself. `targetPropensity` is pi(a_i|x_i); `actionDist` pi(.|x_i) at the
 * row's position; `qHatTarget` sum_a pi(a|x_i) q_hat(x_i, a) when the user supplies it.
 */
export interface PolicyBatch {
  readonly n: number;
  readonly targetPropensity?: Float64Array;
  readonly actionDist?: ListColumn;
  readonly qHatTarget?: Float64Array;
  /** Slate targets: pi(item at position) and pi(prefix up to and including the position). */
  readonly targetPropensityItemPosition?: Float64Array;
  readonly targetPropensityCascade?: Float64Array;
  /** Slate targets, for pbm-ips: pi(this row's item at position j) for j = 0..L-1. */
  readonly targetPropensityItemPositions?: ListColumn;
}
