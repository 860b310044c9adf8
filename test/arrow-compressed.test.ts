import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CompressionType,
  Dictionary,
  Float64,
  Int32,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  Table,
  Utf8,
  compressionRegistry,
  tableFromIPC,
  vectorFromArray,
  type Codec,
} from 'apache-arrow';
import { compress as lz4jsCompress } from 'lz4js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LogBatch } from '../src/data/batch.js';
import { fnv1a32 } from '../src/data/cluster-key.js';
import { InputError } from '../src/data/errors.js';
import { openLog } from '../src/data/read-log.js';
import { registerArrowCodecs } from '../src/data/readers/arrow-codecs.js';
import { writeTable, type OutBatch, type OutColumnSpec } from '../src/data/write-log.js';
import { runCli } from './helpers/run-cli.js';

/*
 * No pyarrow here, so the compressed files are made in the test: our writer writes the log
 * uncompressed, and apache-arrow's writer re-encodes it with an encoder registered for the codec.
 * apache-arrow writes Arrow's per-buffer framing (int64 uncompressed length, -1 for a buffer stored
 * as is) and calls the encoder on each buffer, as Arrow C++ does. Encoders: lz4js (pure JS, always),
 * and, when Debian's lz4 / zstd tools are on the machine, the reference liblz4 and libzstd, with the
 * frame options Arrow C++ (pyarrow, pandas) uses: LZ4 frames of 64 KiB linked blocks without
 * checksums, Zstandard frames with the content size.
 */

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-arrow-compressed-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function hasTool(name: string): boolean {
  const r = spawnSync(name, ['--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}
const HAS_LZ4 = hasTool('lz4');
const HAS_ZSTD = hasTool('zstd');

/** An encoder that pipes each buffer through a compression tool. */
function toolEncoder(cmd: string, args: (input: Uint8Array) => string[]): (input: Uint8Array) => Uint8Array {
  return (input) => {
    const r: SpawnSyncReturns<Buffer> = spawnSync(cmd, args(input), { input, maxBuffer: 1 << 30 });
    if (r.error !== undefined || r.status !== 0) throw new Error(`${cmd} failed: ${r.error?.message ?? r.stderr.toString()}`);
    return new Uint8Array(r.stdout);
  };
}

interface Variant {
  name: string;
  type: CompressionType;
  encode: (input: Uint8Array) => Uint8Array;
  available: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'lz4js', type: CompressionType.LZ4_FRAME, encode: (x) => lz4jsCompress(x), available: true },
  // What Arrow C++ writes: 64 KiB blocks, linked (a match may reach into the previous block), no checksums.
  { name: 'liblz4', type: CompressionType.LZ4_FRAME, encode: toolEncoder('lz4', () => ['-q', '-c', '-B4', '-BD', '--no-frame-crc']), available: HAS_LZ4 },
  // Block and content checksums (Arrow Java/Go style): lz4js's own frame parser reads these wrong.
  { name: 'liblz4-checksums', type: CompressionType.LZ4_FRAME, encode: toolEncoder('lz4', () => ['-q', '-c', '-B5', '-BX']), available: HAS_LZ4 },
  { name: 'libzstd', type: CompressionType.ZSTD, encode: toolEncoder('zstd', (x) => ['-q', '-c', `--stream-size=${x.length}`]), available: HAS_ZSTD },
  { name: 'libzstd-streamed', type: CompressionType.ZSTD, encode: toolEncoder('zstd', () => ['-q', '-c', '-19']), available: HAS_ZSTD },
];

/** Runs `fn` with `encode` registered for `type`, keeping the decoder, then restores the registry entry. */
function withEncoder<T>(type: CompressionType, encode: (input: Uint8Array) => Uint8Array, fn: () => T): T {
  const prev = compressionRegistry.get(type);
  const decode = prev?.decode?.bind(prev);
  compressionRegistry.set(type, decode === undefined ? { encode } : { encode, decode });
  try {
    return fn();
  } finally {
    compressionRegistry.set(type, prev as Codec);
  }
}

/** Re-encodes an IPC file's record batches (batch boundaries kept) with the given codec. */
function recompress(plain: Uint8Array, type: CompressionType, encode: (input: Uint8Array) => Uint8Array, format: 'file' | 'stream' = 'file'): Uint8Array {
  const table = tableFromIPC(plain);
  return withEncoder(type, encode, () => {
    const writer = format === 'file' ? new RecordBatchFileWriter({ compressionType: type }) : new RecordBatchStreamWriter({ compressionType: type });
    writer.write(table);
    writer.finish();
    return writer.toUint8Array(true);
  });
}

async function readAll(path: string): Promise<LogBatch[]> {
  const out: LogBatch[] = [];
  for await (const b of openLog(path).batches()) out.push(b);
  return out;
}

/** Every LogBatch column the log fills, concatenated as plain arrays (toEqual compares numbers with Object.is). */
function flatten(batches: readonly LogBatch[]): Record<string, unknown> {
  const cat = (pick: (b: LogBatch) => ArrayLike<number> | undefined): number[] | undefined =>
    batches.some((b) => pick(b) === undefined) ? undefined : batches.flatMap((b) => Array.from(pick(b) as ArrayLike<number>));
  const strings: Record<string, (string | null)[]> = {};
  for (const b of batches) for (const [k, v] of b.strings ?? []) (strings[k] ??= []).push(...v);
  return {
    n: batches.reduce((s, b) => s + b.n, 0),
    action: cat((b) => b.action),
    reward: cat((b) => b.reward),
    propensity: cat((b) => b.propensity),
    clusterKey: cat((b) => b.clusterKey),
    targetPropensity: cat((b) => b.targetPropensity),
    context: cat((b) => b.context?.values),
    contextWidth: batches[0]?.context?.width,
    eventTs: cat((b) => b.eventTs),
    strings,
  };
}

const K = 4;
const D = 3;
const BATCHES = 3;
/** 12000 rows: a Float64 column is 96 000 bytes, so liblz4 splits it into linked 64 KiB blocks. */
const ROWS = 12000;
const LOGGING = [0.1, 0.2, 0.3, 0.4];
const TARGET = [0.4, 0.3, 0.2, 0.1];
const SPECIAL = [0.1 + 0.2, 1 / 3, -0, 5e-324, 2 / 7];

const SCHEMA: OutColumnSpec[] = [
  { name: 'request_id', kind: 'string' },
  { name: 'action', kind: 'int32' },
  { name: 'reward', kind: 'float64' },
  { name: 'propensity', kind: 'float64' },
  { name: 'target_propensity', kind: 'float64' },
  { name: 'context', kind: 'list', width: D },
  { name: 'event_ts', kind: 'float64' },
  { name: 'policy_id', kind: 'string' },
];

/** Compressible like a real log (repeated propensities, 0/1 rewards), with a few values that must round-trip bit for bit. */
function logBatch(b: number): OutBatch {
  const row = (i: number) => b * ROWS + i;
  const action = Int32Array.from({ length: ROWS }, (_, i) => (row(i) * 7 + (row(i) >> 5)) % K);
  return {
    n: ROWS,
    columns: {
      request_id: Array.from({ length: ROWS }, (_, i) => `req-${Math.floor(row(i) / 3)}`),
      action,
      reward: Float64Array.from({ length: ROWS }, (_, i) => (row(i) % 97 === 0 ? SPECIAL[row(i) % SPECIAL.length] : row(i) % 3 === 0 ? 1 : 0)),
      propensity: Float64Array.from(action, (a) => LOGGING[a]),
      target_propensity: Float64Array.from(action, (a) => TARGET[a]),
      context: Float64Array.from({ length: ROWS * D }, (_, j) => Math.sqrt(b * ROWS * D + j)),
      event_ts: Float64Array.from({ length: ROWS }, (_, i) => 1.7e9 + Math.floor(row(i) / 10)),
      policy_id: Array.from({ length: ROWS }, (_, i) => (row(i) % 5 === 0 ? null : `pol-${row(i) % 3}`)),
    },
  };
}

function expected(): Record<string, unknown> {
  const all = Array.from({ length: BATCHES }, (_, b) => logBatch(b).columns);
  const nums = (name: string) => all.flatMap((c) => Array.from(c[name] as ArrayLike<number>));
  return {
    n: BATCHES * ROWS,
    action: nums('action'),
    reward: nums('reward'),
    propensity: nums('propensity'),
    clusterKey: all.flatMap((c) => (c.request_id as string[]).map((id) => fnv1a32(id))),
    targetPropensity: nums('target_propensity'),
    context: nums('context'),
    contextWidth: D,
    eventTs: nums('event_ts'),
    strings: { policy_id: all.flatMap((c) => c.policy_id as (string | null)[]) },
  };
}

describe('compressed Arrow IPC files (pyarrow/pandas feather defaults)', () => {
  let plainPath: string;
  let plain: Uint8Array;
  const paths = new Map<string, string>();

  beforeAll(async () => {
    plainPath = join(dir, 'plain.arrow');
    await writeTable(plainPath, SCHEMA, Array.from({ length: BATCHES }, (_, b) => logBatch(b)));
    plain = await readFile(plainPath);
    for (const v of VARIANTS.filter((x) => x.available)) {
      const path = join(dir, `${v.name}.feather`);
      await writeFile(path, recompress(plain, v.type, v.encode));
      paths.set(v.name, path);
    }
  });

  it('reads the uncompressed file as written (the reference)', async () => {
    expect(flatten(await readAll(plainPath))).toEqual(expected());
  });

  for (const v of VARIANTS) {
    it.skipIf(!v.available)(`decodes ${CompressionType[v.type]} written by ${v.name} to exactly the original columns`, async () => {
      const path = paths.get(v.name) as string;
      // Really compressed: the data is repetitive, so a compressed copy is far smaller.
      expect((await stat(path)).size).toBeLessThan(0.6 * plain.length);
      const batches = await readAll(path);
      expect(flatten(batches)).toEqual(expected());
      expect(flatten(batches)).toEqual(flatten(await readAll(plainPath)));
    });
  }

  it('decodes the IPC stream format too', async () => {
    const path = join(dir, 'stream-lz4.arrows.arrow');
    await writeFile(path, recompress(plain, CompressionType.LZ4_FRAME, (x) => lz4jsCompress(x), 'stream'));
    expect(flatten(await readAll(path))).toEqual(expected());
  });

  it('reads a small table whose every buffer is stored as is (length -1: compressing would not shrink it)', async () => {
    const small: OutBatch = { n: 3, columns: { action: Int32Array.from([0, 1, 1]), reward: Float64Array.from([1, 0, 1 / 3]), propensity: Float64Array.from([0.5, 0.25, 0.125]) } };
    const spec = SCHEMA.filter((c) => ['action', 'reward', 'propensity'].includes(c.name));
    const path = join(dir, 'small-stored.arrow');
    await writeTable(path, spec, [small]);
    await writeFile(path, recompress(await readFile(path), CompressionType.LZ4_FRAME, (x) => lz4jsCompress(x)));
    const [b] = await readAll(path);
    expect([Array.from(b.action), Array.from(b.reward), Array.from(b.propensity)]).toEqual([[0, 1, 1], [1, 0, 1 / 3], [0.5, 0.25, 0.125]]);
  });

  it('decodes compressed dictionary batches (pandas categoricals) and buffers stored as is', async () => {
    // The dictionary's few bytes do not shrink, so the writer stores them uncompressed (length -1).
    const surfaces = ['home', 'search', null, 'home', 'feed', 'search'];
    const n = 6000;
    const table = new Table({
      action: vectorFromArray(Array.from({ length: n }, (_, i) => i % K), new Int32()),
      reward: vectorFromArray(Array.from({ length: n }, (_, i) => i % 2), new Float64()),
      propensity: vectorFromArray(new Array<number>(n).fill(0.25), new Float64()),
      surface: vectorFromArray(Array.from({ length: n }, (_, i) => surfaces[i % surfaces.length]), new Dictionary(new Utf8(), new Int32())),
    });
    const codecs: [string, CompressionType, (x: Uint8Array) => Uint8Array][] = [['lz4js', CompressionType.LZ4_FRAME, (x) => lz4jsCompress(x)]];
    if (HAS_ZSTD) codecs.push(['libzstd', CompressionType.ZSTD, toolEncoder('zstd', () => ['-q', '-c'])]);
    for (const [name, type, encode] of codecs) {
      const path = join(dir, `dict-${name}.arrow`);
      const bytes = withEncoder(type, encode, () => {
        const writer = new RecordBatchFileWriter({ compressionType: type });
        writer.write(table);
        writer.finish();
        return writer.toUint8Array(true);
      });
      await writeFile(path, bytes);
      const batches = await readAll(path);
      expect(flatten(batches).strings, name).toEqual({ surface: Array.from({ length: n }, (_, i) => surfaces[i % surfaces.length]) });
      expect(flatten(batches).action, name).toEqual(Array.from({ length: n }, (_, i) => i % K));
    }
  });

  describe('the ope CLI', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));

    beforeAll(() => {
      // runCli runs dist/ (npm test builds it first); a stale build would not have the decoders.
      if (!existsSync(join(root, 'dist', 'src', 'data', 'readers', 'arrow-codecs.js'))) {
        throw new Error('dist/ is missing or stale: run `npx tsc -p tsconfig.json` (npm test does) before this file');
      }
    });

    it('evaluate gives identical JSON on the compressed and uncompressed copies', async () => {
      // One path for every copy, so the JSON's "log" field is the same too and stdout can be compared byte for byte.
      const cliDir = join(dir, 'cli');
      await mkdir(cliDir, { recursive: true });
      const log = join(cliDir, 'log.feather');
      const evaluate = () => runCli(['evaluate', '--log', log, '--estimators', 'ips,snips', '--bootstrap', '10', '--json']);
      await writeFile(log, plain);
      const reference = evaluate();
      expect(reference.code, reference.stderr).toBe(0);
      const parsed = JSON.parse(reference.stdout) as { n: number; policies: unknown[] };
      expect(parsed.n).toBe(BATCHES * ROWS);
      expect(parsed.policies).toHaveLength(1);
      for (const name of paths.keys()) {
        await writeFile(log, await readFile(paths.get(name) as string));
        const r = evaluate();
        expect(r.code, `${name}: ${r.stderr}`).toBe(0);
        expect(r.stdout, name).toBe(reference.stdout);
      }
    });

    it('a compressed file that does not decode: exit 2, one line naming the file and the codec, no stack trace', async () => {
      // Drops each LZ4 frame's end mark: a truncated frame.
      const bytes = recompress(plain, CompressionType.LZ4_FRAME, (x) => lz4jsCompress(x).subarray(0, -4));
      const path = join(dir, 'cut-lz4.feather');
      await writeFile(path, bytes);
      const r = runCli(['validate', '--log', path]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^ope: error: ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot decompress the Arrow file's LZ4 data \\(truncated LZ4 frame \\(no end mark\\)\\)`));
      expect(r.stderr.split('\n')).toHaveLength(2);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  });
});

describe('compressed Arrow IPC files that do not decode', () => {
  async function readError(path: string): Promise<InputError> {
    const err = await readAll(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'expected an InputError').toBeInstanceOf(InputError);
    expect((err as InputError).file).toBe(path);
    return err as InputError;
  }

  async function plainLog(): Promise<Uint8Array> {
    const path = join(dir, 'small.arrow');
    await writeTable(path, SCHEMA, [logBatch(0)]);
    return readFile(path);
  }

  it('names the LZ4 codec and the fault for a garbled frame', async () => {
    const plain = await plainLog();
    const cases: [string, (x: Uint8Array) => Uint8Array, RegExp][] = [
      ['truncated', (x) => lz4jsCompress(x).subarray(0, -4), /truncated LZ4 frame \(no end mark\)/],
      ['trailing', (x) => Uint8Array.from([...lz4jsCompress(x), 0]), /1 bytes after the LZ4 frame/],
      [
        'wrong content size',
        (x) => {
          // Declare one byte more than the frame holds (FLG content-size bit, 8-byte size before the header checksum).
          const f = lz4jsCompress(x);
          const size = new Uint8Array(8);
          new DataView(size.buffer).setBigUint64(0, BigInt(x.length + 1), true);
          return Uint8Array.from([...f.subarray(0, 4), f[4] | 0x08, f[5], ...size, ...f.subarray(6)]);
        },
        /LZ4 frame (decodes to \d+ bytes, expected \d+|declares \d+ bytes but its blocks hold at most \d+)/,
      ],
    ];
    for (const [name, encode, detail] of cases) {
      const path = join(dir, `bad-lz4-${name.replace(/ /g, '-')}.arrow`);
      await writeFile(path, recompress(plain, CompressionType.LZ4_FRAME, encode));
      const e = await readError(path);
      expect(e.rule, name).toMatch(/^cannot decompress the Arrow file's LZ4 data \(/);
      expect(e.rule, name).toMatch(detail);
      expect(e.rule, name).toMatch(/write it uncompressed \(pandas: df\.to_feather\(path, compression='uncompressed'\)/);
    }
  });

  it('names the ZSTD codec for data fzstd rejects', async () => {
    const plain = await plainLog();
    // A Zstandard magic number and then nothing valid: shorter than the input, so the writer keeps it.
    const path = join(dir, 'bad-zstd.arrow');
    await writeFile(path, recompress(plain, CompressionType.ZSTD, () => Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])));
    const e = await readError(path);
    expect(e.rule).toMatch(/^cannot decompress the Arrow file's ZSTD data \(.+\); the file is corrupt or was not written by Arrow; write it uncompressed/);
  });
});

describe('a compressed Arrow IPC file with a codec that has no decoder', () => {
  it('says so, names the codecs it reads, and how to rewrite the file', async () => {
    const path = join(dir, 'no-decoder.arrow');
    await writeTable(path, SCHEMA, [logBatch(0)]);
    await writeFile(path, recompress(await readFile(path), CompressionType.ZSTD, () => Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])));
    // Arrow defines only LZ4_FRAME and ZSTD, both registered; a codec id from a newer Arrow finds no entry, as here.
    const get = vi.spyOn(compressionRegistry, 'get').mockReturnValue(null);
    try {
      const err = await readAll(path).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).file).toBe(path);
      expect((err as InputError).rule).toMatch(/^the Arrow file is compressed with a codec this reader cannot decode \(it reads LZ4 and ZSTD\); write it uncompressed/);
    } finally {
      get.mockRestore();
    }
  });
});

describe('registerArrowCodecs', () => {
  it('is idempotent, keeps an encoder registered for writing, and leaves a decoder it did not install alone', () => {
    registerArrowCodecs();
    const lz4 = compressionRegistry.get(CompressionType.LZ4_FRAME);
    const zstd = compressionRegistry.get(CompressionType.ZSTD);
    expect(typeof lz4?.decode).toBe('function');
    expect(typeof zstd?.decode).toBe('function');
    registerArrowCodecs();
    expect(compressionRegistry.get(CompressionType.LZ4_FRAME)).toBe(lz4);
    expect(compressionRegistry.get(CompressionType.ZSTD)).toBe(zstd);

    const encode = (x: Uint8Array) => lz4jsCompress(x);
    try {
      compressionRegistry.set(CompressionType.LZ4_FRAME, { encode });
      registerArrowCodecs();
      const merged = compressionRegistry.get(CompressionType.LZ4_FRAME);
      expect(typeof merged?.decode).toBe('function');
      const sample = Uint8Array.from({ length: 1000 }, (_, i) => i % 7);
      expect(merged?.decode?.(merged.encode?.(sample) as Uint8Array)).toEqual(sample);

      const foreign: Codec = { decode: (x) => x };
      compressionRegistry.set(CompressionType.LZ4_FRAME, foreign);
      registerArrowCodecs();
      expect(compressionRegistry.get(CompressionType.LZ4_FRAME)).toBe(foreign);
    } finally {
      compressionRegistry.set(CompressionType.LZ4_FRAME, lz4 as Codec);
    }
  });
});
