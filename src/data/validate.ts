import type { LogBatch } from './batch.js';
import { describeSource, type Source } from './contract.js';
import { SlateChecker } from './slate-checks.js';
import { InputError } from './errors.js';
import { FileLogSource, type LogSource, type ScannedBatch } from './read-log.js';

export interface ValidateOptions {
  /** Propensities below this are reported (default 1e-4). */
  tinyPropensity?: number;
  /** Importance weights above this are reported (default 1000). */
  largeWeight?: number;
}

export interface ValidationWarning {
  code: 'tiny-propensity' | 'large-weight' | 'log-contract' | 'duplicates-not-checked';
  message: string;
  count?: number;
  value?: number;
}

export interface ValidationReport {
  file: string;
  rows: number;
  /** The file's columns in file order. */
  columns: string[];
  /** Contract column -> the file column(s) it was read from. */
  contract: Record<string, string>;
  /** Number of actions: the list width when action_dist or q_hat is present, else max(action) + 1. */
  K: number;
  hasTarget: boolean;
  hasRewardModel: boolean;
  isRanking: boolean;
  /** Distinct request ids, when request_id (or slate_id) and position are present. */
  requests?: number;
  /** Slates checked against the slate contract (slate logs only). */
  slates?: number;
  warnings: ValidationWarning[];
  /** Share of rows carrying every column of the release log contract, non-null. */
  contractShare: number;
  /** Release log contract columns the file does not have at all. */
  contractMissing: string[];
}

/** The release log contract: what every production log row should carry for audits and slicing. */
export const RELEASE_CONTRACT = ['request_id', 'policy_id', 'position', 'propensity', 'feature_snapshot_id', 'event_ts'] as const;

const POSITION_BITS = 31;
const SHARDS = 16;

/**
 * Duplicate (request_id, position) detection in one pass. Per request id a bitmask of the
 * positions 0..30 seen (ranking slates are short), and a set for the rare larger positions. The
 * maps are sharded by cluster key because one V8 Map holds at most 2^24 entries.
 */
class PairSeen {
  private readonly shards = Array.from({ length: SHARDS }, () => new Map<number | string, number>());
  private readonly far = new Set<string>();

  /** Adds the pair; false when it was already there. */
  add(id: number | string, position: number, key: number): boolean {
    const shard = this.shards[key & (SHARDS - 1)];
    const mask = shard.get(id) ?? 0;
    if (position < POSITION_BITS) {
      const bit = 1 << position;
      if ((mask & bit) !== 0) return false;
      shard.set(id, mask | bit);
      return true;
    }
    if (!shard.has(id)) shard.set(id, 0);
    const k = `${typeof id}:${id}:${position}`;
    if (this.far.has(k)) return false;
    this.far.add(k);
    return true;
  }

  get requests(): number {
    return this.shards.reduce((s, m) => s + m.size, 0);
  }
}

/**
 * Reads the whole log: the reader's per-row contract checks throw InputError on the first bad
 * row; this adds the cross-row check (duplicate pairs) and warnings a user should know about.
 */
export async function validateLog(source: LogSource, opts: ValidateOptions = {}): Promise<ValidationReport> {
  const tiny = opts.tinyPropensity ?? 1e-4;
  const large = opts.largeWeight ?? 1000;
  const warnings: ValidationWarning[] = [];
  let rows = 0;
  let maxAction = -1;
  let tinyCount = 0;
  let minPropensity = Infinity;
  /** Rows (or, on the first slot's propensity, slates) the tiny-propensity count is out of. */
  let tinyOutOf = 0;
  /** Which propensity the tiny-propensity warning is about (see tinyBasis). */
  let basis: TinyBasis = 'propensity';
  let slateLog = false;
  let largeCount = 0;
  let maxWeight = 0;
  let fullContract = 0;
  let first: LogBatch | undefined;
  let info: ScannedBatch['info'] | undefined;
  let sources: ReadonlyMap<string, Source> = new Map();
  const seen = new PairSeen();
  let slates: SlateChecker | undefined;

  const scan: AsyncIterable<ScannedBatch | { batch: LogBatch; info?: undefined; requestIds?: undefined }> = source instanceof FileLogSource ? source.scan(true) : wrap(source.batches());
  for await (const { batch: b, info: bi, requestIds } of scan) {
    if (first === undefined) {
      first = b;
      info = bi;
      sources = bi?.sources ?? sourcesOf(b);
    }
    const n = b.n;
    for (let i = 0; i < n; i++) if (b.action[i] > maxAction) maxAction = b.action[i];
    basis = tinyBasis(b);
    slateLog = b.propensityItemPosition !== undefined || b.propensityCascade !== undefined;
    const pos = b.position;
    const ps = basis === 'item-position' ? (b.propensityItemPosition as Float64Array) : basis === 'first-slot' ? (b.propensityCascade as Float64Array) : b.propensity;
    for (let i = 0; i < n; i++) {
      if (basis === 'first-slot' && (pos as Int32Array)[i] !== 0) continue;
      const p = ps[i];
      tinyOutOf++;
      if (p < tiny) tinyCount++;
      if (p < minPropensity) minPropensity = p;
    }
    const tp = b.targetPropensity;
    const dist = b.actionDist;
    // On a slate log action_dist is the per-slot distribution given the prefix, not a slate probability.
    const targetOf = tp !== undefined ? (i: number) => tp[i] : dist !== undefined && !slateLog ? (i: number) => dist.values[i * dist.width + b.action[i]] : undefined;
    if (targetOf !== undefined) {
      for (let i = 0; i < n; i++) {
        const w = targetOf(i) / b.propensity[i];
        if (w > large) largeCount++;
        if (w > maxWeight) maxWeight = w;
      }
    }
    if (requestIds !== undefined && b.position !== undefined && b.clusterKey !== undefined) {
      for (let i = 0; i < n; i++) {
        const id = requestIds[i];
        if (id !== null && !seen.add(id, b.position[i], b.clusterKey[i])) {
          await throwDuplicate(source as FileLogSource, b.rowOffset + i, id, b.position[i], sources);
        }
      }
    }
    // A slate log carries the slate contract's marginal or prefix propensities; a ranking log that
    // only groups its rows by slate_id need not show every position.
    if (requestIds !== undefined && (b.propensityCascade !== undefined || b.propensityItemPosition !== undefined)) {
      slates ??= new SlateChecker(source.path);
      slates.add(b, requestIds);
    }
    fullContract += contractRows(b, sources, requestIds);
    rows += n;
  }
  if (first === undefined) throw new InputError('no rows', { file: source.path });
  slates?.finish();

  const K = first.actionDist?.width ?? first.qHat?.width ?? maxAction + 1;
  const isRanking = first.position !== undefined;
  const hasIds = first.clusterKey !== undefined;
  if (tinyCount > 0) {
    warnings.push({
      code: 'tiny-propensity',
      message: tinyMessage(basis, tinyCount, tinyOutOf, tiny, minPropensity),
      count: tinyCount,
      value: minPropensity,
    });
  }
  if (largeCount > 0) {
    warnings.push({
      code: 'large-weight',
      message: slateLog
        ? `${largeCount} rows (${pct(largeCount / rows)}) have a joint slate weight above ${large} (max ${fmtNum(maxWeight)}): these are weights of whole slates, ` +
          'target_propensity / propensity, which grow with the slate length; slate-ips pays for them, iips, rips and pi weight by item-position, prefix or per slot instead'
        : `${largeCount} rows (${pct(largeCount / rows)}) have an importance weight above ${large} (max ${fmtNum(maxWeight)}): expect high variance; compare with clipped-ips, switch-dr or sndr`,
      count: largeCount,
      value: maxWeight,
    });
  }
  const contractShare = fullContract / rows;
  const missing = RELEASE_CONTRACT.filter((c) => !sources.has(c));
  if (contractShare < 1) {
    warnings.push({
      code: 'log-contract',
      message:
        `${pct(contractShare)} of rows carry the full release log contract (${RELEASE_CONTRACT.join(', ')})` +
        (missing.length > 0 ? `; missing columns: ${missing.join(', ')}` : '; the other rows have nulls in it'),
      count: rows - fullContract,
      value: contractShare,
    });
  }
  if (info === undefined && hasIds && isRanking) {
    warnings.push({ code: 'duplicates-not-checked', message: 'duplicate (request_id, position) pairs were not checked: the log source does not expose request ids' });
  }
  return {
    file: source.path,
    rows,
    columns: info === undefined ? [...sources.keys()] : [...info.columns],
    contract: Object.fromEntries([...sources].map(([k, s]) => [k, describeSource(s)])),
    K,
    hasTarget: first.targetPropensity !== undefined || first.actionDist !== undefined,
    hasRewardModel: first.qHat !== undefined || first.qHatLogged !== undefined,
    isRanking,
    requests: info !== undefined && hasIds && isRanking ? seen.requests : undefined,
    slates: slates?.slates,
    warnings,
    contractShare,
    contractMissing: missing,
  };
}

/**
 * What the tiny-propensity warning looks at. On a slate log the joint slate propensity is naturally
 * tiny (about 1 / K^L), so it looks at the item-position propensity when the log has it, else at the
 * first slot's propensity (propensity_cascade at position 0; a log without positions falls back to
 * `propensity`); on other logs at `propensity`.
 */
type TinyBasis = 'propensity' | 'item-position' | 'first-slot';

function tinyBasis(b: LogBatch): TinyBasis {
  if (b.propensityItemPosition !== undefined) return 'item-position';
  if (b.propensityCascade !== undefined && b.position !== undefined) return 'first-slot';
  return 'propensity';
}

function tinyMessage(basis: TinyBasis, count: number, outOf: number, tiny: number, min: number): string {
  const share = outOf > 0 ? pct(count / outOf) : pct(0);
  const reach = fmtNum(1 / min);
  switch (basis) {
    case 'item-position':
      return `${count} rows (${share}) have an item-position propensity (propensity_item_position) below ${tiny} (min ${min}): their item-position weights can reach ${reach} and dominate iips and pbm-ips`;
    case 'first-slot':
      return `${count} slates (${share}) have a first-slot propensity (propensity_cascade at position 0) below ${tiny} (min ${min}): their prefix (cascade) weights can reach ${reach} from the first slot on and dominate rips`;
    case 'propensity':
      return `${count} rows (${share}) have a propensity below ${tiny} (min ${min}): their importance weights can reach ${reach} and dominate IPS-type estimates`;
  }
}

async function* wrap(batches: AsyncIterable<LogBatch>): AsyncGenerator<{ batch: LogBatch }> {
  for await (const batch of batches) yield { batch };
}

/**
 * Rows with every release-contract column present and non-null. A source that is not a file
 * gives cluster keys but not ids, so there a present request_id column counts as non-null.
 */
function contractRows(b: LogBatch, sources: ReadonlyMap<string, Source>, requestIds: ReadonlyArray<string | number | null> | undefined): number {
  if (!RELEASE_CONTRACT.every((c) => sources.has(c))) return 0;
  const policy = b.strings?.get('policy_id');
  const snapshot = b.strings?.get('feature_snapshot_id');
  const ts = b.eventTs;
  if (policy === undefined || snapshot === undefined || ts === undefined) return 0;
  let count = 0;
  for (let i = 0; i < b.n; i++) {
    if ((requestIds === undefined || requestIds[i] !== null) && policy[i] !== null && snapshot[i] !== null && !Number.isNaN(ts[i])) count++;
  }
  return count;
}

/** The earlier row of a duplicate pair: found by a second pass, paid only when there is one. */
async function throwDuplicate(source: FileLogSource, row: number, id: number | string, position: number, sources: ReadonlyMap<string, Source> | undefined): Promise<never> {
  let earlier = -1;
  for await (const { batch: b, requestIds } of source.scan(true)) {
    for (let i = 0; i < b.n && earlier < 0; i++) {
      if (requestIds?.[i] === id && b.position?.[i] === position) earlier = b.rowOffset + i;
    }
    if (earlier >= 0 || b.rowOffset + b.n > row) break;
  }
  const idSource = sources?.get('request_id') ?? sources?.get('slate_id');
  const posSource = sources?.get('position');
  const idName = idSource === undefined ? 'request_id' : describeSource(idSource);
  const posName = posSource === undefined ? 'position' : describeSource(posSource);
  throw new InputError(`duplicate (${idName}, ${posName}) = (${JSON.stringify(id)}, ${position}): row ${row} repeats row ${earlier}; each request has one row per position`, {
    file: source.path,
    column: posName,
    row,
  });
}

/** Contract columns of a batch from a source that is not a file (a library caller's batches). */
function sourcesOf(b: LogBatch): Map<string, Source> {
  const fields: [string, unknown][] = [
    ['action', b.action],
    ['reward', b.reward],
    ['propensity', b.propensity],
    ['position', b.position],
    ['request_id', b.clusterKey],
    ['target_propensity', b.targetPropensity],
    ['action_dist', b.actionDist],
    ['q_hat', b.qHat],
    ['q_hat_logged', b.qHatLogged],
    ['q_hat_target', b.qHatTarget],
    ['propensity_item_position', b.propensityItemPosition],
    ['propensity_cascade', b.propensityCascade],
    ['target_propensity_item_position', b.targetPropensityItemPosition],
    ['target_propensity_cascade', b.targetPropensityCascade],
    ['propensity_item_positions', b.propensityItemPositions],
    ['target_propensity_item_positions', b.targetPropensityItemPositions],
    ['context', b.context],
    ['event_ts', b.eventTs],
    ['reward_ts', b.rewardTs],
    ...[...(b.strings?.keys() ?? [])].map((k): [string, unknown] => [k, true]),
  ];
  return new Map(fields.filter(([, v]) => v !== undefined).map(([k]) => [k, { kind: 'column', name: k }]));
}

function pct(x: number): string {
  return `${(100 * x).toFixed(x > 0 && x < 0.001 ? 3 : 1)}%`;
}

function fmtNum(x: number): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(4))) : String(x);
}
