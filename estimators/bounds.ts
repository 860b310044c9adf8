import type { KnownBounds } from './estimator.js';

/** Range of w * r for w in [0, wMax] and r in [rewardMin, rewardMax]. */
export function weightedRewardRange(b: KnownBounds, wMax: number): readonly [number, number] {
  return [Math.min(0, wMax * b.rewardMin), Math.max(0, wMax * b.rewardMax)];
}

/** Range of qpi + v (r - q) for v in [0, vMax], with q, qpi, r all in the reward range. */
export function residualTermRange(b: KnownBounds, vMax: number): readonly [number, number] {
  const spread = b.rewardMax - b.rewardMin;
  return [b.rewardMin - vMax * spread, b.rewardMax + vMax * spread];
}
