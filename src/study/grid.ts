/**
 * Study v2's grid (docs/results/v2/DESIGN.md): which runs exist, with which `npm run train` flags,
 * in which folder, and in which stage. Plain data; the runner (src/cli/study.ts) executes it.
 *
 * Stage 1 needs nothing: dice and bce for every seed, the fixed-ε₁ selection grid for the grid seeds.
 * Stage 2 needs ε* (chosen per split on stage 1's validation numbers): polydice1-fixed for the other
 *   seeds, adaptive-up, adaptive-down and shuffled-up over ε* ± halfWidth with a warm-up.
 * Stage 3 needs each adaptive-up run: mean-up, fixed at the ε₁ that run applied on average.
 *
 * Layout: OUT/<split>/<arm>/seed-<S>/run-<F>/ is one train run folder (fold F of seed S). The grid's
 * runs are OUT/<split>/eps-grid/eps-<E>/seed-<S>/run-<F>/; polydice1-fixed of a grid seed is the
 * grid run of ε* (same flags), not trained again.
 */
import { join } from 'node:path';
import { EPS_FLOOR } from '../uncertainty/epsilon.js';
import type { TrajectoryPhase } from '../uncertainty/trajectory.js';

export type Split = 'sequence' | 'random';

/** The arms compared in the results (the grid runs only serve to choose ε*). */
export const V2_ARMS = [
  'dice',
  'bce',
  'polydice1-fixed',
  'adaptive-up',
  'adaptive-down',
  'shuffled-up',
  'mean-up',
] as const;
export type V2Arm = (typeof V2_ARMS)[number];

export interface GridSettings {
  splits: readonly Split[];
  seeds: readonly number[];
  /** seeds that train the ε₁ selection grid (ε* is chosen on their validation numbers) */
  gridSeeds: readonly number[];
  folds: number;
  epsGrid: readonly number[];
  /** MC phase every M epochs; also the warm-up length of the adaptive arms and controls */
  mcEvery: number;
  /** the adaptive range is ε* ± halfWidth */
  halfWidth: number;
  epochs: number;
  /** train flags every run shares (data, preset, size, epochs, folds, provider) */
  common: readonly string[];
  out: string;
}

export interface GridRun {
  stage: 1 | 2 | 3;
  split: Split;
  /** folder under OUT/<split>/: an arm, or eps-grid/eps-E */
  folder: string;
  seed: number;
  fold: number;
  /** every train flag but --fold, --out and --resume */
  flags: string[];
  dir: string;
}

/** The design's ε₁ selection grid: v1's edge (0), both sides of it, and 0.5 (v1: −0.065 validation Dice). */
export const V2_EPS_GRID: readonly number[] = [-0.25, 0, 0.25, 0.5];

/** Lowest ε₁ an adaptive range may reach: the floor (−½) with a margin. */
export const ADAPTIVE_EPS_MIN = EPS_FLOOR + 0.05;

/** The adaptive range around ε*: [ε* − w, ε* + w], its low end kept above the floor. */
export function adaptiveRange(epsStar: number, halfWidth: number): [number, number] {
  return [Math.max(ADAPTIVE_EPS_MIN, epsStar - halfWidth), epsStar + halfWidth];
}

/** Shortest decimal that reads back as the same double (flags and folder names). */
const num = (x: number): string => String(x);

export const epsGridFolder = (eps: number): string => join('eps-grid', `eps-${num(eps)}`);

function runs(
  s: GridSettings,
  stage: GridRun['stage'],
  split: Split,
  folder: string,
  seeds: readonly number[],
  flags: readonly string[],
): GridRun[] {
  return seeds.flatMap((seed) =>
    Array.from({ length: s.folds }, (_, fold) => ({
      stage,
      split,
      folder,
      seed,
      fold,
      flags: [...s.common, '--split', split, '--seed', String(seed), ...flags],
      dir: join(s.out, split, folder, `seed-${seed}`, `run-${fold}`),
    })),
  );
}

export const epsFlags = (eps: number): string[] => ['--loss', 'polydice1', '--eps', num(eps)];

/** The train flags of an adaptive arm over ε* ± w (`up`/`down`), optionally with shuffled ε₁. */
export function adaptiveFlags(s: GridSettings, epsStar: number, direction: 'up' | 'down', shuffle: boolean): string[] {
  const [lo, hi] = adaptiveRange(epsStar, s.halfWidth);
  return [
    '--loss',
    'polydice1',
    '--adaptive',
    '--eps-map',
    `linear:${num(lo)},${num(hi)}:${direction}`,
    '--mc-every',
    String(s.mcEvery),
    '--eps-warmup',
    String(s.mcEvery),
    ...(shuffle ? ['--eps-shuffle'] : []),
  ];
}

export function stage1(s: GridSettings): GridRun[] {
  return s.splits.flatMap((split) => [
    ...runs(s, 1, split, 'dice', s.seeds, ['--loss', 'dice']),
    ...runs(s, 1, split, 'bce', s.seeds, ['--loss', 'bce']),
    ...s.epsGrid.flatMap((eps) => runs(s, 1, split, epsGridFolder(eps), s.gridSeeds, epsFlags(eps))),
  ]);
}

export function stage2(s: GridSettings, epsStar: ReadonlyMap<Split, number>): GridRun[] {
  return s.splits.flatMap((split) => {
    const e = epsStar.get(split);
    if (e === undefined) throw new Error(`stage 2 of the ${split} split needs its ε* (stage 1 unfinished?)`);
    const others = s.seeds.filter((seed) => !s.gridSeeds.includes(seed));
    return [
      ...runs(s, 2, split, 'polydice1-fixed', others, epsFlags(e)),
      ...runs(s, 2, split, 'adaptive-up', s.seeds, adaptiveFlags(s, e, 'up', false)),
      ...runs(s, 2, split, 'adaptive-down', s.seeds, adaptiveFlags(s, e, 'down', false)),
      ...runs(s, 2, split, 'shuffled-up', s.seeds, adaptiveFlags(s, e, 'up', true)),
    ];
  });
}

/** mean-up runs, one per adaptive-up run, fixed at `meanEps(that run)` after the same warm-up. */
export function stage3(s: GridSettings, meanEps: (adaptiveUp: GridRun) => number): GridRun[] {
  return s.splits.flatMap((split) =>
    s.seeds.flatMap((seed) =>
      Array.from({ length: s.folds }, (_, fold) => {
        const up = runs(s, 2, split, 'adaptive-up', [seed], [])[fold]!;
        const eps = meanEps(up);
        const flags = [...epsFlags(eps), '--eps-warmup', String(s.mcEvery)];
        return runs(s, 3, split, 'mean-up', [seed], flags)[fold]!;
      }),
    ),
  );
}

/** The run of arm `arm` for (split, seed, fold): polydice1-fixed of a grid seed is the grid's ε* run. */
export function armRunDir(
  s: GridSettings,
  split: Split,
  arm: V2Arm,
  seed: number,
  fold: number,
  epsStar: number,
): string {
  const folder = arm === 'polydice1-fixed' && s.gridSeeds.includes(seed) ? epsGridFolder(epsStar) : arm;
  return join(s.out, split, folder, `seed-${seed}`, `run-${fold}`);
}

/**
 * The mean ε₁ a run applied to its training images after the warm-up: each phase's ε₁ is used from
 * its epoch until the next phase or the end of training, so phases are weighted by the epochs they
 * served (a phase at the last epoch serves none).
 */
export function meanEpsUsed(phases: readonly TrajectoryPhase[], epochs: number): number {
  let weighted = 0;
  let total = 0;
  phases.forEach((p, k) => {
    const until = Math.min(epochs, phases[k + 1]?.epoch ?? epochs);
    const served = until - p.epoch;
    if (served <= 0 || p.rows.length === 0) return;
    weighted += served * (p.rows.reduce((a, r) => a + r.eps, 0) / p.rows.length);
    total += served;
  });
  if (total === 0) throw new Error('meanEpsUsed: no MC phase served any training epoch');
  return weighted / total;
}

/**
 * A deterministic share of a run list for `--shard i/n` (0 ≤ i < n): every n-th run from the i-th,
 * in the list's order, so that a job array's tasks split each stage evenly.
 */
export function shard<T>(list: readonly T[], i: number, n: number): T[] {
  if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(i) && i >= 0 && i < n)) {
    throw new Error(`--shard must be i/n with 0 ≤ i < n, got ${i}/${n}`);
  }
  return list.filter((_, k) => k % n === i);
}
