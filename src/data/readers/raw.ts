import { InputError } from '../errors.js';

/**
 * What a format reader hands to the contract mapper: columns as the file stores them, before any
 * contract rule is applied. Keeping the formats this thin is what makes the four formats give
 * identical batches: every conversion and every check lives once, in ../contract.ts.
 */
export type NumericArray = Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | Uint32Array | Uint16Array | Uint8Array;

export type RawColumn =
  /** Typed numbers (Arrow/Parquet numeric columns); `values` may be longer than the chunk. */
  | { readonly kind: 'numbers'; readonly values: NumericArray; readonly isNull?: (i: number) => boolean }
  /** 64-bit integers. */
  | { readonly kind: 'bigints'; readonly values: BigInt64Array | BigUint64Array; readonly isNull?: (i: number) => boolean }
  /** Timestamps and dates already converted to seconds since the epoch. */
  | { readonly kind: 'seconds'; readonly get: (i: number) => number | null }
  /** Untyped text cells (CSV); an empty cell is null. */
  | { readonly kind: 'text'; readonly values: ReadonlyArray<string | null> }
  /**
   * Typed cells of any kind (JSON values, strings, arrays for lists); `cells`, when the reader has
   * them as one array, lets a read worker copy them without a call per cell; `numbers`, when every
   * cell is known to be a number or null, the same cells as float64 (NaN where null, `nulls` 1 there).
   */
  | {
      readonly kind: 'values';
      readonly get: (i: number) => unknown;
      readonly cells?: readonly unknown[];
      readonly numbers?: { readonly values: Float64Array; readonly nulls?: Uint8Array };
    }
  /**
   * Arrow List / FixedSizeList of numbers: row i spans child entries offsets[i]..offsets[i+1]
   * (List) or i*width..(i+1)*width (FixedSizeList, offsets null).
   */
  | {
      readonly kind: 'list';
      readonly offsets: Int32Array | null;
      readonly width: number;
      readonly values: NumericArray;
      readonly isNull?: (i: number) => boolean;
      readonly childIsNull?: (j: number) => boolean;
    };

export interface RawChunk {
  /** Column names in file order (the same for every chunk of a file). */
  readonly columns: readonly string[];
  readonly n: number;
  column(name: string): RawColumn | undefined;
  /** 1-based line in the file of local row i (CSV, JSONL), for error messages. */
  readonly lineOf?: (i: number) => number;
}

/** How a format reader learns which columns the contract mapper needs. */
export interface ColumnSelector {
  /**
   * Called once, before the first chunk, with the file's columns; returns the ones to decode
   * (throws InputError when a required column is missing).
   */
  select(columns: readonly string[]): readonly string[];
  /** Whether a column of this name would feed the contract (for JSONL keys that appear late). */
  relevant(name: string): boolean;
}

/**
 * A format reader: an async generator of raw chunks. It yields at least one chunk (possibly with
 * n = 0, to report the columns of a header-only file) unless the file holds nothing at all.
 * `chunkRows` is a hint for formats that choose their own chunking (CSV, JSONL).
 */
export type RawReader = (path: string, chunkRows: number, selector: ColumnSelector) => AsyncGenerator<RawChunk, void, undefined>;

const NUMBER_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Number from text as pandas, polars and spreadsheets write it (including nan and inf spellings);
 * undefined when the text is not a number.
 */
export function parseNumberText(s: string): number | undefined {
  const t = s.trim();
  if (NUMBER_TEXT.test(t)) return Number(t);
  switch (t.toLowerCase()) {
    case 'nan':
      return NaN;
    case 'inf':
    case '+inf':
    case 'infinity':
    case '+infinity':
      return Infinity;
    case '-inf':
    case '-infinity':
      return -Infinity;
    default:
      return undefined;
  }
}

/**
 * Library exceptions on a damaged file become one InputError naming the file; our own InputErrors
 * pass through unchanged.
 */
export function asFileError(err: unknown, file: string, what: string): InputError {
  if (err instanceof InputError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new InputError(`file is truncated or not a valid ${what} file (${oneLine(detail)})`, { file });
}

export function oneLine(s: string, max = 160): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? t.slice(0, max - 3) + '...' : t;
}
