import { MIX_MUL_1, MIX_MUL_2, POISSON1_THRESHOLDS, REPLICATE_XOR, SEED_XOR, replicateKey, seedKey } from '../stats/hash.js';

/**
 * The bootstrap's counter-based hash (src/stats/hash.ts) and the cluster key of a request id
 * (src/data/cluster-key.ts) as SQL expressions over 64-bit signed integers (BIGINT), so a SQL
 * engine computes exactly the weights the in-process engine does (DESIGN.md §5).
 *
 * Every value is kept in 0 .. 2^32-1; every step is an xor, a right shift, or (x * c) & (2^32 - 1)
 * with x < 2^32 and c < 2^31, so the product stays below 2^63 and never overflows BIGINT.
 *
 * The dialect differences are the spelling of xor, of a lambda fold over a list and of the bytes of
 * a string: `SqlDialect` names them (DuckDB is the one that runs here).
 */
export interface SqlDialect {
  readonly name: string;
  xor(a: string, b: string): string;
  shiftRight(a: string, k: number): string;
  and(a: string, mask: string): string;
}

export const DUCKDB: SqlDialect = {
  name: 'duckdb',
  xor: (a, b) => `xor(${a}, ${b})`,
  shiftRight: (a, k) => `(${a} >> ${k})`,
  and: (a, m) => `(${a} & ${m})`,
};

const MASK32 = '4294967295';

/**
 * mix32(x) for a SQL expression x with 0 <= x < 2^32 (BIGINT). The expression repeats x 8 times
 * (each xor-shift reads its input twice); pass a column, not a large expression, or let the
 * engine's common-subexpression elimination handle it.
 */
export function mix32Sql(x: string, d: SqlDialect = DUCKDB): string {
  const xs = (v: string, k: number) => d.xor(v, d.shiftRight(v, k));
  const mul = (v: string, c: number) => d.and(`(${v} * ${c})`, MASK32);
  let v = xs(x, 16);
  v = mul(v, MIX_MUL_1);
  v = xs(v, 15);
  v = mul(v, MIX_MUL_2);
  return xs(v, 16);
}

/** Poisson(1) count for a uniform 32-bit u: min { k : u < POISSON1_THRESHOLDS[k] }, as a CASE. */
export function poisson1Sql(u: string): string {
  const arms = POISSON1_THRESHOLDS.slice(0, -1).map((t, k) => `WHEN ${u} < ${t} THEN ${k}`);
  return `(CASE ${arms.join(' ')} ELSE ${POISSON1_THRESHOLDS.length - 1} END)`;
}

/** clusterHash(seedKey(seed), key): the per-cluster part of the hash (a constant seed key folded in). */
export function clusterHashSql(clusterKey: string, seed: number, d: SqlDialect = DUCKDB): string {
  return mix32Sql(d.xor(`(${mix32Sql(clusterKey, d)})`, String(seedKey(seed))), d);
}

/** The whole weight from a cluster hash and a replicate key column: W = poisson1(mix32(ch ^ rk)). */
export function poissonWeightSql(clusterHash: string, repKey: string, d: SqlDialect = DUCKDB): string {
  return poisson1Sql(`(${mix32Sql(d.xor(clusterHash, repKey), d)})`);
}

/** The replicate table (b, rk) for b < B, rk = replicateKey(b) computed in SQL over range(B). */
export function replicateTableSql(B: number, d: SqlDialect = DUCKDB): string {
  return `SELECT b, ${mix32Sql(d.xor('b', String(REPLICATE_XOR)), d)} AS rk FROM (SELECT range AS b FROM range(${B}))`;
}

/** seedKey(seed) in SQL, for engines that want the whole spec (the compiler inlines the constant). */
export function seedKeySql(seed: number, d: SqlDialect = DUCKDB): string {
  return mix32Sql(d.xor(String(seed >>> 0), String(SEED_XOR)), d);
}

/** Replicate keys computed in JS (the values replicateTableSql produces), for tests. */
export function replicateKeys(B: number): number[] {
  return Array.from({ length: B }, (_, b) => replicateKey(b));
}

/**
 * FNV-1a 32 over the UTF-8 bytes of a VARCHAR expression (cluster-key.ts rule 2), DuckDB: the
 * string's code points, each encoded to its 1-4 UTF-8 bytes, folded with list_reduce.
 */
export function fnv1aSql(s: string): string {
  const cps = `list_transform(range(1, length(${s}) + 1), i -> unicode(substring(${s}, i, 1)))`;
  const bytes =
    `flatten(list_transform(${cps}, cp -> CASE ` +
    `WHEN cp < 128 THEN [cp] ` +
    `WHEN cp < 2048 THEN [192 | (cp >> 6), 128 | (cp & 63)] ` +
    `WHEN cp < 65536 THEN [224 | (cp >> 12), 128 | ((cp >> 6) & 63), 128 | (cp & 63)] ` +
    `ELSE [240 | (cp >> 18), 128 | ((cp >> 12) & 63), 128 | ((cp >> 6) & 63), 128 | (cp & 63)] END))`;
  return `list_reduce(list_transform(${bytes}, x -> x::BIGINT), (h, x) -> (xor(h, x) * 16777619) & ${MASK32}, 2166136261::BIGINT)`;
}

/** Rule 1 of cluster-key.ts for a BIGINT n in 0 .. 2^53-1: (n mod 2^32) xor mix32(floor(n / 2^32)). */
export function clusterKeyOfIntegerSql(n: string): string {
  return `xor(${n} & ${MASK32}, ${mix32Sql(`(${n} >> 32)`)})`;
}

const MAX_SAFE = '9007199254740991';

/**
 * The 32-bit cluster key of a request id column, exactly as cluster-key.ts defines it, by the
 * column's SQL type: integers (rule 1, or rule 2 on their decimal text when negative or >= 2^53),
 * strings (rule 1 for canonical decimal integers below 2^53, else rule 2); a NULL id is the key of
 * 'null#' + the row's global ordinal `rowNumber`.
 */
export function clusterKeySql(id: string, type: 'integer' | 'string', rowNumber: string): string {
  const missing = fnv1aSql(`('null#' || CAST(${rowNumber} AS VARCHAR))`);
  if (type === 'integer') {
    const n = `CAST(${id} AS BIGINT)`;
    return `(CASE WHEN ${id} IS NULL THEN ${missing} WHEN ${n} >= 0 AND ${n} <= ${MAX_SAFE} THEN ${clusterKeyOfIntegerSql(n)} ELSE ${fnv1aSql(`CAST(${id} AS VARCHAR)`)} END)`;
  }
  const canonical = `regexp_full_match(${id}, '0|[1-9][0-9]{0,15}') AND TRY_CAST(${id} AS BIGINT) <= ${MAX_SAFE}`;
  return `(CASE WHEN ${id} IS NULL THEN ${missing} WHEN ${canonical} THEN ${clusterKeyOfIntegerSql(`TRY_CAST(${id} AS BIGINT)`)} ELSE ${fnv1aSql(id)} END)`;
}
