import type { Command } from 'commander';
import { extname } from 'node:path';
import { UsageError } from '../../data/errors.js';
import { writeFileAtomic } from '../../data/write-log.js';
import { policiesInFolder, runFilter, type FilterMethod, type FilterResult } from '../../gate/filter.js';
import { renderTable } from '../../report/format.js';
import { parseColumnsMapping, threadOptions } from '../options.js';
import { parseFloatOption, parseIntOption, parsePolicyOption } from '../parse.js';

/**
 * `ope filter` (issue 7): rank many candidates by the simultaneous lower bound of their paired
 * difference to the baseline, and write the shortlist to send to shadow (JSON or CSV by --out's
 * extension, and a table).
 */

interface FilterFlags {
  log: string;
  baseline: string;
  policy: string[];
  policies?: string;
  estimator?: string;
  method: string;
  minEffect?: string;
  alpha?: string;
  bootstrap?: string;
  seed?: string;
  threads?: string;
  columns?: string;
  out?: string;
  json?: boolean;
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

function f(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(4);
}

export function filterTable(r: FilterResult): string {
  const level = Math.round(100 * (1 - r.alpha));
  const lines = [
    `ope filter: ${r.candidates.length} candidates against '${r.baseline.name}' (${f(r.baseline.value)}) on ${r.log}, ${r.rows} rows, ${r.estimator}, ` +
      `${level}% simultaneous intervals by ${r.method} (critical value ${f(r.critical)}), minimum effect ${f(r.minEffect)}`,
    '',
  ];
  const head = ['rank', 'candidate', 'value', 'difference', `simultaneous ${level}% CI`, ...(r.method === 'holm' ? ['Holm p'] : []), 'shortlist'];
  const rows = r.candidates.map((c) => [
    String(c.rank),
    c.name,
    f(c.value),
    (c.difference >= 0 ? '+' : '') + f(c.difference),
    `[${f(c.lower)}, ${f(c.upper)}]`,
    ...(r.method === 'holm' ? [f(c.adjustedP ?? NaN)] : []),
    c.shortlisted ? 'yes' : '',
  ]);
  lines.push(
    ...renderTable(head, rows)
      .split('\n')
      .map((l) => '  ' + l),
  );
  lines.push('', r.shortlist.length > 0 ? `shortlist for shadow: ${r.shortlist.join(', ')}` : 'shortlist for shadow: none (no candidate clears the minimum effect with simultaneous confidence)');
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n') + '\n';
}

function csvOf(r: FilterResult): string {
  const esc = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = ['rank,candidate,file,value,difference,se,lower,upper,adjusted_p,shortlisted'];
  for (const c of r.candidates) lines.push([c.rank, esc(c.name), esc(c.file), c.value, c.difference, c.se, c.lower, c.upper, c.adjustedP ?? '', c.shortlisted].join(','));
  return lines.join('\n') + '\n';
}

export function registerFilter(program: Command): void {
  program
    .command('filter')
    .description('rank many candidates against a baseline by the simultaneous lower bound of their paired difference, and write the shortlist for shadow')
    .requiredOption('--log <file>', 'the log')
    .requiredOption('--baseline <name=file>', 'the baseline policy file')
    .option('--policy <name=file>', 'a candidate policy file (repeatable)', collect, [])
    .option('--policies <dir>', 'a folder of candidate policy files, named by file name')
    .option('--estimator <spec>', 'one estimator (default dr when the log carries q_hat, else snips)')
    .option('--method <m>', 'simultaneous intervals: max-t (bootstrap) or holm', 'max-t')
    .option('--min-effect <x>', 'the improvement a candidate must show to be shortlisted (default 0)')
    .option('--alpha <a>', 'family-wise error rate (default 0.05)')
    .option('--bootstrap <B>', 'bootstrap replicates (default 1000)')
    .option('--seed <s>', 'bootstrap seed (default 12345)')
    .option('--threads <n>', 'worker threads for the bootstrap and for decoding a Parquet/Arrow log (default: all cores; reading a log under 32 MB stays on one); results are identical for any count')
    .option('--columns <new=old,...>', 'map contract names to your column names')
    .option('--out <file>', 'write the ranked candidates and the shortlist: .json or .csv')
    .option('--json', 'print the JSON result instead of the table')
    .action(async (flags: FilterFlags) => {
      if (flags.method !== 'max-t' && flags.method !== 'holm') throw new UsageError(`--method must be max-t or holm, got '${flags.method}'`);
      const [bName, bFile] = parsePolicyOption(flags.baseline, '--baseline');
      const candidates = flags.policy.map((p) => {
        const [name, file] = parsePolicyOption(p);
        return { name, file };
      });
      if (flags.policies !== undefined) candidates.push(...(await policiesInFolder(flags.policies, [bFile, flags.log])));
      const outExt = flags.out === undefined ? undefined : extname(flags.out).toLowerCase();
      if (outExt !== undefined && outExt !== '.json' && outExt !== '.csv') throw new UsageError(`--out must end in .json or .csv, got '${flags.out}'`);
      const { threads, readThreads } = await threadOptions(flags.threads, flags.log);
      const result = await runFilter({
        log: flags.log,
        baseline: { name: bName, file: bFile },
        candidates,
        estimator: flags.estimator,
        method: flags.method as FilterMethod,
        minEffect: flags.minEffect === undefined ? undefined : parseFloatOption('--min-effect', flags.minEffect),
        alpha: flags.alpha === undefined ? undefined : parseFloatOption('--alpha', flags.alpha),
        bootstrap: flags.bootstrap === undefined ? undefined : parseIntOption('--bootstrap', flags.bootstrap, 0, 1_000_000),
        seed: flags.seed === undefined ? undefined : parseIntOption('--seed', flags.seed, 0, 4294967295),
        threads,
        read: { columns: flags.columns === undefined ? undefined : parseColumnsMapping(flags.columns), threads: readThreads },
      });
      const json = JSON.stringify(result, null, 2) + '\n';
      if (flags.out !== undefined) await writeFileAtomic(flags.out, outExt === '.csv' ? csvOf(result) : json);
      process.stdout.write(flags.json === true ? json : filterTable(result));
    });
}
