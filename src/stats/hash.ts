/**
 * The counter-based generator behind the Poisson bootstrap (DESIGN.md §1 and §5).
 *
 * Every step is xor, logical shift, or (x * c) mod 2^32 with x < 2^32 and c < 2^31, so any SQL
 * engine with signed 64-bit integers computes the same values exactly (the product is < 2^63).
 * The two multipliers are odd and below 2^31 (the first is from Wellons' "lowbias32", the second
 * MurmurHash3's c2); the xor-shift amounts are lowbias32's.
 *
 *   mix32(x)          = x ^= x >>> 16; x = x * 0x7feb352d mod 2^32; x ^= x >>> 15;
 *                       x = x * 0x1b873593 mod 2^32; x ^= x >>> 16
 *   seedKey(seed)     = mix32(seed ^ 0x9e3779b9)                  (seed taken mod 2^32)
 *   clusterHash(s, c) = mix32(mix32(c) ^ s)                       (c = the row's 32-bit cluster key)
 *   replicateKey(b)   = mix32(b ^ 0x85ebca6b)                     (b = 0, 1, ..., B-1)
 *   u(s, c, b)        = mix32(clusterHash(s, c) ^ replicateKey(b)) (uniform on 0 .. 2^32-1)
 *   W(s, c, b)        = min { k : u < POISSON1_THRESHOLDS[k] }     (Poisson(1) by inverse CDF)
 */
export const MIX_MUL_1 = 0x7feb352d;
export const MIX_MUL_2 = 0x1b873593;
export const SEED_XOR = 0x9e3779b9;
export const REPLICATE_XOR = 0x85ebca6b;

export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, MIX_MUL_1) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, MIX_MUL_2) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

export function seedKey(seed: number): number {
  return mix32((seed ^ SEED_XOR) >>> 0);
}

export function clusterHash(seedK: number, clusterKey: number): number {
  return mix32((mix32(clusterKey) ^ seedK) >>> 0);
}

export function replicateKey(b: number): number {
  return mix32((b ^ REPLICATE_XOR) >>> 0);
}

/**
 * POISSON1_THRESHOLDS[k] = floor(2^32 * P(X <= k)) for X ~ Poisson(1), k = 0 .. until the
 * threshold would reach 2^32 - 1, then 2^32 (13 entries, k = 0..12). Integers, so another engine uses exactly these constants.
 */
export const POISSON1_THRESHOLDS: readonly number[] = (() => {
  const out: number[] = [];
  let term = Math.exp(-1);
  let cdf = 0;
  for (let k = 0; ; k++) {
    cdf += term;
    term /= k + 1;
    const t = Math.floor(cdf * 4294967296);
    // Once the threshold reaches 2^32 - 1 only u = 2^32 - 1 lies above it: close the table there.
    if (t >= 4294967295) {
      out.push(4294967296);
      break;
    }
    out.push(t);
  }
  return out;
})();

/**
 * Lookup on the top TABLE_BITS bits of u: cells entirely inside one count store it; the few cells
 * that straddle a threshold store BOUNDARY and fall back to comparisons. The result is exactly the
 * inverse CDF above; the table only makes the common case one load.
 */
export const TABLE_BITS = 12;
export const CELL_SHIFT = 32 - TABLE_BITS;
const BOUNDARY = 255;

export const POISSON1_CELLS: Uint8Array = (() => {
  const cells = new Uint8Array(1 << TABLE_BITS);
  const cellSize = 2 ** CELL_SHIFT;
  for (let c = 0; c < cells.length; c++) {
    const lo = poisson1Slow(c * cellSize);
    const hi = poisson1Slow((c + 1) * cellSize - 1);
    cells[c] = lo === hi ? lo : BOUNDARY;
  }
  return cells;
})();

function poisson1Slow(u: number): number {
  let k = 0;
  while (u >= POISSON1_THRESHOLDS[k]) k++;
  return k;
}

/** Poisson(1) count for a uniform 32-bit u. */
export function poisson1(u: number): number {
  const v = POISSON1_CELLS[u >>> CELL_SHIFT];
  return v !== BOUNDARY ? v : poisson1Slow(u);
}

/** The bootstrap weight of cluster key `c` in replicate `b` under `seed`: the whole spec in one call. */
export function poissonWeight(seed: number, clusterKey: number, b: number): number {
  return poisson1(mix32((clusterHash(seedKey(seed), clusterKey) ^ replicateKey(b)) >>> 0));
}
