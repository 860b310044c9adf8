import { UsageError } from '../src/data/errors.js';
import type { Estimator } from './estimator.js';
import { directMethod } from './dm.js';
import { inversePropensityScoring } from './ips.js';
import { selfNormalizedIps } from './snips.js';
import { clippedIps } from './clipped-ips.js';
import { subGaussianIps } from './sg-ips.js';
import { doublyRobust } from './dr.js';
import { selfNormalizedDoublyRobust } from './sndr.js';
import { switchDoublyRobust } from './switch-dr.js';
import { doublyRobustOptimisticShrinkage } from './dr-os.js';
import { slateIps } from './slate-ips.js';
import { independentIps } from './iips.js';
import { rewardInteractionIps } from './rips.js';
import { pseudoInverse } from './pi.js';
import { pbmIps } from './pbm-ips.js';
import { cascadeDoublyRobust } from './cascade-dr.js';

interface Entry {
  /** Parameter names with their defaults, in label order. */
  readonly defaults: Readonly<Record<string, number>>;
  /** Parameters beyond `defaults` whose names match (pbm-ips' theta0, theta1, ...). */
  readonly paramPattern?: RegExp;
  /** How to write the parameters, for errors. */
  readonly paramHint?: string;
  /** Included in 'all' / 'all-slate' (false when it has required parameters). */
  readonly inAll?: false;
  /** Parameter domain, checked before construction. */
  readonly check?: (p: Record<string, number>) => string | undefined;
  readonly make: (p: Record<string, number>) => Estimator;
  readonly needsRewardModel: boolean;
  readonly summary: string;
  /** Bandit logs (one row per decision) or slate logs (one row per slate and position). */
  readonly family: 'bandit' | 'slate';
}

/**
 * Defaults are stated, not tuned: clip = tau = 100 and the sg-ips / dr-os settings that cap the
 * effective weight near 100 too, so that the four "tamed" estimators agree on how much weight one
 * row may carry. (OBP's defaults are no-ops: lambda_ = inf for IPS/Switch-DR, 0 for SG-IPS.)
 */
const REGISTRY: Readonly<Record<string, Entry>> = {
  dm: { defaults: {}, make: () => directMethod(), needsRewardModel: true, summary: 'direct method, mean of sum_a pi(a|x) q_hat(x,a)', family: 'bandit' },
  ips: { defaults: {}, make: () => inversePropensityScoring(), needsRewardModel: false, summary: 'inverse propensity scoring', family: 'bandit' },
  snips: { defaults: {}, make: () => selfNormalizedIps(), needsRewardModel: false, summary: 'self-normalized IPS', family: 'bandit' },
  'clipped-ips': {
    defaults: { clip: 100 },
    check: (p) => (p.clip > 0 ? undefined : 'clip must be > 0'),
    make: (p) => clippedIps({ clip: p.clip }),
    needsRewardModel: false,
    summary: 'IPS with weights clipped at clip',
    family: 'bandit',
  },
  'sg-ips': {
    defaults: { lambda: 0.01 },
    check: (p) => (p.lambda >= 0 && p.lambda <= 1 ? undefined : 'lambda must be in [0, 1]'),
    make: (p) => subGaussianIps({ lambda: p.lambda }),
    needsRewardModel: false,
    summary: 'subgaussian IPS, weight w/((1-lambda)+lambda w)',
    family: 'bandit',
  },
  dr: { defaults: {}, make: () => doublyRobust(), needsRewardModel: true, summary: 'doubly robust', family: 'bandit' },
  sndr: { defaults: {}, make: () => selfNormalizedDoublyRobust(), needsRewardModel: true, summary: 'self-normalized doubly robust', family: 'bandit' },
  'switch-dr': {
    defaults: { tau: 100 },
    check: (p) => (p.tau >= 0 ? undefined : 'tau must be >= 0'),
    make: (p) => switchDoublyRobust({ tau: p.tau }),
    needsRewardModel: true,
    summary: 'DR that falls back to DM where w > tau',
    family: 'bandit',
  },
  'dr-os': {
    defaults: { lambda: 10000 },
    check: (p) => (p.lambda >= 0 ? undefined : 'lambda must be >= 0'),
    make: (p) => doublyRobustOptimisticShrinkage({ lambda: p.lambda }),
    needsRewardModel: true,
    summary: 'DR with optimistic shrinkage, weight lambda w/(w^2+lambda)',
    family: 'bandit',
  },
  'slate-ips': { defaults: {}, make: () => slateIps(), needsRewardModel: false, summary: 'standard slate IPS, joint slate weights', family: 'slate' },
  iips: { defaults: {}, make: () => independentIps(), needsRewardModel: false, summary: 'independent IPS, item-position weights', family: 'slate' },
  rips: { defaults: {}, make: () => rewardInteractionIps(), needsRewardModel: false, summary: 'reward-interaction IPS, prefix (cascade) weights', family: 'slate' },
  pi: { defaults: {}, make: () => pseudoInverse(), needsRewardModel: false, summary: 'pseudo-inverse, (sum_k w_ip - L + 1) x slate reward (factorized logger)', family: 'slate' },
  'pbm-ips': {
    defaults: {},
    paramPattern: /^theta\d+$/,
    paramHint: 'pbm-ips:theta0=1,theta1=0.6,theta2=0.45 (one examination probability per position, top first)',
    inAll: false,
    check: (p) => thetaProblem(p),
    make: (p) => pbmIps({ theta: thetaOf(p) }),
    needsRewardModel: false,
    summary: 'position-based-model IPS with examination probabilities theta0..theta{L-1}',
    family: 'slate',
  },
  'cascade-dr': { defaults: {}, make: () => cascadeDoublyRobust(), needsRewardModel: true, summary: 'cascade doubly robust, prefix weights + per-slot q_hat', family: 'slate' },
};

/** theta0, theta1, ... in position order. */
function thetaOf(p: Record<string, number>): number[] {
  const n = Object.keys(p).length;
  return Array.from({ length: n }, (_, j) => p[`theta${j}`]);
}

function thetaProblem(p: Record<string, number>): string | undefined {
  const keys = Object.keys(p);
  if (keys.length === 0) return 'needs the examination probability of every position, e.g. pbm-ips:theta0=1,theta1=0.6,theta2=0.45';
  for (let j = 0; j < keys.length; j++) {
    if (!(`theta${j}` in p)) return `examination probabilities must be theta0..theta${keys.length - 1} without gaps; theta${j} is missing`;
  }
  const theta = thetaOf(p);
  if (!theta.every((t) => t >= 0 && Number.isFinite(t))) return 'examination probabilities must be finite and >= 0';
  if (!theta.some((t) => t > 0)) return 'at least one examination probability must be > 0';
  return undefined;
}

export const ESTIMATOR_NAMES: readonly string[] = Object.keys(REGISTRY);

export function estimatorSummary(name: string): string {
  return REGISTRY[name]?.summary ?? '';
}

export function estimatorFamily(name: string): 'bandit' | 'slate' | undefined {
  return REGISTRY[name]?.family;
}

export function estimatorNeedsRewardModel(name: string): boolean {
  return REGISTRY[name]?.needsRewardModel ?? false;
}

/** Parses 'switch-dr:tau=5' (or 'clipped-ips:clip=10,...'); numbers accept 'inf'/'Infinity'. */
export function parseEstimatorSpec(spec: string): Estimator {
  const trimmed = spec.trim();
  const colon = trimmed.indexOf(':');
  const name = colon < 0 ? trimmed : trimmed.slice(0, colon);
  const entry = REGISTRY[name];
  if (entry === undefined) {
    throw new UsageError(`unknown estimator '${name}'; known: ${ESTIMATOR_NAMES.join(', ')}`);
  }
  const params: Record<string, number> = { ...entry.defaults };
  if (colon >= 0) {
    for (const part of trimmed.slice(colon + 1).split(',')) {
      if (part.trim() === '') continue;
      const eq = part.indexOf('=');
      const key = (eq < 0 ? part : part.slice(0, eq)).trim();
      if (!(key in entry.defaults) && !(entry.paramPattern?.test(key) ?? false)) {
        const known = Object.keys(entry.defaults);
        const takes = entry.paramHint ?? (known.length > 0 ? known.join(', ') : 'none');
        throw new UsageError(`estimator '${name}' has no parameter '${key}'; it takes ${takes}`);
      }
      const value = parseNumber(eq < 0 ? '' : part.slice(eq + 1).trim());
      if (value === undefined) throw new UsageError(`estimator '${name}': parameter '${key}' needs a number, got '${part.slice(eq + 1)}'`);
      params[key] = value;
    }
  }
  const problem = entry.check?.(params);
  if (problem !== undefined) throw new UsageError(`estimator '${name}': ${problem}`);
  return entry.make(params);
}

/** Estimators in 'all' (bandit) or 'all-slate', with default parameters; not those with required ones (pbm-ips). */
export function allOfFamily(family: 'bandit' | 'slate'): string[] {
  return ESTIMATOR_NAMES.filter((n) => REGISTRY[n].family === family && REGISTRY[n].inAll !== false);
}

/**
 * 'ips,snips,dr', with 'all' (every bandit estimator, default parameters) and 'all-slate' (every
 * slate estimator that needs no parameter) usable as items: 'all-slate,pbm-ips:theta0=1,theta1=0.5'.
 */
export function parseEstimatorList(list: string): Estimator[] {
  // Split on commas that start a new estimator (a name), not on commas between parameters.
  const specs: string[] = [];
  for (const piece of list.split(',')) {
    const p = piece.trim();
    if (p === '') continue;
    if (specs.length > 0 && /^[A-Za-z_][\w]*\s*=/.test(p) && specs[specs.length - 1].includes(':')) {
      specs[specs.length - 1] += ',' + p;
    } else {
      specs.push(p);
    }
  }
  if (specs.length === 0) throw new UsageError('no estimator given');
  const expanded = specs.flatMap((s) => (s === 'all' ? allOfFamily('bandit') : s === 'all-slate' ? allOfFamily('slate') : [s]));
  return expanded.map(parseEstimatorSpec);
}

function parseNumber(s: string): number | undefined {
  const t = s.toLowerCase();
  if (t === 'inf' || t === 'infinity' || t === '+inf') return Infinity;
  if (t === '') return undefined;
  const v = Number(s);
  return Number.isNaN(v) ? undefined : v;
}
