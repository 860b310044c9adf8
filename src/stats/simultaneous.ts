import { normalCdf } from './normal.js';
import { quantileSorted } from './quantile.js';

/**
 * Simultaneous inference over many candidates, each compared with one baseline (issue 7, `ope
 * filter`): all intervals cover their true differences together with probability 1 - alpha, so a
 * shortlist of the candidates whose lower bound clears the bar holds a worse one with probability
 * at most alpha, however many candidates are screened.
 */

export interface Contrast {
  readonly value: number;
  readonly se: number;
  /** The difference in bootstrap replicate b at index b (NaN where a replicate had no estimate). */
  readonly replicates: Float64Array;
}

/**
 * Bootstrap max-t critical value (Romano & Wolf 2005, "Exact and approximate stepdown methods for
 * multiple hypothesis testing"; Westfall & Young 1993): the (1 - alpha) quantile (type 7) of
 * T_b = max_c |theta*_cb - theta_c| / se_c over replicates, which captures the correlation between
 * the candidates' estimates (they share the log and the bootstrap weights), so it is below the
 * Bonferroni value. Candidates with se = 0 take no part; replicates where any candidate has no
 * estimate are left out. NaN when no replicate is usable.
 */
export function maxTCritical(contrasts: readonly Contrast[], alpha: number): number {
  const used = contrasts.filter((c) => c.se > 0 && Number.isFinite(c.se));
  if (used.length === 0) return 0;
  const B = used[0].replicates.length;
  const t: number[] = [];
  for (let b = 0; b < B; b++) {
    let m = 0;
    let ok = true;
    for (const c of used) {
      const r = c.replicates[b];
      if (!Number.isFinite(r)) {
        ok = false;
        break;
      }
      const z = Math.abs(r - c.value) / c.se;
      if (z > m) m = z;
    }
    if (ok) t.push(m);
  }
  if (t.length === 0) return NaN;
  t.sort((a, b) => a - b);
  return quantileSorted(t, 1 - alpha);
}

/**
 * Holm's step-down adjusted p-values (Holm 1979) of one-sided tests H0_c: theta_c <= bar against
 * theta_c > bar, from z_c = (value_c - bar) / se_c under the normal approximation: sort the raw
 * p-values p_(1) <= ... <= p_(m); adjusted p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)). Rejecting
 * where the adjusted p-value is <= alpha controls the family-wise error rate at alpha.
 */
export function holmAdjusted(contrasts: readonly Pick<Contrast, 'value' | 'se'>[], bar: number): number[] {
  const m = contrasts.length;
  const raw = contrasts.map((c) => (c.se > 0 ? 1 - normalCdf((c.value - bar) / c.se) : c.value > bar ? 0 : 1));
  const order = raw.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach(([p, i], j) => {
    running = Math.max(running, Math.min(1, (m - j) * p));
    out[i] = running;
  });
  return out;
}
