/**
 * The project's statistics, free of any domain: means and spreads, order statistics (median,
 * quantiles, timing summaries), ranks and rank correlation, and the paired Wilcoxon signed-rank
 * test. Plain loops, no dependencies. Users: the study's results, evaluation, the uncertainty
 * report and ε mapping, the benchmarks and the GPU check.
 */

/** Rounded to `digits` decimals, as a number (for reported values). */
export const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

// ---- means and spreads ---------------------------------------------------------------------------

/** Arithmetic mean; NaN for an empty list. */
export const mean = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

export interface MeanStd {
  mean: number;
  /** sample standard deviation (n − 1); 0 for a single value */
  std: number;
  n: number;
}

/** Mean and sample standard deviation (n − 1) of a non-empty list. */
export function meanStd(v: readonly number[]): MeanStd {
  if (v.length === 0) throw new Error('meanStd: no values');
  const m = mean(v);
  const std = v.length > 1 ? Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1)) : 0;
  return { mean: m, std, n: v.length };
}

// ---- order statistics ----------------------------------------------------------------------------

/**
 * Median: the middle value, or the mean (a + b) / 2 of the two middle values of an even count.
 * NaN for an empty list; the input is not modified.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Quantile q ∈ [0, 1] of values already sorted ascending, by linear interpolation between closest
 * ranks (Hyndman & Fan type 7, numpy's and R's default): h = (n−1)·q,
 * x[⌊h⌋] + (h−⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]). q = 0 is the minimum, q = 1 the maximum. NaN for an empty list.
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile: q must be in [0, 1], got ${q}`);
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Quantile (type 7, see quantileSorted) of unsorted values; the input is not modified. */
export function quantile(xs: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(xs as ArrayLike<number>).sort();
  return quantileSorted(s, q);
}

/** Spread of repeated measurements (timings): type-7 median, 10th and 90th percentile, mean, extremes. */
export interface SummaryStats {
  median: number;
  p10: number;
  p90: number;
  mean: number;
  min: number;
  max: number;
}

export function summaryStats(xs: readonly number[]): SummaryStats {
  const s = [...xs].sort((a, b) => a - b);
  return {
    median: quantileSorted(s, 0.5),
    p10: quantileSorted(s, 0.1),
    p90: quantileSorted(s, 0.9),
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    min: s[0]!,
    max: s[s.length - 1]!,
  };
}

// ---- ranks and correlation -----------------------------------------------------------------------

/**
 * 1-based ranks with ties given the average of the ranks they span (the "fractional" ranking):
 * [10, 20, 20, 30] → ranks [1, 2.5, 2.5, 4]; and the sizes of the tie groups in ascending order of
 * value ([1, 2, 1]). Ties are exact equality; NaN is rejected.
 */
export function averageRanksWithTies(xs: ArrayLike<number>): { ranks: number[]; ties: number[] } {
  const n = xs.length;
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n; i++) if (Number.isNaN(xs[i]!)) throw new Error(`averageRanks: value ${i} is NaN`);
  order.sort((a, b) => xs[a]! - xs[b]!);
  const ranks = new Array<number>(n);
  const ties: number[] = [];
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && xs[order[j]!]! === xs[order[i]!]!) j++;
    const r = (i + 1 + j) / 2; // mean of the ranks i+1 … j
    for (let k = i; k < j; k++) ranks[order[k]!] = r;
    ties.push(j - i);
    i = j;
  }
  return { ranks, ties };
}

/** The average ranks of averageRanksWithTies: [10, 20, 20, 30] → [1, 2.5, 2.5, 4]. */
export const averageRanks = (xs: ArrayLike<number>): number[] => averageRanksWithTies(xs).ranks;

/** Pearson correlation; NaN when fewer than 2 pairs or either side has zero variance. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new Error(`pearson: ${n} x values for ${y.length} y values`);
  if (n < 2) return Number.NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy);
}

/**
 * Spearman rank correlation: the Pearson correlation of the average ranks (so ties are handled
 * exactly, not with the 1 − 6Σd²/(n(n²−1)) shortcut, which is only right without ties).
 * NaN when fewer than 2 pairs or one side is constant.
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`spearman: ${x.length} x values for ${y.length} y values`);
  return pearson(averageRanks(x), averageRanks(y));
}

// ---- Wilcoxon signed-rank test -------------------------------------------------------------------
//
// - Differences d_i = x_i − y_i. Zero differences are dropped before ranking (Wilcoxon's original
//   method, scipy's `zero_method="wilcox"`); n is the number of non-zero differences.
// - |d_i| are ranked 1..n with average ranks for ties. Ties are decided on exact equality of the
//   floating-point |d_i|.
// - n ≤ 25 (EXACT_MAX_N): the exact p-value from the permutation null distribution (every sign
//   pattern of the n ranks equally likely), enumerated by dynamic programming over rank sums.
//   Average ranks are multiples of ½, so ranks are doubled to integers; with ties this is the exact
//   conditional distribution given the tie pattern. p = min(1, 2 · P(T ≤ min(W+, W−))), the null
//   distribution being symmetric.
// - n > 25: normal approximation, mean n(n+1)/4, variance n(n+1)(2n+1)/24 − Σ(t³ − t)/48 over tie
//   groups of size t, with a continuity correction of ½ towards the mean.
// - Effect sizes: r = Z/√n, Z the tie- and continuity-corrected normal score (reported for every n,
//   also when the p-value is exact), and the matched-pairs rank-biserial correlation
//   (W+ − W−)/(W+ + W−) (Kerby 2014). Both are positive when x tends to exceed y.

export const EXACT_MAX_N = 25;

export interface WilcoxonResult {
  /** pairs given */
  pairs: number;
  /** non-zero differences (the n of the test) */
  n: number;
  /** zero differences dropped */
  zeros: number;
  /** sum of ranks of positive differences (x > y) */
  wPlus: number;
  /** sum of ranks of negative differences */
  wMinus: number;
  /** two-sided p-value */
  p: number;
  method: 'exact' | 'normal' | 'none';
  /** tie- and continuity-corrected normal score, signed (positive: x > y); 0 when n = 0 */
  z: number;
  /** Z/√n; 0 when n = 0 */
  r: number;
  /** (W+ − W−)/(W+ + W−); 0 when n = 0 */
  rankBiserial: number;
  /** median of the differences x − y (all pairs, zeros included); NaN when there are no pairs */
  medianDifference: number;
}

/**
 * Null distribution of the sum of a random subset of `doubledRanks` (each included with
 * probability ½): counts[s] = number of subsets with sum s. Counts stay exact in doubles for n ≤ 25
 * (2^25 subsets).
 */
export function signedRankNullCounts(doubledRanks: readonly number[]): number[] {
  const total = doubledRanks.reduce((a, b) => a + b, 0);
  let counts = new Array<number>(total + 1).fill(0);
  counts[0] = 1;
  let reach = 0;
  for (const r of doubledRanks) {
    if (!Number.isInteger(r) || r < 0) {
      throw new Error(`signedRankNullCounts: doubled ranks must be non-negative integers, got ${r}`);
    }
    const next = counts.slice();
    for (let s = 0; s <= reach; s++) if (counts[s]) next[s + r]! += counts[s]!;
    counts = next;
    reach += r;
  }
  return counts;
}

/** Standard normal upper tail P(Z > z), via erfc (Numerical Recipes' erfcc, relative error < 1.2e-7). */
export function normalSf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const series =
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(-x * x - 1.26551223 + series);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/** Two-sided Wilcoxon signed-rank test of x against y (paired: x[i] with y[i]). */
export function wilcoxonSignedRank(x: readonly number[], y: readonly number[]): WilcoxonResult {
  if (x.length !== y.length) throw new Error(`wilcoxonSignedRank: ${x.length} and ${y.length} values are not pairs`);
  const all = x.map((v, i) => v - y[i]!);
  if (all.some((d) => !Number.isFinite(d))) throw new Error('wilcoxonSignedRank: non-finite value');
  const d = all.filter((v) => v !== 0);
  const n = d.length;
  const base = { pairs: all.length, n, zeros: all.length - n, medianDifference: median(all) };
  if (n === 0) return { ...base, wPlus: 0, wMinus: 0, p: 1, method: 'none', z: 0, r: 0, rankBiserial: 0 };

  const { ranks, ties } = averageRanksWithTies(d.map(Math.abs));
  let wPlus = 0;
  let wMinus = 0;
  d.forEach((v, i) => (v > 0 ? (wPlus += ranks[i]!) : (wMinus += ranks[i]!)));
  const totalRank = (n * (n + 1)) / 2;

  const nullMean = totalRank / 2;
  const variance = (n * (n + 1) * (2 * n + 1)) / 24 - ties.reduce((a, t) => a + (t * t * t - t), 0) / 48;
  const diff = wPlus - nullMean;
  const z = variance > 0 ? (Math.sign(diff) * Math.max(0, Math.abs(diff) - 0.5)) / Math.sqrt(variance) : 0;

  let p: number;
  let method: 'exact' | 'normal';
  if (n <= EXACT_MAX_N) {
    const counts = signedRankNullCounts(ranks.map((r) => Math.round(2 * r)));
    const t = Math.round(2 * Math.min(wPlus, wMinus));
    let tail = 0;
    for (let s = 0; s <= t; s++) tail += counts[s]!;
    p = Math.min(1, (2 * tail) / 2 ** n);
    method = 'exact';
  } else {
    p = Math.min(1, 2 * normalSf(Math.abs(z)));
    method = 'normal';
  }
  return { ...base, wPlus, wMinus, p, method, z, r: z / Math.sqrt(n), rankBiserial: (wPlus - wMinus) / totalRank };
}
