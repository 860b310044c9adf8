import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import type { ListColumn, LogBatch, PolicyBatch } from '../data/batch.js';
import { ContractMapper, isRelevantColumn, STRING_COLUMNS } from '../data/contract.js';
import { InputError, UsageError } from '../data/errors.js';
import { formatOf, SUPPORTED_EXTENSIONS, type TableFormat } from '../data/formats.js';
import { DEFAULT_BATCH_ROWS, openLog, openPolicy, type ReadOptions } from '../data/read-log.js';
import { readArrow } from '../data/readers/arrow.js';
import { readCsv } from '../data/readers/csv.js';
import { readJsonl } from '../data/readers/jsonl.js';
import { readParquet } from '../data/readers/parquet.js';
import { parseNumberText, type ColumnSelector, type RawColumn, type RawReader } from '../data/readers/raw.js';
import { writeTable, type OutBatch, type OutColumnSpec } from '../data/write-log.js';
import { alignPolicies, type PolicyInput } from '../engine/align.js';
import type { AlignedBatch } from '../engine/reblock.js';
import { fitRewardModel, withRewardModel, type FittedRewardModel, type RewardModelOptions, type RewardModelReport } from './fit-log.js';

/**
 * `ope fit` (issue 5, item 2): fit the cross-fitted reward model on a log exactly as
 * `ope evaluate --reward-model` does, and write a copy of the log with the fitted q_hat, so the
 * model is fitted once and reused. The copy holds every contract column the readers know, under its
 * contract name (aliases, `--columns` mappings and `x_*` features are written as `propensity`,
 * `context`, ...); columns outside the contract are not copied. The numbers are the ones
 * `--reward-model` uses (predicted on the canonical blocks, each row by the model of its own fold),
 * so evaluating the copy without `--reward-model` gives bit-identical dm and DR estimates.
 *
 * - default: the log plus `q_hat`, a list of K float64 per row;
 * - `scalars` (large K, DESIGN.md §2's O(n) contract): the log plus `q_hat_logged` (q_hat at the
 *   logged action), and for each target policy file a copy of it plus `q_hat_target`
 *   (sum_a action_dist[a] q_hat[a]), next to the output as `<out without extension>.policy-<name>.<ext>`.
 */
export interface WriteFittedOptions {
  /** The log (.arrow/.feather/.ipc, .parquet, .csv, .jsonl/.ndjson). */
  readonly log: string;
  /** Where the copy goes; its extension picks the format. Never the log itself. */
  readonly out: string;
  /** Target policy files by name: their action_dist fixes K and, with `scalars`, feeds q_hat_target. */
  readonly policies?: Readonly<Record<string, string>>;
  /** The model: kind, folds, seed, backend (minActions comes from the targets, as in evaluateLog). */
  readonly rewardModel: Omit<RewardModelOptions, 'minActions'>;
  /** Write q_hat_logged (+ q_hat_target in policy copies) instead of the K-wide q_hat list. */
  readonly scalars?: boolean;
  readonly read?: ReadOptions;
  /** Rows written so far (the log copy). */
  readonly onProgress?: (rows: number) => void;
}

export interface FittedFile {
  readonly path: string;
  readonly kind: 'log' | 'policy';
  /** The policy's name, for policy copies. */
  readonly policy?: string;
  /** The input file this is a copy of. */
  readonly from: string;
  readonly rows: number;
  readonly columns: readonly string[];
}

export interface WriteFittedResult {
  readonly rows: number;
  readonly files: readonly FittedFile[];
  readonly output: 'list' | 'scalars';
  /** K, the width of the fitted q_hat. */
  readonly actions: number;
  /** Reward-model columns of the inputs that the fitted ones replaced (or, in the other form, dropped). */
  readonly replaced: readonly string[];
  /** Columns of the log outside the contract, which the copy does not have. */
  readonly notCopied: readonly string[];
  /** Anything else the user should know (e.g. that q_hat_target needs a target policy). */
  readonly notes: readonly string[];
  readonly rewardModel: RewardModelReport;
}

/** `<out without extension>.policy-<name>.<ext>`: where `scalars` writes a policy's copy. */
export function fittedPolicyPath(out: string, name: string): string {
  const ext = extname(out);
  return `${out.slice(0, out.length - ext.length)}.policy-${name}${ext}`;
}

const POLICY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Fits the reward model on the log and writes the copy (and, with `scalars`, the policy copies). */
export async function writeFittedLog(opts: WriteFittedOptions): Promise<WriteFittedResult> {
  const read = opts.read ?? {};
  const scalars = opts.scalars === true;
  const policies = Object.entries(opts.policies ?? {});
  const outputs = await checkPaths(opts.log, opts.out, policies, scalars);

  // The inputs' first batches: what the log carries, and each target's action_dist (K).
  const source = openLog(opts.log, read);
  const firstLog = await firstOf(source.batches());
  if (firstLog === undefined) throw new InputError('no rows', { file: opts.log });
  const policyInputs: PolicyInput[] = [];
  const firstPolicies: PolicyBatch[] = [];
  for (const [name, path] of policies) {
    const ps = openPolicy(path, read);
    const first = await firstOf(ps.batches());
    if (first === undefined) throw new InputError('no rows', { file: path });
    if (first.actionDist === undefined) {
      throw new UsageError(
        `policy '${name}': ope fit needs the target's action_dist (its distribution over actions per row), which fixes the number of actions K of q_hat and averages q_hat into q_hat_target; ${path} has no action_dist`,
      );
    }
    policyInputs.push({ name, kind: 'file', path, batches: () => ps.batches() });
    firstPolicies.push(first);
  }
  const widths = firstPolicies.map((p) => (p.actionDist as ListColumn).width);
  if (new Set(widths).size > 1) {
    const list = policies.map(([name], j) => `'${name}' ${widths[j]}`).join(', ');
    throw new UsageError(`the policies' action_dist widths differ (${list}); q_hat has one width K, and each target's action_dist must have K entries`);
  }
  const inlineDist = firstLog.actionDist;
  // As evaluateLog: the targets' action_dist width (all equal here); the log's own when it is the target.
  const minActions = policies.length > 0 ? widths[0] : inlineDist?.width;
  if (!scalars && inlineDist !== undefined && minActions !== inlineDist.width) {
    throw new UsageError(
      `the log's action_dist has ${inlineDist.width} entries but the policies' ${minActions}: a log file's q_hat list must have the width of its action_dist; use --scalars (q_hat_logged, and q_hat_target in the policy copies)`,
    );
  }

  // The columns the typed batches lack: request ids as written, and string action ids.
  const extrasHead = await firstOf(scanExtras(opts.log, read));
  if (extrasHead === undefined) throw new InputError('no rows', { file: opts.log });
  const { idColumn, stringActions, notCopied } = extrasHead.info;
  if (stringActions && !scalars) {
    throw new UsageError(
      `the log's action column holds string ids, and a log file with a q_hat list needs integer actions 0..K-1 (the index into the list); use --scalars (q_hat_logged), which keeps the string ids`,
    );
  }

  const fitted = await fitRewardModel(source.batches(), { ...opts.rewardModel, minActions });
  const K = fitted.model.shape.K;

  // Without policy files the log's own target (its action_dist) is the one q_hat_target averages under.
  const inlineTarget = scalars && policies.length === 0 && inlineDist !== undefined;
  const alignInputs: PolicyInput[] = inlineTarget ? [{ name: 'target', kind: 'inline' }] : policyInputs;
  const replaced: string[] = [];
  const notes: string[] = [];
  for (const [field, name] of [
    ['qHat', 'q_hat'],
    ['qHatLogged', 'q_hat_logged'],
    ['qHatTarget', 'q_hat_target'],
  ] as const) {
    if (firstLog[field] !== undefined) replaced.push(`the log's ${name}`);
  }
  firstPolicies.forEach((p, j) => {
    if (p.qHatTarget === undefined) return;
    const [name, path] = policies[j];
    if (scalars) replaced.push(`q_hat_target of policy '${name}'`);
    else notes.push(`${path} carries q_hat_target, which ope evaluate uses instead of action_dist x q_hat; use --scalars for a copy with the fitted one`);
  });
  if (scalars && policies.length === 0 && !inlineTarget) notes.push('q_hat_target needs a target distribution: give --policy NAME=FILE (with action_dist) for policy copies with q_hat_target');

  const plan: CopyPlan = {
    log: opts.log,
    out: opts.out,
    firstLog,
    firstPolicies,
    policies,
    outputs,
    scalars,
    inlineTarget,
    K,
    idColumn,
    stringActions,
    batchRows: read.batchRows ?? DEFAULT_BATCH_ROWS,
  };
  const write = (idKind: 'float64' | 'string'): Promise<FittedFile[]> =>
    writeCopies(plan, idKind, alignPolicies(source.batches(), alignInputs), fitted, idColumn !== undefined || stringActions ? () => scanExtras(opts.log, read) : undefined, opts.onProgress);
  let files: FittedFile[];
  if (extrasHead.ids?.some((id) => typeof id === 'string') === true) {
    files = await write('string');
  } else {
    try {
      files = await write('float64');
    } catch (err) {
      // A text request id after numeric ones: write them all as text (their cluster keys are the same).
      if (!(err instanceof IdKindChanged)) throw err;
      files = await write('string');
    }
  }
  return { rows: files[0].rows, files, output: scalars ? 'scalars' : 'list', actions: K, replaced, notCopied, notes, rewardModel: fitted.report };
}

// ---------------------------------------------------------------- checks before the (slow) fit

async function checkPaths(log: string, out: string, policies: readonly (readonly [string, string])[], scalars: boolean): Promise<string[]> {
  try {
    formatOf(out);
  } catch {
    throw new UsageError(`cannot write ${out}: unsupported file extension '${extname(out) || '(none)'}'; the fitted log can be written as ${SUPPORTED_EXTENSIONS.join(', ')}`);
  }
  if (scalars) {
    for (const [name] of policies) {
      if (!POLICY_NAME.test(name)) {
        throw new UsageError(`policy name '${name}' names its copy's file (${basename(fittedPolicyPath(out, '<name>'))}), so it may use only letters, digits, '.', '_' and '-'`);
      }
    }
  }
  const outputs = [out, ...(scalars ? policies.map(([name]) => fittedPolicyPath(out, name)) : [])];
  const inputs: [string, string][] = [['the log', log], ...policies.map(([name, path]): [string, string] => [`policy '${name}'`, path])];
  const inputKeys = await Promise.all(inputs.map(([, p]) => fileKey(p)));
  for (const o of outputs) {
    const key = await fileKey(o);
    const j = inputKeys.indexOf(key);
    if (j >= 0) throw new UsageError(`the output ${o} is ${inputs[j][0]} (${inputs[j][1]}): ope fit writes a copy and never overwrites its inputs; choose another --out`);
  }
  const dir = dirname(resolve(out));
  try {
    if (!(await stat(dir)).isDirectory()) throw new InputError('is not a directory', { file: dir });
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot write ${basename(out)} here: no such directory`, { file: dir });
  }
  return outputs;
}

/** The path a file would be opened at: symlinks resolved when it exists. */
async function fileKey(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return resolve(path);
  }
}

async function firstOf<T>(items: AsyncIterable<T>): Promise<T | undefined> {
  for await (const x of items) return x;
  return undefined;
}

// ---------------------------------------------------------------- the columns LogBatch does not carry

interface ExtrasInfo {
  /** 'request_id' or 'slate_id': the column the rows are grouped by. */
  readonly idColumn?: 'request_id' | 'slate_id';
  /** The action column holds string ids (dictionary-encoded in LogBatch). */
  readonly stringActions: boolean;
  /** File columns the contract does not read. */
  readonly notCopied: readonly string[];
}

interface Extras {
  readonly n: number;
  /** Canonical request ids (see cluster-key.ts), null where missing. */
  readonly ids?: ReadonlyArray<string | number | null>;
  /** The action ids as text, when they are string ids. */
  readonly actions?: ReadonlyArray<string | null>;
  readonly info: ExtrasInfo;
}

const READERS: Readonly<Record<TableFormat, RawReader>> = { arrow: readArrow, parquet: readParquet, csv: readCsv, jsonl: readJsonl };

/**
 * A pass over the log through the contract mapper (the same checks as openLog), for what the typed
 * batches leave out: the request ids as written (LogBatch keeps only their cluster keys) and string
 * action ids (LogBatch keeps their codes).
 */
async function* scanExtras(path: string, read: ReadOptions): AsyncGenerator<Extras> {
  const mapping = read.columns ?? {};
  let mapper: ContractMapper | undefined;
  const selector: ColumnSelector = {
    select(columns) {
      mapper = new ContractMapper(path, columns, 'log', mapping, true);
      return mapper.fileColumns;
    },
    relevant: (name) => isRelevantColumn(name, 'log', mapping),
  };
  let rows = 0;
  let info: ExtrasInfo | undefined;
  for await (const chunk of READERS[formatOf(path)](path, read.batchRows ?? DEFAULT_BATCH_ROWS, selector)) {
    if (mapper === undefined) throw new Error(`the ${formatOf(path)} reader yielded rows before naming its columns`);
    if (chunk.n === 0) continue;
    const set = mapper.map(chunk, rows);
    rows += chunk.n;
    const actionSource = mapper.sources.get('action');
    const rawAction = actionSource?.kind === 'column' ? chunk.column(actionSource.name) : undefined;
    if (info === undefined) {
      const used = new Set(mapper.fileColumns);
      info = {
        idColumn: mapper.sources.has('request_id') ? 'request_id' : mapper.sources.has('slate_id') ? 'slate_id' : undefined,
        stringActions: rawAction !== undefined && isStringIds(rawAction, chunk.n),
        notCopied: mapper.columns.filter((c) => !used.has(c)),
      };
    }
    const ids = set.columns.get('requestIds');
    yield {
      n: chunk.n,
      ids: ids?.kind === 'array' ? ids.v : undefined,
      actions: info.stringActions && rawAction !== undefined ? actionTexts(rawAction, chunk.n) : undefined,
      info,
    };
  }
}

/** The contract's rule (contract.ts, actionMode): string ids when the first non-null cell is text that is not a number. */
function isStringIds(col: RawColumn, n: number): boolean {
  if (col.kind !== 'text' && col.kind !== 'values') return false;
  for (let i = 0; i < n; i++) {
    const x = col.kind === 'text' ? col.values[i] : col.get(i);
    if (x === null || x === undefined) continue;
    if (col.kind === 'text') return parseNumberText(x as string) === undefined;
    return typeof x === 'string';
  }
  return false;
}

function actionTexts(col: RawColumn, n: number): (string | null)[] {
  const out = new Array<string | null>(n);
  for (let i = 0; i < n; i++) {
    const x = col.kind === 'text' ? col.values[i] : col.kind === 'values' ? col.get(i) : null;
    out[i] = x === null || x === undefined ? null : String(x);
  }
  return out;
}

/** Takes the extras of exactly the next n rows, whatever chunks the scan yields. */
class ExtrasQueue {
  private readonly it: AsyncIterator<Extras>;
  private chunks: Extras[] = [];
  private start = 0;

  constructor(source: AsyncIterable<Extras>) {
    this.it = source[Symbol.asyncIterator]();
  }

  async take(n: number): Promise<{ ids?: (string | number | null)[]; actions?: (string | null)[] }> {
    const ids: (string | number | null)[] = [];
    const actions: (string | null)[] = [];
    let hasIds = false;
    let hasActions = false;
    let need = n;
    while (need > 0) {
      if (this.chunks.length === 0) {
        const next = await this.it.next();
        if (next.done === true) throw new Error('the log ended early on its second read');
        this.chunks.push(next.value);
        this.start = 0;
      }
      const c = this.chunks[0];
      const take = Math.min(need, c.n - this.start);
      if (c.ids !== undefined) {
        hasIds = true;
        for (let i = 0; i < take; i++) ids.push(c.ids[this.start + i]);
      }
      if (c.actions !== undefined) {
        hasActions = true;
        for (let i = 0; i < take; i++) actions.push(c.actions[this.start + i]);
      }
      this.start += take;
      need -= take;
      if (this.start === c.n) this.chunks.shift();
    }
    return { ids: hasIds ? ids : undefined, actions: hasActions ? actions : undefined };
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

// ---------------------------------------------------------------- writing

interface CopyPlan {
  readonly log: string;
  readonly out: string;
  readonly firstLog: LogBatch;
  readonly firstPolicies: readonly PolicyBatch[];
  readonly policies: readonly (readonly [string, string])[];
  /** out, then each policy copy (with scalars). */
  readonly outputs: readonly string[];
  readonly scalars: boolean;
  readonly inlineTarget: boolean;
  readonly K: number;
  readonly idColumn?: 'request_id' | 'slate_id';
  readonly stringActions: boolean;
  readonly batchRows: number;
}

/** A request id that is text after the copy chose a numeric id column (see writeFittedLog). */
class IdKindChanged extends Error {}

type Column = OutBatch['columns'][string];
type Field<B> = readonly [name: string, pick: (b: B) => Float64Array | Int32Array | ListColumn | undefined];

const LOG_FIELDS: readonly Field<LogBatch>[] = [
  ['reward', (b) => b.reward],
  ['propensity', (b) => b.propensity],
  ['position', (b) => b.position],
  ['event_ts', (b) => b.eventTs],
  ['reward_ts', (b) => b.rewardTs],
  ['target_propensity', (b) => b.targetPropensity],
  ['action_dist', (b) => b.actionDist],
  ['propensity_item_position', (b) => b.propensityItemPosition],
  ['propensity_cascade', (b) => b.propensityCascade],
  ['target_propensity_item_position', (b) => b.targetPropensityItemPosition],
  ['target_propensity_cascade', (b) => b.targetPropensityCascade],
  ['propensity_item_positions', (b) => b.propensityItemPositions],
  ['target_propensity_item_positions', (b) => b.targetPropensityItemPositions],
  ['context', (b) => b.context],
];

const POLICY_FIELDS: readonly Field<PolicyBatch>[] = [
  ['target_propensity', (b) => b.targetPropensity],
  ['action_dist', (b) => b.actionDist],
  ['target_propensity_item_position', (b) => b.targetPropensityItemPosition],
  ['target_propensity_cascade', (b) => b.targetPropensityCascade],
  ['target_propensity_item_positions', (b) => b.targetPropensityItemPositions],
];

function specOf(name: string, v: Float64Array | Int32Array | ListColumn): OutColumnSpec {
  if (v instanceof Int32Array) return { name, kind: 'int32' };
  if (v instanceof Float64Array) return { name, kind: 'float64' };
  return { name, kind: 'list', width: v.width };
}

function valuesOf(v: Float64Array | Int32Array | ListColumn): Float64Array | Int32Array {
  return v instanceof Float64Array || v instanceof Int32Array ? v : v.values;
}

/** q_hat at the logged action, as resolveBanditColumns takes it from the list. */
function qHatLogged(qHat: ListColumn, action: Int32Array, n: number): Float64Array {
  const K = qHat.width;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = qHat.values[i * K + action[i]];
  return out;
}

/** sum_a action_dist[a] q_hat[a] per row, in resolveBanditColumns' order, so the bits are the same. */
function qHatTarget(qHat: ListColumn, dist: ListColumn, n: number, policy: string, source: string): Float64Array {
  const K = dist.width;
  if (qHat.width !== K) throw new InputError(`q_hat has ${qHat.width} entries per row but action_dist of policy '${policy}' has ${K}`, { file: source, column: 'action_dist' });
  const out = new Float64Array(n);
  const pv = dist.values;
  const qv = qHat.values;
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * K;
    for (let a = 0; a < K; a++) s += pv[o + a] * qv[o + a];
    out[i] = s;
  }
  return out;
}

async function writeCopies(
  plan: CopyPlan,
  idKind: 'float64' | 'string',
  aligned: AsyncIterable<AlignedBatch>,
  fitted: FittedRewardModel,
  extras: (() => AsyncIterable<Extras>) | undefined,
  onProgress: ((rows: number) => void) | undefined,
): Promise<FittedFile[]> {
  const policyCopies = plan.scalars ? plan.policies.length : 0;
  const tee = new Tee(withRewardModel(aligned, fitted)[Symbol.asyncIterator](), 1 + policyCopies);

  // The log's copy.
  const first = plan.firstLog;
  const logSchema: OutColumnSpec[] = [{ name: 'action', kind: plan.stringActions ? 'string' : 'int32' }];
  if (plan.idColumn !== undefined) logSchema.push({ name: plan.idColumn, kind: idKind });
  for (const [name, pick] of LOG_FIELDS) {
    const v = pick(first);
    if (v !== undefined) logSchema.push(specOf(name, v));
  }
  const stringColumns = STRING_COLUMNS.filter((name) => first.strings?.has(name) === true);
  for (const name of stringColumns) logSchema.push({ name, kind: 'string' });
  if (plan.scalars) {
    logSchema.push({ name: 'q_hat_logged', kind: 'float64' });
    if (plan.inlineTarget) logSchema.push({ name: 'q_hat_target', kind: 'float64' });
  } else {
    logSchema.push({ name: 'q_hat', kind: 'list', width: plan.K });
  }
  const queue = extras === undefined ? undefined : new ExtrasQueue(extras());
  let written = 0;
  async function* logBatches(): AsyncGenerator<OutBatch> {
    try {
      for await (const block of tee.branch(0)) {
        const log = block.log;
        const n = log.n;
        const qHat = log.qHat as ListColumn;
        const side = queue === undefined ? {} : await queue.take(n);
        const columns: Record<string, Column> = {};
        columns.action = plan.stringActions ? (side.actions ?? new Array<null>(n).fill(null)) : log.action;
        if (plan.idColumn !== undefined) columns[plan.idColumn] = idColumn(side.ids ?? new Array<null>(n).fill(null), idKind);
        for (const [name, pick] of LOG_FIELDS) {
          const v = pick(log);
          if (v !== undefined) columns[name] = valuesOf(v);
        }
        for (const name of stringColumns) columns[name] = log.strings?.get(name) ?? new Array<null>(n).fill(null);
        if (plan.scalars) {
          columns.q_hat_logged = qHatLogged(qHat, log.action, n);
          if (plan.inlineTarget) columns.q_hat_target = qHatTarget(qHat, log.actionDist as ListColumn, n, 'target', plan.log);
        } else {
          columns.q_hat = qHat.values;
        }
        written += n;
        onProgress?.(written);
        yield { n, columns };
      }
    } finally {
      await queue?.close();
    }
  }

  // Each policy's copy (scalars): its columns plus q_hat_target.
  const policyWriters = plan.policies.slice(0, policyCopies).map(([name, path], j) => {
    const schema: OutColumnSpec[] = [];
    for (const [col, pick] of POLICY_FIELDS) {
      const v = pick(plan.firstPolicies[j]);
      if (v !== undefined) schema.push(specOf(col, v));
    }
    schema.push({ name: 'q_hat_target', kind: 'float64' });
    async function* batches(): AsyncGenerator<OutBatch> {
      for await (const block of tee.branch(1 + j)) {
        const p = block.policies[j];
        const columns: Record<string, Column> = {};
        for (const [col, pick] of POLICY_FIELDS) {
          const v = pick(p);
          if (v !== undefined) columns[col] = valuesOf(v);
        }
        columns.q_hat_target = qHatTarget(block.log.qHat as ListColumn, p.actionDist as ListColumn, p.n, name, path);
        yield { n: p.n, columns };
      }
    }
    return { name, path, out: plan.outputs[1 + j], schema, batches };
  });

  const jobs = [
    writeTable(plan.out, logSchema, rebatch(logBatches(), logSchema, plan.batchRows)),
    ...policyWriters.map((w) => writeTable(w.out, w.schema, rebatch(w.batches(), w.schema, plan.batchRows))),
  ];
  const settled = await Promise.allSettled(jobs);
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failures.length > 0) throw failures.find((e) => !(e instanceof TeeAborted)) ?? failures[0];
  const rows = settled.map((s) => (s as PromiseFulfilledResult<{ rows: number }>).value.rows);
  return [
    { path: plan.out, kind: 'log', from: plan.log, rows: rows[0], columns: logSchema.map((c) => c.name) },
    ...policyWriters.map((w, j): FittedFile => ({ path: w.out, kind: 'policy', policy: w.name, from: w.path, rows: rows[1 + j], columns: w.schema.map((c) => c.name) })),
  ];
}

/** Request ids as float64 (every one a number below 2^53, or missing: NaN) or as text. */
function idColumn(ids: ReadonlyArray<string | number | null>, kind: 'float64' | 'string'): Column {
  if (kind === 'string') return ids.map((id) => (id === null ? null : String(id)));
  const out = new Float64Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (typeof id === 'string') throw new IdKindChanged();
    out[i] = id === null ? NaN : id;
  }
  return out;
}

/** Joins the 8192-row canonical blocks into batches of about `rows` rows (Parquet row groups, Arrow record batches). */
async function* rebatch(input: AsyncIterable<OutBatch>, schema: readonly OutColumnSpec[], rows: number): AsyncGenerator<OutBatch> {
  let parts: OutBatch[] = [];
  let pending = 0;
  const flush = (): OutBatch => {
    const out = parts.length === 1 ? parts[0] : concatBatches(parts, schema);
    parts = [];
    pending = 0;
    return out;
  };
  for await (const b of input) {
    parts.push(b);
    pending += b.n;
    if (pending >= rows) yield flush();
  }
  if (pending > 0) yield flush();
}

function concatBatches(parts: readonly OutBatch[], schema: readonly OutColumnSpec[]): OutBatch {
  const n = parts.reduce((s, p) => s + p.n, 0);
  const columns: Record<string, Column> = {};
  for (const c of schema) {
    const vs = parts.map((p) => p.columns[c.name]);
    if (c.kind === 'string') {
      columns[c.name] = vs.flatMap((v) => [...(v as ReadonlyArray<string | null>)]);
      continue;
    }
    const total = vs.reduce((s, v) => s + v.length, 0);
    const out = c.kind === 'int32' ? new Int32Array(total) : new Float64Array(total);
    let o = 0;
    for (const v of vs as (Float64Array | Int32Array)[]) {
      out.set(v, o);
      o += v.length;
    }
    columns[c.name] = out;
  }
  return { n, columns };
}

// ---------------------------------------------------------------- one stream, several writers

/** Another writer failed; this one stops (and removes its temporary file). */
class TeeAborted extends Error {
  constructor() {
    super('stopped: another output of ope fit failed');
  }
}

/**
 * Hands every item of one stream to n consumers that run concurrently (the log's copy and each
 * policy's copy), so the model predicts each block once. A consumer more than `window` items ahead
 * of the slowest waits, so memory stays a few blocks. A failing source or consumer stops them all.
 */
class Tee<T> {
  private buffer: T[] = [];
  private base = 0;
  private readonly cursors: number[];
  private readonly active: boolean[];
  private finished = false;
  private failure: { err: unknown } | undefined;
  private pulling: Promise<void> | undefined;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly source: AsyncIterator<T>,
    n: number,
    private readonly window = 2,
  ) {
    this.cursors = new Array<number>(n).fill(0);
    this.active = new Array<boolean>(n).fill(true);
  }

  branch(k: number): AsyncIterable<T> {
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => this.next(k),
        return: async () => {
          this.stop(k);
          return { done: true, value: undefined };
        },
      }),
    };
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private trim(): void {
    let min = Infinity;
    this.cursors.forEach((c, k) => {
      if (this.active[k]) min = Math.min(min, c);
    });
    if (min === Infinity) min = this.base + this.buffer.length;
    const drop = min - this.base;
    if (drop > 0) {
      this.buffer.splice(0, drop);
      this.base = min;
    }
  }

  private async next(k: number): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure.err;
      const c = this.cursors[k];
      if (c < this.base + this.buffer.length) {
        const value = this.buffer[c - this.base];
        this.cursors[k] = c + 1;
        this.trim();
        this.wake();
        return { done: false, value };
      }
      if (this.finished) {
        this.active[k] = false;
        this.trim();
        this.wake();
        return { done: true, value: undefined };
      }
      if (this.buffer.length >= this.window) {
        await new Promise<void>((r) => this.waiters.push(r));
        continue;
      }
      this.pulling ??= this.pull();
      await this.pulling;
    }
  }

  private async pull(): Promise<void> {
    try {
      const r = await this.source.next();
      if (r.done === true) this.finished = true;
      else this.buffer.push(r.value);
    } catch (err) {
      this.failure ??= { err };
    } finally {
      this.pulling = undefined;
      this.wake();
    }
  }

  /** A consumer left early (its writer failed): stop the others and the source. */
  private stop(k: number): void {
    if (!this.active[k]) return;
    this.active[k] = false;
    if (!this.finished) {
      this.failure ??= { err: new TeeAborted() };
      void this.source.return?.(undefined)?.catch(() => undefined);
    }
    this.trim();
    this.wake();
  }
}
