import { UsageError } from '../data/errors.js';

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
