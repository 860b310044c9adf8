/**
 * Per-round metrics of the feedback-loop simulator (issue 6, item 4). Pure, deterministic functions
 * over typed arrays, one per metric, each with its definition and reference.
 *
 * Inputs:
 * - exposure counts e_i >= 0, one per item of the catalog (length I): how often item i was shown in
 *   the round (countItems over the round's slates); fractional values (expected exposures) are fine;
 * - slates: n x L row-major item ids (one row per arrival), ids in 0..I-1;
 * - popularity counts phi_i >= 0, one per item: interactions (clicks) of item i in the logged data
 *   the recommender was trained on (Abdollahpouri et al. use the number of ratings).
 * Invalid input (an empty catalog, a negative or non-finite count, an item id outside the catalog)
 * throws RangeError; a statistic of an empty sample (a round without exposures) is NaN where it has
 * no value, and the edge case is stated for each function.
 *
 * Values of policies (expected clicks per slate, from feedback-world.ts): the utility of a slate is
 * its expected number of clicks V = sum_k theta_k rho(u, a_k), its CTR V / L; regret compares them.
 */
import type { RandomStream } from './random-streams.js';

type Counts = ArrayLike<number>;

function checkCounts(name: string, counts: Counts): number {
  if (counts.length === 0) throw new RangeError(`${name}: the catalog is empty (no items)`);
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (!(Number.isFinite(c) && c >= 0)) throw new RangeError(`${name}: counts must be finite and >= 0, got ${c} for item ${i}`);
    total += c;
  }
  return total;
}

function checkItem(name: string, item: number, items: number, index: number): void {
  if (!(item >= 0 && item < items)) throw new RangeError(`${name}: slates[${index}] = ${item} is not an item id in [0, ${items - 1}]`);
}

/** c_i = number of entries equal to i in `itemIds`, for i = 0..items-1 (exposures of slates, clicks of a log). */
export function countItems(itemIds: Int32Array, items: number): Float64Array {
  const counts = new Float64Array(items);
  for (let j = 0; j < itemIds.length; j++) {
    const i = itemIds[j];
    checkItem('countItems', i, items, j);
    counts[i]++;
  }
  return counts;
}

/**
 * Catalog coverage (prediction/catalog coverage; Herlocker, Konstan, Terveen & Riedl 2004;
 * Ge, Delgado-Battenfeld & Jannach 2010): the share of the catalog shown at least once,
 *   coverage = #{i : e_i > 0} / I,  in [0, 1].
 * With exposures from slates of size K this is coverage@K. No exposures: 0.
 */
export function catalogCoverage(exposureCounts: Counts): number {
  checkCounts('catalogCoverage', exposureCounts);
  let shown = 0;
  for (let i = 0; i < exposureCounts.length; i++) if (exposureCounts[i] > 0) shown++;
  return shown / exposureCounts.length;
}

/**
 * Gini index of item exposure over the whole catalog (Gini 1912; as an exposure-concentration measure
 * Fleder & Hosanagar 2009, Mansoury et al. 2020), the sorted-cumulative formula: with the counts sorted
 * increasingly, e_(1) <= ... <= e_(I),
 *   G = sum_{r=1..I} (2 r - I - 1) e_(r) / (I sum_r e_(r)),
 * equal to the mean absolute difference over all ordered pairs divided by twice the mean. G = 0 when
 * every item has the same exposure, G = (I - 1) / I when one item has it all (e.g. [0, 0, 0, 10]: 0.75).
 * Ties do not matter (equal values are interchangeable in the sort). No exposures: NaN (0 / 0; there is
 * no distribution to be unequal). Not normalized by I / (I - 1).
 */
export function giniIndex(exposureCounts: Counts): number {
  const total = checkCounts('giniIndex', exposureCounts);
  if (total === 0) return NaN;
  const sorted = Float64Array.from(exposureCounts).sort();
  const n = sorted.length;
  let weighted = 0;
  for (let r = 1; r <= n; r++) weighted += (2 * r - n - 1) * sorted[r - 1];
  return weighted / (n * total);
}

/**
 * Shannon entropy (Shannon 1948), natural log, of the exposure distribution p_i = e_i / sum_j e_j:
 *   H = -sum_{i : p_i > 0} p_i ln p_i,  in [0, ln I]
 * (0 ln 0 = 0): ln I for uniform exposure, 0 when one item takes all. No exposures: NaN.
 */
export function shannonEntropy(exposureCounts: Counts): number {
  const total = checkCounts('shannonEntropy', exposureCounts);
  if (total === 0) return NaN;
  let h = 0;
  for (let i = 0; i < exposureCounts.length; i++) {
    const p = exposureCounts[i] / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}

/**
 * Average recommendation popularity (ARP; Abdollahpouri, Mansoury, Burke & Mobasher 2019, "The
 * unfairness of popularity bias in recommendation"): ARP = (1/|U|) sum_u sum_{i in L_u} phi_i / |L_u|.
 * All slates have the same size, so this is the mean of phi over every entry of `slates` (an item
 * recommended twice counts twice). No slates: NaN.
 */
export function averageRecommendationPopularity(slates: Int32Array, popularityCounts: Counts): number {
  checkCounts('averageRecommendationPopularity', popularityCounts);
  const I = popularityCounts.length;
  let sum = 0;
  for (let j = 0; j < slates.length; j++) {
    const i = slates[j];
    checkItem('averageRecommendationPopularity', i, I, j);
    sum += popularityCounts[i];
  }
  return slates.length === 0 ? NaN : sum / slates.length;
}

/**
 * Head membership h_i in [0, 1] of each item: the head ("short head", Abdollahpouri, Burke & Mobasher
 * 2017) is the headShare * I most popular items by phi, the rest is the long tail. Precisely, with
 * phi sorted decreasingly and m = headShare * I (not rounded): tau = phi_(ceil(m)) the popularity at
 * the head's edge, A = #{i : phi_i > tau}, B = #{i : phi_i = tau}; then h_i = 1 if phi_i > tau,
 * (m - A) / B if phi_i = tau, 0 if phi_i < tau. So sum_i h_i = m exactly, items of equal popularity
 * are treated alike (no arbitrary tie-break by id; the tied items at the edge share the remaining head
 * places, i.e. a uniformly random tie-break in expectation), and a fractional m splits the edge item.
 * headShare = 0: no head; headShare = 1: every item is head.
 */
export function headMembership(popularityCounts: Counts, headShare = 0.2): Float64Array {
  checkCounts('headMembership', popularityCounts);
  if (!(Number.isFinite(headShare) && headShare >= 0 && headShare <= 1)) throw new RangeError(`headShare must be a number in [0, 1], got ${headShare}`);
  const I = popularityCounts.length;
  const h = new Float64Array(I);
  const m = headShare * I;
  if (m === 0) return h;
  const sorted = Float64Array.from(popularityCounts).sort().reverse();
  const tau = sorted[Math.min(I, Math.ceil(m)) - 1];
  let above = 0;
  let tied = 0;
  for (let i = 0; i < I; i++) {
    if (popularityCounts[i] > tau) above++;
    else if (popularityCounts[i] === tau) tied++;
  }
  const edge = (m - above) / tied;
  for (let i = 0; i < I; i++) h[i] = popularityCounts[i] > tau ? 1 : popularityCounts[i] === tau ? edge : 0;
  return h;
}

/**
 * Long-tail share (APLT, average percentage of long-tail items; Abdollahpouri, Burke & Mobasher 2017,
 * 2019): (1/|U|) sum_u |{i in L_u : i in tail}| / |L_u|, with equal slate sizes the mean over all
 * entries of `slates` of the tail membership 1 - h_i (headMembership, head = the headShare most
 * popular items of the catalog by phi, ties at the edge shared). In [0, 1]. No slates: NaN.
 */
export function longTailShare(slates: Int32Array, popularityCounts: Counts, headShare = 0.2): number {
  const head = headMembership(popularityCounts, headShare);
  const I = head.length;
  let tail = 0;
  for (let j = 0; j < slates.length; j++) {
    const i = slates[j];
    checkItem('longTailShare', i, I, j);
    tail += 1 - head[i];
  }
  return slates.length === 0 ? NaN : tail / slates.length;
}

/**
 * Popularity lift (Abdollahpouri, Mansoury, Burke & Mobasher 2020, "The connection between popularity
 * bias, calibration, and fairness in recommendation", RecSys): the relative excess popularity of what
 * is recommended over what users interacted with,
 *   PL = (ARP_rec - ARP_profile) / ARP_profile,
 * ARP_rec = averageRecommendationPopularity(slates, phi) and ARP_profile the same mean of phi over
 * the logged interactions (averageRecommendationPopularity(clickedItems, phi), every interaction one
 * entry; the paper averages per user first, pass per-user means for that). PL > 0: recommendations
 * are more popular than the interactions they were learned from (popularity bias amplification).
 * ARP_profile = 0 (no interaction has a popular item): NaN.
 */
export function popularityLift(recommendedARP: number, interactionARP: number): number {
  for (const [name, v] of [
    ['recommendedARP', recommendedARP],
    ['interactionARP', interactionARP],
  ] as const) {
    if (!(v >= 0) && !Number.isNaN(v)) throw new RangeError(`popularityLift: ${name} must be >= 0, got ${v}`);
  }
  if (!(interactionARP > 0)) return NaN;
  return (recommendedARP - interactionARP) / interactionARP;
}

/**
 * Jaccard similarity |A n B| / |A u B| of the item sets of rows a and b of `slates` (n x L), duplicates
 * within a row counted once. `mark` (length >= items) must hold values below `stamp`; marks with
 * stamp and stamp + 1 are left behind.
 */
function jaccardOfRows(slates: Int32Array, L: number, a: number, b: number, mark: Float64Array, stamp: number): number {
  let sizeA = 0;
  for (let k = 0; k < L; k++) {
    const i = slates[a * L + k];
    if (mark[i] !== stamp) {
      mark[i] = stamp;
      sizeA++;
    }
  }
  let both = 0;
  let onlyB = 0;
  for (let k = 0; k < L; k++) {
    const i = slates[b * L + k];
    if (mark[i] === stamp) {
      both++;
      mark[i] = stamp + 1;
    } else if (mark[i] !== stamp + 1) {
      onlyB++;
      mark[i] = stamp + 1;
    }
  }
  return both / (sizeA + onlyB);
}

/**
 * User homogenization (Chaney, Stewart & Engelhardt 2018, "How algorithmic confounding in
 * recommendation systems increases homogeneity and decreases utility"): the mean Jaccard similarity
 * J(A, B) = |A n B| / |A u B| of the recommendation sets (rows of `slates`, n x slateSize, as sets)
 * over pairs of distinct rows. In [0, 1]: 1 when everyone gets the same set, 0 when no two sets meet.
 * If sampleSize >= n (n - 1) / 2 the mean is exact over all pairs (rng unused); otherwise it is the mean
 * over sampleSize pairs drawn independently and uniformly from the distinct unordered pairs, with
 * replacement (two uniforms a pair, in order, from `rng`: deterministic for a seeded stream). Fewer
 * than two rows: NaN.
 */
export function homogenization(slates: Int32Array, slateSize: number, sampleSize: number, rng: RandomStream): number {
  if (!(Number.isInteger(slateSize) && slateSize >= 1)) throw new RangeError(`homogenization: slateSize must be a positive integer, got ${slateSize}`);
  if (slates.length % slateSize !== 0) throw new RangeError(`homogenization: slates has ${slates.length} entries, not a multiple of slateSize ${slateSize}`);
  if (!(Number.isInteger(sampleSize) && sampleSize >= 1)) throw new RangeError(`homogenization: sampleSize must be a positive integer, got ${sampleSize}`);
  const n = slates.length / slateSize;
  if (n < 2) return NaN;
  let maxItem = 0;
  for (let j = 0; j < slates.length; j++) {
    const i = slates[j];
    if (!(i >= 0)) throw new RangeError(`homogenization: slates[${j}] = ${i} is not an item id`);
    if (i > maxItem) maxItem = i;
  }
  const mark = new Float64Array(maxItem + 1);
  const pairs = (n * (n - 1)) / 2;
  let sum = 0;
  let stamp = 1;
  if (sampleSize >= pairs) {
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) {
        sum += jaccardOfRows(slates, slateSize, a, b, mark, stamp);
        stamp += 2;
      }
    }
    return sum / pairs;
  }
  for (let s = 0; s < sampleSize; s++) {
    const a = Math.floor(rng.uniform() * n);
    let b = Math.floor(rng.uniform() * (n - 1));
    if (b >= a) b++;
    sum += jaccardOfRows(slates, slateSize, a, b, mark, stamp);
    stamp += 2;
  }
  return sum / sampleSize;
}

/**
 * Regret of a policy in a round (Lai & Robbins 1985; Lattimore & Szepesvari 2020, ch. 4): the true
 * value the oracle would have earned minus the policy's, both as expected clicks per slate averaged
 * over the round's arrivals (or as CTRs, both divided by L). >= 0 when the oracle is the optimum;
 * summed over rounds it is the cumulative regret.
 */
export function regret(valueOracle: number, valuePolicy: number): number {
  return valueOracle - valuePolicy;
}
