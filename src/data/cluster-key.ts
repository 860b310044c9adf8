import { mix32 } from '../stats/hash.js';

/**
 * The 32-bit bootstrap cluster key of a request id (DESIGN.md §1, §5). Specified exactly so a SQL
 * engine can reproduce it, and defined on the id's canonical text so that CSV (untyped) and
 * Arrow/Parquet/JSONL (typed) copies of one log give every row the same key:
 *
 *   1. An integer id n with 0 <= n < 2^53, or a string that is the canonical decimal text of such an
 *      integer (/^(0|[1-9][0-9]*)$/, no sign, no leading zeros, no spaces):
 *        lo = n mod 2^32, hi = floor(n / 2^32)
 *        key = lo XOR mix32(hi)                  (mix32 from src/stats/hash.ts)
 *   2. Any other id (other strings, negative or >= 2^53 integers, non-integer numbers), taken as
 *      its text (JavaScript String(x), e.g. '-5', '1.5', '9007199254740993'):
 *        key = FNV-1a 32 over the UTF-8 bytes:   h = 0x811c9dc5; for each byte b:
 *                                                h = ((h XOR b) * 0x01000193) mod 2^32
 *   3. A missing (null) id at global row r: the key of the string 'null#' + r (rule 2), so rows
 *      without an id are clusters of their own.
 *
 * SQL: rule 1 is (id & 4294967295) # mix32(id >> 32); rule 2 a fold over the id's UTF-8 bytes.
 */
export function clusterKeyOfInteger(n: number): number {
  const lo = n >>> 0;
  const hi = Math.floor(n / 4294967296) >>> 0;
  return (lo ^ mix32(hi)) >>> 0;
}

export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    // A lone surrogate is encoded as U+FFFD, as TextEncoder (and any UTF-8 writer) would.
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), 0x01000193);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), 0x01000193);
    } else if (c < 0x10000) {
      h = Math.imul(h ^ (0xe0 | (c >> 12)), 0x01000193);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), 0x01000193);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), 0x01000193);
    } else {
      h = Math.imul(h ^ (0xf0 | (c >> 18)), 0x01000193);
      h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), 0x01000193);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), 0x01000193);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), 0x01000193);
    }
  }
  return h >>> 0;
}

const CANONICAL_INT = /^(0|[1-9][0-9]{0,15})$/;

/**
 * The canonical form of an id: a number for rule 1 (a non-negative integer below 2^53), its text
 * otherwise. Two ids are the same request exactly when their canonical forms are equal.
 */
export function canonicalId(id: number | bigint | string): number | string {
  if (typeof id === 'number') return Number.isSafeInteger(id) && id >= 0 ? id + 0 : String(id);
  if (typeof id === 'bigint') return id >= 0n && id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id.toString();
  if (CANONICAL_INT.test(id)) {
    const n = Number(id);
    if (n <= Number.MAX_SAFE_INTEGER) return n;
  }
  return id;
}

export function clusterKeyOfCanonical(id: number | string): number {
  return typeof id === 'number' ? clusterKeyOfInteger(id) : fnv1a32(id);
}

export function clusterKeyOf(id: number | bigint | string): number {
  return clusterKeyOfCanonical(canonicalId(id));
}

export function clusterKeyOfMissing(row: number): number {
  return fnv1a32('null#' + row);
}
