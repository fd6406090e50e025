import { describe, expect, it } from 'vitest';
import { averageRanks, quantile, spearman } from '../../src/uncertainty/stats.js';

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
