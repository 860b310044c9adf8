import { UsageError } from '../data/errors.js';

/** Parsers for option values: a bad value is a usage error naming the option (exit 2). */
export function parseIntOption(name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(`${name} needs a whole number in ${min}..${max === Number.MAX_SAFE_INTEGER ? 'inf' : max}, got '${value}'`);
  }
  return v;
}

export function parseFloatOption(name: string, value: string): number {
  const t = value.trim().toLowerCase();
  const v = t === 'inf' || t === 'infinity' ? Infinity : Number(value);
  if (t === '' || Number.isNaN(v)) throw new UsageError(`${name} needs a number, got '${value}'`);
  return v;
}

/** 'lo,hi' with lo < hi. */
export function parseRange(name: string, value: string): [number, number] {
  const parts = value.split(',');
  if (parts.length !== 2) throw new UsageError(`${name} needs 'lo,hi', got '${value}'`);
  const lo = parseFloatOption(name, parts[0]);
  const hi = parseFloatOption(name, parts[1]);
  if (!(lo < hi)) throw new UsageError(`${name} needs lo < hi, got '${value}'`);
  return [lo, hi];
}

/** 'NAME=FILE' (of --policy, or the option named) */
export function parsePolicyOption(value: string, option = '--policy'): [string, string] {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw new UsageError(`${option} needs NAME=FILE, got '${value}'`);
  return [value.slice(0, eq), value.slice(eq + 1)];
}
