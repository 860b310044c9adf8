import { describe, expect, it } from 'vitest';
import type { ExplorationSlateRows } from '../simulators/exploration.js';
import { directValue, fitPositionItemModel, PBM_ITEM_PRIOR, slateDoublyRobust, slateSnips } from '../simulators/feedback-ope.js';

/** The feedback loop's own OPE (simulators/feedback-ope.ts) on hand-worked examples. */

/** Two slates of L = 2 over I = 3 items, one target. */
function rows(): ExplorationSlateRows {
  const f = (v: number[]) => Float64Array.from(v);
  return {
    slates: 2,
    rows: 4,
    n: 3,
    L: 2,
    slateId: Int32Array.from([0, 0, 1, 1]),
    position: Int32Array.from([0, 1, 0, 1]),
    action: Int32Array.from([0, 1, 2, 0]),
    reward: f([1, 0, 0, 0]),
    propensity: f([0.1, 0.1, 0.2, 0.2]),
    propensityItemPosition: f([0.5, 0.25, 0.5, 0.5]),
    propensityCascade: f([0.5, 0.1, 0.5, 0.2]),
    propensityItemPositions: new Float64Array(8),
    itemPositionRange: null,
    targets: [
      {
        name: 'next',
        targetPropensity: f([0.2, 0.2, 0.1, 0.1]),
        targetPropensityItemPosition: f([1, 0.5, 0, 0.5]),
        targetPropensityCascade: f([1, 0.2, 0.2, 0.1]),
        targetPropensityItemPositions: new Float64Array(8),
        actionDist: null,
        itemPositionRange: null,
      },
    ],
  };
}

describe('feedback-loop OPE', () => {
  it('slate-level snips: sum w R / sum w with joint weights 2 and 0.5, and its delta-method se', () => {
    // w = 0.2 / 0.1 = 2 (R = 1), 0.1 / 0.2 = 0.5 (R = 0): V = 2 / 2.5 = 0.8;
    // se = sqrt(2^2 (1 - 0.8)^2 + 0.5^2 (0 - 0.8)^2) / 2.5 = sqrt(0.32) / 2.5
    const s = slateSnips(rows());
    expect(s.value).toBeCloseTo(0.8, 15);
    expect(s.se).toBeCloseTo(Math.sqrt(0.32) / 2.5, 15);
  });

  it('dr: Y_s = DM_s + sum_k w_k (r_k - q(k, a_k)), mean and se by hand', () => {
    const q = Float64Array.from([0.1, 0.2, 0.3, 0.05, 0.1, 0.15]); // L x I
    // Y_0 = 0.4 + (1/0.5)(1 - 0.1) + (0.5/0.25)(0 - 0.1) = 2.0; Y_1 = 0.2 + 0 (0 - 0.3) + (0.5/0.5)(0 - 0.05) = 0.15
    const d = slateDoublyRobust(rows(), q, 3, Float64Array.from([0.4, 0.2]));
    expect(d.value).toBeCloseTo(1.075, 14);
    // sd of (2, 0.15) with n - 1 = 1: 0.925 sqrt(2); se = sd / sqrt(2) = 0.925
    expect(d.se).toBeCloseTo(0.925, 14);
    // DR equals DM when every logged reward equals its prediction
    const r = rows();
    const exact = { ...r, reward: Float64Array.from([0.1, 0.1, 0.3, 0.05]) };
    expect(slateDoublyRobust(exact, q, 3, Float64Array.from([0.4, 0.2])).value).toBeCloseTo(0.3, 15);
  });

  it('the position-based reward model q(k, i) = min(1, c_k r_i), by hand', () => {
    // (item, position, click): (0,0,1) (1,1,0) (0,0,0) (2,1,1): c_0 = c_1 = 1/2; expected clicks
    // E = (1, 0.5, 0.5), clicks C = (1, 0, 1); r_i = (C_i + m) / (E_i + m), m = PBM_ITEM_PRIOR
    const q = fitPositionItemModel([{ users: new Int32Array(4), items: Int32Array.from([0, 1, 0, 2]), clicked: Float32Array.from([1, 0, 0, 1]), positions: Int32Array.from([0, 1, 0, 1]) }], 2, 3);
    const m = PBM_ITEM_PRIOR;
    const r = [(1 + m) / (1 + m), m / (0.5 + m), (1 + m) / (0.5 + m)];
    for (let k = 0; k < 2; k++) for (let i = 0; i < 3; i++) expect(q[k * 3 + i]).toBeCloseTo(Math.min(1, 0.5 * r[i]), 15);
    // and its value under one-hot marginals is the sum of the chosen entries
    const marg = Float64Array.from([0, 1, 0, 0, 0, 1]);
    expect(directValue(marg, q)).toBeCloseTo(q[1] + q[5], 15);
  });
});
