import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../src/data/errors.js';
import { writeFileAtomic } from '../src/data/write-log.js';
import type { FeedbackLoopCheckpoint, FeedbackRoundMetrics, FeedbackTrainingLog } from './feedback-loop.js';
import type { TwoTowerState } from './two-tower.js';

/**
 * A feedback-loop checkpoint on disk, for `ope simulate --resume` (feedback-loop.ts resume):
 *   DIR/checkpoint/state.json                      completed rounds, metric rows, model layouts
 *   DIR/checkpoint/<scenario>/model-round-NNN.bin  parameters, Adam's m and v (float32, little-endian)
 *   DIR/checkpoint/<scenario>/history-round-NNN.bin the round's impressions (users, items, clicks, positions)
 * History files are written once per round (writeHistory, from onRound); a round's models and
 * state.json after every scenario has finished it (writeCheckpoint). state.json is written last and
 * atomically: it is the commit point, so a run killed at any moment leaves either the previous
 * checkpoint or the new one, never a mix. Numbers are stored exactly (float32 bits; metric values as
 * JSON's shortest round-trip decimals, with NaN, infinities and -0 spelled out), so a resumed run
 * continues on the very same numbers.
 */

const FORMAT = 'ope-toolkit feedback-loop checkpoint 1';

interface StoredModel {
  readonly file: string;
  readonly rounds: number;
  readonly adamStep: number;
  /** Float32 counts of each parameter (the m and v arrays have the same). */
  readonly sizes: readonly number[];
}

interface StoredState {
  readonly format: string;
  readonly rounds: number;
  readonly metrics: readonly Record<string, string | number>[];
  readonly models: Readonly<Record<string, StoredModel>>;
}

const pad = (r: number): string => String(r).padStart(3, '0');

export function checkpointDir(outDir: string): string {
  return join(outDir, 'checkpoint');
}

function modelFile(scenario: string, rounds: number): string {
  return join(scenario, `model-round-${pad(rounds - 1)}.bin`);
}

function historyFile(scenario: string, round: number): string {
  return join(scenario, `history-round-${pad(round)}.bin`);
}

/** JSON cannot hold NaN, infinities or -0: they become strings, and come back as the same numbers. */
function encodeNumber(v: number): number | string {
  return Number.isFinite(v) && !Object.is(v, -0) ? v : Object.is(v, -0) ? '-0' : String(v);
}

function decodeNumber(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === '-0') return -0;
  throw new InputError(`not a number: ${JSON.stringify(v)} (${where})`);
}

function concatFloat32(parts: readonly Float32Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Float32Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return new Uint8Array(out.buffer);
}

/** The bytes of a file as float32s (copied, so alignment does not matter). */
function float32s(bytes: Uint8Array, file: string): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new InputError(`checkpoint file has ${bytes.byteLength} bytes, not whole float32s; it is damaged`, { file });
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** Writes one round's impressions of one scenario (atomically). */
export async function writeHistory(outDir: string, scenario: string, round: number, log: FeedbackTrainingLog): Promise<void> {
  const dir = join(checkpointDir(outDir), scenario);
  await mkdir(dir, { recursive: true });
  const n = log.users.length;
  // Four int32-sized columns: users, items, clicks (float32), positions.
  const buf = new Uint8Array(16 * n);
  buf.set(new Uint8Array(log.users.buffer, log.users.byteOffset, 4 * n), 0);
  buf.set(new Uint8Array(log.items.buffer, log.items.byteOffset, 4 * n), 4 * n);
  buf.set(new Uint8Array(log.clicked.buffer, log.clicked.byteOffset, 4 * n), 8 * n);
  buf.set(new Uint8Array(log.positions.buffer, log.positions.byteOffset, 4 * n), 12 * n);
  await writeFileAtomic(join(checkpointDir(outDir), historyFile(scenario, round)), buf);
}

/** Reads what writeHistory wrote. */
export async function readHistory(outDir: string, scenario: string, round: number): Promise<FeedbackTrainingLog> {
  const file = join(checkpointDir(outDir), historyFile(scenario, round));
  const bytes = await readOrFail(file);
  if (bytes.byteLength % 16 !== 0) throw new InputError(`history file has ${bytes.byteLength} bytes, not whole impressions; it is damaged`, { file });
  const n = bytes.byteLength / 16;
  const copy = new Uint8Array(bytes);
  return {
    users: new Int32Array(copy.buffer, 0, n),
    items: new Int32Array(copy.buffer, 4 * n, n),
    clicked: new Float32Array(copy.buffer, 8 * n, n),
    positions: new Int32Array(copy.buffer, 12 * n, n),
  };
}

async function readOrFail(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new InputError(`cannot read the checkpoint (${(err as NodeJS.ErrnoException).code ?? String(err)}); resume needs the files of the interrupted run`, { file });
  }
}

/** Writes the models of a completed round, then state.json (the commit point), then drops older models. */
export async function writeCheckpoint(outDir: string, cp: FeedbackLoopCheckpoint): Promise<void> {
  const root = checkpointDir(outDir);
  const models: Record<string, StoredModel> = {};
  for (const [scenario, state] of Object.entries(cp.models)) {
    await mkdir(join(root, scenario), { recursive: true });
    const file = modelFile(scenario, cp.rounds);
    await writeFileAtomic(join(root, file), concatFloat32([...state.parameters, ...state.adam.m, ...state.adam.v]));
    models[scenario] = { file, rounds: state.rounds, adamStep: state.adam.step, sizes: state.parameters.map((p) => p.length) };
  }
  const metrics = cp.metrics.map((m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'number' ? encodeNumber(v) : v])));
  const doc: StoredState = { format: FORMAT, rounds: cp.rounds, metrics, models };
  await writeFileAtomic(join(root, 'state.json'), JSON.stringify(doc) + '\n');
  for (const [scenario, m] of Object.entries(models)) {
    for (const name of await readdir(join(root, scenario))) {
      if (name.startsWith('model-round-') && join(scenario, name) !== m.file) await rm(join(root, scenario, name), { force: true });
    }
  }
}

/** The last committed checkpoint in outDir, or null when there is none. */
export async function readCheckpoint(outDir: string): Promise<FeedbackLoopCheckpoint | null> {
  const root = checkpointDir(outDir);
  const stateFile = join(root, 'state.json');
  let text: string;
  try {
    text = await readFile(stateFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new InputError(`cannot read the checkpoint (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: stateFile });
  }
  let doc: StoredState;
  try {
    doc = JSON.parse(text) as StoredState;
  } catch (err) {
    throw new InputError(`the checkpoint is not valid JSON (${(err as Error).message}); it is damaged`, { file: stateFile });
  }
  if (doc.format !== FORMAT) throw new InputError(`not a checkpoint of this version (format '${String(doc.format)}', expected '${FORMAT}')`, { file: stateFile });
  const models: Record<string, TwoTowerState> = {};
  for (const [scenario, m] of Object.entries(doc.models)) {
    const file = join(root, m.file);
    const all = float32s(await readOrFail(file), file);
    const total = m.sizes.reduce((a, b) => a + b, 0);
    if (all.length !== 3 * total) throw new InputError(`model file holds ${all.length} floats, the checkpoint says ${3 * total}; it is damaged`, { file });
    const cut = (from: number): Float32Array[] => {
      let off = from;
      return m.sizes.map((size) => {
        const part = all.slice(off, off + size);
        off += size;
        return part;
      });
    };
    models[scenario] = { rounds: m.rounds, parameters: cut(0), adam: { step: m.adamStep, m: cut(total), v: cut(2 * total) } };
  }
  const metrics = doc.metrics.map(
    (row, i) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, k === 'scenario' ? v : decodeNumber(v, `${stateFile}: metric row ${i}, '${k}'`)])) as unknown as FeedbackRoundMetrics,
  );
  return { rounds: doc.rounds, metrics, models };
}
