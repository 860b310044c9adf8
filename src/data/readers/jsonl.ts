import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { InputError } from '../errors.js';
import { oneLine, type RawChunk, type RawColumn, type RawReader } from './raw.js';

/**
 * JSON Lines: one JSON object per line, streamed line by line. The columns are the keys seen in
 * the first chunk of rows, in order of first appearance; a row may omit a key (null). A key that
 * first appears later and would feed the contract is an error rather than silently ignored.
 */
export const readJsonl: RawReader = async function* (path, chunkRows, selector) {
  const stream = createReadStream(path);
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let columns: string[] | undefined;
  const known = new Set<string>();
  let wanted: readonly string[] = [];
  let rows: Record<string, unknown>[] = [];
  let lineNumbers: number[] = [];
  let row = 0;
  let lineNo = 0;

  const chunk = (): RawChunk => {
    if (columns === undefined) {
      columns = [];
      for (const r of rows) {
        for (const k of Object.keys(r)) {
          if (!known.has(k)) {
            known.add(k);
            columns.push(k);
          }
        }
      }
      wanted = selector.select(columns);
    }
    const data = rows;
    const byName = new Map<string, RawColumn>(
      wanted.map((name) => {
        const values = data.map((r) => r[name] ?? null);
        return [name, { kind: 'values', get: (i: number) => values[i] }];
      }),
    );
    const ln = lineNumbers;
    return { columns, n: data.length, column: (name) => byName.get(name), lineOf: (i) => ln[i] };
  };

  try {
    for await (const text of lines) {
      lineNo++;
      if (text.trim() === '') continue;
      let obj: unknown;
      try {
        obj = parseLine(text);
      } catch (err) {
        throw new InputError(`not valid JSON: ${oneLine(err instanceof Error ? err.message : String(err))}`, { file: path, row, line: lineNo });
      }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
        throw new InputError('each line must be a JSON object ({"column": value, ...})', { file: path, row, line: lineNo });
      }
      const rec = obj as Record<string, unknown>;
      if (columns !== undefined) {
        for (const k of Object.keys(rec)) {
          if (!known.has(k) && selector.relevant(k)) {
            throw new InputError(
              `key '${k}' first appears after the first ${chunkRows} rows; write it (null where missing) in the first rows so the column is known`,
              { file: path, column: k, row, line: lineNo },
            );
          }
        }
      }
      rows.push(rec);
      lineNumbers.push(lineNo);
      row++;
      if (rows.length === chunkRows) {
        yield chunk();
        rows = [];
        lineNumbers = [];
      }
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  if (rows.length > 0) yield chunk();
};

/** Bare NaN / Infinity where a JSON value belongs, as Python's json module writes non-finite floats. */
const NON_FINITE = /([:[,]\s*)(NaN|-?Infinity)(?=\s*[,\]}])/g;

/**
 * JSON.parse, and on failure a second try with bare NaN / Infinity quoted: the mapper reads the
 * texts 'NaN' and 'Infinity' as those numbers, so Python-written logs keep their values.
 */
function parseLine(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const quoted = text.replace(NON_FINITE, '$1"$2"');
    if (quoted === text) throw err;
    return JSON.parse(quoted);
  }
}
