import { describe, expect, it } from 'vitest';
import { type Fold, groupedKFoldSplits, kFoldSplits } from '../../src/training/splits.js';

/** Every fold: train/val/test disjoint and together 0..n−1; every index in exactly one test part. */
function checkPartition(folds: Fold[], n: number): void {
  const testCount = new Array<number>(n).fill(0);
  folds.forEach((f, i) => {
    expect(f.fold).toBe(i);
    const all = [...f.train, ...f.val, ...f.test];
    expect(all.length).toBe(n);
    expect(new Set(all).size).toBe(n);
    expect(all.every((x) => Number.isInteger(x) && x >= 0 && x < n)).toBe(true);
    for (const part of [f.train, f.val, f.test]) expect(part.every((x, i) => i === 0 || part[i - 1]! < x)).toBe(true);
    for (const x of f.test) testCount[x]!++;
  });
  expect(testCount.every((c) => c === 1)).toBe(true);
}

/** CVC-ClinicDB-like: 29 sequences of 10..50 frames, 612 frames in all. */
const CVC_SIZES = [
  50, 45, 40, 35, 36, 32, 30, 29, 28, 24, 20, 20, 19, 18, 17, 16, 15, 15, 14, 13, 12, 12, 11, 11, 10, 10, 10, 10, 10,
];
const cvcGroups = (): number[] => CVC_SIZES.flatMap((s, g) => new Array<number>(s).fill(g));

describe('kFoldSplits', () => {
  it('partitions every index, test sizes within 1, val 10% of train (at least 1)', () => {
    for (const [n, k] of [
      [100, 5],
      [612, 5],
      [17, 4],
      [10, 10],
      [23, 2],
    ] as const) {
      const folds = kFoldSplits(n, k, 7);
      expect(folds).toHaveLength(k);
      checkPartition(folds, n);
      const sizes = folds.map((f) => f.test.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      for (const f of folds) {
        const rest = n - f.test.length;
        expect(f.val.length).toBe(Math.max(1, Math.round(0.1 * rest)));
      }
    }
  });

  it('is deterministic per seed and differs across seeds', () => {
    expect(kFoldSplits(200, 5, 3)).toEqual(kFoldSplits(200, 5, 3));
    const a = kFoldSplits(200, 5, 3);
    const b = kFoldSplits(200, 5, 4);
    expect(a.map((f) => f.test)).not.toEqual(b.map((f) => f.test));
    expect(a.map((f) => f.val)).not.toEqual(b.map((f) => f.val));
  });

  it('draws validation per fold, and valFraction does not move test folds', () => {
    const a = kFoldSplits(300, 5, 9, 0.1);
    const b = kFoldSplits(300, 5, 9, 0.3);
    expect(a.map((f) => f.test)).toEqual(b.map((f) => f.test));
    expect(b[0]!.val.length).toBe(Math.round(0.3 * 240));
    const none = kFoldSplits(300, 5, 9, 0);
    for (const f of none) expect(f.val).toEqual([]);
    // the validation sets are not the same relative draw in every fold
    expect(new Set(a.map((f) => f.val.join())).size).toBe(5);
  });

  it('validates its options, naming them', () => {
    expect(() => kFoldSplits(10, 1, 1)).toThrow(/--folds/);
    expect(() => kFoldSplits(10, 2.5, 1)).toThrow(/--folds/);
    expect(() => kFoldSplits(3, 4, 1)).toThrow(/--folds 4 .*images \(3\)/);
    expect(() => kFoldSplits(10, 5, 1, -0.1)).toThrow(/--val-fraction/);
    expect(() => kFoldSplits(10, 5, 1, 0.6)).toThrow(/--val-fraction/);
    expect(() => kFoldSplits(10, 5, 1, Number.NaN)).toThrow(/--val-fraction/);
    expect(() => kFoldSplits(2, 2, 1)).toThrow(/too few/); // 1 training image cannot also give validation
    expect(kFoldSplits(2, 2, 1, 0).map((f) => f.train.length)).toEqual([1, 1]);
    expect(() => kFoldSplits(10, 5, 1, 0.5)).not.toThrow();
  });
});

describe('groupedKFoldSplits', () => {
  const sameGroupSameTestFold = (folds: Fold[], groups: (number | undefined)[]): void => {
    const foldOf = new Map<number, number>();
    const split: number[] = [];
    for (const f of folds) {
      for (const i of f.test) {
        const g = groups[i];
        if (g === undefined) continue;
        if (foldOf.has(g) && foldOf.get(g) !== f.fold) split.push(g);
        foldOf.set(g, f.fold);
      }
    }
    expect(split).toEqual([]);
  };

  it('never splits a group across test folds; CVC-like sizes stay balanced', () => {
    const groups = cvcGroups();
    expect(groups).toHaveLength(612);
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const folds = groupedKFoldSplits(groups, 5, seed);
      checkPartition(folds, 612);
      sameGroupSameTestFold(folds, groups);
      // mean 122.4; greedy alone could leave folds up to 50 (the largest group) apart, the swaps even that out
      const sizes = folds.map((f) => f.test.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(15);
      for (const s of sizes) expect(Math.abs(s - 612 / 5)).toBeLessThanOrEqual(10);
    }
  });

  it('draws validation by whole groups when the training part has enough of them', () => {
    const groups = cvcGroups();
    for (const seed of [1, 2, 3]) {
      for (const f of groupedKFoldSplits(groups, 5, seed)) {
        const valGroups = new Set(f.val.map((i) => groups[i]));
        const trainGroups = new Set(f.train.map((i) => groups[i]));
        for (const g of valGroups) expect(trainGroups.has(g)).toBe(false);
        const target = Math.round(0.1 * (f.train.length + f.val.length));
        expect(f.val.length).toBeGreaterThan(0);
        expect(f.val.length).toBeLessThanOrEqual(2 * target);
        expect(Math.abs(f.val.length - target)).toBeLessThanOrEqual(25);
      }
    }
  });

  it('draws validation by items when the training part has few groups', () => {
    // 3 groups of 20, k = 3: each training part has 2 groups → validation by items (4 of 40)
    const groups = [...new Array(20).fill(0), ...new Array(20).fill(1), ...new Array(20).fill(2)] as number[];
    const folds = groupedKFoldSplits(groups, 3, 1);
    checkPartition(folds, 60);
    sameGroupSameTestFold(folds, groups);
    for (const f of folds) {
      expect(f.test).toHaveLength(20);
      expect(f.val).toHaveLength(4);
    }
  });

  it('draws validation by items when whole groups are too coarse for the target', () => {
    // 12 groups of 50, k = 2: 6 training groups, but a 5% target is 15 images and every group is 50
    const groups = Array.from({ length: 600 }, (_, i) => Math.floor(i / 50));
    for (const f of groupedKFoldSplits(groups, 2, 3, 0.05)) {
      expect(f.test).toHaveLength(300);
      expect(f.val).toHaveLength(15);
      expect(new Set(f.val.map((i) => groups[i])).size).toBeGreaterThan(1);
    }
  });

  it('treats undefined groups as singletons (then it is a plain k-fold, balanced within 1)', () => {
    const groups = new Array<number | undefined>(53).fill(undefined);
    const folds = groupedKFoldSplits(groups, 5, 11);
    checkPartition(folds, 53);
    const sizes = folds.map((f) => f.test.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    for (const f of folds) expect(f.val.length).toBe(Math.round(0.1 * (53 - f.test.length)));
  });

  it('handles interleaved and mixed known/unknown groups', () => {
    const groups = Array.from({ length: 150 }, (_, i) => (i % 7 === 0 ? undefined : i % 13));
    const folds = groupedKFoldSplits(groups, 4, 5);
    checkPartition(folds, 150);
    sameGroupSameTestFold(folds, groups);
  });

  it('is deterministic per seed and differs across seeds', () => {
    const groups = cvcGroups();
    expect(groupedKFoldSplits(groups, 5, 3)).toEqual(groupedKFoldSplits(groups, 5, 3));
    const a = groupedKFoldSplits(groups, 5, 3).map((f) => f.test);
    const b = groupedKFoldSplits(groups, 5, 4).map((f) => f.test);
    expect(a).not.toEqual(b);
    // not just the same partition renumbered
    const key = (folds: number[][]): string[] => folds.map((t) => t.join()).sort();
    expect(key(a)).not.toEqual(key(b));
  });

  it('validates its options, naming them', () => {
    const groups = [0, 0, 1, 1, 2, 2];
    expect(() => groupedKFoldSplits(groups, 4, 1)).toThrow(/--folds 4 .*groups/);
    expect(() => groupedKFoldSplits(groups, 1, 1)).toThrow(/--folds/);
    expect(() => groupedKFoldSplits(groups, 3, 1, 0.7)).toThrow(/--val-fraction/);
    expect(groupedKFoldSplits(groups, 3, 1, 0.2).map((f) => f.test.length)).toEqual([2, 2, 2]);
  });
});
