import { CompressionType, compressionRegistry } from 'apache-arrow';
import { decompress as zstdDecompress } from 'fzstd';
import { decompressBlock as lz4DecompressBlock } from 'lz4js';

/**
 * Decoders for compressed Arrow IPC files: pyarrow's feather.write_feather and pandas' to_feather
 * compress with LZ4 by default, and ZSTD on request. apache-arrow JS reads the per-buffer framing
 * itself: each body buffer starts with an int64 uncompressed length, and -1 there means "stored
 * uncompressed" (apache-arrow then uses the bytes as they are and never calls the codec). Only the
 * bytes after that 8-byte prefix reach `decode`, without the length: one whole LZ4 frame or one
 * Zstandard frame, which is how Arrow C++ writes them.
 *
 * Both decoders are plain JavaScript (lz4js's block decoder, fzstd): no native addon, nothing fetched
 * at install.
 */

/** The codec names users know (pandas/pyarrow `compression='lz4' | 'zstd'`), by Arrow's enum. */
export const CODEC_NAME: Readonly<Record<CompressionType, string>> = {
  [CompressionType.LZ4_FRAME]: 'LZ4',
  [CompressionType.ZSTD]: 'ZSTD',
};

/** A buffer that one of our decoders could not decompress; the Arrow reader turns it into an InputError. */
export class ArrowCodecError extends Error {
  readonly codec: string;
  readonly detail: string;

  constructor(codec: string, detail: string) {
    super(`${codec}: ${detail}`);
    this.name = 'ArrowCodecError';
    this.codec = codec;
    this.detail = detail;
  }
}

const LZ4_MAGIC = 0x184d2204;
/** LZ4 frame block maximum sizes by the BD byte's block-size id. */
const LZ4_BLOCK_MAX: Readonly<Record<number, number>> = { 4: 0x10000, 5: 0x40000, 6: 0x100000, 7: 0x400000 };
/** An LZ4 sequence of n input bytes never decodes to more than 255 * n bytes. */
const LZ4_MAX_RATIO = 255;

interface Lz4Block {
  /** Offset of the block's data in the frame. */
  at: number;
  size: number;
  stored: boolean;
}

/**
 * Reads an LZ4 frame's header and block table. lz4js's own frame parser is not used: it expects a
 * block checksum before the block's data instead of after it (silently wrong output for frames
 * written with block checksums), and it decodes blindly (a short or garbled frame yields zeros).
 * So the structure is checked here: header, every block size against the frame's maximum and the
 * bytes left, the end mark, nothing after it. Checksums, when present, are skipped, not verified.
 */
function lz4Frame(src: Uint8Array, fail: (what: string) => never): { blocks: Lz4Block[]; blockMax: number; bound: number; contentSize?: number } {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  if (src.length < 7 || view.getUint32(0, true) !== LZ4_MAGIC) fail('not an LZ4 frame (bad magic number)');
  const flg = src[4];
  const bd = src[5];
  if (flg >> 6 !== 1) fail(`unsupported LZ4 frame version ${flg >> 6}`);
  if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) fail('reserved bits set in the LZ4 frame header');
  if ((flg & 0x01) !== 0) fail('LZ4 frame needs a dictionary');
  const blockMax = LZ4_BLOCK_MAX[(bd >> 4) & 7] ?? fail(`invalid LZ4 block size id ${(bd >> 4) & 7}`);
  const blockChecksum = (flg & 0x10) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  let pos = 6;
  let contentSize: number | undefined;
  if ((flg & 0x08) !== 0) {
    if (src.length < pos + 8 + 1) fail('truncated LZ4 frame header');
    contentSize = Number(view.getBigUint64(pos, true));
    pos += 8;
  }
  pos += 1; // header checksum
  const blocks: Lz4Block[] = [];
  let bound = 0;
  for (;;) {
    if (pos + 4 > src.length) fail('truncated LZ4 frame (no end mark)');
    const word = view.getUint32(pos, true);
    pos += 4;
    if (word === 0) break;
    const stored = (word & 0x80000000) !== 0;
    const size = word & 0x7fffffff;
    if (size > blockMax) fail(`LZ4 block of ${size} bytes exceeds the frame's ${blockMax}-byte maximum`);
    if (pos + size + (blockChecksum ? 4 : 0) > src.length) fail('truncated LZ4 block');
    blocks.push({ at: pos, size, stored });
    pos += size + (blockChecksum ? 4 : 0);
    bound += stored ? size : Math.min(blockMax, size * LZ4_MAX_RATIO);
  }
  if (contentChecksum) pos += 4;
  if (pos !== src.length) fail(pos > src.length ? 'truncated LZ4 frame (content checksum)' : `${src.length - pos} bytes after the LZ4 frame`);
  if (contentSize !== undefined && contentSize > bound) fail(`LZ4 frame declares ${contentSize} bytes but its blocks hold at most ${bound}`);
  return { blocks, blockMax, bound: contentSize ?? bound, contentSize };
}

/**
 * One LZ4 frame, blocks linked or independent: all blocks decode into one output array, so a match
 * that reaches back into the previous block (linked mode, Arrow C++'s default for buffers > 64 KiB)
 * finds its bytes.
 */
function decodeLz4(src: Uint8Array): Uint8Array {
  const fail = (what: string): never => {
    throw new ArrowCodecError(CODEC_NAME[CompressionType.LZ4_FRAME], what);
  };
  const { blocks, blockMax, bound, contentSize } = lz4Frame(src, fail);
  const dst = new Uint8Array(bound);
  let n = 0;
  for (const b of blocks) {
    const start = n;
    if (b.stored) {
      if (n + b.size > bound) fail('LZ4 frame holds more bytes than it declares');
      dst.set(src.subarray(b.at, b.at + b.size), n);
      n += b.size;
    } else {
      n = lz4DecompressBlock(src, dst, b.at, b.size, n);
    }
    // Writes past the end of a typed array are dropped silently: an index past the bound means garbage.
    if (n - start > blockMax || n > bound) fail('corrupt LZ4 block (decodes past its maximum size)');
  }
  if (contentSize !== undefined && n !== contentSize) fail(`LZ4 frame decodes to ${n} bytes, expected ${contentSize}`);
  return n === dst.length ? dst : dst.subarray(0, n);
}

/**
 * fzstd returns a view at byte offset 12 of its buffer when the frame header carries the content
 * size (as Arrow C++'s ZSTD_compress writes it); apache-arrow views the bytes as Float64Array and
 * friends in place, which needs 8-byte alignment, so such a view is copied.
 */
function decodeZstd(src: Uint8Array): Uint8Array {
  try {
    const out = zstdDecompress(src);
    return out.byteOffset % 8 === 0 ? out : out.slice();
  } catch (err) {
    throw new ArrowCodecError(CODEC_NAME[CompressionType.ZSTD], err instanceof Error ? err.message : String(err));
  }
}

const DECODERS: ReadonlyArray<readonly [CompressionType, (src: Uint8Array) => Uint8Array]> = [
  [CompressionType.LZ4_FRAME, decodeLz4],
  [CompressionType.ZSTD, decodeZstd],
];

/**
 * Registers the LZ4 and ZSTD decoders in apache-arrow's process-wide codec registry. Idempotent and
 * cheap, so the reader calls it before every file: a decoder already registered (ours, or one the
 * embedding application supplied) is left alone, and an encoder registered for writing is kept.
 */
export function registerArrowCodecs(): void {
  for (const [type, decode] of DECODERS) {
    const current = compressionRegistry.get(type);
    if (typeof current?.decode === 'function') continue;
    const encode = current?.encode?.bind(current);
    compressionRegistry.set(type, encode === undefined ? { decode } : { encode, decode });
  }
}
