import { describe, expect, it } from 'vitest';
import {
  type GridSettings,
  adaptiveRange,
  armRunDir,
  meanEpsUsed,
  shard,
  stage1,
  stage2,
  stage3,
} from '../../src/study/grid.js';
import type { TrajectoryPhase } from '../../src/uncertainty/trajectory.js';

const S: GridSettings = {
  splits: ['sequence', 'random'],
  seeds: [1, 2, 3],
  gridSeeds: [1],
  folds: 5,
  epsGrid: [-0.25, 0, 0.25, 0.5],
  mcEvery: 5,
  halfWidth: 0.25,
  epochs: 60,
  common: ['--epochs', '60'],
  out: 'OUT',
};
const star = new Map([
  ['sequence', 0],
  ['random', 0.25],
] as const);

describe('study v2 grid', () => {
  it("has the design's 240 runs: 100 + 110 + 30, each folder once", () => {
    const all = [...stage1(S), ...stage2(S, star), ...stage3(S, () => 0.1)];
    expect([stage1(S).length, stage2(S, star).length, stage3(S, () => 0.1).length]).toEqual([100, 110, 30]);
    expect(new Set(all.map((r) => r.dir)).size).toBe(240);
    expect(all.filter((r) => r.split === 'sequence')).toHaveLength(120);
  });

  it('gives each arm its flags: ε* ± 0.25, warm-up until the first phase, shuffled ε₁, the mean control', () => {
    const up = stage2(S, star).find(
      (r) => r.split === 'random' && r.folder === 'adaptive-up' && r.seed === 2 && r.fold === 3,
    )!;
    expect(up.flags.join(' ')).toBe(
      '--epochs 60 --split random --seed 2 --loss polydice1 --adaptive --eps-map linear:0,0.5:up --mc-every 5 --eps-warmup 5',
    );
    expect(up.dir).toBe('OUT/random/adaptive-up/seed-2/run-3');
    const shuffled = stage2(S, star).find((r) => r.folder === 'shuffled-up')!;
    expect(shuffled.flags.at(-1)).toBe('--eps-shuffle');
    const down = stage2(S, star).find((r) => r.split === 'sequence' && r.folder === 'adaptive-down')!;
    expect(down.flags).toContain('linear:-0.25,0.25:down');
    const fixed = stage2(S, star).filter((r) => r.folder === 'polydice1-fixed');
    expect(new Set(fixed.map((r) => r.seed))).toEqual(new Set([2, 3])); // seed 1 has the grid's run
    const mean = stage3(S, (u) => (u.seed === 3 && u.fold === 1 && u.split === 'random' ? 0.3125 : 0)).find(
      (r) => r.split === 'random' && r.seed === 3 && r.fold === 1,
    )!;
    expect(mean.flags.slice(-6)).toEqual(['--loss', 'polydice1', '--eps', '0.3125', '--eps-warmup', '5']);
    expect(armRunDir(S, 'random', 'polydice1-fixed', 1, 0, 0.25)).toBe('OUT/random/eps-grid/eps-0.25/seed-1/run-0');
    expect(armRunDir(S, 'random', 'polydice1-fixed', 2, 0, 0.25)).toBe('OUT/random/polydice1-fixed/seed-2/run-0');
    expect(() => stage2(S, new Map([['sequence', 0]]))).toThrow(/random split needs its ε\*/);
  });

  it('keeps the adaptive range above ε₁ = −½', () => {
    expect(adaptiveRange(0, 0.25)).toEqual([-0.25, 0.25]);
    expect(adaptiveRange(-0.25, 0.25)).toEqual([-0.45, 0]);
  });

  it('the mean ε₁ applied weighs each phase by the epochs it served', () => {
    const phase = (epoch: number, eps: number[]): TrajectoryPhase => ({
      phase: epoch / 5 - 1,
      epoch,
      rows: eps.map((e, index) => ({ phase: 0, epoch, index, name: `i${index}`, difficulty: 0, eps: e, dice: 0 })),
    });
    // Phases after epochs 5, 10, 12 (last) of 12: 5 epochs at mean 0.2, 2 at mean 0.6, none after 12.
    expect(meanEpsUsed([phase(5, [0.1, 0.3]), phase(10, [0.5, 0.7]), phase(12, [9, 9])], 12)).toBeCloseTo(
      (5 * 0.2 + 2 * 0.6) / 7,
      12,
    );
    expect(() => meanEpsUsed([phase(12, [1])], 12)).toThrow(/no MC phase/);
  });

  it('shards split a list evenly and deterministically', () => {
    const list = Array.from({ length: 10 }, (_, k) => k);
    expect(shard(list, 0, 3)).toEqual([0, 3, 6, 9]);
    expect([0, 1, 2].flatMap((i) => shard(list, i, 3)).sort((a, b) => a - b)).toEqual(list);
    expect(() => shard(list, 3, 3)).toThrow(/0 ≤ i < n/);
  });
});
