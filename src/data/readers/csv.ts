import { createReadStream } from 'node:fs';
import { CsvError, parse } from 'csv-parse';
import { InputError } from '../errors.js';
import { oneLine, type RawChunk, type RawColumn, type RawReader } from './raw.js';

/**
 * CSV with a header row, streamed through csv-parse: memory is one chunk of `chunkRows` rows of
 * the columns the mapper needs. Cells stay text here; the mapper parses them, so a bad cell is
 * reported with its column, row and line.
 *
 * Records are taken from 'data' events rather than `for await`: csv-parse emits them synchronously
 * while it parses, so `parser.info.lines` is exactly the line where the record ends, and neither
 * its per-record info objects nor a promise per record are paid for (about 3x faster). The parser
 * is paused while a full chunk waits for the consumer, so memory stays bounded.
 */
export const readCsv: RawReader = async function* (path, chunkRows, selector) {
  const stream = createReadStream(path);
  const parser = parse({ bom: true, skip_empty_lines: true });
  let columns: string[] | undefined;
  let keep: { name: string; index: number }[] = [];
  let cells: (string | null)[][] = [];
  let lines: number[] = [];
  const ready: RawChunk[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const signal = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const chunk = (): RawChunk => {
    const byName = new Map<string, RawColumn>(keep.map((k, j) => [k.name, { kind: 'text', values: cells[j] }]));
    const lineNumbers = lines;
    cells = keep.map(() => []);
    lines = [];
    return { columns: columns ?? [], n: lineNumbers.length, column: (name) => byName.get(name), lineOf: (i) => lineNumbers[i] };
  };
  const fail = (err: unknown): void => {
    failure ??= err;
    parser.pause();
    signal();
  };

  parser.on('data', (record: string[]) => {
    if (failure !== undefined) return;
    try {
      if (columns === undefined) {
        columns = header(record, path);
        const index = new Map(columns.map((c, i) => [c, i] as const));
        keep = selector.select(columns).map((name) => ({ name, index: index.get(name) as number }));
        cells = keep.map(() => []);
        return;
      }
      for (let j = 0; j < keep.length; j++) {
        const v = record[keep[j].index];
        cells[j].push(v === '' ? null : v);
      }
      lines.push(parser.info.lines);
      if (lines.length === chunkRows) {
        ready.push(chunk());
        parser.pause();
        signal();
      }
    } catch (err) {
      fail(err);
    }
  });
  parser.on('end', () => {
    ended = true;
    signal();
  });
  parser.on('error', fail);
  stream.on('error', fail);
  stream.pipe(parser);

  let any = false;
  try {
    for (;;) {
      const next = ready.shift();
      if (next !== undefined) {
        any = true;
        yield next;
        if (ready.length === 0) parser.resume();
        continue;
      }
      if (failure !== undefined) throw csvError(failure, path);
      if (ended) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    stream.destroy();
    parser.destroy();
  }
  if (columns === undefined) return;
  if (lines.length > 0 || !any) yield chunk();
};

function header(record: readonly string[], path: string): string[] {
  const columns = record.map((c) => c.trim());
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c)) throw new InputError(`duplicate column name '${c}' in the header`, { file: path, column: c });
    seen.add(c);
  }
  return columns;
}

function csvError(err: unknown, path: string): unknown {
  if (!(err instanceof CsvError)) return err;
  const e = err as CsvError & { lines?: number; records?: number };
  const row = typeof e.records === 'number' && e.records > 0 ? e.records - 1 : undefined;
  return new InputError(`not valid CSV: ${oneLine(err.message)}`, { file: path, row, line: e.lines });
}
