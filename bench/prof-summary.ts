/**
 * Summarizes V8 .cpuprofile files (from `node --cpu-prof`): per function, self time (samples in
 * the function itself) and total time (samples with the function anywhere on the stack), as a
 * share of the profile's wall time.
 *
 *   node dist/bench/prof-summary.js FILE.cpuprofile [...] [--top 25]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './lib/common.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionTime {
  fn: string;
  where: string;
  selfMs: number;
  selfShare: number;
  totalMs: number;
  totalShare: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  /** Time outside JS: idle (waiting on I/O or workers), GC, and the program's own root. */
  idleMs: number;
  gcMs: number;
  top: FunctionTime[];
}

function whereOf(url: string, line: number): string {
  if (url === '') return '';
  let path = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (path.startsWith(ROOT)) path = relative(ROOT, path);
  path = path.replace(/^node_modules\//, 'nm/');
  return `${path}:${line + 1}`;
}

export function summarizeProfile(file: string, topN = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) byId.set(n.id, n);
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'}\t${whereOf(n.callFrame.url, n.callFrame.lineNumber)}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  // timeDeltas[i] is the time before sample i; attribute it to sample i (V8's own convention in DevTools).
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const leaf = byId.get(p.samples[i]);
    if (leaf === undefined) continue;
    const name = leaf.callFrame.functionName;
    if (name === '(idle)') idle += dt;
    if (name === '(garbage collector)') gc += dt;
    const k = key(leaf);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id);
      if (node === undefined) break;
      const kk = key(node);
      if (seen.has(kk)) continue;
      seen.add(kk);
      total.set(kk, (total.get(kk) ?? 0) + dt);
    }
  }
  const wallMs = (p.endTime - p.startTime) / 1000;
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([k, ms]) => {
      const [fn, where] = k.split('\t');
      const t = total.get(k) ?? ms;
      return { fn, where, selfMs: ms, selfShare: ms / wallMs, totalMs: t, totalShare: t / wallMs };
    });
  return { file, wallMs, idleMs: idle, gcMs: gc, top };
}

export function formatSummary(s: ProfileSummary): string {
  const lines = [`${s.file}: ${s.wallMs.toFixed(0)} ms profiled, idle ${s.idleMs.toFixed(0)} ms, GC ${s.gcMs.toFixed(0)} ms`];
  lines.push(`  ${'self ms'.padStart(8)} ${'self%'.padStart(6)} ${'total%'.padStart(7)}  function  (file:line)`);
  for (const f of s.top) {
    lines.push(`  ${f.selfMs.toFixed(0).padStart(8)} ${(100 * f.selfShare).toFixed(1).padStart(6)} ${(100 * f.totalShare).toFixed(1).padStart(7)}  ${f.fn}  (${f.where})`);
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const t = args.indexOf('--top');
  const topN = t >= 0 ? Number(args[t + 1]) : 25;
  const files = args.filter((a, i) => !(a === '--top' || (t >= 0 && i === t + 1)));
  for (const f of files) process.stdout.write(formatSummary(summarizeProfile(f, topN)) + '\n\n');
}
