import { UsageError } from '../data/errors.js';
import { MIX_MUL_1, MIX_MUL_2, POISSON1_THRESHOLDS, REPLICATE_XOR, SEED_XOR, replicateKey, seedKey } from '../stats/hash.js';

/**
 * The bootstrap's counter-based hash (src/stats/hash.ts) and the cluster key of a request id
 * (src/data/cluster-key.ts) as SQL expressions over 64-bit signed integers (BIGINT), so a SQL
 * engine computes exactly the weights the in-process engine does (DESIGN.md §5).
 *
 * Every value is kept in 0 .. 2^32-1; every step is an xor, a right shift, or (x * c) & (2^32 - 1)
 * with x < 2^32 and c < 2^31, so the product stays below 2^63 and never overflows BIGINT (nor trips
 * Spark's ANSI overflow check). Right shifts only ever see non-negative values, so arithmetic
 * (BigQuery's `>>`) and logical (Trino's bitwise_right_shift) shifts agree.
 *
 * Everything the compiled SQL spells differently by engine is in `SqlDialect`, one object per engine
 * (the table below); every generator here and in compile.ts takes the dialect and is otherwise
 * shared, so the DuckDB instance the tests run is the same generator the warehouse dialects use.
 */
export type DialectName = 'duckdb' | 'spark' | 'trino' | 'bigquery';

export interface SqlDialect {
  readonly name: DialectName;
  /** A column name as a quoted identifier. */
  ident(name: string): string;
  /**
   * The aggregate that sums the point query's per-row statistics. A plain parallel sum of 1e8
   * doubles is off by about sqrt(n) ulps in an order that changes from run to run (3e-12 relative
   * against the in-process pairwise sums at 1e8 rows, bench scale); DuckDB's fsum is compensated
   * (Kahan-Babuska), accurate to about an ulp whatever the order. The warehouses have no such
   * aggregate. The replicate sums stay plain (their weights are exact integers; their last bits
   * only move the bootstrap se by as much).
   */
  readonly sumFn: string;
  xor(a: string, b: string): string;
  shiftRight(a: string, k: number): string;
  and(a: string, mask: string): string;
  /** Type names for CAST: 64-bit integer, 64-bit float, string. */
  readonly types: { readonly bigint: string; readonly double: string; readonly string: string };
  /** A string expression cast to BIGINT, NULL when it is not an integer. */
  tryBigint(s: string): string;
  /** A subquery of the rows b = 0 .. B-1 (B >= 1), one BIGINT column named b. */
  replicateRange(B: number): string;
  /** FNV-1a 32 of the UTF-8 bytes of a string expression, as BIGINT (cluster-key.ts rule 2). */
  fnv1a(s: string): string;
  /** The number of rows where a boolean expression is true (an aggregate). */
  countIf(cond: string): string;
  /** A DOUBLE expression is NaN or infinite (true, false, or NULL for NULL). */
  notFinite(x: string): string;
  /** The element at a 0-based index (a non-negative BIGINT expression) of a list, NULL past its end. */
  listAt(list: string, index: string): string;
  /** sum_k a[k] b[k] over two lists of numbers as DOUBLE, k in order where the engine allows; NULL when their lengths differ. */
  listDot(a: string, b: string): string;
  /** Statements that must precede the query (BigQuery's temporary function), or ''. */
  readonly preamble: string;
}

const MASK32 = '4294967295';

/** "name": standard SQL's quoted identifier (DuckDB, Trino), a doubled quote escaping itself. */
function doubleQuoted(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * `name`: Spark's and BigQuery's quoted identifier (their double quotes delimit strings). The two
 * escape a backquote differently (doubled, backslash), so a name holding one is refused.
 */
function backquoted(name: string): string {
  if (/[`\\\n]/.test(name)) throw new UsageError(`column name ${JSON.stringify(name)}: backquotes, backslashes and newlines in column names are not supported by this SQL dialect`);
  return `\`${name}\``;
}

const FNV_OFFSET = 2166136261;
const FNV_PRIME = 16777619;

/**
 * FNV-1a folded over a list of byte values (BIGINT) by an engine's ordered list fold, with the
 * dialect's own xor and and (the dialects below pass themselves; they are read when called).
 */
function fnv1aFold(bytes: string, fold: (list: string, init: string, body: string) => string, d: SqlDialect): string {
  return fold(bytes, `CAST(${FNV_OFFSET} AS ${d.types.bigint})`, d.and(`(${d.xor('ope_h', 'ope_b')} * ${FNV_PRIME})`, MASK32));
}

/**
 * The dialects. Sources of each spelling (the engines' reference documentation):
 * - Quoted identifiers: "x" in DuckDB and Trino (standard SQL), `x` in Spark and BigQuery.
 * - DuckDB (run by the tests): `xor`, `>>`, `&` (Bitwise operators); `range(n)` table function
 *   (column `range`); `encode` (VARCHAR to its UTF-8 BLOB), `hex`, `regexp_extract_all`,
 *   `list_transform` and `list_reduce(list, lambda, initial)`; `count(*) FILTER (WHERE ...)`;
 *   `isfinite`; `TRY_CAST`; `l[i]` (1-based, NULL past the end), `len`.
 * - Spark SQL (3.3+): `^`, `&` and `shiftright(a, k)` (Built-in Functions, bitwise);
 *   `range(n)` table-valued function (column `id`); `encode(s, 'UTF-8')` (string to binary),
 *   `hex`, `regexp_extract_all(str, regexp, 0)` (3.1+; group 0 = the whole match), `conv(x, 16,
 *   10)`, `transform` and `aggregate(list, start, merge)`; `count_if`; `isnan`; `try_cast`;
 *   `try_element_at` (3.3+, 1-based, NULL past the end), `zip_with`.
 * - Trino: `bitwise_xor`, `bitwise_and`, `bitwise_right_shift` (Bitwise functions); `UNNEST(
 *   sequence(0, n - 1))`, whose arrays hold at most 10000 entries (hence two of them beyond that);
 *   `to_utf8`, `to_hex`, `regexp_extract_all`, `from_base(x, 16)`, `transform` and
 *   `reduce(list, initial, input, output)`; `count_if`; `is_finite`; `try_cast`; `element_at`
 *   (1-based, NULL past the end), `zip_with`.
 * - BigQuery (GoogleSQL): `^`, `>>`, `&` (Bitwise operators, INT64); `UNNEST(GENERATE_ARRAY(0,
 *   n - 1))`; CAST(STRING AS BYTES) is UTF-8 and `TO_CODE_POINTS(bytes)` gives the byte values
 *   0..255; there is no ordered lambda fold, so FNV-1a is a temporary JavaScript UDF over those
 *   bytes (Math.imul, exact in 32 bits; returned as FLOAT64, which holds every 32-bit value
 *   exactly); `COUNTIF`; `IS_NAN`, `IS_INF`; `SAFE_CAST`; `a[SAFE_OFFSET(i)]`, `ARRAY_LENGTH`,
 *   `UNNEST ... WITH OFFSET`; types INT64, FLOAT64, STRING.
 */
export const DUCKDB: SqlDialect = {
  name: 'duckdb',
  sumFn: 'fsum',
  ident: (n) => doubleQuoted(n),
  xor: (a, b) => `xor(${a}, ${b})`,
  shiftRight: (a, k) => `(${a} >> ${k})`,
  and: (a, m) => `(${a} & ${m})`,
  types: { bigint: 'BIGINT', double: 'DOUBLE', string: 'VARCHAR' },
  tryBigint: (s) => `TRY_CAST(${s} AS BIGINT)`,
  replicateRange: (B) => `SELECT range AS b FROM range(${B})`,
  fnv1a: (s) =>
    fnv1aFold(
      `list_transform(regexp_extract_all(hex(encode(${s})), '..'), ope_x -> CAST('0x' || ope_x AS BIGINT))`,
      (list, init, body) => `list_reduce(${list}, (ope_h, ope_b) -> ${body}, ${init})`,
      DUCKDB,
    ),
  countIf: (c) => `count(*) FILTER (WHERE ${c})`,
  notFinite: (x) => `NOT isfinite(${x})`,
  listAt: (l, i) => `${l}[${i} + 1]`,
  listDot: (a, b) =>
    `CASE WHEN len(${a}) = len(${b}) THEN list_reduce(list_transform(range(1, len(${a}) + 1), ope_k -> CAST(${a}[ope_k] AS DOUBLE) * CAST(${b}[ope_k] AS DOUBLE)), (ope_s, ope_p) -> ope_s + ope_p, CAST(0 AS DOUBLE)) END`,
  preamble: '',
};

export const SPARK: SqlDialect = {
  name: 'spark',
  sumFn: 'sum',
  ident: (n) => backquoted(n),
  xor: (a, b) => `(${a} ^ ${b})`,
  shiftRight: (a, k) => `shiftright(${a}, ${k})`,
  and: (a, m) => `(${a} & ${m})`,
  types: { bigint: 'BIGINT', double: 'DOUBLE', string: 'STRING' },
  tryBigint: (s) => `try_cast(${s} AS BIGINT)`,
  replicateRange: (B) => `SELECT id AS b FROM range(${B})`,
  fnv1a: (s) =>
    fnv1aFold(
      `transform(regexp_extract_all(hex(encode(${s}, 'UTF-8')), '..', 0), ope_x -> CAST(conv(ope_x, 16, 10) AS BIGINT))`,
      (list, init, body) => `aggregate(${list}, ${init}, (ope_h, ope_b) -> ${body})`,
      SPARK,
    ),
  countIf: (c) => `count_if(${c})`,
  // Spark has isnan but no isinf; NaN compares equal only to NaN there, so abs(NaN) = Infinity is false.
  notFinite: (x) => `(isnan(${x}) OR abs(${x}) = CAST('Infinity' AS DOUBLE))`,
  listAt: (l, i) => `try_element_at(${l}, ${i} + 1)`,
  // zip_with pads the shorter list with NULLs, so lists of different lengths sum to NULL.
  listDot: (a, b) => `aggregate(zip_with(${a}, ${b}, (ope_x, ope_y) -> CAST(ope_x AS DOUBLE) * CAST(ope_y AS DOUBLE)), CAST(0 AS DOUBLE), (ope_s, ope_p) -> ope_s + ope_p)`,
  preamble: '',
};

/** Trino's sequence() returns at most this many entries. */
const TRINO_SEQUENCE_MAX = 10000;

export const TRINO: SqlDialect = {
  name: 'trino',
  sumFn: 'sum',
  ident: (n) => doubleQuoted(n),
  xor: (a, b) => `bitwise_xor(${a}, ${b})`,
  shiftRight: (a, k) => `bitwise_right_shift(${a}, ${k})`,
  and: (a, m) => `bitwise_and(${a}, ${m})`,
  types: { bigint: 'BIGINT', double: 'DOUBLE', string: 'VARCHAR' },
  tryBigint: (s) => `try_cast(${s} AS BIGINT)`,
  replicateRange: (B) =>
    B <= TRINO_SEQUENCE_MAX
      ? `SELECT b FROM UNNEST(sequence(0, ${B - 1})) AS reps_t (b)`
      : `SELECT hi * ${TRINO_SEQUENCE_MAX} + lo AS b FROM UNNEST(sequence(0, ${Math.ceil(B / TRINO_SEQUENCE_MAX) - 1})) AS reps_h (hi) CROSS JOIN UNNEST(sequence(0, ${TRINO_SEQUENCE_MAX - 1})) AS reps_l (lo) WHERE hi * ${TRINO_SEQUENCE_MAX} + lo < ${B}`,
  fnv1a: (s) =>
    fnv1aFold(
      `transform(regexp_extract_all(to_hex(to_utf8(${s})), '..'), ope_x -> from_base(ope_x, 16))`,
      (list, init, body) => `reduce(${list}, ${init}, (ope_h, ope_b) -> ${body}, ope_h -> ope_h)`,
      TRINO,
    ),
  countIf: (c) => `count_if(${c})`,
  notFinite: (x) => `NOT is_finite(${x})`,
  listAt: (l, i) => `element_at(${l}, ${i} + 1)`,
  // zip_with pads the shorter list with NULLs, so lists of different lengths sum to NULL.
  listDot: (a, b) => `reduce(zip_with(${a}, ${b}, (ope_x, ope_y) -> CAST(ope_x AS DOUBLE) * CAST(ope_y AS DOUBLE)), CAST(0 AS DOUBLE), (ope_s, ope_p) -> ope_s + ope_p, ope_s -> ope_s)`,
  preamble: '',
};

/** The name of BigQuery's temporary FNV-1a function (the query's preamble defines it). */
const BQ_FNV = 'ope_fnv1a32';

export const BIGQUERY: SqlDialect = {
  name: 'bigquery',
  sumFn: 'sum',
  ident: (n) => backquoted(n),
  xor: (a, b) => `(${a} ^ ${b})`,
  shiftRight: (a, k) => `(${a} >> ${k})`,
  and: (a, m) => `(${a} & ${m})`,
  types: { bigint: 'INT64', double: 'FLOAT64', string: 'STRING' },
  tryBigint: (s) => `SAFE_CAST(${s} AS INT64)`,
  replicateRange: (B) => `SELECT b FROM UNNEST(GENERATE_ARRAY(0, ${B - 1})) AS b`,
  // The bytes go in as FLOAT64 (JavaScript UDFs take no INT64), in order (ORDER BY the offset).
  fnv1a: (s) => `CAST(${BQ_FNV}(ARRAY(SELECT CAST(ope_b AS FLOAT64) FROM UNNEST(TO_CODE_POINTS(CAST(${s} AS BYTES))) AS ope_b WITH OFFSET AS ope_o ORDER BY ope_o)) AS INT64)`,
  countIf: (c) => `COUNTIF(${c})`,
  notFinite: (x) => `(IS_NAN(${x}) OR IS_INF(${x}))`,
  listAt: (l, i) => `${l}[SAFE_OFFSET(${i})]`,
  // SUM over UNNEST: the order of the additions is the engine's, so the last bits may differ.
  listDot: (a, b) =>
    `CASE WHEN ARRAY_LENGTH(${a}) = ARRAY_LENGTH(${b}) THEN (SELECT SUM(CAST(ope_x AS FLOAT64) * CAST(${b}[OFFSET(ope_o)] AS FLOAT64)) FROM UNNEST(${a}) AS ope_x WITH OFFSET AS ope_o) END`,
  preamble: [
    `CREATE TEMP FUNCTION ${BQ_FNV}(utf8 ARRAY<FLOAT64>) RETURNS FLOAT64 LANGUAGE js AS r"""`,
    `  let h = ${FNV_OFFSET};`,
    `  for (const b of utf8) h = Math.imul(h ^ b, ${FNV_PRIME}) >>> 0;`,
    `  return h;`,
    `""";`,
  ].join('\n'),
};

export const DIALECTS: Readonly<Record<DialectName, SqlDialect>> = { duckdb: DUCKDB, spark: SPARK, trino: TRINO, bigquery: BIGQUERY };

/** CAST(x AS the dialect's type). */
export function castSql(x: string, type: keyof SqlDialect['types'], d: SqlDialect): string {
  return `CAST(${x} AS ${d.types[type]})`;
}

/** A number as the dialect's DOUBLE literal that parses to exactly this double (Infinity included: every engine's string-to-double cast reads 'Infinity'). */
export function numberSql(x: number, d: SqlDialect): string {
  return castSql(`'${String(x)}'`, 'double', d);
}

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

/** The replicate table (b, rk) for b < B, rk = replicateKey(b) computed in SQL over 0 .. B-1. */
export function replicateTableSql(B: number, d: SqlDialect = DUCKDB): string {
  return `SELECT b, ${mix32Sql(d.xor('b', String(REPLICATE_XOR)), d)} AS rk FROM (${d.replicateRange(B)}) AS reps_range`;
}

/** seedKey(seed) in SQL, for engines that want the whole spec (the compiler inlines the constant). */
export function seedKeySql(seed: number, d: SqlDialect = DUCKDB): string {
  return mix32Sql(d.xor(String(seed >>> 0), String(SEED_XOR)), d);
}

/** Replicate keys computed in JS (the values replicateTableSql produces), for tests. */
export function replicateKeys(B: number): number[] {
  return Array.from({ length: B }, (_, b) => replicateKey(b));
}

/** Rule 1 of cluster-key.ts for a BIGINT n in 0 .. 2^53-1: (n mod 2^32) xor mix32(floor(n / 2^32)). */
export function clusterKeyOfIntegerSql(n: string, d: SqlDialect = DUCKDB): string {
  return d.xor(d.and(n, MASK32), mix32Sql(d.shiftRight(n, 32), d));
}

const MAX_SAFE = '9007199254740991';

/**
 * The 32-bit cluster key of a request id column, exactly as cluster-key.ts defines it, by the
 * column's SQL type: integers (rule 1, or rule 2 on their decimal text when negative or >= 2^53),
 * strings (rule 1 for canonical decimal integers below 2^53, else rule 2); a NULL id is the key of
 * 'null#' + the row's global ordinal `rowNumber`.
 *
 * A string is canonical when it is the decimal text of its own integer value (no sign, leading
 * zero, blank or digit separator survives the round trip), which needs no regular expression (whose
 * anchors differ by engine: Java's `$` also matches before a final newline).
 */
export function clusterKeySql(id: string, type: 'integer' | 'string', rowNumber: string, d: SqlDialect = DUCKDB): string {
  const missing = d.fnv1a(`('null#' || ${castSql(rowNumber, 'string', d)})`);
  if (type === 'integer') {
    const n = castSql(id, 'bigint', d);
    return `(CASE WHEN ${id} IS NULL THEN ${missing} WHEN ${n} >= 0 AND ${n} <= ${MAX_SAFE} THEN ${clusterKeyOfIntegerSql(n, d)} ELSE ${d.fnv1a(castSql(id, 'string', d))} END)`;
  }
  const n = d.tryBigint(id);
  const canonical = `${n} >= 0 AND ${n} <= ${MAX_SAFE} AND ${castSql(n, 'string', d)} = ${id}`;
  return `(CASE WHEN ${id} IS NULL THEN ${missing} WHEN ${canonical} THEN ${clusterKeyOfIntegerSql(n, d)} ELSE ${d.fnv1a(id)} END)`;
}
