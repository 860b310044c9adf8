import { readdir } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { parseEstimatorSpec } from '../../estimators/registry.js';
import { InputError, UsageError } from '../data/errors.js';
import { SUPPORTED_EXTENSIONS } from '../data/formats.js';
import { openLog, openPolicy, type ReadOptions } from '../data/read-log.js';
import { alignPolicies } from '../engine/align.js';
import { evaluateStream } from '../engine/evaluate.js';
import { filterAligned } from '../engine/reblock.js';
import { normalQuantile } from '../stats/normal.js';
import { holmAdjusted, maxTCritical } from '../stats/simultaneous.js';
import { TOOL_VERSION } from '../version.js';
import { isMature } from './log-profile.js';

/**
 * `ope filter` (issue 7): many candidates against one baseline in one pass over the log (the same
 * rows and bootstrap weights for all), ranked by the lower bound of a simultaneous interval of their
 * paired difference to the baseline, and the shortlist to send to shadow: the candidates whose
 * simultaneous lower bound clears the minimum effect. With max-t (default) the intervals hold
 * jointly at 1 - alpha (stats/simultaneous.ts); with Holm the shortlist is the step-down rejections
 * of "no better than the minimum effect", and the intervals shown are Bonferroni's.
 */

export type FilterMethod = 'max-t' | 'holm';

export interface FilterOptions {
  readonly log: string;
  readonly baseline: { readonly name: string; readonly file: string };
  readonly candidates: readonly { readonly name: string; readonly file: string }[];
  /** One estimator spec; default dr when the log carries q_hat, else snips. */
  readonly estimator?: string;
  readonly method?: FilterMethod;
  /** The improvement a candidate must show (default 0). */
  readonly minEffect?: number;
  readonly alpha?: number;
  readonly bootstrap?: number;
  readonly seed?: number;
  /** Worker threads for the bootstrap, and for decoding the log unless `read` sets its own. */
  readonly threads?: number;
  readonly read?: ReadOptions;
}

export interface FilterRow {
  readonly rank: number;
  readonly name: string;
  readonly file: string;
  readonly value: number;
  readonly difference: number;
  readonly se: number;
  /** Simultaneous interval of the difference. */
  readonly lower: number;
  readonly upper: number;
  /** Holm-adjusted p-value of 'difference <= minEffect' (method holm). */
  readonly adjustedP?: number;
  readonly shortlisted: boolean;
}

export interface FilterResult {
  readonly tool: 'ope-toolkit';
  readonly version: string;
  readonly command: 'filter';
  readonly log: string;
  readonly baseline: { readonly name: string; readonly file: string; readonly value: number };
  readonly estimator: string;
  readonly method: FilterMethod;
  readonly alpha: number;
  readonly minEffect: number;
  readonly bootstrap: { readonly replicates: number; readonly seed: number };
  /** The multiplier of se in the simultaneous intervals (max-t quantile, or Bonferroni's z). */
  readonly critical: number;
  readonly rows: number;
  /** By decreasing lower bound (ties: by name). */
  readonly candidates: readonly FilterRow[];
  readonly shortlist: readonly string[];
  readonly warnings: readonly string[];
}

/** Policy files of a folder (supported extensions), named by their file name without extension, in name order. */
export async function policiesInFolder(dir: string, exclude: readonly string[] = []): Promise<{ name: string; file: string }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new InputError(`cannot list the folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: dir });
  }
  const skip = new Set(exclude.map((p) => resolve(p)));
  return names
    .filter((f) => SUPPORTED_EXTENSIONS.some((e) => f.toLowerCase().endsWith(e)) && !skip.has(resolve(join(dir, f))))
    .sort()
    .map((f) => ({ name: basename(f, extname(f)), file: join(dir, f) }));
}

export async function runFilter(opts: FilterOptions): Promise<FilterResult> {
  const alpha = opts.alpha ?? 0.05;
  const replicates = opts.bootstrap ?? 1000;
  const seed = opts.seed ?? 12345;
  const method = opts.method ?? 'max-t';
  const minEffect = opts.minEffect ?? 0;
  if (opts.candidates.length === 0) throw new UsageError('no candidate: give --policy NAME=FILE (repeatable) or --policies DIR');
  if (method === 'max-t' && replicates < 100) throw new UsageError(`max-t needs bootstrap replicates (at least 100), got ${replicates}; or use --method holm`);
  const names = [opts.baseline.name, ...opts.candidates.map((c) => c.name)];
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new UsageError(`two policies are named '${dup}'`);
  const read: ReadOptions = { threads: opts.threads, ...opts.read, allowMissingReward: true };

  let spec = opts.estimator;
  if (spec === undefined) {
    let hasModel = false;
    for await (const b of openLog(opts.log, read).batches()) {
      hasModel = b.qHat !== undefined || b.qHatLogged !== undefined;
      break;
    }
    spec = hasModel ? 'dr' : 'snips';
  }
  const estimator = parseEstimatorSpec(spec);
  // Candidates are many: each read-ahead would start its own workers, so policy files are read in-thread.
  const inputs = [opts.baseline, ...opts.candidates].map((p) => {
    const src = openPolicy(p.file, { ...read, threads: 1 });
    return { name: p.name, kind: 'file' as const, path: p.file, batches: () => src.batches() };
  });
  const result = await evaluateStream(
    filterAligned(alignPolicies(openLog(opts.log, read).batches(), inputs), (b) => {
      const keep: number[] = [];
      for (let i = 0; i < b.log.n; i++) if (isMature(b.log, i, null)) keep.push(i);
      return Int32Array.from(keep);
    }),
    {
      estimators: [estimator],
      policyNames: names,
      replicates,
      seed,
      alpha,
      threads: opts.threads,
      contrasts: opts.candidates.map((c) => ({ candidate: c.name, baseline: opts.baseline.name })),
    },
  );
  const diffs = result.differences ?? [];
  const value = (p: string): number => result.estimates.find((e) => e.policy === p)?.value ?? NaN;
  const m = diffs.length;
  let critical: number;
  let adjusted: number[] | undefined;
  if (method === 'max-t') {
    critical = maxTCritical(
      diffs.map((d) => ({ value: d.value, se: d.se, replicates: d.replicates ?? new Float64Array(0) })),
      alpha,
    );
  } else {
    // Bonferroni's two-sided z for the intervals shown; the shortlist comes from Holm's step-down.
    critical = -normalQuantile(alpha / (2 * m));
    adjusted = holmAdjusted(diffs, minEffect);
  }
  const rows = diffs.map((d, i) => {
    const lower = d.value - critical * d.se;
    const upper = d.value + critical * d.se;
    const shortlisted = adjusted !== undefined ? adjusted[i] <= alpha : lower > minEffect;
    return {
      name: d.candidate,
      file: opts.candidates[i].file,
      value: value(d.candidate),
      difference: d.value,
      se: d.se,
      lower,
      upper,
      ...(adjusted !== undefined ? { adjustedP: adjusted[i] } : {}),
      shortlisted,
    };
  });
  rows.sort((a, b) => b.lower - a.lower || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const ranked: FilterRow[] = rows.map((r, i) => ({ rank: i + 1, ...r }));
  return {
    tool: 'ope-toolkit',
    version: TOOL_VERSION,
    command: 'filter',
    log: opts.log,
    baseline: { ...opts.baseline, value: value(opts.baseline.name) },
    estimator: estimator.label,
    method,
    alpha,
    minEffect,
    bootstrap: { replicates, seed },
    critical,
    rows: result.n,
    candidates: ranked,
    shortlist: ranked.filter((r) => r.shortlisted).map((r) => r.name),
    warnings: [...result.warnings, ...result.policies.flatMap((p) => p.warnings.map((w) => `${p.policy}: ${w}`))],
  };
}
