import { logBatchFromArrays, policyBatchFromArrays } from '../../src/data/from-arrays.js';
import type { AlignedBatch } from '../../src/engine/reblock.js';

/**
 * The 4-row log whose estimates are computed by hand in test/estimators.test.ts:
 * w = [0.4, 3.2, 4, 4/3], r = [1, 0, 1, 1], q = [0.5, 0.4, 0.9, 0.3], qpi = [0.31, 0.4, 0.9, 0.3].
 */
export const TINY = {
  action: [0, 1, 2, 1],
  reward: [1, 0, 1, 1],
  propensity: [0.5, 0.25, 0.25, 0.25],
  qHat: [
    [0.5, 0.2, 0.3],
    [0.4, 0.4, 0.4],
    [0.1, 0.2, 0.9],
    [0.3, 0.3, 0.3],
  ],
  actionDist: [
    [0.2, 0.3, 0.5],
    [0.1, 0.8, 0.1],
    [0, 0, 1],
    [1 / 3, 1 / 3, 1 / 3],
  ],
};

export function tinyAligned(): AlignedBatch[] {
  const log = logBatchFromArrays({ action: TINY.action, reward: TINY.reward, propensity: TINY.propensity, qHat: TINY.qHat });
  return [{ log, policies: [policyBatchFromArrays({ actionDist: TINY.actionDist })] }];
}

/** Deterministic pseudo-random log of n rows over K actions (a small LCG: tests need no RNG library). */
export interface RandomLog {
  action: number[];
  reward: number[];
  propensity: number[];
  qHat: number[][];
  requestId?: number[];
}

export function randomAligned(n: number, K: number, seed: number, requestSize = 1): { log: RandomLog; dist: number[][] } {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const action: number[] = [];
  const reward: number[] = [];
  const propensity: number[] = [];
  const qHat: number[][] = [];
  const dist: number[][] = [];
  const requestId: number[] = [];
  for (let i = 0; i < n; i++) {
    const logits = Array.from({ length: K }, () => rand() * 2);
    const z = logits.reduce((a, b) => a + Math.exp(b), 0);
    const mu = logits.map((l) => Math.exp(l) / z);
    let u = rand();
    let a = 0;
    while (a < K - 1 && u >= mu[a]) u -= mu[a++];
    action.push(a);
    propensity.push(mu[a]);
    const q = Array.from({ length: K }, () => rand());
    qHat.push(q);
    reward.push(rand() < q[a] ? 1 : 0);
    const tl = Array.from({ length: K }, () => rand() * 3);
    const tz = tl.reduce((x, y) => x + Math.exp(y), 0);
    dist.push(tl.map((l) => Math.exp(l) / tz));
    requestId.push(Math.floor(i / requestSize));
  }
  return { log: { action, reward, propensity, qHat, requestId: requestSize > 1 ? requestId : undefined }, dist };
}
