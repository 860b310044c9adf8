import { UsageError } from '../data/errors.js';
import type { ReadOptions } from '../data/read-log.js';
import type { ReplayLog } from './engine.js';
import type { ReplayPolicySpec } from './policy.js';
import { epsilonGreedy } from './learners/epsilon-greedy.js';
import { loadFixedPolicy } from './learners/fixed.js';
import { linUcb } from './learners/linucb.js';
import { thompsonLinear } from './learners/thompson.js';

/**
 * The `--policy` grammar of `ope replay`:
 *
 *   spec   := learner [ ':' param { ',' param } ] | 'fixed=' FILE
 *   learner:= 'eps' | 'epsilon-greedy' | 'linucb' | 'ts' | 'thompson'
 *   param  := key '=' number
 *
 *   eps:epsilon=0.1            epsilon in [0, 1]                     (default 0.1)
 *   linucb:alpha=1             alpha >= 0                            (default 1)
 *   ts:v=0.5,lambda=1          v > 0 (noise sd, v^2 the noise variance of the linear-Gaussian
 *                              model), lambda > 0 (prior precision)  (defaults 0.5, 1)
 *   fixed=policy.arrow         a policy file aligned with the log (action_dist or target_propensity)
 *
 * The spec as written is the policy's label. Unknown learners, unknown or repeated keys and values
 * out of range are usage errors naming them.
 */
export type LearnerSpec =
  | { readonly kind: 'eps'; readonly label: string; readonly epsilon: number }
  | { readonly kind: 'linucb'; readonly label: string; readonly alpha: number }
  | { readonly kind: 'ts'; readonly label: string; readonly v: number; readonly lambda: number }
  | { readonly kind: 'fixed'; readonly label: string; readonly file: string };

const LEARNERS: Readonly<Record<string, { kind: 'eps' | 'linucb' | 'ts'; params: Readonly<Record<string, number>> }>> = {
  eps: { kind: 'eps', params: { epsilon: 0.1 } },
  'epsilon-greedy': { kind: 'eps', params: { epsilon: 0.1 } },
  linucb: { kind: 'linucb', params: { alpha: 1 } },
  ts: { kind: 'ts', params: { v: 0.5, lambda: 1 } },
  thompson: { kind: 'ts', params: { v: 0.5, lambda: 1 } },
};

export const REPLAY_POLICY_NAMES = ['eps', 'epsilon-greedy', 'linucb', 'ts', 'thompson', 'fixed=FILE'] as const;

export function parseReplayPolicySpec(spec: string): LearnerSpec {
  const label = spec.trim();
  if (label.startsWith('fixed=')) {
    const file = label.slice('fixed='.length);
    if (file === '') throw new UsageError(`--policy '${spec}': fixed=FILE needs a file`);
    return { kind: 'fixed', label, file };
  }
  const colon = label.indexOf(':');
  const name = colon < 0 ? label : label.slice(0, colon);
  const learner = LEARNERS[name];
  if (learner === undefined) throw new UsageError(`--policy '${spec}': unknown policy '${name}'; known: ${REPLAY_POLICY_NAMES.join(', ')}`);
  const values: Record<string, number> = { ...learner.params };
  const seen = new Set<string>();
  if (colon >= 0) {
    const body = label.slice(colon + 1);
    if (body === '') throw new UsageError(`--policy '${spec}': nothing after ':'`);
    for (const part of body.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new UsageError(`--policy '${spec}': '${part}' is not key=value`);
      const key = part.slice(0, eq).trim();
      const text = part.slice(eq + 1).trim();
      if (!(key in learner.params)) throw new UsageError(`--policy '${spec}': unknown parameter '${key}' of ${name}; known: ${Object.keys(learner.params).join(', ')}`);
      if (seen.has(key)) throw new UsageError(`--policy '${spec}': parameter '${key}' is given twice`);
      seen.add(key);
      const v = Number(text);
      if (text === '' || !Number.isFinite(v)) throw new UsageError(`--policy '${spec}': parameter '${key}' needs a finite number, got '${text}'`);
      values[key] = v;
    }
  }
  const bad = (key: string, rule: string): never => {
    throw new UsageError(`--policy '${spec}': parameter '${key}' must be ${rule}, got ${values[key]}`);
  };
  switch (learner.kind) {
    case 'eps':
      if (!(values.epsilon >= 0 && values.epsilon <= 1)) bad('epsilon', 'in [0, 1]');
      return { kind: 'eps', label, epsilon: values.epsilon };
    case 'linucb':
      if (!(values.alpha >= 0)) bad('alpha', '>= 0');
      return { kind: 'linucb', label, alpha: values.alpha };
    case 'ts':
      if (!(values.v > 0)) bad('v', '> 0');
      if (!(values.lambda > 0)) bad('lambda', '> 0');
      return { kind: 'ts', label, v: values.v, lambda: values.lambda };
  }
}

/** Builds the policies of parsed specs; fixed policies read their file (aligned with the log, K actions). */
export async function resolveReplayPolicies(specs: readonly LearnerSpec[], log: ReplayLog & { path: string }, K: number, read?: ReadOptions): Promise<ReplayPolicySpec[]> {
  const out: ReplayPolicySpec[] = [];
  for (const s of specs) {
    switch (s.kind) {
      case 'eps':
        out.push({ label: s.label, factory: epsilonGreedy(s.epsilon) });
        break;
      case 'linucb':
        out.push({ label: s.label, factory: linUcb(s.alpha) });
        break;
      case 'ts':
        out.push({ label: s.label, factory: thompsonLinear(s.v, s.lambda) });
        break;
      case 'fixed':
        out.push(await loadFixedPolicy(s.label, s.file, { path: log.path, batches: () => log.batches() }, K, read));
        break;
    }
  }
  return out;
}
