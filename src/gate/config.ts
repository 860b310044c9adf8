import { UsageError } from '../data/errors.js';
import { readJsonOption } from '../data/read-json.js';

/**
 * The OPE sanity gate's thresholds (issue 7). Starter values, all overridable with
 * `--config gate.json` (an object with any of these keys; unknown keys are a usage error):
 *
 * - estimators: the paired difference candidate - baseline is estimated with each; `primary` is the
 *   one the effect, non-inferiority and slice checks read (default dr when the inputs carry a reward
 *   model, else snips). Estimators the inputs cannot support are left out, and the gate says so.
 * - minEffect: the improvement (in reward per decision) worth shipping for; green when the
 *   difference's lower bound clears it, yellow otherwise.
 * - nonInferiorityMargin: the loss that is tolerated; red when the difference's upper bound lies
 *   below -margin (significantly worse), green when its lower bound lies above -margin, else yellow.
 * - essShare: the candidate's Kish ESS as a share of n; yellow below `yellow`, red below `red`
 *   (0.1 is where the bootstrap coverage study of bench/coverage.ts starts to hold).
 * - meanWeightTolerance: the mean weight's interval should contain 1; when it does not, yellow if
 *   the mean weight is within this distance of 1, else red.
 * - overlap: the target's mass on actions the logger never took (needs the target's action_dist);
 *   yellow above `yellow`, red above `red`.
 * - maturity: rows whose reward_ts is missing and whose event_ts is younger than `windowSeconds`
 *   before the log's end (or `asOf`), and rows whose reward is null, are left out of the estimates;
 *   their share turns yellow above `yellow` and red above `red`.
 * - stability: population stability index (PSI) of the logged action and propensity distributions
 *   between the first and the second half of the log; 0.1 and 0.25 are the usual starter
 *   thresholds (Siddiqi 2006, "Credit risk scorecards").
 * - slices: a slice whose difference interval lies wholly below -nonInferiorityMargin turns the
 *   slice check red; slices with fewer than `minRows` rows are reported but not judged.
 */
export interface GateConfig {
  readonly estimators: readonly string[];
  readonly primary: string | null;
  readonly minEffect: number;
  readonly nonInferiorityMargin: number;
  readonly essShare: { readonly yellow: number; readonly red: number };
  readonly meanWeightTolerance: number;
  readonly overlap: { readonly yellow: number; readonly red: number };
  readonly maturity: { readonly windowSeconds: number; readonly yellow: number; readonly red: number; readonly asOf: number | null };
  readonly stability: { readonly yellow: number; readonly red: number };
  readonly slices: { readonly minRows: number };
  readonly bootstrap: number;
  readonly alpha: number;
  readonly seed: number;
}

export const GATE_DEFAULTS: GateConfig = {
  estimators: ['snips', 'dr', 'switch-dr'],
  primary: null,
  minEffect: 0,
  nonInferiorityMargin: 0,
  essShare: { yellow: 0.1, red: 0.01 },
  meanWeightTolerance: 0.1,
  overlap: { yellow: 0.01, red: 0.05 },
  maturity: { windowSeconds: 7 * 86400, yellow: 0.05, red: 0.2, asOf: null },
  stability: { yellow: 0.1, red: 0.25 },
  slices: { minRows: 1000 },
  bootstrap: 1000,
  alpha: 0.05,
  seed: 12345,
};

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(where: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw new UsageError(`${where} must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  return v;
}

function pair(where: string, v: unknown, base: { yellow: number; red: number }, lo: number, hi: number, order: 'red-below' | 'red-above'): { yellow: number; red: number } {
  if (v === undefined) return base;
  if (!isObject(v)) throw new UsageError(`${where} must be an object {"yellow": .., "red": ..}`);
  for (const k of Object.keys(v)) if (k !== 'yellow' && k !== 'red') throw new UsageError(`${where}: unknown key '${k}'; known: yellow, red`);
  const out = { yellow: v.yellow === undefined ? base.yellow : num(`${where}.yellow`, v.yellow, lo, hi), red: v.red === undefined ? base.red : num(`${where}.red`, v.red, lo, hi) };
  if (order === 'red-below' ? out.red > out.yellow : out.red < out.yellow)
    throw new UsageError(`${where}: red (${out.red}) must be ${order === 'red-below' ? 'at most' : 'at least'} yellow (${out.yellow})`);
  return out;
}

/** The defaults overridden by a parsed gate.json object; throws UsageError naming the bad key. */
export function resolveGateConfig(doc: unknown, where = '--config'): GateConfig {
  if (doc === undefined) return GATE_DEFAULTS;
  if (!isObject(doc)) throw new UsageError(`${where}: must be a JSON object`);
  const known = Object.keys(GATE_DEFAULTS);
  for (const k of Object.keys(doc)) if (!known.includes(k)) throw new UsageError(`${where}: unknown key '${k}'; known: ${known.join(', ')}`);
  const d = GATE_DEFAULTS;
  let estimators = d.estimators;
  if (doc.estimators !== undefined) {
    const e = doc.estimators;
    const list = typeof e === 'string' ? e.split(',').map((s) => s.trim()) : Array.isArray(e) && e.every((x) => typeof x === 'string') ? (e as string[]) : null;
    if (list === null || list.length === 0) throw new UsageError(`${where}: estimators must be a non-empty list of estimator specs`);
    estimators = list;
  }
  let maturity = d.maturity;
  if (doc.maturity !== undefined) {
    const m = doc.maturity;
    if (!isObject(m)) throw new UsageError(`${where}: maturity must be an object`);
    for (const k of Object.keys(m))
      if (!['windowSeconds', 'yellow', 'red', 'asOf'].includes(k)) throw new UsageError(`${where}: maturity: unknown key '${k}'; known: windowSeconds, yellow, red, asOf`);
    const p = pair(`${where}: maturity`, { ...(m.yellow !== undefined ? { yellow: m.yellow } : {}), ...(m.red !== undefined ? { red: m.red } : {}) }, d.maturity, 0, 1, 'red-above');
    maturity = {
      windowSeconds: m.windowSeconds === undefined ? d.maturity.windowSeconds : num(`${where}: maturity.windowSeconds`, m.windowSeconds, 0, 1e10),
      yellow: p.yellow,
      red: p.red,
      asOf: m.asOf === undefined || m.asOf === null ? null : num(`${where}: maturity.asOf`, m.asOf, -1e12, 1e12),
    };
  }
  let slices = d.slices;
  if (doc.slices !== undefined) {
    if (!isObject(doc.slices) || Object.keys(doc.slices).some((k) => k !== 'minRows')) throw new UsageError(`${where}: slices must be {"minRows": n}`);
    slices = { minRows: doc.slices.minRows === undefined ? d.slices.minRows : num(`${where}: slices.minRows`, doc.slices.minRows, 0, 1e12) };
  }
  const primary = doc.primary === undefined || doc.primary === null ? null : typeof doc.primary === 'string' ? doc.primary : null;
  if (doc.primary !== undefined && doc.primary !== null && typeof doc.primary !== 'string') throw new UsageError(`${where}: primary must be an estimator name`);
  const bootstrap = doc.bootstrap === undefined ? d.bootstrap : num(`${where}: bootstrap`, doc.bootstrap, 0, 1e6);
  if (!Number.isInteger(bootstrap)) throw new UsageError(`${where}: bootstrap must be a whole number`);
  const seed = doc.seed === undefined ? d.seed : num(`${where}: seed`, doc.seed, 0, 4294967295);
  if (!Number.isInteger(seed)) throw new UsageError(`${where}: seed must be a whole number`);
  return {
    estimators,
    primary,
    minEffect: doc.minEffect === undefined ? d.minEffect : num(`${where}: minEffect`, doc.minEffect, -1e12, 1e12),
    nonInferiorityMargin: doc.nonInferiorityMargin === undefined ? d.nonInferiorityMargin : num(`${where}: nonInferiorityMargin`, doc.nonInferiorityMargin, 0, 1e12),
    essShare: pair(`${where}: essShare`, doc.essShare, d.essShare, 0, 1, 'red-below'),
    meanWeightTolerance: doc.meanWeightTolerance === undefined ? d.meanWeightTolerance : num(`${where}: meanWeightTolerance`, doc.meanWeightTolerance, 0, 1e6),
    overlap: pair(`${where}: overlap`, doc.overlap, d.overlap, 0, 1, 'red-above'),
    maturity,
    stability: pair(`${where}: stability`, doc.stability, d.stability, 0, 1e6, 'red-above'),
    slices,
    bootstrap,
    alpha: doc.alpha === undefined ? d.alpha : num(`${where}: alpha`, doc.alpha, 1e-9, 0.5),
    seed,
  };
}

/** Reads and resolves a gate.json; errors are usage errors naming the file. */
export async function readGateConfig(path: string): Promise<GateConfig> {
  return resolveGateConfig(await readJsonOption(path, '--config'), `--config ${path}`);
}
