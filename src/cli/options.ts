import { availableParallelism } from 'node:os';
import { UsageError } from '../data/errors.js';
import { parquetBytes } from '../data/read-log.js';
import { parseIntOption } from './parse.js';

/**
 * Below this many bytes of log, read workers cost more than they save: one takes about 0.3 s to
 * start and load its reader, and 1e6 Parquet rows (about 20 MB) take 0.5 s to decode on one core.
 */
const READ_AHEAD_MIN_BYTES = 32 * 1024 * 1024;

/**
 * `--threads` as given for both reading and the bootstrap; without it, all cores for the bootstrap,
 * and for reading when the log holds enough Parquet to gain from read workers (one thread
 * otherwise). Uncompressed Arrow IPC is zero-copy on the main thread, so handing its batches over
 * from workers only adds copies: `ope evaluate` on the 1e7-row Arrow bench log took 2.7-3.1 s with
 * read workers against 2.0-2.1 s without (bench/README.md, point-1e7-arrow). Compressed Arrow
 * does gain from them; `--threads N` asks for them explicitly.
 */
export async function threadOptions(flag: string | undefined, log: string): Promise<{ threads: number; readThreads: number }> {
  if (flag !== undefined) {
    const threads = parseIntOption('--threads', flag, 1, 256);
    return { threads, readThreads: threads };
  }
  const threads = availableParallelism();
  // A log that cannot be listed or read is reported by the pass that reads it.
  const bytes = await parquetBytes(log).catch(() => 0);
  return { threads, readThreads: bytes >= READ_AHEAD_MIN_BYTES ? threads : 1 };
}

/**
 * `--columns new=old,new2=old2`: contract column name -> the file's column name. Shared by every
 * command that reads a log.
 */
export function parseColumnsMapping(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const key = eq < 0 ? '' : item.slice(0, eq).trim();
    const value = eq < 0 ? '' : item.slice(eq + 1).trim();
    if (key === '' || value === '' || value.includes('=')) {
      throw new UsageError(`--columns: expected new=old pairs separated by commas (e.g. propensity=pscore,action=item), got '${item}'`);
    }
    if (Object.prototype.hasOwnProperty.call(out, key)) throw new UsageError(`--columns: '${key}' is mapped twice`);
    out[key] = value;
  }
  if (Object.keys(out).length === 0) throw new UsageError('--columns: expected at least one new=old pair');
  return out;
}
