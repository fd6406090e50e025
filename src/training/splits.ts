/**
 * Cross-validation splits: k folds, each with a test part (the fold's held-out images), a
 * validation part (drawn at random from the rest, for choosing the best epoch) and a training part
 * (everything else). Seeded: the same (n or groups, k, seed, valFraction) gives the same folds, and
 * the fold assignment and each fold's validation draw use their own derived streams, so changing
 * valFraction never moves an image to another test fold.
 *
 * `kFoldSplits` splits images independently; `groupedKFoldSplits` keeps every group (a video
 * sequence: its frames are near-duplicates) inside one test fold, so no test frame has a sibling in
 * training. Indices in every part are sorted ascending; the trainer shuffles the training part itself.
 */
import { deriveSeed, prng, shuffleInPlace } from '../common/prng.js';

export interface Fold {
  /** 0-based fold number. */
  fold: number;
  train: number[];
  val: number[];
  test: number[];
}

const ascending = (a: number, b: number): number => a - b;

function checkK(k: number, units: number, what: string): void {
  if (!Number.isInteger(k) || k < 2) throw new Error(`--folds must be an integer ≥ 2 (got ${k})`);
  if (k > units) throw new Error(`--folds ${k} is more than the number of ${what} (${units})`);
}

function checkValFraction(valFraction: number): void {
  if (!Number.isFinite(valFraction) || valFraction < 0 || valFraction > 0.5) {
    throw new Error(`--val-fraction must be in [0, 0.5] (got ${valFraction})`);
  }
}

/** Validation size for a training part of `items` images: valFraction of it, at least 1 (none when valFraction is 0). */
function valCount(items: number, valFraction: number, fold: number): number {
  if (valFraction === 0) return 0;
  if (items < 2) {
    throw new Error(
      `fold ${fold} has ${items} training image(s): too few to hold out validation; use fewer --folds or --val-fraction 0`,
    );
  }
  return Math.min(items - 1, Math.max(1, Math.round(valFraction * items)));
}

/** n images in k folds of near-equal size (test sizes differ by at most 1). */
export function kFoldSplits(n: number, k = 5, seed: number, valFraction = 0.1): Fold[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`the number of images must be a non-negative integer (got ${n})`);
  checkK(k, n, 'images');
  checkValFraction(valFraction);
  const order = shuffleInPlace(
    Array.from({ length: n }, (_, i) => i),
    prng(deriveSeed(seed, 'folds')),
  );
  const folds: Fold[] = [];
  let start = 0;
  for (let f = 0; f < k; f++) {
    const size = Math.floor(n / k) + (f < n % k ? 1 : 0);
    const test = order.slice(start, start + size).sort(ascending);
    const rest = [...order.slice(0, start), ...order.slice(start + size)];
    start += size;
    const pool = shuffleInPlace(rest, prng(deriveSeed(seed, `val:${f}`)));
    const nv = valCount(pool.length, valFraction, f);
    folds.push({ fold: f, train: pool.slice(nv).sort(ascending), val: pool.slice(0, nv).sort(ascending), test });
  }
  return folds;
}

/** Fewest training groups for which validation is drawn by whole groups (see groupedKFoldSplits). */
export const MIN_GROUPS_FOR_GROUP_VAL = 5;

/**
 * Whole groups, in shuffled order, whose total is as close to `target` images as a greedy pass
 * gets: a group is taken while it brings the total closer to the target (so one big group cannot
 * swamp a small target), always leaving at least one group for training. Returns null when that
 * takes nothing or more than twice the target (the groups are too coarse for the target).
 */
function drawGroups(pool: number[][], target: number): { val: number[][]; train: number[][] } | null {
  const val: number[][] = [];
  const train: number[][] = [];
  let count = 0;
  pool.forEach((u, i) => {
    const closer = Math.abs(count + u.length - target) < Math.abs(count - target);
    const leavesTraining = train.length > 0 || i < pool.length - 1;
    if (count < target && closer && leavesTraining) {
      val.push(u);
      count += u.length;
    } else train.push(u);
  });
  // nothing taken means every group is at least twice the target
  if (val.length === 0 || train.length === 0 || count > 2 * target) return null;
  return { val, train };
}

/**
 * Test folds from units (groups) in the given order: each unit in turn to the fold with the fewest
 * images so far (ties: lowest fold number), then, while it helps, a move or swap between the
 * largest and the smallest fold that narrows their gap (each such step lowers the sum of squared
 * fold sizes, so it stops).
 */
function assignFolds(order: number[][], k: number): number[][][] {
  const folds: number[][][] = Array.from({ length: k }, () => []);
  const sizes = new Array<number>(k).fill(0);
  for (const unit of order) {
    let best = 0;
    for (let f = 1; f < k; f++) if (sizes[f]! < sizes[best]!) best = f;
    folds[best]!.push(unit);
    sizes[best]! += unit.length;
  }
  for (;;) {
    let hi = 0;
    let lo = 0;
    for (let f = 1; f < k; f++) {
      if (sizes[f]! > sizes[hi]!) hi = f;
      if (sizes[f]! < sizes[lo]!) lo = f;
    }
    const gap = sizes[hi]! - sizes[lo]!;
    // moving `delta` images from hi to lo leaves a gap |gap − 2·delta|: pick the delta closest to gap/2
    let bestGap = gap;
    let i = -1; // unit of hi to give
    let j = -1; // unit of lo to take back, −1 for a plain move
    const from = folds[hi]!;
    const to = folds[lo]!;
    for (let x = 0; x < from.length; x++) {
      for (let y = -1; y < to.length; y++) {
        const delta = from[x]!.length - (y < 0 ? 0 : to[y]!.length);
        const g = Math.abs(gap - 2 * delta);
        if (delta > 0 && g < bestGap) [bestGap, i, j] = [g, x, y];
      }
    }
    if (i < 0) break;
    const a = from.splice(i, 1)[0]!;
    const b = j < 0 ? [] : to.splice(j, 1)[0]!;
    to.push(a);
    if (j >= 0) from.push(b);
    sizes[hi]! -= a.length - b.length;
    sizes[lo]! += a.length - b.length;
  }
  return folds;
}

/**
 * Folds that never split a group: `groups[i]` is image i's group (sequence id); undefined makes the
 * image a group of its own. Groups are shuffled, then each in turn goes to the test fold with the
 * fewest images so far. Greedy in random order keeps the partition seed-dependent (largest-first
 * would fix it whenever group sizes differ) but alone can leave fold sizes apart by up to the
 * largest group, so moves and swaps of groups between the largest and smallest folds then even
 * them out (see assignFolds).
 *
 * Validation: drawn by whole groups when the training part has ≥ MIN_GROUPS_FOR_GROUP_VAL groups
 * and whole groups can hit the target size within a factor of 2 (so validation frames have no
 * siblings in training and the best-epoch choice is not flattered by near-duplicates). Otherwise
 * (few or very large groups) it is drawn by images, like kFoldSplits.
 */
export function groupedKFoldSplits(
  groups: readonly (number | undefined)[],
  k = 5,
  seed: number,
  valFraction = 0.1,
): Fold[] {
  // group id → its images, in first-appearance order; undefined → a singleton group
  const byId = new Map<number, number[]>();
  const units: number[][] = [];
  groups.forEach((g, i) => {
    if (g === undefined) {
      units.push([i]);
      return;
    }
    let list = byId.get(g);
    if (!list) {
      list = [];
      byId.set(g, list);
      units.push(list);
    }
    list.push(i);
  });
  checkK(k, units.length, 'groups (sequences)');
  checkValFraction(valFraction);

  const assigned = assignFolds(shuffleInPlace([...units], prng(deriveSeed(seed, 'folds'))), k);

  return assigned.map((mine, f) => {
    const test = mine.flat().sort(ascending);
    const restUnits = assigned.flatMap((u, g) => (g === f ? [] : u));
    const items = restUnits.reduce((s, u) => s + u.length, 0);
    const nv = valCount(items, valFraction, f);
    const r = prng(deriveSeed(seed, `val:${f}`));
    if (nv === 0) return { fold: f, train: restUnits.flat().sort(ascending), val: [], test };
    const byGroup =
      restUnits.length >= MIN_GROUPS_FOR_GROUP_VAL ? drawGroups(shuffleInPlace([...restUnits], r), nv) : null;
    let train: number[];
    let val: number[];
    if (byGroup) {
      val = byGroup.val.flat();
      train = byGroup.train.flat();
    } else {
      // a fresh stream, so the item draw does not depend on whether a group draw was tried
      const pool = shuffleInPlace(restUnits.flat(), prng(deriveSeed(seed, `val-items:${f}`)));
      val = pool.slice(0, nv);
      train = pool.slice(nv);
    }
    return { fold: f, train: train.sort(ascending), val: val.sort(ascending), test };
  });
}

/** The folds of a run: grouped by video sequence (`sequence`) or by image (`random`), as train makes them. */
export function foldPlans(
  split: 'random' | 'sequence',
  groups: readonly (number | undefined)[],
  k: number,
  seed: number,
  valFraction: number,
): Fold[] {
  return split === 'sequence'
    ? groupedKFoldSplits(groups, k, seed, valFraction)
    : kFoldSplits(groups.length, k, seed, valFraction);
}
