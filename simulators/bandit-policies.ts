/**
 * Action distributions of the synthetic bandit's policies. Every function writes K probabilities
 * into `out[outOff .. outOff + K)` so that the generator can fill row-major list columns in place,
 * without allocating per row.
 */

export type TargetSpec =
  | { kind: 'softmax'; temperature: number; name?: string }
  | { kind: 'epsilon-greedy'; epsilon: number; name?: string }
  | { kind: 'uniform'; name?: string };

/** From sharp to flat, so the default run spans weak to strong overlap with the logger. */
export const DEFAULT_TARGETS: readonly TargetSpec[] = [
  { kind: 'softmax', temperature: 0.1 },
  { kind: 'softmax', temperature: 0.5 },
  { kind: 'softmax', temperature: 1 },
  { kind: 'epsilon-greedy', epsilon: 0.1 },
  { kind: 'uniform' },
];

/** Names become file names (`policy-<name>.<ext>`), hence the restricted alphabet. */
const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

/** The name a target is reported and written under; mirrors the CLI syntax (`softmax:0.1` -> `softmax-0.1`). */
export function targetName(spec: TargetSpec): string {
  if (spec.name !== undefined) return spec.name;
  switch (spec.kind) {
    case 'softmax':
      return `softmax-${spec.temperature}`;
    case 'epsilon-greedy':
      return `eps-${spec.epsilon}`;
    case 'uniform':
      return 'uniform';
  }
}

/** Throws RangeError naming the first invalid target. */
export function validateTargets(targets: readonly TargetSpec[]): void {
  const seen = new Set<string>();
  for (const spec of targets) {
    const name = targetName(spec);
    if (!NAME_PATTERN.test(name)) throw new RangeError(`target name '${name}' may contain only letters, digits, '.', '_' and '-'`);
    if (seen.has(name)) throw new RangeError(`two targets are named '${name}'; give them different names`);
    seen.add(name);
    if (spec.kind === 'softmax' && !(spec.temperature > 0 && Number.isFinite(spec.temperature))) {
      throw new RangeError(`target '${name}': softmax temperature must be a positive number, got ${spec.temperature}`);
    }
    if (spec.kind === 'epsilon-greedy' && !(spec.epsilon >= 0 && spec.epsilon <= 1)) {
      throw new RangeError(`target '${name}': epsilon must be in [0, 1], got ${spec.epsilon}`);
    }
  }
}

/** pi(a) proportional to exp(score_a / temperature), shifted by the maximum so exp never overflows. */
export function softmaxInto(scores: Float64Array, scoresOff: number, K: number, temperature: number, out: Float64Array, outOff: number): void {
  let max = -Infinity;
  for (let a = 0; a < K; a++) if (scores[scoresOff + a] > max) max = scores[scoresOff + a];
  // Multiplying by reciprocals: divisions dominated the generator's profile.
  const inverseTemperature = 1 / temperature;
  let total = 0;
  for (let a = 0; a < K; a++) {
    const e = Math.exp((scores[scoresOff + a] - max) * inverseTemperature);
    out[outOff + a] = e;
    total += e;
  }
  const inverseTotal = 1 / total;
  for (let a = 0; a < K; a++) out[outOff + a] *= inverseTotal;
}

/** Mixes in the uniform distribution so that every probability is at least `floor` (floor <= 1/K). */
export function applyFloor(p: Float64Array, off: number, K: number, floor: number): void {
  if (floor === 0) return;
  const keep = 1 - K * floor;
  for (let a = 0; a < K; a++) p[off + a] = floor + keep * p[off + a];
}

/** Ties go to the lowest index; with continuous rewards they have probability zero. */
function argmax(values: Float64Array, off: number, K: number): number {
  let best = 0;
  for (let a = 1; a < K; a++) if (values[off + a] > values[off + best]) best = a;
  return best;
}

/** The target's pi(. | x) given the true expected rewards mu(x, .). */
export function targetPolicyInto(spec: TargetSpec, mu: Float64Array, muOff: number, K: number, out: Float64Array, outOff: number): void {
  switch (spec.kind) {
    case 'softmax':
      softmaxInto(mu, muOff, K, spec.temperature, out, outOff);
      return;
    case 'epsilon-greedy': {
      const explore = spec.epsilon / K;
      for (let a = 0; a < K; a++) out[outOff + a] = explore;
      out[outOff + argmax(mu, muOff, K)] += 1 - spec.epsilon;
      return;
    }
    case 'uniform':
      for (let a = 0; a < K; a++) out[outOff + a] = 1 / K;
      return;
  }
}

/**
 * Inverse-CDF draw with u in [0, 1). Zero-probability actions are never chosen, also when rounding
 * leaves the cumulative sum just below u: then the last action with positive probability is taken.
 */
export function sampleAction(p: Float64Array, off: number, K: number, u: number): number {
  let cumulative = 0;
  let lastPositive = 0;
  for (let a = 0; a < K; a++) {
    const pa = p[off + a];
    if (pa > 0) {
      cumulative += pa;
      lastPositive = a;
      if (u < cumulative) return a;
    }
  }
  return lastPositive;
}

export function dot(p: Float64Array, pOff: number, q: Float64Array, qOff: number, K: number): number {
  let s = 0;
  for (let a = 0; a < K; a++) s += p[pOff + a] * q[qOff + a];
  return s;
}
