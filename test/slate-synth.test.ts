import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { blockStream } from '../simulators/random-streams.js';
import {
  bernsteinInterval,
  hoeffdingBound,
  marginalErrorStatement,
  marginalMethodOf,
  prefixSetCount,
  resolveSlateConfig,
  type SlateSynthConfig,
  type SlateTargetSpec,
  unionLogTerm,
} from '../simulators/slate-config.js';
import { FactorizedPolicy } from '../simulators/slate-factorized.js';
import { PrefixLattice } from '../simulators/slate-lattice.js';
import { PlackettLucePolicy } from '../simulators/slate-plackett-luce.js';
import { newRewardModel, type SlateRewardModel } from '../simulators/slate-rewards.js';
import { SlateSampleTruthAccumulator } from '../simulators/slate-truth.js';
import { blockSlatesFor, generateSlateLog, makeSlateWorld, type SlateSynthBatch, type SlateWorld } from '../simulators/slate-world.js';
import { writeSlateSynth, type SlateSynthTruth } from '../simulators/write-slate-synth.js';
import { parseSlateTargetList, slateSynthConfigFromOptions } from '../src/cli/commands/synth.js';
import { run } from '../src/cli/main.js';
import { UsageError } from '../src/data/errors.js';
import { concatColumn, type NumericArray } from './helpers/concat.js';

const BASE: SlateSynthConfig = {
  n: 3000,
  actions: 6,
  slateLength: 3,
  dim: 3,
  logger: 'plackett-luce',
  reward: 'independent',
  loggingTemperature: 1,
  qHatNoise: 0.1,
  populationSamples: 2000,
  seed: 11,
};

function collect(cfg: SlateSynthConfig, batchSlates: number): SlateSynthBatch[] {
  return [...generateSlateLog(cfg, batchSlates)];
}

const concat = (batches: readonly SlateSynthBatch[], pick: (b: SlateSynthBatch) => NumericArray): Float64Array => concatColumn(batches, pick);

/** Index of the first difference (-1 if none); comparing 1e5 numbers with toEqual is slow. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

const COLUMNS: Record<string, (b: SlateSynthBatch) => NumericArray> = {
  slateId: (b) => b.slateId,
  position: (b) => b.position,
  action: (b) => b.action,
  reward: (b) => b.reward,
  propensity: (b) => b.propensity,
  propensityItemPosition: (b) => b.propensityItemPosition,
  propensityCascade: (b) => b.propensityCascade,
  propensityItemPositions: (b) => b.propensityItemPositions,
  context: (b) => b.context,
  qHat: (b) => b.qHat,
  expectedRewardLogged: (b) => b.expectedRewardLogged,
  loggingValue: (b) => b.loggingValue,
  loggingValueVariance: (b) => b.loggingValueVariance,
  targetPropensity0: (b) => b.targets[0].targetPropensity,
  targetItemPosition1: (b) => b.targets[1].targetPropensityItemPosition,
  targetCascade2: (b) => b.targets[2].targetPropensityCascade,
  targetItemPositions1: (b) => b.targets[1].targetPropensityItemPositions,
  actionDist0: (b) => b.targets[0].actionDist,
  conditionalValue2: (b) => b.targets[2].conditionalValue,
};

function expectSameRows(a: readonly SlateSynthBatch[], b: readonly SlateSynthBatch[], slates = Infinity): void {
  for (const [name, pick] of Object.entries(COLUMNS)) {
    const perSlate = pick(a[0]).length / a[0].slates;
    const limit = slates === Infinity ? undefined : slates * perSlate;
    expect(firstDifference(concat(a, pick).subarray(0, limit), concat(b, pick).subarray(0, limit)), name).toBe(-1);
  }
}

// ------------------------------------------------------------ brute force from the definitions

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

function scores(p: { theta: Float64Array; bias: Float64Array; d: number; K: number }, x: ArrayLike<number>): number[] {
  return Array.from({ length: p.K }, (_, a) => {
    let s = p.bias[a];
    for (let j = 0; j < p.d; j++) s += x[j] * p.theta[a * p.d + j];
    return s;
  });
}

/** Every ordered slate of length L: without repetition (Plackett-Luce) or with (factorized). */
function allSlates(K: number, L: number, repeat: boolean): number[][] {
  const out: number[][] = [];
  const walk = (prefix: number[]): void => {
    if (prefix.length === L) {
      out.push([...prefix]);
      return;
    }
    for (let a = 0; a < K; a++) if (repeat || !prefix.includes(a)) walk([...prefix, a]);
  };
  walk([]);
  return out;
}

/** P(slate) under Plackett-Luce, straight from the product formula. */
function plackettLuce(s: readonly number[], temperature: number, slate: readonly number[]): number {
  let p = 1;
  const left = new Set(s.map((_, a) => a));
  for (const a of slate) {
    let total = 0;
    for (const b of left) total += Math.exp(s[b] / temperature);
    p *= Math.exp(s[a] / temperature) / total;
    left.delete(a);
  }
  return p;
}

/** p_k(. | x) of the factorized family. */
function factorizedSlots(s: readonly number[], world: SlateWorld, temperature: number): number[][] {
  return Array.from({ length: world.L }, (_, k) => {
    const e = s.map((v, a) => Math.exp((v + world.slotOffset[k * world.K + a]) / temperature));
    const z = e.reduce((x, y) => x + y, 0);
    return e.map((v) => v / z);
  });
}

/** E[sum_k r_k | slate] from the reward definitions. */
function slateValue(slate: readonly number[], click: readonly number[], structure: string, theta: readonly number[]): number {
  if (structure === 'cascade') return 1 - slate.reduce((p, a) => p * (1 - click[a]), 1);
  return slate.reduce((v, a, k) => v + (structure === 'additive' ? theta[k] : 1) * click[a], 0);
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), Number.MIN_VALUE);
}

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

// ------------------------------------------------------------ generator

describe('generateSlateLog', () => {
  it('gives the same rows whatever the batch size, across blocks, and for any n', () => {
    const reference = collect(BASE, BASE.n);
    expect(blockSlatesFor(BASE.slateLength)).toBeLessThan(BASE.n / 2);
    for (const batchSlates of [7, 1000, blockSlatesFor(BASE.slateLength), 2999]) {
      const batches = collect(BASE, batchSlates);
      expect(batches.reduce((s, b) => s + b.slates, 0)).toBe(BASE.n);
      expect(batches.map((b) => b.slateOffset)).toEqual(batches.map((_, k) => k * batchSlates));
      expect(batches.map((b) => b.rowOffset)).toEqual(batches.map((_, k) => k * batchSlates * BASE.slateLength));
      expectSameRows(batches, reference);
    }
    // A shorter run is a prefix of a longer one.
    expectSameRows(collect({ ...BASE, n: 1700 }, 333), reference, 1700);
  });

  it('is batch-size independent with Monte Carlo marginals too, and Monte Carlo leaves the log itself unchanged', () => {
    const cfg: SlateSynthConfig = { ...BASE, n: 1500, marginals: 'monte-carlo', marginalSamples: 20 };
    const one = collect(cfg, 1500);
    expectSameRows(collect(cfg, 101), one);
    const exact = collect({ ...cfg, marginals: 'exact' }, 1500);
    for (const name of ['action', 'reward', 'propensity', 'propensityCascade', 'qHat', 'targetPropensity0', 'targetCascade2', 'actionDist0']) {
      expect(firstDifference(concat(one, COLUMNS[name]), concat(exact, COLUMNS[name])), name).toBe(-1);
    }
  });

  it('writes every slate as positions 0..L-1 once; Plackett-Luce slates never repeat an item', () => {
    for (const cfg of [BASE, { ...BASE, logger: 'factorized' as const }]) {
      const [b] = collect({ ...cfg, n: 2000 }, 2000);
      const L = b.L;
      let badLayout = 0;
      let repeats = 0;
      for (let s = 0; s < b.slates; s++) {
        const seen = new Set<number>();
        for (let k = 0; k < L; k++) {
          const r = s * L + k;
          if (b.slateId[r] !== s || b.position[r] !== k || !(b.action[r] >= 0 && b.action[r] < b.K)) badLayout++;
          seen.add(b.action[r]);
        }
        if (seen.size < L) repeats++;
      }
      expect(badLayout).toBe(0);
      if (cfg.logger === 'plackett-luce') expect(repeats).toBe(0);
      // Factorized slots are independent, so some slates repeat an item (that is what `pi` assumes).
      else expect(repeats).toBeGreaterThan(0);
    }
  });

  it('keeps every propensity in (0, 1]: joint = last cascade, cascade non-increasing, item-position >= cascade', () => {
    for (const cfg of [BASE, { ...BASE, logger: 'factorized' as const }, { ...BASE, marginals: 'monte-carlo' as const, marginalSamples: 10, n: 500 }]) {
      const [b] = collect({ ...cfg, n: Math.min(cfg.n, 2000) }, 2000);
      const L = b.L;
      const sets: Array<[string, Float64Array, Float64Array, Float64Array]> = [
        ['logger', b.propensity, b.propensityCascade, b.propensityItemPosition],
        ...b.targets.map((t): [string, Float64Array, Float64Array, Float64Array] => [t.name, t.targetPropensity, t.targetPropensityCascade, t.targetPropensityItemPosition]),
      ];
      for (const [name, joint, cascade, itemPosition] of sets) {
        let outOfRange = 0;
        let worstJoint = 0;
        let increasing = 0;
        let belowCascade = 0;
        for (let s = 0; s < b.slates; s++) {
          for (let k = 0; k < L; k++) {
            const r = s * L + k;
            for (const v of [joint[r], cascade[r], itemPosition[r]]) if (!(v > 0 && v <= 1)) outOfRange++;
            worstJoint = Math.max(worstJoint, relErr(joint[r], cascade[s * L + L - 1]));
            if (k > 0 && cascade[r] > cascade[r - 1]) increasing++;
            if (itemPosition[r] < cascade[r]) belowCascade++;
          }
        }
        expect({ name, outOfRange, increasing, belowCascade }).toEqual({ name, outOfRange: 0, increasing: 0, belowCascade: 0 });
        expect(worstJoint).toBeLessThanOrEqual(1e-12);
      }
    }
  });

  it("writes action_dist as the target's slot distribution given the logged prefix (zero on the prefix under Plackett-Luce)", () => {
    for (const cfg of [BASE, { ...BASE, logger: 'factorized' as const }]) {
      const [b] = collect({ ...cfg, n: 500 }, 500);
      const { K, L } = b;
      for (const t of b.targets) {
        let worstSum = 0;
        let worstRatio = 0;
        let prefixMass = 0;
        for (let s = 0; s < b.slates; s++) {
          for (let k = 0; k < L; k++) {
            const r = s * L + k;
            const row = t.actionDist.subarray(r * K, (r + 1) * K);
            worstSum = Math.max(worstSum, Math.abs(row.reduce((x, y) => x + y, 0) - 1));
            // pi(a_k | prefix) = P(prefix through k) / P(prefix through k - 1).
            const before = k === 0 ? 1 : t.targetPropensityCascade[r - 1];
            worstRatio = Math.max(worstRatio, relErr(row[b.action[r]], t.targetPropensityCascade[r] / before));
            if (cfg.logger === 'plackett-luce') for (let j = 0; j < k; j++) prefixMass += row[b.action[s * L + j]];
          }
        }
        expect(worstSum).toBeLessThanOrEqual(1e-12);
        expect(worstRatio).toBeLessThanOrEqual(1e-12);
        expect(prefixMass).toBe(0);
      }
    }
  });

  it('draws rewards from the chosen structure; q_hat without noise is the true slot model and matches expected_reward_logged', () => {
    for (const reward of ['independent', 'cascade', 'additive'] as const) {
      const cfg = resolveSlateConfig({ ...BASE, reward, n: 400, qHatNoise: 0, examinationDecay: 0.7 });
      const world = makeSlateWorld(cfg);
      const [b] = collect(cfg, 400);
      const { K, L, d } = b;
      const theta = Array.from({ length: L }, (_, k) => 1 / (k + 1) ** 0.7);
      let worst = 0;
      let afterClick = 0;
      for (let s = 0; s < b.slates; s++) {
        const click = scores(world.truth, b.context.subarray(s * L * d, s * L * d + d)).map(sigmoid);
        const slate = Array.from(b.action.subarray(s * L, (s + 1) * L));
        let clicked = false;
        for (let k = 0; k < L; k++) {
          const r = s * L + k;
          const above = slate.slice(0, k).reduce((p, a) => p * (1 - click[a]), 1);
          for (let a = 0; a < K; a++) {
            const q = reward === 'cascade' ? above * click[a] : reward === 'additive' ? theta[k] * click[a] : click[a];
            worst = Math.max(worst, Math.abs(b.qHat[r * K + a] - q));
          }
          worst = Math.max(worst, Math.abs(b.expectedRewardLogged[r] - b.qHat[r * K + slate[k]]));
          if (clicked && b.reward[r] !== 0) afterClick++;
          if (b.reward[r] === 1) clicked = true;
        }
      }
      expect(worst, reward).toBeLessThanOrEqual(1e-14);
      if (reward === 'cascade') expect(afterClick).toBe(0);
    }
  });

  it('gives every weight 1 when the target is the logger (exact, Monte Carlo and factorized)', () => {
    const self: SlateTargetSpec = { kind: 'plackett-luce', temperature: 0.8, scores: 'logging', name: 'self' };
    const other: SlateTargetSpec = { kind: 'plackett-luce', temperature: 0.5 };
    for (const cfg of [
      { ...BASE, loggingTemperature: 0.8, targets: [other, self] },
      { ...BASE, loggingTemperature: 0.8, targets: [other, self], marginals: 'monte-carlo' as const, marginalSamples: 10, n: 300 },
      {
        ...BASE,
        loggingTemperature: 0.8,
        logger: 'factorized' as const,
        targets: [
          { ...other, kind: 'factorized' as const },
          { ...self, kind: 'factorized' as const },
        ],
      },
    ]) {
      const [b] = collect({ ...cfg, n: Math.min(cfg.n, 1000) }, 1000);
      const t = b.targets[1];
      expect(t.sameAsLogger).toBe(true);
      expect(b.targets[0].sameAsLogger).toBe(false);
      let notOne = 0;
      for (let r = 0; r < b.n; r++) {
        if (t.targetPropensity[r] / b.propensity[r] !== 1) notOne++;
        if (t.targetPropensityItemPosition[r] / b.propensityItemPosition[r] !== 1) notOne++;
        if (t.targetPropensityCascade[r] / b.propensityCascade[r] !== 1) notOne++;
      }
      expect(notOne).toBe(0);
      expect(firstDifference(t.conditionalValue, b.loggingValue)).toBe(-1);
    }
  });

  it('computes the sample truth exactly as a direct recomputation by enumeration over every slate', () => {
    const cases: SlateSynthConfig[] = [
      { ...BASE, n: 6, actions: 4, slateLength: 3 },
      { ...BASE, n: 6, actions: 4, slateLength: 3, reward: 'cascade' },
      { ...BASE, n: 6, actions: 4, slateLength: 4, reward: 'additive', examinationDecay: 1.5 },
      { ...BASE, n: 6, actions: 4, slateLength: 3, logger: 'factorized', reward: 'cascade' },
      { ...BASE, n: 6, actions: 3, slateLength: 3, logger: 'factorized', reward: 'additive' },
    ];
    for (const config of cases) {
      const cfg = resolveSlateConfig(config);
      const world = makeSlateWorld(cfg);
      const { K, L, d } = world;
      const pl = cfg.logger === 'plackett-luce';
      const slates = allSlates(K, L, !pl);
      const theta = Array.from({ length: L }, (_, k) => 1 / (k + 1) ** cfg.examinationDecay);
      const batches = collect(cfg, 4);
      const acc = new SlateSampleTruthAccumulator(marginalErrorStatement(cfg));
      batches.forEach((b) => acc.add(b));
      const truth = acc.result();
      const policies = [
        { scores: world.logging, temperature: cfg.loggingTemperature },
        ...cfg.targets.map((t) => ({ scores: t.scores === 'logging' ? world.logging : world.truth, temperature: t.temperature })),
      ];
      const sums = policies.map(() => 0);
      let rewardSum = 0;
      for (const b of batches) {
        for (let s = 0; s < b.slates; s++) {
          const x = b.context.subarray(s * L * d, s * L * d + d);
          const click = scores(world.truth, x).map(sigmoid);
          const logged = Array.from(b.action.subarray(s * L, (s + 1) * L));
          policies.forEach((p, i) => {
            const sc = scores(p.scores, x);
            const slots = pl ? null : factorizedSlots(sc, world, p.temperature);
            const prob = (slate: readonly number[]): number => (slots === null ? plackettLuce(sc, p.temperature, slate) : slate.reduce((q, a, k) => q * slots[k][a], 1));
            let total = 0;
            let value = 0;
            for (const slate of slates) {
              total += prob(slate);
              value += prob(slate) * slateValue(slate, click, cfg.reward, theta);
            }
            expect(Math.abs(total - 1)).toBeLessThan(1e-12);
            sums[i] += value;
            const written = i === 0 ? b.loggingValue[s] : b.targets[i - 1].conditionalValue[s];
            expect(relErr(written, value), `${cfg.logger}/${cfg.reward} policy ${i}`).toBeLessThan(1e-12);
            const joint = i === 0 ? b.propensity[s * L] : b.targets[i - 1].targetPropensity[s * L];
            expect(relErr(joint, prob(logged))).toBeLessThan(1e-12);
          });
          for (let k = 0; k < L; k++) rewardSum += b.reward[s * L + k];
        }
      }
      expect(relErr(truth.logging.value, sums[0] / cfg.n)).toBeLessThan(1e-12);
      truth.targets.forEach((t, i) => expect(relErr(t.value, sums[i + 1] / cfg.n)).toBeLessThan(1e-12));
      expect(truth.meanSlateReward).toBe(rewardSum / cfg.n);
      expect(truth.exact).toBe(true);
      expect(truth.logging.se).toBe(0);
    }
  });

  it("puts the logger's sample truth within 4 standard errors of the mean observed slate reward", () => {
    for (const reward of ['independent', 'cascade', 'additive'] as const) {
      const cfg = resolveSlateConfig({ ...BASE, reward, n: 6000, clickBias: -1.5 });
      const acc = new SlateSampleTruthAccumulator(marginalErrorStatement(cfg));
      let sumSq = 0;
      for (const b of generateSlateLog(cfg, 2000)) {
        acc.add(b);
        for (let s = 0; s < b.slates; s++) {
          let r = 0;
          for (let k = 0; k < b.L; k++) r += b.reward[s * b.L + k];
          sumSq += (r - b.loggingValue[s]) ** 2;
        }
      }
      const truth = acc.result();
      const se = Math.sqrt(sumSq) / truth.n;
      expect(Math.abs(truth.meanSlateReward - truth.logging.value), reward).toBeLessThan(4 * se);
    }
  });
});

// ------------------------------------------------------------ propensity_item_positions (pbm-ips)

describe("propensity_item_positions: the marginals of the row's item at every position", () => {
  it('match enumeration over every slate, for the logger and every target (Plackett-Luce and factorized)', () => {
    const self: SlateTargetSpec = { kind: 'plackett-luce', temperature: 1, scores: 'logging', name: 'self' };
    const cases: SlateSynthConfig[] = [
      { ...BASE, n: 10, actions: 4, slateLength: 3 },
      // K = L: every slate holds every item, so each position's marginals over the slate's rows sum to 1.
      { ...BASE, n: 10, actions: 3, slateLength: 3 },
      { ...BASE, n: 10, actions: 5, slateLength: 2, targets: [{ kind: 'plackett-luce', temperature: 0.5 }, self] },
      {
        ...BASE,
        n: 10,
        actions: 3,
        slateLength: 3,
        logger: 'factorized',
        targets: [
          { kind: 'factorized', temperature: 0.7 },
          { ...self, kind: 'factorized' },
        ],
      },
    ];
    for (const config of cases) {
      const cfg = resolveSlateConfig(config);
      const world = makeSlateWorld(cfg);
      const { K, L, d } = world;
      const pl = cfg.logger === 'plackett-luce';
      const label = `${cfg.logger} K=${K} L=${L}`;
      const slates = allSlates(K, L, !pl);
      const policies = [
        { scores: world.logging, temperature: cfg.loggingTemperature },
        ...cfg.targets.map((t) => ({ scores: t.scores === 'logging' ? world.logging : world.truth, temperature: t.temperature })),
      ];
      let worstEntry = 0;
      let worstTotal = 0;
      let worstColumn = 0;
      let ownMismatch = 0;
      let overOne = 0;
      for (const b of collect(cfg, 4)) {
        expect(b.propensityItemPositions.length).toBe(b.n * L);
        for (let s = 0; s < b.slates; s++) {
          const x = b.context.subarray(s * L * d, s * L * d + d);
          policies.forEach((p, i) => {
            const sc = scores(p.scores, x);
            const slots = pl ? null : factorizedSlots(sc, world, p.temperature);
            const prob = (slate: readonly number[]): number => (slots === null ? plackettLuce(sc, p.temperature, slate) : slate.reduce((q, a, k) => q * slots[k][a], 1));
            // marginal[j][a] = P(a at j); shown[a] = P(a in the slate); count[a] = E[times a is shown].
            const marginal = Array.from({ length: L }, () => new Array<number>(K).fill(0));
            const shown = new Array<number>(K).fill(0);
            const count = new Array<number>(K).fill(0);
            for (const slate of slates) {
              const q = prob(slate);
              slate.forEach((a, j) => {
                marginal[j][a] += q;
                count[a] += q;
              });
              for (const a of new Set(slate)) shown[a] += q;
            }
            const list = i === 0 ? b.propensityItemPositions : b.targets[i - 1].targetPropensityItemPositions;
            const own = i === 0 ? b.propensityItemPosition : b.targets[i - 1].targetPropensityItemPosition;
            const column = new Array<number>(L).fill(0);
            for (let k = 0; k < L; k++) {
              const r = s * L + k;
              const a = b.action[r];
              let total = 0;
              for (let j = 0; j < L; j++) {
                const v = list[r * L + j];
                worstEntry = Math.max(worstEntry, Math.abs(v - marginal[j][a]));
                total += v;
                column[j] += v;
              }
              if (!Object.is(list[r * L + k], own[r])) ownMismatch++;
              // Without repeats the positions are disjoint events: the sum is P(a in the slate) <= 1.
              // With repeats (factorized) it is the expected number of times a is shown, >= P(a shown).
              if (pl) {
                worstTotal = Math.max(worstTotal, Math.abs(total - shown[a]));
                if (total > 1 + 1e-12) overOne++;
              } else {
                worstTotal = Math.max(worstTotal, Math.abs(total - count[a]));
                if (total < shown[a] - 1e-12) overOne++;
              }
            }
            // The logged items of a Plackett-Luce slate are distinct, so at each position their
            // marginals sum to at most 1, exactly 1 when they are all K items.
            if (pl) for (let j = 0; j < L; j++) worstColumn = Math.max(worstColumn, K === L ? Math.abs(column[j] - 1) : Math.max(0, column[j] - 1));
          });
        }
        b.targets.forEach((t) => {
          if (t.sameAsLogger) expect(firstDifference(t.targetPropensityItemPositions, b.propensityItemPositions), label).toBe(-1);
        });
      }
      expect({ label, ownMismatch, overOne }).toEqual({ label, ownMismatch: 0, overOne: 0 });
      expect(worstEntry, label).toBeLessThan(1e-12);
      expect(worstTotal, label).toBeLessThan(1e-12);
      expect(worstColumn, label).toBeLessThan(1e-12);
    }
  });

  it("with Monte Carlo marginals: position 0 exact, every other entry within truth.json's max_abs_error_bound, the own entry the written propensity", () => {
    const cfg = resolveSlateConfig({ ...BASE, n: 300, actions: 6, slateLength: 4, marginals: 'monte-carlo', marginalSamples: 200 });
    const h = marginalErrorStatement(cfg).max_abs_error_bound;
    const [mc] = collect(cfg, 300);
    const [exact] = collect({ ...cfg, marginals: 'exact' }, 300);
    const L = mc.L;
    const lists: Array<[Float64Array, Float64Array, Float64Array]> = [
      [mc.propensityItemPositions, exact.propensityItemPositions, mc.propensityItemPosition],
      ...mc.targets.map((t, i): [Float64Array, Float64Array, Float64Array] => [t.targetPropensityItemPositions, exact.targets[i].targetPropensityItemPositions, t.targetPropensityItemPosition]),
    ];
    let worstFirst = 0;
    let worstOther = 0;
    let ownMismatch = 0;
    for (const [estimate, truth, own] of lists) {
      for (let r = 0; r < mc.n; r++) {
        for (let j = 0; j < L; j++) {
          const diff = Math.abs(estimate[r * L + j] - truth[r * L + j]);
          if (j === 0) worstFirst = Math.max(worstFirst, diff);
          else worstOther = Math.max(worstOther, diff);
        }
        if (!Object.is(estimate[r * L + mc.position[r]], own[r])) ownMismatch++;
      }
    }
    expect(ownMismatch).toBe(0);
    expect(worstFirst).toBeLessThan(1e-15);
    expect(worstOther).toBeGreaterThan(0);
    expect(worstOther).toBeLessThanOrEqual(h);
  });
});

// ------------------------------------------------------------ closed forms and marginals

/** A policy with a random context, for the closed-form checks. */
function plPolicy(K: number, L: number, lattice: PrefixLattice | null, seed: number, temperature = 0.7): { policy: PlackettLucePolicy; s: number[] } {
  const rand = lcg(seed);
  const d = 2;
  const theta = Float64Array.from({ length: K * d }, () => 2 * rand() - 1);
  const bias = Float64Array.from({ length: K }, () => 2 * rand() - 1);
  const x = Float64Array.from({ length: d }, () => 2 * rand() - 1);
  const policy = new PlackettLucePolicy({ K, d, theta, bias }, L, temperature, lattice);
  policy.setContext(x, 0);
  return { policy, s: scores({ K, d, theta, bias }, x) };
}

function modelWith(K: number, L: number, structure: 'independent' | 'cascade' | 'additive', seed: number): SlateRewardModel {
  const model = newRewardModel(structure, K, L, 1);
  const rand = lcg(seed);
  for (let a = 0; a < K; a++) model.click[a] = rand();
  return model;
}

describe('Plackett-Luce closed forms', () => {
  it('sums the closed-form joint probabilities of every slate to 1, and the lattice marginals match enumeration', () => {
    for (const [K, L] of [
      [4, 4],
      [5, 3],
      [7, 2],
      [6, 1],
    ]) {
      const lattice = new PrefixLattice(K, L);
      expect(lattice.counts.reduce((x, y) => x + y, 0)).toBe(prefixSetCount(K, L));
      for (let seed = 1; seed <= 3; seed++) {
        const { policy, s } = plPolicy(K, L, lattice, seed);
        const slates = allSlates(K, L, false);
        const cascade = new Float64Array(L);
        const enumerated = new Float64Array(L * K);
        const shown = new Float64Array(K);
        let total = 0;
        for (const slate of slates) {
          policy.followSlate(Int32Array.from(slate), 0, cascade, 0, null, 0);
          const p = cascade[L - 1];
          expect(relErr(p, plackettLuce(s, 0.7, slate))).toBeLessThan(1e-12);
          total += p;
          slate.forEach((a, k) => {
            enumerated[k * K + a] += p;
            shown[a] += p;
          });
        }
        expect(Math.abs(total - 1)).toBeLessThan(1e-12);
        const model = modelWith(K, L, 'independent', seed);
        const marginals = new Float64Array(L * K);
        policy.evaluate(model, marginals, null, 0);
        for (let i = 0; i < L * K; i++) expect(Math.abs(marginals[i] - enumerated[i])).toBeLessThan(1e-14);
        for (let k = 0; k < L; k++) expect(Math.abs(marginals.subarray(k * K, (k + 1) * K).reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-12);
        for (let a = 0; a < K; a++) {
          let overPositions = 0;
          for (let k = 0; k < L; k++) overPositions += marginals[k * K + a];
          expect(Math.abs(overPositions - shown[a])).toBeLessThan(1e-12);
        }
        // Cascade value from the lattice = enumeration of 1 - prod (1 - c).
        const cascadeModel = modelWith(K, L, 'cascade', seed + 10);
        const v = policy.evaluate(cascadeModel, marginals, null, 0).value;
        const direct = slates.reduce((acc, slate) => acc + plackettLuce(s, 0.7, slate) * slateValue(slate, Array.from(cascadeModel.click), 'cascade', []), 0);
        expect(relErr(v, direct)).toBeLessThan(1e-12);
      }
    }
  });

  it('stays a distribution for a very sharp policy whose remaining weights underflow (T = 0.002)', () => {
    const K = 5;
    const L = 4;
    const T = 0.002;
    const lattice = new PrefixLattice(K, L);
    const exact = plPolicy(K, L, lattice, 9, T);
    const mc = plPolicy(K, L, null, 9, T);
    // The scores are spread enough that some items weigh exp(-500) or less relative to the best.
    const spread = (Math.max(...exact.s) - Math.min(...exact.s)) / T;
    expect(spread).toBeGreaterThan(461);
    /** Plackett-Luce in log space, shifted at every step, as the reference. */
    const logProb = (slate: readonly number[]): number => {
      const left = new Set(exact.s.map((_, a) => a));
      let lp = 0;
      for (const a of slate) {
        const m = Math.max(...[...left].map((b) => exact.s[b] / T));
        const lse = m + Math.log([...left].reduce((acc, b) => acc + Math.exp(exact.s[b] / T - m), 0));
        lp += exact.s[a] / T - lse;
        left.delete(a);
      }
      return lp;
    };
    const enumerated = new Float64Array(L * K);
    const cascade = new Float64Array(L);
    const slotDist = new Float64Array(L * K);
    for (const slate of allSlates(K, L, false)) {
      const p = Math.exp(logProb(slate));
      slate.forEach((a, k) => (enumerated[k * K + a] += p));
      exact.policy.followSlate(Int32Array.from(slate), 0, cascade, 0, slotDist, 0);
      for (let k = 0; k < L; k++) {
        expect(Math.abs(slotDist.subarray(k * K, (k + 1) * K).reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-12);
      }
      if (p > 1e-300) expect(relErr(cascade[L - 1], p)).toBeLessThan(1e-9);
    }
    const model = modelWith(K, L, 'cascade', 3);
    const m1 = new Float64Array(L * K);
    const m2 = new Float64Array(L * K);
    const v1 = exact.policy.evaluate(model, m1, null, 0);
    const v2 = mc.policy.evaluate(model, m2, blockStream(2, 'sharp', 0), 300);
    for (let i = 0; i < L * K; i++) {
      expect(Math.abs(m1[i] - enumerated[i])).toBeLessThan(1e-12);
      expect(Math.abs(m2[i] - m1[i])).toBeLessThanOrEqual(hoeffdingBound(300, L * K, 0.95));
    }
    for (let k = 0; k < L; k++) expect(Math.abs(m2.subarray(k * K, (k + 1) * K).reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-12);
    expect(Number.isFinite(v1.value) && Number.isFinite(v2.value)).toBe(true);
    expect(Math.abs(v1.value - v2.value)).toBeLessThanOrEqual(5 * Math.sqrt(v2.variance) + 1e-12);
  });

  it('samples slates with the closed-form probabilities (chi-square over all 60 slates)', () => {
    const K = 5;
    const L = 3;
    const { policy, s } = plPolicy(K, L, null, 4, 1);
    const slates = allSlates(K, L, false);
    const counts = new Map<string, number>();
    const rng = blockStream(1, 'test', 0);
    const slate = new Int32Array(L);
    const draws = 60_000;
    for (let i = 0; i < draws; i++) {
      policy.sampleInto(rng, slate, 0);
      const key = slate.join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    let chi2 = 0;
    for (const sl of slates) {
      const expected = draws * plackettLuce(s, 1, sl);
      chi2 += ((counts.get(sl.join(',')) ?? 0) - expected) ** 2 / expected;
    }
    // 59 degrees of freedom: the 0.999 quantile is about 99.6.
    expect(chi2).toBeLessThan(99.6);
  });

  it('keeps Monte Carlo marginals within the stated Hoeffding bound of the exact ones', () => {
    const K = 6;
    const L = 4;
    const samples = 400;
    const lattice = new PrefixLattice(K, L);
    const contexts = 30;
    const entries = contexts * (L - 1) * K;
    const bound = hoeffdingBound(samples, entries, 0.95);
    let worst = 0;
    let worstScaled = 0;
    let outsideBernstein = 0;
    let worstValue = 0;
    for (let c = 0; c < contexts; c++) {
      const exact = plPolicy(K, L, lattice, 100 + c);
      const mc = plPolicy(K, L, null, 100 + c);
      for (const structure of ['independent', 'cascade'] as const) {
        const model = modelWith(K, L, structure, c);
        const m1 = new Float64Array(L * K);
        const m2 = new Float64Array(L * K);
        const v1 = exact.policy.evaluate(model, m1, null, 0);
        const v2 = mc.policy.evaluate(model, m2, blockStream(5, 'mc-test', c), samples);
        const ranges = new Float64Array(L * K);
        mc.policy.monteCarloRangesInto(ranges);
        // Slot 0 is never sampled: its distribution is exact.
        for (let i = 0; i < K; i++) expect(Math.abs(m2[i] - m1[i])).toBeLessThan(1e-15);
        for (let i = 0; i < L * K; i++) {
          worst = Math.max(worst, Math.abs(m1[i] - m2[i]));
          // Each entry within the bound scaled by its terms' range (Hoeffding for terms in [0, u]).
          if (i < K) continue;
          worstScaled = Math.max(worstScaled, Math.abs(m1[i] - m2[i]) / (bound * ranges[i]));
          expect(ranges[i]).toBeGreaterThan(0);
          const interval = bernsteinInterval(m2[i], ranges[i], samples, unionLogTerm(entries, 0.95));
          if (!(m1[i] >= interval.lower && m1[i] <= interval.upper)) outsideBernstein++;
        }
        expect(v2.variance).toBeGreaterThan(0);
        worstValue = Math.max(worstValue, Math.abs(v1.value - v2.value) / Math.sqrt(v2.variance));
      }
    }
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(bound);
    expect(worstScaled).toBeLessThanOrEqual(1);
    expect(outsideBernstein).toBe(0);
    // 60 values: each within 5 of its own Monte Carlo standard errors.
    expect(worstValue).toBeLessThan(5);
  });

  it("holds the generator's Monte Carlo columns within truth.json's max_abs_error_bound of the exact ones", () => {
    const cfg = resolveSlateConfig({ ...BASE, n: 400, actions: 6, slateLength: 4, marginals: 'monte-carlo', marginalSamples: 200 });
    const statement = marginalErrorStatement(cfg);
    expect(statement.method).toBe('monte-carlo');
    expect(statement.entries).toBe(400 * 3 * 6 * 4);
    const [mc] = collect(cfg, 400);
    const [exact] = collect({ ...cfg, marginals: 'exact' }, 400);
    const h = statement.max_abs_error_bound;
    let worst = 0;
    let worstScaled = 0;
    let maxRange = 0;
    for (let r = 0; r < mc.n; r++) {
      const k = mc.position[r];
      const pairs: Array<[number, number, number]> = [
        [mc.propensityItemPosition[r], exact.propensityItemPosition[r], mc.itemPositionRange[r]],
        ...mc.targets.map((t, i): [number, number, number] => [t.targetPropensityItemPosition[r], exact.targets[i].targetPropensityItemPosition[r], t.itemPositionRange[r]]),
      ];
      for (const [estimate, truth, range] of pairs) {
        worst = Math.max(worst, Math.abs(estimate - truth));
        maxRange = Math.max(maxRange, range);
        if (k === 0) expect(range).toBe(0);
        else worstScaled = Math.max(worstScaled, Math.abs(estimate - truth) / (h * range));
      }
    }
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(h);
    expect(worstScaled).toBeLessThanOrEqual(1);
    // The stated IIPS error bound covers the actual difference of IIPS on this log.
    const accumulator = new SlateSampleTruthAccumulator(statement);
    accumulator.add(mc);
    const truth = accumulator.result();
    expect(truth.loggedItemPositionErrorBound).toBe(h * maxRange);
    mc.targets.forEach((t, i) => {
      let diff = 0;
      for (let r = 0; r < mc.n; r++) {
        diff += mc.reward[r] * (t.targetPropensityItemPosition[r] / mc.propensityItemPosition[r] - exact.targets[i].targetPropensityItemPosition[r] / exact.propensityItemPosition[r]);
      }
      expect(Math.abs(diff / cfg.n)).toBeLessThanOrEqual(truth.targets[i].iipsErrorBound);
      expect(Number.isFinite(truth.targets[i].iipsErrorBound)).toBe(true);
      expect(truth.targets[i].se).toBeGreaterThan(0);
    });
  });

  it('uses exact marginals up to the prefix limit and Monte Carlo beyond it', () => {
    expect(prefixSetCount(10, 5)).toBe(386);
    expect(marginalMethodOf(resolveSlateConfig({ ...BASE, actions: 10, slateLength: 5 }))).toBe('exact');
    expect(marginalMethodOf(resolveSlateConfig({ ...BASE, actions: 100, slateLength: 5 }))).toBe('monte-carlo');
    expect(marginalMethodOf(resolveSlateConfig({ ...BASE, actions: 100, slateLength: 5, logger: 'factorized', targets: [{ kind: 'factorized', temperature: 1 }] }))).toBe('exact');
    expect(marginalMethodOf(resolveSlateConfig({ ...BASE, actions: 10, slateLength: 5, exactPrefixLimit: 100 }))).toBe('monte-carlo');
  });
});

describe('factorized closed forms', () => {
  it('has joint = product of slot probabilities, summing to 1 over all K^L slates, and marginals p_k', () => {
    const cfg = resolveSlateConfig({ ...BASE, actions: 4, slateLength: 3, logger: 'factorized', targets: [{ kind: 'factorized', temperature: 0.6 }] });
    const world = makeSlateWorld(cfg);
    const { K, L } = world;
    const policy = new FactorizedPolicy(world.truth, L, 0.6, world.slotOffset);
    const x = Float64Array.from([0.3, -1.2, 0.5]);
    policy.setContext(x, 0);
    const slots = factorizedSlots(scores(world.truth, x), world, 0.6);
    const cascade = new Float64Array(L);
    const enumerated = new Float64Array(L * K);
    let total = 0;
    for (const slate of allSlates(K, L, true)) {
      policy.followSlate(Int32Array.from(slate), 0, cascade, 0, null, 0);
      total += cascade[L - 1];
      expect(
        relErr(
          cascade[L - 1],
          slate.reduce((p, a, k) => p * slots[k][a], 1),
        ),
      ).toBeLessThan(1e-12);
      slate.forEach((a, k) => (enumerated[k * K + a] += cascade[L - 1]));
    }
    expect(Math.abs(total - 1)).toBeLessThan(1e-12);
    const marginals = new Float64Array(L * K);
    policy.evaluate(modelWith(K, L, 'independent', 1), marginals);
    for (let i = 0; i < L * K; i++) expect(Math.abs(marginals[i] - enumerated[i])).toBeLessThan(1e-14);
  });
});

// ------------------------------------------------------------ files and CLI

describe('writeSlateSynth', () => {
  it('writes the log, aligned policy files and truth.json with the contract column names', async () => {
    const cfg: SlateSynthConfig = { ...BASE, n: 300, reward: 'additive', examinationDecay: 1 };
    const [expected] = collect(cfg, 300);
    const dir = await mkdtemp(join(tmpdir(), 'ope-slate-synth-'));
    try {
      for (const format of ['arrow', 'csv'] as const) {
        const out = join(dir, format);
        const result = await writeSlateSynth(cfg, { outDir: out, format, batchSlates: 77 });
        const names = expected.targets.map((t) => t.name);
        expect(names).toEqual(['pl-1', 'pl-0.5', 'pl-logger-2']);
        expect((await readdir(out)).sort()).toEqual([`log.${format}`, ...names.map((t) => `policy-${t}.${format}`), 'truth.json'].sort());
        const truth = JSON.parse(await readFile(join(out, 'truth.json'), 'utf8')) as SlateSynthTruth;
        expect(truth).toEqual(result.truth);
        expect(truth).toMatchObject({ kind: 'slate', n: 300, n_rows: 900, L: 3, K: 6, d: 3, reward_structure: 'additive', value_sample_exact: true });
        expect(truth.examination).toEqual([1, 1 / 2, 1 / 3]);
        expect(truth.marginals).toMatchObject({ method: 'exact', max_abs_error_bound: 0, prefix_sets: prefixSetCount(6, 3) });
        expect(truth.targets.map((t) => t.file)).toEqual(names.map((t) => `policy-${t}.${format}`));
        for (const t of truth.targets) {
          expect(Math.abs(t.value_population - t.value_sample)).toBeLessThan(0.2);
          expect(t.value_sample_se).toBe(0);
          expect(t.iips_error_bound).toBe(0);
        }
        if (format === 'csv') {
          const header = (await readFile(join(out, 'log.csv'), 'utf8')).split('\n')[0];
          expect(header.split(',').slice(0, 11)).toEqual([
            'slate_id',
            'position',
            'action',
            'reward',
            'propensity',
            'propensity_item_position',
            'propensity_cascade',
            'propensity_item_positions_0',
            'propensity_item_positions_1',
            'propensity_item_positions_2',
            'context_0',
          ]);
          const policyHeader = (await readFile(join(out, truth.targets[0].file), 'utf8')).split('\n')[0];
          expect(policyHeader.split(',').slice(0, 7)).toEqual([
            'target_propensity',
            'target_propensity_item_position',
            'target_propensity_cascade',
            'target_propensity_item_positions_0',
            'target_propensity_item_positions_1',
            'target_propensity_item_positions_2',
            'action_dist_0',
          ]);
          continue;
        }
        const log = tableFromIPC(await readFile(join(out, 'log.arrow')));
        expect(log.numRows).toBe(900);
        const col = (name: string): number[] => Array.from(log.getChild(name)?.toArray() as ArrayLike<number>);
        expect(firstDifference(col('slate_id'), expected.slateId)).toBe(-1);
        expect(firstDifference(col('position'), expected.position)).toBe(-1);
        expect(firstDifference(col('action'), expected.action)).toBe(-1);
        expect(firstDifference(col('reward'), expected.reward)).toBe(-1);
        expect(firstDifference(col('propensity'), expected.propensity)).toBe(-1);
        expect(firstDifference(col('propensity_item_position'), expected.propensityItemPosition)).toBe(-1);
        expect(firstDifference(col('propensity_cascade'), expected.propensityCascade)).toBe(-1);
        expect(firstDifference(col('expected_reward_logged'), expected.expectedRewardLogged)).toBe(-1);
        expect(log.schema.fields.map((f) => f.name)).toEqual([
          'slate_id',
          'position',
          'action',
          'reward',
          'propensity',
          'propensity_item_position',
          'propensity_cascade',
          'propensity_item_positions',
          'context',
          'q_hat',
          'expected_reward_logged',
        ]);
        const policy = tableFromIPC(await readFile(join(out, truth.targets[1].file)));
        expect(policy.schema.fields.map((f) => f.name)).toEqual([
          'target_propensity',
          'target_propensity_item_position',
          'target_propensity_cascade',
          'target_propensity_item_positions',
          'action_dist',
        ]);
        const pcol = (name: string): number[] => Array.from(policy.getChild(name)?.toArray() as ArrayLike<number>);
        expect(firstDifference(pcol('target_propensity'), expected.targets[1].targetPropensity)).toBe(-1);
        expect(firstDifference(pcol('target_propensity_item_position'), expected.targets[1].targetPropensityItemPosition)).toBe(-1);
        expect(firstDifference(pcol('target_propensity_cascade'), expected.targets[1].targetPropensityCascade)).toBe(-1);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('writeSlateSynth with Monte Carlo marginals', () => {
  it('states the method, sample count, error bounds and Monte Carlo standard errors in truth.json', async () => {
    const cfg: SlateSynthConfig = {
      ...BASE,
      n: 200,
      marginals: 'monte-carlo',
      marginalSamples: 50,
      targets: [
        { kind: 'plackett-luce', temperature: 0.5 },
        { kind: 'plackett-luce', temperature: 1, scores: 'logging' },
      ],
    };
    const dir = await mkdtemp(join(tmpdir(), 'ope-slate-mc-'));
    try {
      const { truth } = await writeSlateSynth(cfg, { outDir: dir, format: 'jsonl' });
      expect(truth.marginals).toMatchObject({ method: 'monte-carlo', samples: 50, entries: 200 * 2 * 6 * 2, confidence: 0.95, stream: '11:marginals:<block>' });
      expect(truth.marginals.max_abs_error_bound).toBeCloseTo(hoeffdingBound(50, 200 * 2 * 6 * 2, 0.95), 15);
      expect(truth.marginals.per_entry_error_bound).toBeLessThan(truth.marginals.max_abs_error_bound);
      expect(truth.value_sample_exact).toBe(false);
      expect(truth.logging_value_se).toBeGreaterThan(0);
      expect(truth.targets[0]).toMatchObject({ name: 'pl-0.5', same_as_logger: false });
      expect(truth.targets[0].value_sample_se).toBeGreaterThan(0);
      expect(truth.targets[0].iips_error_bound).toBeGreaterThan(0);
      // The logger as a target: its weights are exactly 1, so the IIPS bound is 0.
      expect(truth.targets[1]).toMatchObject({ name: 'pl-logger-1', same_as_logger: true, iips_error_bound: 0, value_sample: truth.logging_value });
      const first = JSON.parse((await readFile(join(dir, 'log.jsonl'), 'utf8')).split('\n')[0]) as Record<string, unknown>;
      expect(Object.keys(first)).toEqual([
        'slate_id',
        'position',
        'action',
        'reward',
        'propensity',
        'propensity_item_position',
        'propensity_cascade',
        'propensity_item_positions',
        'context',
        'q_hat',
        'expected_reward_logged',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ope synth --slate options', () => {
  afterEach(() => vi.restoreAllMocks());

  it('parses targets and defaults', () => {
    expect(parseSlateTargetList('pl:0.5, best=pl-logger:2,factorized:1')).toEqual([
      { kind: 'plackett-luce', temperature: 0.5 },
      { kind: 'plackett-luce', temperature: 2, scores: 'logging', name: 'best' },
      { kind: 'factorized', temperature: 1 },
    ]);
    const cfg = slateSynthConfigFromOptions({});
    expect(cfg).toMatchObject({ n: 100000, actions: 10, slateLength: 5, dim: 5, logger: 'plackett-luce', reward: 'independent', examinationDecay: 1, marginalSamples: 1000, seed: 12345 });
    expect(cfg.targets.map((t) => t.kind)).toEqual(['plackett-luce', 'plackett-luce', 'plackett-luce']);
    expect(slateSynthConfigFromOptions({ slateLogger: 'factorized' }).targets.map((t) => t.kind)).toEqual(['factorized', 'factorized', 'factorized']);
  });

  it('turns bad values into a UsageError naming the flag', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ slateLength: '11' }, /^--slate-length must be an integer in \[1, 10\]/],
      [{ slateLength: 'x' }, /^--slate-length must be a number/],
      [{ slateLogger: 'softmax' }, /^--slate-logger must be one of plackett-luce, factorized/],
      [{ slateReward: 'dcg' }, /^--slate-reward must be one of independent, cascade, additive/],
      [{ examinationDecay: '-1' }, /^--examination-decay/],
      [{ marginalSamples: '1' }, /^--marginal-samples must be an integer in \[2,/],
      [{ marginals: 'approx' }, /^--marginals must be one of/],
      [{ marginals: 'exact', actions: '5000', slateLength: '4' }, /^--marginals: exact Plackett-Luce marginals/],
      [{ slateTargets: 'softmax:1' }, /^--slate-targets: unknown target 'softmax:1'/],
      [{ slateTargets: 'factorized:1' }, /^--slate-targets: target 'factorized-1' is factorized but the logger is plackett-luce/],
      [{ slateTargets: 'pl:0' }, /^--slate-targets: target 'pl-0': temperature must be a positive number/],
      [{ slateTargets: 'pl:1,pl:1' }, /^--slate-targets: two targets are named 'pl-1'/],
      [{ clickBias: 'nan' }, /^--click-bias must be a number/],
      [{ n: '0' }, /^--n must be an integer in/],
    ];
    for (const [options, message] of cases) {
      let caught: unknown;
      try {
        slateSynthConfigFromOptions(options);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(options)).toBeInstanceOf(UsageError);
      expect((caught as Error).message).toMatch(message);
    }
  });

  it('runs `ope synth --slate` end to end and rejects flags of the other mode with exit 2', async () => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (stdout.push(String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));
    const dir = await mkdtemp(join(tmpdir(), 'ope-slate-cli-'));
    try {
      const out = join(dir, 'run');
      const args = ['node', 'ope', 'synth', '--slate', '--out', out, '--n', '200', '--actions', '5', '--slate-length', '3', '--slate-reward', 'cascade'];
      expect(await run([...args, '--population-samples', '500', '--seed', '4', '--batch-rows', '100'])).toBe(0);
      expect(stdout.join('')).toMatch(/^ope synth --slate: wrote 200 slates \(600 rows; K=5, L=3/);
      const truth = JSON.parse(await readFile(join(out, 'truth.json'), 'utf8')) as SlateSynthTruth;
      expect(truth.reward_structure).toBe('cascade');
      expect(truth.examination).toBeNull();
      expect(await run(['node', 'ope', 'synth', '--slate', '--out', out, '--reward', 'linear'])).toBe(2);
      expect(stderr.join('')).toMatch(/--reward does not apply to --slate/);
      expect(await run(['node', 'ope', 'synth', '--out', out, '--slate-length', '3'])).toBe(2);
      expect(stderr.join('')).toMatch(/--slate-length needs --slate/);
      expect(await run(['node', 'ope', 'synth', '--slate', '--out', out, '--slate-logger', 'nope'])).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
