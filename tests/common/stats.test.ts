import { describe, expect, it } from 'vitest';
import {
  averageRanks,
  averageRanksWithTies,
  mean,
  meanRange,
  meanStd,
  median,
  normalSf,
  quantile,
  round,
  signedRankNullCounts,
  spearman,
  summaryStats,
  wilcoxonSignedRank,
} from '../../src/common/stats.js';

describe('means and spreads', () => {
  it('meanStd uses the n − 1 standard deviation', () => {
    expect(meanStd([2, 4, 4, 4, 5, 5, 7, 9])).toEqual({ mean: 5, std: Math.sqrt(32 / 7), n: 8 });
    expect(meanStd([3])).toEqual({ mean: 3, std: 0, n: 1 });
    expect(() => meanStd([])).toThrow(/no values/);
    expect(mean([])).toBeNaN();
  });

  it('meanRange gives mean, min and max, null for no values', () => {
    expect(meanRange([0.5, 0.75, 0.25, 1])).toEqual({ mean: 0.625, min: 0.25, max: 1 });
    expect(meanRange([])).toBeNull();
  });

  it('round keeps the given decimals', () => {
    expect(round(1.23456)).toBe(1.235);
    expect(round(1.25, 1)).toBe(1.3);
  });
});

describe('median', () => {
  it('is the middle value, or the mean of the two middle values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('summaryStats', () => {
  it('type-7 percentiles, mean and extremes of unsorted values', () => {
    const s = summaryStats([5, 1, 4, 2, 3, 6, 8, 7, 10, 9, 11]);
    expect(s).toEqual({ median: 6, p10: 2, p90: 10, mean: 6, min: 1, max: 11 });
    expect(summaryStats([1, 2]).p10).toBeCloseTo(1.1, 12);
  });
});

describe('averageRanks', () => {
  it('averages tied ranks', () => {
    expect(averageRanks([10, 20, 20, 30])).toEqual([1, 2.5, 2.5, 4]);
    expect(averageRanks([3, 1, 2])).toEqual([3, 1, 2]);
    expect(averageRanks([7, 7, 7])).toEqual([2, 2, 2]);
    expect(() => averageRanks([1, Number.NaN])).toThrow(/NaN/);
  });
});

describe('quantile (type 7)', () => {
  it('matches numpy.quantile', () => {
    expect(quantile([4, 1, 3, 2], 0.25)).toBeCloseTo(1.75, 12);
    expect(quantile([4, 1, 3, 2], 0.5)).toBeCloseTo(2.5, 12);
    expect(quantile([5], 0.9)).toBe(5);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('interpolates linearly (numpy default)', () => {
    expect(quantile([1, 2, 3, 4, 5], 0.5)).toBe(3);
    // h = 4 · 0.05 = 0.2 → 1 + 0.2 · (2 − 1)
    expect(quantile([5, 4, 3, 2, 1], 0.05)).toBeCloseTo(1.2, 12);
    expect(quantile([10, 20], 0.25)).toBeCloseTo(12.5, 12);
  });
});

describe('spearman', () => {
  it('without ties equals 1 − 6Σd²/(n(n²−1))', () => {
    // ranks y: 1 3 2 4 → d = 0 1 1 0 → 1 − 6·2/(4·15) = 0.8
    expect(spearman([1, 2, 3, 4], [10, 30, 20, 40])).toBeCloseTo(0.8, 12);
    expect(spearman([1, 2, 3], [9, 5, 1])).toBeCloseTo(-1, 12);
    expect(spearman([1, 2, 3], [1, 4, 9])).toBeCloseTo(1, 12); // monotone, not linear
  });

  it('with ties: Pearson of average ranks, computed by hand', () => {
    // y = 5 6 7 8 7 → ranks 1 2 3.5 5 3.5; x ranks 1..5; Σdxdy = 8, Σdx² = 10, Σdy² = 9.5 → 8/√95
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(0.8207826816681233, 12);
    // ties on both sides: x = 1 1 2 2 → ranks 1.5 1.5 3.5 3.5; y = 1 2 2 3 → 1 2.5 2.5 4
    // dx = −1 −1 1 1, dy = −1.5 0 0 1.5 → Σdxdy = 3, Σdx² = 4, Σdy² = 4.5 → 3/√18
    expect(spearman([1, 1, 2, 2], [1, 2, 2, 3])).toBeCloseTo(3 / Math.sqrt(18), 12);
  });

  it('NaN when undefined', () => {
    expect(spearman([1, 2, 3], [4, 4, 4])).toBeNaN();
    expect(spearman([1], [2])).toBeNaN();
    expect(() => spearman([1, 2], [1])).toThrow();
  });
});

/** Independent exact p: enumerate all 2^n sign patterns of the (average) ranks of the non-zero differences. */
function bruteForceP(d: number[]): number {
  const nz = d.filter((v) => v !== 0);
  const abs = nz.map(Math.abs);
  // average ranks computed the slow way: rank = (#smaller) + (#equal + 1)/2
  const ranks = abs.map((a) => abs.filter((b) => b < a).length + (abs.filter((b) => b === a).length + 1) / 2);
  const wPlus = nz.reduce((s, v, i) => s + (v > 0 ? ranks[i]! : 0), 0);
  const total = ranks.reduce((a, b) => a + b, 0);
  const observed = Math.min(wPlus, total - wPlus);
  let extreme = 0;
  const n = nz.length;
  for (let mask = 0; mask < 1 << n; mask++) {
    let w = 0;
    for (let i = 0; i < n; i++) if (mask & (1 << i)) w += ranks[i]!;
    if (Math.min(w, total - w) <= observed + 1e-9) extreme++;
  }
  return Math.min(1, extreme / 2 ** n);
}

describe('averageRanksWithTies', () => {
  it('gives tied values their average rank and counts the tie groups', () => {
    expect(averageRanksWithTies([10, 20, 20, 5, 20])).toEqual({ ranks: [2, 4, 4, 1, 4], ties: [1, 1, 3] });
  });
});

describe('signedRankNullCounts', () => {
  it('is the classic distribution for ranks 1..3 (doubled)', () => {
    // subsets of {1,2,3}: sums 0,1,2,3,3,4,5,6 → doubled 0,2,4,6,6,8,10,12
    const c = signedRankNullCounts([2, 4, 6]);
    expect(c.filter((_, s) => s % 2 === 0)).toEqual([1, 1, 1, 2, 1, 1, 1]);
    expect(c.reduce((a, b) => a + b, 0)).toBe(8);
  });
});

describe('normalSf', () => {
  it('matches known tail probabilities', () => {
    expect(normalSf(0)).toBeCloseTo(0.5, 7);
    expect(normalSf(1.959963985)).toBeCloseTo(0.025, 6);
    expect(normalSf(-1)).toBeCloseTo(0.8413447461, 6);
    expect(normalSf(3)).toBeCloseTo(0.001349898, 7);
  });
});

describe('wilcoxonSignedRank', () => {
  it('n = 10, all differences positive: p = 2/1024, rank-biserial 1', () => {
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((v) => v + 0.5);
    const y = x.map((v, i) => v - (i + 1) * 0.1);
    const r = wilcoxonSignedRank(x, y);
    expect(r.method).toBe('exact');
    expect(r.n).toBe(10);
    expect(r.wPlus).toBe(55);
    expect(r.wMinus).toBe(0);
    expect(r.p).toBe(2 / 1024);
    expect(r.rankBiserial).toBe(1);
    // Z = (55 − 27.5 − 0.5)/sqrt(10·11·21/24) = 27/sqrt(96.25)
    expect(r.z).toBeCloseTo(27 / Math.sqrt(96.25), 12);
    expect(r.r).toBeCloseTo(27 / Math.sqrt(96.25) / Math.sqrt(10), 12);
  });

  it('is symmetric: swapping x and y flips the signs, keeps p', () => {
    const x = [0.9, 0.8, 0.75, 0.6, 0.95, 0.5, 0.7];
    const y = [0.85, 0.82, 0.7, 0.4, 0.9, 0.55, 0.6];
    const a = wilcoxonSignedRank(x, y);
    const b = wilcoxonSignedRank(y, x);
    expect(b.p).toBe(a.p);
    expect(b.z).toBeCloseTo(-a.z, 12);
    expect(b.rankBiserial).toBeCloseTo(-a.rankBiserial, 12);
  });

  it('hand-computed case with a zero and a tie (the Wikipedia example): exact p = 334/512', () => {
    const x = [125, 115, 130, 140, 140, 115, 140, 125, 140, 135];
    const y = [110, 122, 125, 120, 140, 124, 123, 137, 135, 145];
    // d = 15, −7, 5, 20, 0, −9, 17, −12, 5, −10: the zero is dropped, n = 9; |d| = 5, 5 tie at rank 1.5
    // ranks: 15→7, 7→3, 5→1.5, 20→9, 9→4, 17→8, 12→6, 5→1.5, 10→5; W+ = 7+1.5+9+8+1.5 = 27, W− = 3+4+6+5 = 18
    const r = wilcoxonSignedRank(x, y);
    expect(r).toMatchObject({ pairs: 10, n: 9, zeros: 1, wPlus: 27, wMinus: 18, method: 'exact' });
    expect(r.p).toBeCloseTo(bruteForceP(x.map((v, i) => v - y[i]!)), 14);
    // 324 of the 512 sign patterns of the ranks (1.5, 1.5, 3, …, 9) have min(W+, W−) ≤ 18. (scipy's
    // method="exact" gives 334/512 here: it uses the untied table for ranks 1..9; we use the exact
    // conditional distribution given the ties.)
    expect(r.p).toBeCloseTo(324 / 512, 14);
    expect(r.rankBiserial).toBeCloseTo(9 / 45, 14);
    // Z with tie correction: var = 9·10·19/24 − (2³−2)/48 = 71.25 − 0.125
    expect(r.z).toBeCloseTo((27 - 22.5 - 0.5) / Math.sqrt(71.125), 12);
  });

  it.each([
    [[1, -2, 3, 4, -5, 6, 7, 8, -9, 10, 11, 12], 0.0771484375], // scipy exact
    [[0.5, 0.5, -0.5, 1, -1, 2, 2, 2, -3, 0, 4], null],
    [[-0.2, 0.1, 0.1, 0.3, -0.3, 0.3, 0.7, 0.8, -0.8, 1.1, 1.1, 1.1, 1.1, -1.5], null],
  ])('exact p equals brute-force enumeration for %j', (d, known) => {
    const r = wilcoxonSignedRank(
      d,
      d.map(() => 0),
    );
    expect(r.p).toBeCloseTo(bruteForceP(d), 14);
    if (known !== null) expect(r.p).toBeCloseTo(known, 12);
  });

  it('n > 25: normal approximation with tie and continuity correction (scipy reference)', () => {
    const a = [
      2.3, -2.3, 0.7, -0.3, -0.2, 0.1, -1.7, 0.1, -0.6, 3.6, 0.5, -0.1, 0.0, -0.4, -0.8, -0.1, 0.8, 0.1, 1.3, 0.1, 0.3,
      1.8, 0.8, -0.2, 0.1, 0.8, 2.2, 0.0, 0.1, 1.3,
    ];
    const r = wilcoxonSignedRank(
      a,
      a.map(() => 0),
    );
    expect(r.method).toBe('normal');
    expect(r.n).toBe(28);
    expect(Math.min(r.wPlus, r.wMinus)).toBe(135.5); // scipy statistic
    // scipy.stats.wilcoxon(a, zeros, zero_method="wilcox", correction=True, method="approx")
    expect(r.p).toBeCloseTo(0.12587960376128726, 6);
  });

  it('no non-zero differences: p = 1', () => {
    expect(wilcoxonSignedRank([1, 2], [1, 2])).toMatchObject({ n: 0, p: 1, method: 'none' });
  });

  it('rejects unpaired input', () => {
    expect(() => wilcoxonSignedRank([1], [1, 2])).toThrow(/not pairs/);
  });
});
