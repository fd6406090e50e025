/**
 * Small order statistics shared by the difficulty aggregates (quantile), the rank ε mapping
 * (average ranks) and the report (quartiles, Spearman). Plain loops, no dependencies.
 */

/**
 * 1-based ranks with ties given the average of the ranks they span (the "fractional" ranking):
 * [10, 20, 20, 30] → [1, 2.5, 2.5, 4]. Values must be comparable numbers (NaN is rejected).
 */
export function averageRanks(xs: ArrayLike<number>): number[] {
  const n = xs.length;
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n; i++) if (Number.isNaN(xs[i]!)) throw new Error(`averageRanks: value ${i} is NaN`);
  order.sort((a, b) => xs[a]! - xs[b]!);
  const ranks = new Array<number>(n);
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && xs[order[j]!]! === xs[order[i]!]!) j++;
    const r = (i + 1 + j) / 2; // mean of the ranks i+1 … j
    for (let k = i; k < j; k++) ranks[order[k]!] = r;
    i = j;
  }
  return ranks;
}

/**
 * Quantile q ∈ [0, 1] of values already sorted ascending, by linear interpolation between closest
 * ranks (Hyndman & Fan type 7, numpy's and R's default): h = (n−1)·q, x[⌊h⌋] + (h−⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]).
 * q = 0 is the minimum, q = 1 the maximum, q = 0.5 the usual median. NaN for an empty list.
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
