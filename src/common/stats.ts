/**
 * The project's statistics, free of any domain: means and spreads, order statistics (median,
 * quantiles, timing summaries), ranks and rank correlation, and the paired Wilcoxon signed-rank
 * test; Student's t intervals, Holm's adjustment and a cluster bootstrap for the study's model-level
 * comparisons. Plain loops, no dependencies. Users: the study's results, evaluation, the uncertainty
 * report and ε mapping, the benchmarks and the GPU check.
 */
import type { Prng } from './prng.js';

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

export interface MeanRange {
  mean: number;
  min: number;
  max: number;
}

/** Mean, minimum and maximum of a list; null for an empty one (a spread over runs or models). */
export const meanRange = (v: readonly number[]): MeanRange | null =>
  v.length === 0 ? null : { mean: mean(v), min: Math.min(...v), max: Math.max(...v) };

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

/** A timing record as the benches write it: the summary of `xs` and every run, rounded (ms, 3 decimals). */
export function timingRecord(xs: readonly number[]): SummaryStats & { runs: number[] } {
  const st = summaryStats(xs);
  return {
    median: round(st.median),
    p10: round(st.p10),
    p90: round(st.p90),
    mean: round(st.mean),
    min: round(st.min),
    max: round(st.max),
    runs: xs.map((x) => round(x)),
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
    t *
    (1.00002368 +
      t *
        (0.37409196 +
          t *
            (0.09678418 +
              t *
                (-0.18628806 +
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
  d.forEach((v, i) => {
    if (v > 0) wPlus += ranks[i]!;
    else wMinus += ranks[i]!;
  });
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

// ---------------------------------------------------------------------------------------------
// Intervals and multiple comparisons for the study (issue 17): the unit is a trained model.

/**
 * Regularised incomplete beta I_x(a, b) by its continued fraction (modified Lentz; Numerical
 * Recipes §6.4), using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
 */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (!(x >= 0 && x <= 1)) throw new Error(`incompleteBeta: x must be in [0, 1], got ${x}`);
  if (x === 0 || x === 1) return x;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let f = d;
  for (let m = 1; m <= 300; m++) {
    for (const num of [
      (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)),
      -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1)),
    ]) {
      d = 1 + num * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + num / c;
      if (Math.abs(c) < tiny) c = tiny;
      f *= c * d;
    }
    if (Math.abs(c * d - 1) < 1e-15) break;
  }
  return (Math.exp(lnFront) * f) / a;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let s = c[0]!;
  for (let i = 1; i < 9; i++) s += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The q-quantile of Student's t with `df` degrees of freedom (bisection on the CDF, to 1e-12). */
export function studentTQuantile(q: number, df: number): number {
  if (!(q > 0 && q < 1)) throw new Error(`studentTQuantile: q must be in (0, 1), got ${q}`);
  if (!(df > 0)) throw new Error(`studentTQuantile: df must be positive, got ${df}`);
  let lo = -1e6;
  let hi = 1e6;
  for (let i = 0; i < 200 && hi - lo > 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < q) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export interface Interval {
  estimate: number;
  low: number;
  high: number;
  /** confidence level, e.g. 0.95 */
  level: number;
}

/** Mean with its two-sided t-interval (n ≥ 2 values; the paired differences of the study's models). */
export function tInterval(xs: readonly number[], level = 0.95): Interval & { n: number; sd: number; p: number } {
  const n = xs.length;
  if (n < 2) throw new Error(`tInterval: needs at least 2 values, got ${n}`);
  const m = mean(xs);
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1));
  const half = studentTQuantile(1 - (1 - level) / 2, n - 1) * (sd / Math.sqrt(n));
  // Two-sided one-sample t-test of mean 0 (descriptive beside the Wilcoxon test).
  const p = sd === 0 ? (m === 0 ? 1 : 0) : 2 * (1 - studentTCdf(Math.abs(m) / (sd / Math.sqrt(n)), n - 1));
  return { estimate: m, low: m - half, high: m + half, level, n, sd, p };
}

/**
 * Holm's step-down adjustment of p-values (family-wise error control for every comparison made):
 * sort ascending, p_(i)·(m − i + 1) made monotone, capped at 1. Returned in the input's order.
 */
export function holm(ps: readonly number[]): number[] {
  const m = ps.length;
  const order = ps.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, k) => {
    running = Math.max(running, Math.min(1, p * (m - k)));
    adjusted[i] = running;
  });
  return adjusted;
}

/**
 * Percentile-bootstrap interval of the mean over units that come in clusters (a video's frames):
 * each resample draws whole clusters with replacement, so near-duplicate frames of one video move
 * together and the interval reflects how many independent videos were tested, not frames.
 */
export function clusterBootstrapMean(
  clusters: readonly (readonly number[])[],
  rng: Prng,
  resamples = 10000,
  level = 0.95,
): Interval {
  const nonEmpty = clusters.filter((c) => c.length > 0);
  if (nonEmpty.length < 2)
    throw new Error(`clusterBootstrapMean: needs at least 2 non-empty clusters, got ${nonEmpty.length}`);
  const sums = nonEmpty.map((c) => c.reduce((a, b) => a + b, 0));
  const sizes = nonEmpty.map((c) => c.length);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    let n = 0;
    for (let k = 0; k < nonEmpty.length; k++) {
      const j = Math.floor(rng.next() * nonEmpty.length);
      s += sums[j]!;
      n += sizes[j]!;
    }
    means[r] = s / n;
  }
  means.sort();
  const all = nonEmpty.flat();
  return {
    estimate: mean(all),
    low: quantileSorted(means, (1 - level) / 2),
    high: quantileSorted(means, 1 - (1 - level) / 2),
    level,
  };
}
