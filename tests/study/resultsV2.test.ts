import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type GridSettings, V2_ARMS, armRunDir } from '../../src/study/grid.js';
import {
  FAMILY,
  readModels,
  selectionGain,
  splitFigures,
  splitMarkdown,
  splitResults,
} from '../../src/study/resultsV2.js';

const settings = (out: string): GridSettings => ({
  splits: ['sequence'],
  seeds: [1, 2, 3],
  gridSeeds: [1],
  folds: 3,
  epsGrid: [0, 0.25],
  mcEvery: 5,
  halfWidth: 0.25,
  epochs: 10,
  common: [],
  out,
});
const CHOICE = {
  eps: 0.25,
  meanValDice: [
    { eps: 0, meanValDice: 0.5, folds: 3 },
    { eps: 0.25, meanValDice: 0.6, folds: 3 },
  ],
  rule: 'test',
};

/** Writes every arm's metrics.json; adaptive-up scores `gain` above the others on every image. */
function writeGrid(s: GridSettings, gain: number, skip?: string): void {
  for (const arm of V2_ARMS)
    for (const seed of s.seeds)
      for (let fold = 0; fold < s.folds; fold++) {
        const dir = join(armRunDir(s, 'sequence', arm, seed, fold, 0.25), `fold-${fold}`);
        if (`${arm}/${seed}/${fold}` === skip) continue;
        mkdirSync(dir, { recursive: true });
        const images = Array.from({ length: 12 }, (_, j) => {
          const i = fold * 12 + j;
          const dice = Math.min(1, 0.3 + ((i * 7 + seed) % 10) / 20 + (arm === 'adaptive-up' ? gain : 0));
          return {
            name: `f${i}`,
            dice,
            iou: dice,
            precision: dice,
            recall: dice,
            area: (i + 1) / 100,
            difficulty: 1 - dice,
          };
        });
        writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ mean: {}, train: { dice: 0.8 }, images }));
        // the run selected epoch 2 + seed + fold; seed 3 leaves no summary.json
        if (seed !== 3)
          writeFileSync(
            join(dir, '..', 'summary.json'),
            JSON.stringify({ folds: [{ fold, bestEpoch: 2 + seed + fold, bestValLoss: 0.3, test: { dice: 0.5 } }] }),
          );
      }
}

describe('study v2 results', () => {
  it('reads every arm, runs the 12-test family with Holm and renders the tables', () => {
    const s = settings(mkdtempSync(join(tmpdir(), 'v2-')));
    writeGrid(s, 0.05);
    const { models, missing } = readModels(s, 'sequence', 0.25);
    expect(missing).toEqual([]);
    expect(models).toHaveLength(V2_ARMS.length * 9);
    const r = splitResults('sequence', CHOICE, models, (name) => `v${Number(name.slice(1)) % 6}`);
    expect(r.comparisons).toHaveLength(FAMILY.length * 2);
    const main = r.comparisons.find(
      (c) => c.a === 'adaptive-up' && c.b === 'polydice1-fixed' && c.score === 'meanDice',
    )!;
    expect(main.pairs).toHaveLength(9);
    expect(main.delta.estimate).toBeGreaterThan(0.04);
    expect(main.pHolm).toBeGreaterThanOrEqual(main.wilcoxonP);
    const same = r.comparisons.find((c) => c.a === 'polydice1-fixed' && c.b === 'dice' && c.score === 'meanDice')!;
    expect(same.delta.estimate).toBe(0);
    expect(r.arms.find((a) => a.arm === 'dice')!.trainDice).toBeCloseTo(0.8, 12);
    const md = splitMarkdown(r);
    expect(md).toContain('ε* = 0.25');
    expect(md).toMatch(/\| adaptive-up − polydice1-fixed +\| mean Dice +\| 9 /);
    const figures = splitFigures(r);
    expect(figures.map((f) => f.id)).toEqual(['sequence-arms.svg', 'sequence-comparisons.svg']);
    for (const f of figures) expect(f.svg).toMatch(/^<svg [\s\S]*<\/svg>\s*$/);
    expect(figures[1]!.svg).toContain('up − fixed');
    expect(md).toContain('![Paired differences, sequence split](sequence-comparisons.svg)');
  });

  it("reads each model's selected epoch and splits the last-epoch gain by it", () => {
    const s = settings(mkdtempSync(join(tmpdir(), 'v2-')));
    writeGrid(s, 0.05);
    const { models } = readModels(s, 'sequence', 0.25);
    const up = models.filter((m) => m.arm === 'adaptive-up');
    expect(up.map((m) => [m.seed, m.fold, m.selectedEpoch])).toEqual([
      [1, 0, 3],
      [1, 1, 4],
      [1, 2, 5],
      [2, 0, 4],
      [2, 1, 5],
      [2, 2, 6],
      [3, 0, null],
      [3, 1, null],
      [3, 2, null],
    ]);
    // last-epoch weights: every image +0.1 where the run selected an epoch before 5, +0.02 elsewhere
    const last = models.map((m) => ({
      ...m,
      images: m.images.map((r) => ({ ...r, dice: r.dice + (m.selectedEpoch! < 5 ? 0.1 : 0.02) })),
    }));
    const g = selectionGain(models, last, 5);
    const perArm = V2_ARMS.length;
    expect(g.early.models).toBe(3 * perArm);
    expect(g.late.models).toBe(3 * perArm);
    expect(g.early.gain).toBeCloseTo(0.1, 12);
    expect(g.late.gain).toBeCloseTo(0.02, 12);
    const r = { ...splitResults('sequence', CHOICE, last, (n) => n), weights: 'last' as const, selection: g };
    expect(splitMarkdown(r)).toContain(
      `${3 * perArm} model(s) that selected an epoch before 5 gain 0.100, the other ${3 * perArm} gain 0.020`,
    );
  });

  it('lists what is missing; an incomplete grid compares the pairs it has', () => {
    const s = settings(mkdtempSync(join(tmpdir(), 'v2-')));
    writeGrid(s, 0.05, 'mean-up/2/1');
    const { models, missing } = readModels(s, 'sequence', 0.25);
    expect(missing).toEqual([join(s.out, 'sequence', 'mean-up', 'seed-2', 'run-1', 'fold-1', 'metrics.json')]);
    const r = splitResults('sequence', CHOICE, models, (name) => `v${Number(name.slice(1)) % 6}`);
    const c = r.comparisons.find((x) => x.b === 'mean-up')!;
    expect(c.pairs).toHaveLength(8);
    expect(c.unpaired).toBe(1);
  });
});
