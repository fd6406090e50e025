import { describe, expect, it } from 'vitest';
import { prng } from '../../src/common/prng.js';
import {
  type ModelResult,
  adjustFamily,
  areaTerciles,
  armRobustness,
  compareArms,
  modelScore,
  worstMean,
} from '../../src/study/comparisons.js';

/** 3 seeds × 5 folds; fold k tests images k*10 … k*10+9 of videos v0…v9 (image i in video i % 10). */
function models(arm: string, dice: (image: number, seed: number) => number, difficulty = false): ModelResult[] {
  const out: ModelResult[] = [];
  for (let seed = 1; seed <= 3; seed++)
    for (let fold = 0; fold < 5; fold++)
      out.push({
        arm,
        seed,
        fold,
        images: Array.from({ length: 10 }, (_, j) => {
          const i = fold * 10 + j;
          const d = dice(i, seed);
          return {
            name: `img${i}`,
            dice: d,
            iou: d,
            precision: d,
            recall: d,
            area: (i + 1) / 100,
            ...(difficulty ? { difficulty: 1 - d } : {}),
          };
        }),
      });
  return out;
}
const videoOf = (name: string): string => `v${Number(name.slice(3)) % 10}`;

describe('model-level comparisons', () => {
  it('one Δ per (seed, fold): a constant gain gives its value, a tight interval and the exact p', () => {
    const base = (i: number, s: number) => 0.3 + ((i * 7 + s * 3) % 11) / 40;
    const all = [...models('a', (i, s) => base(i, s) + 0.05), ...models('b', base)];
    const c = compareArms(all, 'a', 'b', 'meanDice', videoOf, prng(1));
    expect(c.pairs).toHaveLength(15);
    expect(c.delta.estimate).toBeCloseTo(0.05, 12);
    expect(c.delta.high - c.delta.low).toBeLessThan(1e-9);
    expect(c.wilcoxonP).toBeCloseTo(2 / 2 ** 15, 12); // all 15 Δ positive
    expect(c.videoBootstrap!.videos).toBe(10);
    expect(c.videoBootstrap!.images).toBe(50);
    expect(c.videoBootstrap!.estimate).toBeCloseTo(0.05, 12);
  });

  it('no difference: the interval covers 0 and p is large', () => {
    const noise = (i: number, s: number) => 0.5 + (((i * 13 + s * 29) % 17) - 8) / 100;
    const all = [...models('a', noise), ...models('b', (i, s) => noise(i + 1, s + 1))];
    const c = compareArms(all, 'a', 'b', 'meanDice', videoOf, prng(2));
    expect(c.delta.low).toBeLessThan(0);
    expect(c.delta.high).toBeGreaterThan(0);
    expect(c.wilcoxonP).toBeGreaterThan(0.05);
    expect(c.videoBootstrap!.low).toBeLessThan(0);
  });

  it('refuses unpaired models and names them', () => {
    const all = [...models('a', () => 0.5), ...models('b', () => 0.5).filter((m) => m.fold !== 3)];
    expect(() => compareArms(all, 'a', 'b', 'meanDice', null, prng(1))).toThrow(/unpaired.*1\/3/);
  });

  it("worst-10% is each model's own worst images", () => {
    expect(worstMean([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.6, 0.4, 1], 0.1)).toBeCloseTo(0.1, 12);
    expect(worstMean([0.9, 0.1, 0.5, 0.3], 0.25)).toBeCloseTo(0.1, 12);
    expect(worstMean([0.9, 0.1, 0.5, 0.3, 0.2], 0.25)).toBeCloseTo(0.15, 12); // ceil(1.25) = 2
    const m = models('a', (i) => i / 100)[0]!;
    expect(modelScore(m, 'worst10')).toBeCloseTo(0, 12);
    expect(modelScore(m, 'meanDice')).toBeCloseTo(0.045, 12);
  });

  it('Holm adjusts within the family', () => {
    const all = [
      ...models('a', (i) => 0.6 + i / 1000),
      ...models('b', () => 0.5),
      ...models('c', (i) => 0.5 + ((i % 3) - 1) / 100),
    ];
    const fam = adjustFamily([
      compareArms(all, 'a', 'b', 'meanDice', null, prng(1)),
      compareArms(all, 'c', 'b', 'meanDice', null, prng(1)),
    ]);
    expect(fam[0]!.pHolm).toBeCloseTo(Math.min(1, 2 * fam[0]!.wilcoxonP), 12);
    expect(fam[1]!.pHolm).toBeGreaterThanOrEqual(fam[0]!.pHolm!);
  });

  it('robustness: own worst images, area terciles and difficulty correlations', () => {
    const all = models('a', (i) => (i + 1) / 50, true);
    const bounds = areaTerciles(all.flatMap((m) => m.images.map((r) => r.area!)));
    const r = armRobustness(all, 'a', bounds);
    expect(r.models).toBe(15);
    expect(r.byAreaTercile!.small).toBeLessThan(r.byAreaTercile!.medium);
    expect(r.byAreaTercile!.medium).toBeLessThan(r.byAreaTercile!.large);
    expect(r.difficultyVsDice!.mean).toBeCloseTo(-1, 12); // difficulty = 1 − Dice
    expect(r.difficultyVsArea!.mean).toBeCloseTo(-1, 12);
    expect(r.worst10).toBeLessThan(r.worst25);
    expect(r.worst25).toBeLessThan(r.meanDice);
    // the spread is over the 15 models' mean Dice (sample SD), not over pooled images
    const perModel = all.map((m) => m.images.reduce((a, x) => a + x.dice, 0) / m.images.length);
    const mu = perModel.reduce((a, b) => a + b, 0) / perModel.length;
    const sd = Math.sqrt(perModel.reduce((a, x) => a + (x - mu) ** 2, 0) / (perModel.length - 1));
    expect(sd).toBeGreaterThan(0);
    expect(r.meanDiceSd).toBeCloseTo(sd, 12);
  });
});
