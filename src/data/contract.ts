import { PROB_TOL } from './bandit-columns.js';
import { canonicalId, clusterKeyOfCanonical, clusterKeyOfMissing } from './cluster-key.js';
import { InputError, UsageError } from './errors.js';
import { parseNumberText, type RawChunk, type RawColumn } from './readers/raw.js';

/**
 * The log data contract (DESIGN.md §2): which file columns feed which batch field, and every
 * per-row rule. Format readers only decode; this module converts and checks, once for all formats.
 */

export const STRING_COLUMNS = ['policy_id', 'model_version', 'surface', 'stage', 'candidate_source', 'feature_snapshot_id'] as const;

/**
 * Other names for contract columns: the release log contract's, and Open Bandit Pipeline's
 * (`pscore`, `pscore_item_position`, `evaluation_policy_pscore`, ...), so OBP-shaped logs read as
 * they are.
 */
export const ALIASES: Readonly<Record<string, readonly string[]>> = {
  action: ['item_id'],
  propensity: ['pscore'],
  position: ['rank_position'],
  reward_ts: ['delayed_reward_ts'],
  propensity_item_position: ['pscore_item_position'],
  propensity_cascade: ['pscore_cascade'],
  target_propensity: ['evaluation_policy_pscore'],
  target_propensity_item_position: ['evaluation_policy_pscore_item_position'],
  target_propensity_cascade: ['evaluation_policy_pscore_cascade'],
  action_dist: ['evaluation_policy_action_dist'],
};

const LOG_COLUMNS = [
  'action',
  'reward',
  'propensity',
  'position',
  'request_id',
  'slate_id',
  'event_ts',
  'reward_ts',
  'target_propensity',
  'propensity_item_position',
  'propensity_cascade',
  'target_propensity_item_position',
  'target_propensity_cascade',
  'propensity_item_positions',
  'target_propensity_item_positions',
  'action_dist',
  'q_hat',
  'q_hat_logged',
  'q_hat_target',
  'context',
  ...STRING_COLUMNS,
] as const;

const POLICY_COLUMNS = ['target_propensity', 'target_propensity_item_position', 'target_propensity_cascade', 'target_propensity_item_positions', 'action_dist', 'q_hat_target'] as const;

/** Every name `--columns new=old` accepts on the left. */
export const CONTRACT_COLUMNS: readonly string[] = LOG_COLUMNS;

const LIST_COLUMNS: ReadonlySet<string> = new Set(['action_dist', 'q_hat', 'context', 'propensity_item_positions', 'target_propensity_item_positions']);

/** Slate lists (width L, the slate length): per row, the probability of the row's item at every position. */
type SlateListField = 'propensity_item_positions' | 'target_propensity_item_positions';
type ListField = 'action_dist' | 'q_hat' | 'context' | SlateListField;

/** Relative tolerance for "the list's entry at the row's position is the item-position propensity". */
export const ITEM_POSITION_TOL = 1e-9;
const REQUIRED_LOG = ['action', 'reward', 'propensity'] as const;

export type Role = 'log' | 'policy';
export type ColumnMapping = Readonly<Record<string, string>>;

export function checkMapping(mapping: ColumnMapping): void {
  for (const key of Object.keys(mapping)) {
    if (!CONTRACT_COLUMNS.includes(key)) {
      throw new UsageError(`--columns: '${key}' is not a contract column; the contract columns are ${CONTRACT_COLUMNS.join(', ')}`);
    }
  }
}

/** Where a contract column comes from: one file column, or wide columns (`q_hat_0`, ..., `x_*`). */
export type Source = { readonly kind: 'column'; readonly name: string } | { readonly kind: 'wide'; readonly base: string; readonly names: readonly string[] };

export function describeSource(s: Source): string {
  if (s.kind === 'column') return s.name;
  if (s.base === 'x_*') return s.names.join(', ');
  return s.names.length === 1 ? s.names[0] : `${s.names[0]}..${s.names[s.names.length - 1]}`;
}

function sourceColumns(s: Source): readonly string[] {
  return s.kind === 'column' ? [s.name] : s.names;
}

function usedColumns(sources: ReadonlyMap<string, Source>): readonly string[] {
  return [...new Set([...sources.values()].flatMap(sourceColumns))];
}

/**
 * The file columns a ContractMapper for these columns would read (its `fileColumns`), without
 * building one: lets decoding start on another thread before the mapper exists. Throws the
 * mapper's InputError when a required column is missing.
 */
export function contractFileColumns(file: string, columns: readonly string[], role: Role, mapping: ColumnMapping): readonly string[] {
  return usedColumns(resolveSources(file, columns, role, mapping));
}

const WIDE_SUFFIX = /^(.*)_(\d+)$/;

/**
 * Whether a column name would feed the contract in a file that had it (used for JSONL keys that
 * appear late): contract names, aliases, mapping targets, wide list columns and `x_*`.
 */
export function isRelevantColumn(name: string, role: Role, mapping: ColumnMapping): boolean {
  const fields: readonly string[] = role === 'log' ? LOG_COLUMNS : POLICY_COLUMNS;
  const mapped = new Set(Object.values(mapping));
  const direct = (c: string): boolean => fields.includes(c) || mapped.has(c) || fields.some((f) => ALIASES[f]?.includes(c));
  if (direct(name)) return true;
  if (role === 'log' && name.startsWith('x_')) return true;
  const m = WIDE_SUFFIX.exec(name);
  return m !== null && direct(m[1]);
}

export type OutColumn =
  | { readonly kind: 'f64'; readonly v: Float64Array }
  | { readonly kind: 'i32'; readonly v: Int32Array }
  | { readonly kind: 'u32'; readonly v: Uint32Array }
  | { readonly kind: 'list'; readonly width: number; readonly v: Float64Array }
  | { readonly kind: 'array'; readonly v: ReadonlyArray<string | number | null> };

/**
 * One chunk of contract columns keyed by batch field name (`reward`, `actionDist`, ...; string
 * columns as `strings.<name>`; canonical request ids as `requestIds` when asked for).
 */
export interface ColumnSet {
  readonly n: number;
  readonly columns: ReadonlyMap<string, OutColumn>;
}

interface Ctx {
  readonly file: string;
  readonly column: string;
  readonly rowOffset: number;
  readonly lineOf?: (i: number) => number;
}

function fail(ctx: Ctx, i: number, rule: string): never {
  throw new InputError(rule, { file: ctx.file, column: ctx.column, row: ctx.rowOffset + i, line: ctx.lineOf?.(i) });
}

function show(x: unknown): string {
  if (typeof x === 'string') return `text '${x.length > 40 ? x.slice(0, 37) + '...' : x}'`;
  if (x === null || x === undefined) return 'null';
  if (Array.isArray(x) || ArrayBuffer.isView(x)) return 'a list';
  if (typeof x === 'object') return 'an object';
  return String(x);
}

interface Numbers {
  readonly v: Float64Array;
  /** 1 where the cell was null (v is NaN there); null when no cell was. */
  readonly nulls: Uint8Array | null;
}

/**
 * A numeric column as float64. `timestamps` also accepts ISO 8601 text and Date objects (seconds
 * since the epoch); bare numbers are taken as seconds since the epoch.
 */
function numbers(col: RawColumn, n: number, ctx: Ctx, timestamps = false): Numbers {
  let nulls: Uint8Array | null = null;
  const setNull = (v: Float64Array, i: number): void => {
    v[i] = NaN;
    (nulls ??= new Uint8Array(n))[i] = 1;
  };
  switch (col.kind) {
    case 'numbers': {
      const src = col.values;
      if (col.isNull === undefined && src instanceof Float64Array) return { v: src.length === n ? src : src.subarray(0, n), nulls };
      const v = new Float64Array(n);
      v.set(src.length === n ? src : src.subarray(0, n));
      if (col.isNull !== undefined) for (let i = 0; i < n; i++) if (col.isNull(i)) setNull(v, i);
      return { v, nulls };
    }
    case 'bigints': {
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        if (col.isNull?.(i) === true) setNull(v, i);
        else v[i] = Number(col.values[i]);
      }
      return { v, nulls };
    }
    case 'seconds': {
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const x = col.get(i);
        if (x === null) setNull(v, i);
        else v[i] = x;
      }
      return { v, nulls };
    }
    case 'text':
    case 'values': {
      // Cells known to be numbers or null (from a read worker) read as cellNumber would read them.
      if (col.kind === 'values' && col.numbers !== undefined) return { v: col.numbers.values.subarray(0, n), nulls: col.numbers.nulls ?? null };
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const x = col.kind === 'text' ? col.values[i] : col.get(i);
        const num = cellNumber(x, timestamps);
        if (num === null) setNull(v, i);
        else if (num === undefined) fail(ctx, i, timestamps ? `expected a timestamp (ISO 8601 text or seconds since the epoch), got ${show(x)}` : `expected a number, got ${show(x)}`);
        else v[i] = num;
      }
      return { v, nulls };
    }
    case 'list':
      return fail(ctx, 0, 'expected a number, got a list');
  }
}

const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/** A cell as a number; null when missing, undefined when it is not a number. */
function cellNumber(x: unknown, timestamps: boolean): number | null | undefined {
  if (x === null || x === undefined) return null;
  if (typeof x === 'number') return x;
  if (typeof x === 'bigint') return Number(x);
  if (typeof x === 'boolean') return x ? 1 : 0;
  if (typeof x === 'string') {
    const num = parseNumberText(x);
    if (num !== undefined || !timestamps) return num;
    const t = x.trim();
    // A date-time without a zone is UTC, so the result does not depend on the machine's time zone.
    const ms = Date.parse(LOCAL_DATE_TIME.test(t) ? t.replace(' ', 'T') + 'Z' : t);
    return Number.isNaN(ms) ? undefined : ms / 1000;
  }
  if (timestamps && x instanceof Date) return x.getTime() / 1000;
  return undefined;
}

function requireValues(nums: Numbers, ctx: Ctx, what: string): void {
  if (nums.nulls === null) return;
  const i = nums.nulls.indexOf(1);
  if (i >= 0) fail(ctx, i, `${what} is missing (null)`);
}

const INT32_MAX = 2147483647;

/** One list column's width, fixed by the first row read (action_dist and q_hat share K). */
interface Width {
  readonly width: number;
  readonly field: string;
  readonly row: number;
}

/**
 * Converts raw chunks of one file to contract columns and applies every per-row rule. State
 * that spans chunks (K, the action id dictionary) lives here, so a new mapper per pass over the
 * file gives identical results on every pass.
 */
export class ContractMapper {
  readonly sources: ReadonlyMap<string, Source>;
  /** File columns the mapper reads, for readers that can skip the rest. */
  readonly fileColumns: readonly string[];
  private k: Width | undefined;
  private contextWidth: Width | undefined;
  /** L, the width of propensity_item_positions and target_propensity_item_positions. */
  private slateWidth: Width | undefined;
  private actionMode: 'int' | 'string' | undefined;
  /** String action id -> integer; shared by the files of a dataset so an id means one action everywhere. */
  private readonly dictionary: Map<string, number>;

  constructor(
    private readonly file: string,
    readonly columns: readonly string[],
    role: Role,
    mapping: ColumnMapping,
    private readonly wantIds: boolean,
    /** Rewards may be null (read as NaN): labels not in yet, which the gate leaves out and counts. */
    private readonly allowMissingReward = false,
    dictionary?: Map<string, number>,
  ) {
    this.dictionary = dictionary ?? new Map();
    this.sources = resolveSources(file, columns, role, mapping);
    this.fileColumns = usedColumns(this.sources);
  }

  map(chunk: RawChunk, rowOffset: number): ColumnSet {
    const n = chunk.n;
    const out = new Map<string, OutColumn>();
    const ctx = (column: string): Ctx => ({ file: this.file, column, rowOffset, lineOf: chunk.lineOf });
    const raw = (name: string): RawColumn => {
      const c = chunk.column(name);
      if (c === undefined) throw new Error(`reader did not decode column '${name}' of ${this.file}`);
      return c;
    };
    const single = (field: string): { col: RawColumn; ctx: Ctx } | undefined => {
      const s = this.sources.get(field);
      if (s === undefined) return undefined;
      if (s.kind !== 'column') throw new Error(`${field} cannot come from wide columns`);
      return { col: raw(s.name), ctx: ctx(s.name) };
    };
    const scalar = (field: string, key: string, check: (v: Float64Array, nums: Numbers, c: Ctx) => void): void => {
      const s = single(field);
      if (s === undefined) return;
      const nums = numbers(s.col, n, s.ctx);
      check(nums.v, nums, s.ctx);
      out.set(key, { kind: 'f64', v: nums.v });
    };

    // Lists first: they fix K, which the action range check needs.
    for (const [field, key] of [
      ['action_dist', 'actionDist'],
      ['q_hat', 'qHat'],
      ['context', 'context'],
      ['propensity_item_positions', 'propensityItemPositions'],
      ['target_propensity_item_positions', 'targetPropensityItemPositions'],
    ] as const) {
      const s = this.sources.get(field);
      if (s === undefined) continue;
      const list = this.list(field, s, raw, ctx, n);
      out.set(key, list);
      if (field === 'action_dist') checkDistributions(list, ctx(describeSource(s)));
      if (field === 'q_hat') checkFiniteEntries(list, ctx(describeSource(s)), 'q_hat');
    }

    const action = single('action');
    if (action !== undefined) out.set('action', { kind: 'i32', v: this.actions(action.col, n, action.ctx) });

    scalar('reward', 'reward', (v, nums, c) => {
      if (!this.allowMissingReward) requireValues(nums, c, 'reward');
      for (let i = 0; i < n; i++) {
        if (nums.nulls !== null && nums.nulls[i] === 1) v[i] = NaN;
        else if (!Number.isFinite(v[i])) fail(c, i, `reward must be a finite number, got ${v[i]}`);
      }
    });
    scalar('propensity', 'propensity', (v, nums, c) => {
      requireValues(nums, c, 'propensity');
      for (let i = 0; i < n; i++) {
        const p = v[i];
        if (!(p > 0 && p <= 1 + PROB_TOL)) fail(c, i, `propensity must be in (0, 1], got ${p}`);
      }
    });
    scalar('target_propensity', 'targetPropensity', (v, nums, c) => {
      requireValues(nums, c, 'target_propensity');
      for (let i = 0; i < n; i++) {
        const p = v[i];
        if (!(p >= 0 && p <= 1 + PROB_TOL)) fail(c, i, `target_propensity must be in [0, 1], got ${p}`);
      }
    });
    // Slate logs (DESIGN.md §2): the logger's marginal and prefix probabilities are propensities,
    // the target's are probabilities that may be 0.
    for (const [field, key] of [
      ['propensity_item_position', 'propensityItemPosition'],
      ['propensity_cascade', 'propensityCascade'],
    ] as const) {
      scalar(field, key, (v, nums, c) => {
        requireValues(nums, c, field);
        for (let i = 0; i < n; i++) if (!(v[i] > 0 && v[i] <= 1 + PROB_TOL)) fail(c, i, `${field} must be in (0, 1], got ${v[i]}`);
      });
    }
    for (const [field, key] of [
      ['target_propensity_item_position', 'targetPropensityItemPosition'],
      ['target_propensity_cascade', 'targetPropensityCascade'],
    ] as const) {
      scalar(field, key, (v, nums, c) => {
        requireValues(nums, c, field);
        for (let i = 0; i < n; i++) if (!(v[i] >= 0 && v[i] <= 1 + PROB_TOL)) fail(c, i, `${field} must be in [0, 1], got ${v[i]}`);
      });
    }
    for (const [field, key] of [
      ['q_hat_logged', 'qHatLogged'],
      ['q_hat_target', 'qHatTarget'],
    ] as const) {
      scalar(field, key, (v, nums, c) => {
        requireValues(nums, c, field);
        for (let i = 0; i < n; i++) if (!Number.isFinite(v[i])) fail(c, i, `${field} must be a finite number, got ${v[i]}`);
      });
    }

    const position = single('position');
    const positions = position === undefined ? undefined : nonNegativeInts(position.col, n, position.ctx, 'position');
    if (positions !== undefined) out.set('position', { kind: 'i32', v: positions });

    // Slate lists: probabilities of the row's item at every position; at the row's own position,
    // the item-position propensity itself.
    for (const [field, key, scalarField, scalarKey] of [
      ['propensity_item_positions', 'propensityItemPositions', 'propensity_item_position', 'propensityItemPosition'],
      ['target_propensity_item_positions', 'targetPropensityItemPositions', 'target_propensity_item_position', 'targetPropensityItemPosition'],
    ] as const) {
      const s = this.sources.get(field);
      const list = out.get(key);
      if (s === undefined || list?.kind !== 'list') continue;
      const scalarSource = this.sources.get(scalarField);
      const scalar = out.get(scalarKey);
      const own = scalarSource !== undefined && scalar?.kind === 'f64' ? { v: scalar.v, name: describeSource(scalarSource) } : undefined;
      checkItemPositions(list, ctx(describeSource(s)), field, positions, own);
    }

    const id = single('request_id') ?? single('slate_id');
    if (id !== undefined) {
      const { keys, ids } = idKeys(id.col, n, id.ctx, this.wantIds);
      out.set('clusterKey', { kind: 'u32', v: keys });
      if (ids !== undefined) out.set('requestIds', { kind: 'array', v: ids });
    }

    for (const [field, key] of [
      ['event_ts', 'eventTs'],
      ['reward_ts', 'rewardTs'],
    ] as const) {
      const s = single(field);
      if (s !== undefined) out.set(key, { kind: 'f64', v: numbers(s.col, n, s.ctx, true).v });
    }
    for (const field of STRING_COLUMNS) {
      const s = single(field);
      if (s !== undefined) out.set(`strings.${field}`, { kind: 'array', v: strings(s.col, n, s.ctx) });
    }
    return { n, columns: out };
  }

  private list(field: ListField, s: Source, raw: (name: string) => RawColumn, ctx: (column: string) => Ctx, n: number): OutColumn {
    // Features may be missing (NaN); probabilities and reward-model values may not.
    const nullable = field === 'context';
    // action_dist and q_hat share K; the two slate lists share L; context has its own width.
    const slot = field === 'action_dist' || field === 'q_hat' ? 'k' : field === 'context' ? 'context' : 'slate';
    const current = slot === 'k' ? this.k : slot === 'context' ? this.contextWidth : this.slateWidth;
    const fix = (width: number, row: number, c: Ctx): Width => {
      if (width === 0) fail(c, row - c.rowOffset, `${field} is an empty list`);
      const w = { width, field, row };
      if (slot === 'k') this.k = w;
      else if (slot === 'context') this.contextWidth = w;
      else this.slateWidth = w;
      return w;
    };
    const check = (w: Width, len: number, c: Ctx, i: number): void => {
      if (len === w.width) return;
      const origin = w.field === field ? `row ${w.row}` : `${w.field} at row ${w.row}`;
      if (slot === 'slate') {
        fail(
          c,
          i,
          `list length ${len} differs from L = ${w.width} (the length of ${origin}); every row has one entry per position of the slate` +
            (w.field !== field ? ', so propensity_item_positions and target_propensity_item_positions must have the same width' : ''),
        );
      }
      fail(c, i, `list length ${len} differs from K = ${w.width} (the length of ${origin})${w.field !== field ? '; action_dist and q_hat must have the same width' : ''}`);
    };
    if (s.kind === 'wide') {
      const c = ctx(describeSource(s));
      const w = current ?? fix(s.names.length, c.rowOffset, c);
      check(w, s.names.length, c, 0);
      const width = w.width;
      const v = new Float64Array(n * width);
      s.names.forEach((name, j) => {
        const cc = ctx(name);
        const nums = numbers(raw(name), n, cc);
        if (!nullable) requireValues(nums, cc, field);
        for (let i = 0; i < n; i++) v[i * width + j] = nums.v[i];
      });
      return { kind: 'list', width, v };
    }
    const c = ctx(s.name);
    const col = raw(s.name);
    if (col.kind === 'list') return this.arrowList(col, n, c, field, current, fix, check, nullable);
    if (col.kind !== 'values' && col.kind !== 'text') fail(c, 0, `${field} must be a list of numbers, got a number per row`);
    let w = current;
    let v: Float64Array | undefined = w === undefined ? undefined : new Float64Array(n * w.width);
    for (let i = 0; i < n; i++) {
      const cell = col.kind === 'text' ? col.values[i] : col.get(i);
      const entries = listCell(cell);
      if (entries === null) fail(c, i, `${field} is missing (null)`);
      if (entries === undefined) fail(c, i, `${field} must be a list of numbers, got ${show(cell)}`);
      if (w === undefined) {
        w = fix(entries.length, c.rowOffset + i, c);
        v = new Float64Array(n * w.width);
      }
      check(w, entries.length, c, i);
      const o = i * w.width;
      for (let j = 0; j < entries.length; j++) {
        const x = cellNumber(entries[j], false);
        if (x === undefined) fail(c, i, `${field} entry ${j} is ${show(entries[j])}, not a number`);
        if (x === null && !nullable) fail(c, i, `${field} entry ${j} is missing (null)`);
        (v as Float64Array)[o + j] = x ?? NaN;
      }
    }
    return { kind: 'list', width: (w as Width).width, v: v as Float64Array };
  }

  private arrowList(
    col: Extract<RawColumn, { kind: 'list' }>,
    n: number,
    c: Ctx,
    field: string,
    current: Width | undefined,
    fix: (width: number, row: number, c: Ctx) => Width,
    check: (w: Width, len: number, c: Ctx, i: number) => void,
    nullable: boolean,
  ): OutColumn {
    const { offsets, values } = col;
    const start = (i: number): number => (offsets === null ? i * col.width : offsets[i]);
    const len = (i: number): number => (offsets === null ? col.width : offsets[i + 1] - offsets[i]);
    if (col.isNull?.(0) === true) fail(c, 0, `${field} is missing (null)`);
    const w = current ?? fix(len(0), c.rowOffset, c);
    const width = w.width;
    let contiguous = true;
    for (let i = 0; i < n; i++) {
      if (col.isNull?.(i) === true) fail(c, i, `${field} is missing (null)`);
      check(w, len(i), c, i);
      if (start(i) !== start(0) + i * width) contiguous = false;
    }
    const first = start(0);
    if (contiguous && col.childIsNull === undefined && values instanceof Float64Array) {
      return { kind: 'list', width, v: values.subarray(first, first + n * width) };
    }
    const v = new Float64Array(n * width);
    for (let i = 0; i < n; i++) {
      const s = start(i);
      for (let j = 0; j < width; j++) {
        if (col.childIsNull?.(s + j) === true) {
          if (!nullable) fail(c, i, `${field} entry ${j} is missing (null)`);
          v[i * width + j] = NaN;
        } else {
          v[i * width + j] = values[s + j];
        }
      }
    }
    return { kind: 'list', width, v };
  }

  private actions(col: RawColumn, n: number, c: Ctx): Int32Array {
    this.actionMode ??= actionMode(col, n, c);
    const K = this.k?.width;
    if (this.actionMode === 'string') {
      if (K !== undefined) {
        fail(c, 0, `string action ids are allowed only without list columns: with ${this.k?.field} the action must be the integer index 0..${K - 1} into the list`);
      }
      return this.encodeIds(col, n, c);
    }
    const out = nonNegativeInts(col, n, c, 'action');
    if (K !== undefined) {
      for (let i = 0; i < n; i++) {
        if (out[i] >= K) fail(c, i, `action ${out[i]} is out of range 0..${K - 1} (K = ${K}, the width of ${this.k?.field})`);
      }
    }
    return out;
  }

  /** String item ids become 0, 1, 2, ... in order of first appearance in the file. */
  private encodeIds(col: RawColumn, n: number, c: Ctx): Int32Array {
    const ids = strings(col, n, c);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const s = ids[i];
      if (s === null) fail(c, i, 'action is missing (null)');
      let code = this.dictionary.get(s);
      if (code === undefined) {
        code = this.dictionary.size;
        this.dictionary.set(s, code);
      }
      out[i] = code;
    }
    return out;
  }
}

/** Integer actions unless the first non-null cell is text that is not a number. */
function actionMode(col: RawColumn, n: number, c: Ctx): 'int' | 'string' {
  if (col.kind === 'list') fail(c, 0, 'action must be an integer or a string id, got a list');
  if (col.kind !== 'text' && col.kind !== 'values') return 'int';
  for (let i = 0; i < n; i++) {
    const x = col.kind === 'text' ? col.values[i] : col.get(i);
    if (x === null || x === undefined) continue;
    if (col.kind === 'text') return parseNumberText(x as string) === undefined ? 'string' : 'int';
    return typeof x === 'string' ? 'string' : 'int';
  }
  return 'int';
}

function nonNegativeInts(col: RawColumn, n: number, c: Ctx, what: string): Int32Array {
  if (col.kind === 'numbers' && col.isNull === undefined && col.values instanceof Int32Array) {
    const v = col.values.length === n ? col.values : col.values.subarray(0, n);
    for (let i = 0; i < n; i++) if (v[i] < 0) fail(c, i, `${what} must be a non-negative integer, got ${v[i]}`);
    return v;
  }
  const nums = numbers(col, n, c);
  requireValues(nums, c, what);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const x = nums.v[i];
    if (!(Number.isInteger(x) && x >= 0 && x <= INT32_MAX)) fail(c, i, `${what} must be a non-negative integer, got ${x}`);
    out[i] = x;
  }
  return out;
}

/** Row i of a non-list column as a plain value (null where missing). */
function scalarAt(col: Exclude<RawColumn, { kind: 'list' }>, i: number): unknown {
  switch (col.kind) {
    case 'numbers':
    case 'bigints':
      return col.isNull?.(i) === true ? null : col.values[i];
    case 'seconds':
    case 'values':
      return col.get(i);
    case 'text':
      return col.values[i];
  }
}

function strings(col: RawColumn, n: number, c: Ctx): (string | null)[] {
  const out = new Array<string | null>(n);
  if (col.kind === 'list') return fail(c, 0, 'expected a string, got a list');
  for (let i = 0; i < n; i++) {
    const x = scalarAt(col, i);
    if (x === null || x === undefined) out[i] = null;
    else if (typeof x === 'string') out[i] = x;
    else if (typeof x === 'number' || typeof x === 'bigint' || typeof x === 'boolean') out[i] = String(x);
    else fail(c, i, `expected a string, got ${show(x)}`);
  }
  return out;
}

/** Cluster keys (see cluster-key.ts) and, for duplicate detection, the canonical ids. */
function idKeys(col: RawColumn, n: number, c: Ctx, wantIds: boolean): { keys: Uint32Array; ids?: (number | string | null)[] } {
  const keys = new Uint32Array(n);
  const ids: (number | string | null)[] | undefined = wantIds ? new Array<number | string | null>(n) : undefined;
  if (col.kind === 'list') return fail(c, 0, 'expected an integer or string id, got a list');
  for (let i = 0; i < n; i++) {
    const x = scalarAt(col, i);
    let id: number | string | null;
    if (x === null || x === undefined || (typeof x === 'number' && Number.isNaN(x))) id = null;
    else if (typeof x === 'number' || typeof x === 'bigint' || typeof x === 'string') id = canonicalId(x);
    else return fail(c, i, `expected an integer or string id, got ${show(x)}`);
    keys[i] = id === null ? clusterKeyOfMissing(c.rowOffset + i) : clusterKeyOfCanonical(id);
    if (ids !== undefined) ids[i] = id;
  }
  return { keys, ids };
}

/** A list cell as its entries; null when missing, undefined when it is not a list. */
function listCell(x: unknown): ArrayLike<unknown> | null | undefined {
  if (x === null || x === undefined) return null;
  if (Array.isArray(x)) return x;
  if (ArrayBuffer.isView(x) && !(x instanceof DataView)) return x as unknown as ArrayLike<unknown>;
  if (typeof x === 'string' && x.trimStart().startsWith('[')) {
    // A list written as JSON text in one CSV cell or string column.
    try {
      const parsed: unknown = JSON.parse(x);
      return Array.isArray(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function checkDistributions(list: OutColumn, c: Ctx): void {
  if (list.kind !== 'list') return;
  const { width, v } = list;
  const rows = v.length / width;
  for (let i = 0; i < rows; i++) {
    let sum = 0;
    for (let j = 0; j < width; j++) {
      const p = v[i * width + j];
      if (!(p >= 0 && Number.isFinite(p))) fail(c, i, `action_dist entry ${j} is ${p}; probabilities must be finite and >= 0`);
      sum += p;
    }
    if (Math.abs(sum - 1) > PROB_TOL) fail(c, i, `action_dist row sums to ${sum}, not 1 (tolerance ${PROB_TOL})`);
  }
}

/**
 * propensity_item_positions / target_propensity_item_positions: every entry a probability; with
 * `position`, the row's position is inside the list and its entry is the item-position propensity
 * (> 0 for the logger, equal to `own`, the scalar column, when the file has it).
 */
function checkItemPositions(
  list: Extract<OutColumn, { kind: 'list' }>,
  c: Ctx,
  field: SlateListField,
  position: Int32Array | undefined,
  own: { readonly v: Float64Array; readonly name: string } | undefined,
): void {
  const { width, v } = list;
  const rows = v.length / width;
  const logger = field === 'propensity_item_positions';
  for (let i = 0; i < rows; i++) {
    const o = i * width;
    for (let j = 0; j < width; j++) {
      const p = v[o + j];
      if (!(p >= 0 && p <= 1 + PROB_TOL)) fail(c, i, `${field} entry ${j} is ${p}; probabilities must be finite and in [0, 1]`);
    }
    if (position === undefined) continue;
    const k = position[i];
    if (k >= width) fail(c, i, `position ${k} is out of range of ${field}, which has ${width} entries (positions 0..${width - 1}); its width must be the slate length L`);
    const p = v[o + k];
    if (logger && !(p > 0)) fail(c, i, `${field} entry ${k} (at the row's position) is ${p}; the logger's probability of the logged item at its position must be > 0`);
    if (own === undefined) continue;
    const q = own.v[i];
    if (!(Math.abs(p - q) <= ITEM_POSITION_TOL * Math.max(Math.abs(p), Math.abs(q)))) {
      fail(c, i, `${field} entry ${k} (at the row's position) is ${p} but ${own.name} is ${q}; they must be equal within ${ITEM_POSITION_TOL} relative`);
    }
  }
}

function checkFiniteEntries(list: OutColumn, c: Ctx, field: string): void {
  if (list.kind !== 'list') return;
  const { width, v } = list;
  for (let k = 0; k < v.length; k++) {
    if (!Number.isFinite(v[k])) fail(c, Math.floor(k / width), `${field} entry ${k % width} is ${v[k]}; must be a finite number`);
  }
}

function wideColumns(base: string, present: ReadonlySet<string>): string[] {
  const names: string[] = [];
  while (present.has(`${base}_${names.length}`)) names.push(`${base}_${names.length}`);
  return names;
}

function resolveSources(file: string, columns: readonly string[], role: Role, mapping: ColumnMapping): Map<string, Source> {
  const present = new Set(columns);
  const mappedAway = new Set(Object.values(mapping));
  const found = (): string => (columns.length === 0 ? '(none)' : columns.join(', '));
  const sources = new Map<string, Source>();
  const fields: readonly string[] = role === 'log' ? LOG_COLUMNS : POLICY_COLUMNS;
  for (const field of fields) {
    const isList = LIST_COLUMNS.has(field);
    const target = mapping[field];
    if (target !== undefined) {
      if (present.has(target)) sources.set(field, { kind: 'column', name: target });
      else if (isList && wideColumns(target, present).length > 0) sources.set(field, { kind: 'wide', base: target, names: wideColumns(target, present) });
      else throw new InputError(`--columns maps '${field}' to '${target}', but the file has no such column; columns found: ${found()}`, { file, column: target });
      continue;
    }
    const name = [field, ...(ALIASES[field] ?? [])].find((c) => present.has(c) && !mappedAway.has(c));
    if (name !== undefined) {
      sources.set(field, { kind: 'column', name });
      continue;
    }
    if (!isList) continue;
    const wide = wideColumns(field, present).filter((c) => !mappedAway.has(c));
    if (wide.length > 0) {
      sources.set(field, { kind: 'wide', base: field, names: wide });
    } else if (field === 'context') {
      const xs = columns.filter((c) => c.startsWith('x_') && !mappedAway.has(c));
      if (xs.length > 0) sources.set(field, { kind: 'wide', base: 'x_*', names: xs });
    }
  }
  // One id column groups the rows: request_id when the file has both.
  if (sources.has('request_id')) sources.delete('slate_id');
  if (role === 'log') {
    for (const req of REQUIRED_LOG) {
      if (sources.has(req)) continue;
      const aliases = ALIASES[req] ?? [];
      throw new InputError(
        `missing required column '${req}'${aliases.length > 0 ? ` (or its alias ${aliases.map((a) => `'${a}'`).join(', ')})` : ''}; ` +
          `columns found: ${found()}; name another column with --columns ${req}=NAME`,
        { file, column: req },
      );
    }
  } else if (!sources.has('target_propensity') && !sources.has('action_dist')) {
    throw new InputError(
      `a policy file needs 'target_propensity' or 'action_dist' (or action_dist_0, action_dist_1, ...); columns found: ${found()}; ` + 'name other columns with --columns target_propensity=NAME',
      { file, column: 'target_propensity' },
    );
  }
  return sources;
}
