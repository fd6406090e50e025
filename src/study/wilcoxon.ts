/**
 * Wilcoxon signed-rank test for paired samples (two-sided), with effect sizes.
 *
 * - Differences d_i = x_i − y_i. Zero differences are dropped before ranking (Wilcoxon's original
 *   method, scipy's `zero_method="wilcox"`); n is the number of non-zero differences.
 * - |d_i| are ranked 1..n with average ranks for ties. Ties are decided on exact equality of the
 *   floating-point |d_i|.
 * - n ≤ 25 (EXACT_MAX_N): the exact p-value from the permutation null distribution (every sign
 *   pattern of the n ranks equally likely), enumerated by dynamic programming over rank sums. Average
 *   ranks are multiples of ½, so ranks are doubled to integers; with ties this is the exact
 *   conditional distribution given the tie pattern. p = min(1, 2 · P(T ≤ min(W+, W−))), the null
 *   distribution being symmetric.
 * - n > 25: normal approximation, mean n(n+1)/4, variance n(n+1)(2n+1)/24 − Σ(t³ − t)/48 over tie
 *   groups of size t, with a continuity correction of ½ towards the mean.
 * - Effect sizes: r = Z/√n, Z the tie- and continuity-corrected normal score (reported for every n,
 *   also when the p-value is exact), and the matched-pairs rank-biserial correlation
 *   (W+ − W−)/(W+ + W−) (Kerby 2014). Both are positive when x tends to exceed y.
 */

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

/** Average ranks (1-based) of `values`, and the sizes of the tie groups. */
export function averageRanks(values: readonly number[]): { ranks: number[]; ties: number[] } {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(values.length);
  const ties: number[] = [];
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const rank = (i + 1 + j + 1) / 2;
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = rank;
    ties.push(j - i + 1);
    i = j + 1;
  }
  return { ranks, ties };
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
    if (!Number.isInteger(r) || r < 0) throw new Error(`signedRankNullCounts: doubled ranks must be non-negative integers, got ${r}`);
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
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
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

  const { ranks, ties } = averageRanks(d.map(Math.abs));
  let wPlus = 0;
  let wMinus = 0;
  d.forEach((v, i) => (v > 0 ? (wPlus += ranks[i]!) : (wMinus += ranks[i]!)));
  const totalRank = (n * (n + 1)) / 2;

  const mean = totalRank / 2;
  const variance = (n * (n + 1) * (2 * n + 1)) / 24 - ties.reduce((a, t) => a + (t * t * t - t), 0) / 48;
  const diff = wPlus - mean;
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
