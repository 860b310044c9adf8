import { createReadStream } from 'node:fs';
import { CsvError, parse, type Info } from 'csv-parse';
import { InputError } from '../errors.js';
import { oneLine, type RawChunk, type RawColumn, type RawReader } from './raw.js';

/**
 * CSV with a header row, streamed through csv-parse: memory is one chunk of `chunkRows` rows of
 * the columns the mapper needs. Cells stay text here; the mapper parses them, so a bad cell is
 * reported with its column, row and line.
 */
export const readCsv: RawReader = async function* (path, chunkRows, selector) {
  const stream = createReadStream(path);
  const parser = stream.pipe(parse({ info: true, bom: true, skip_empty_lines: true }));
  let columns: string[] | undefined;
  let keep: { name: string; index: number }[] = [];
  let cells: (string | null)[][] = [];
  let lines: number[] = [];
  let any = false;
  const chunk = (): RawChunk => {
    const byName = new Map<string, RawColumn>(keep.map((k, j) => [k.name, { kind: 'text', values: cells[j] }]));
    const lineNumbers = lines;
    return { columns: columns ?? [], n: lineNumbers.length, column: (name) => byName.get(name), lineOf: (i) => lineNumbers[i] };
  };
  try {
    for await (const rec of parser as AsyncIterable<{ record: string[]; info: Info }>) {
      if (columns === undefined) {
        columns = rec.record.map((c) => c.trim());
        const seen = new Set<string>();
        for (const c of columns) {
          if (seen.has(c)) throw new InputError(`duplicate column name '${c}' in the header`, { file: path, column: c });
          seen.add(c);
        }
        const index = new Map(columns.map((c, i) => [c, i] as const));
        keep = selector.select(columns).map((name) => ({ name, index: index.get(name) as number }));
        cells = keep.map(() => []);
        continue;
      }
      const r = rec.record;
      for (let j = 0; j < keep.length; j++) {
        const v = r[keep[j].index];
        cells[j].push(v === '' ? null : v);
      }
      lines.push(rec.info.lines);
      if (lines.length === chunkRows) {
        any = true;
        yield chunk();
        cells = keep.map(() => []);
        lines = [];
      }
    }
  } catch (err) {
    if (err instanceof CsvError) {
      const e = err as CsvError & { lines?: number; records?: number };
      const row = typeof e.records === 'number' && e.records > 0 ? e.records - 1 : undefined;
      throw new InputError(`not valid CSV: ${oneLine(err.message)}`, { file: path, row, line: e.lines });
    }
    throw err;
  } finally {
    stream.destroy();
  }
  if (columns === undefined) return;
  if (lines.length > 0 || !any) yield chunk();
};
