import { describe, expect, it } from 'vitest';
import { type FoldMetrics, computeResults, resultsMarkdown } from '../../src/study/results.js';
import type { ImageRow } from '../../src/training/metrics.js';

const img = (name: string, dice: number): ImageRow => ({ name, dice, iou: dice / 2, precision: 1, recall: dice });
const fold = (k: number, rows: ImageRow[]): FoldMetrics => ({
  fold: k,
  images: rows,
  mean: {
    dice: rows.reduce((a, r) => a + r.dice, 0) / rows.length,
    iou: rows.reduce((a, r) => a + r.iou, 0) / rows.length,
    precision: 1,
    recall: rows.reduce((a, r) => a + r.recall, 0) / rows.length,
  },
});

describe('computeResults', () => {
  // 10 images over 2 folds; the baseline `dice` makes i0 the hardest, then i1, ...
  const base = Array.from({ length: 10 }, (_, i) => img(`i${i}`, 0.1 * (i + 1) - 0.05));
  const better = base.map((r, i) => img(r.name, r.dice + (i < 3 ? 0.1 : 0.01 * (i % 2 ? 1 : -1))));
  const runs = new Map<string, FoldMetrics[]>([
    ['dice', [fold(0, base.slice(0, 5)), fold(1, base.slice(5))]],
    ['adaptive-up', [fold(0, better.slice(0, 5)), fold(1, better.slice(5))]],
  ]);
  const r = computeResults(runs);

  it('summarises over folds and over all images', () => {
    const d = r.summaries.find((s) => s.config === 'dice')!;
    // fold means: (0.05+…+0.45)/5 = 0.25, (0.55+…+0.95)/5 = 0.75 → mean 0.5, std sqrt(0.125)
    expect(d.perFold.dice.mean).toBeCloseTo(0.5, 12);
    expect(d.perFold.dice.std).toBeCloseTo(Math.sqrt(0.125), 12);
    expect(d.pooled.dice).toBeCloseTo(0.5, 12);
    expect(d.pooled.iou).toBeCloseTo(0.25, 12);
    expect(d.images).toBe(10);
    // hardest 10% = i0 (0.05); hardest 25% = ceil(2.5) = 3 images i0..i2: (0.05+0.15+0.25)/3
    expect(d.hardest10).toBeCloseTo(0.05, 12);
    expect(d.hardest25).toBeCloseTo(0.15, 12);
    // 5th percentile: h = 9 · 0.05 = 0.45 → 0.05 + 0.45 · 0.1
    expect(d.diceP5).toBeCloseTo(0.095, 12);
    const a = r.summaries.find((s) => s.config === 'adaptive-up')!;
    expect(a.hardest10).toBeCloseTo(0.15, 12); // the same image i0, adaptive's Dice
    expect(a.hardest25).toBeCloseTo(0.25, 12);
  });

  it('compares adaptive configs with dice (paired by image name), notes missing references', () => {
    expect(r.comparisons).toHaveLength(1);
    const c = r.comparisons[0]!;
    expect(c).toMatchObject({ config: 'adaptive-up', against: 'dice', metric: 'dice' });
    // differences: +0.1 ×3 (ranks 8..10 → 9 each), then ±0.01 alternating for i3..i9: i3 +, i4 −, i5 +, i6 −, i7 +, i8 −, i9 +
    // |0.01| differences are all ties in exact arithmetic but not in floating point; check structure only
    expect(c.test.n).toBe(10);
    expect(c.test.method).toBe('exact');
    expect(c.test.wPlus + c.test.wMinus).toBe(55);
    expect(c.meanDifference).toBeCloseTo((0.3 + 0.01) / 10, 12);
    expect(r.notes.join()).toMatch(/not compared with polydice1-fixed/);
  });

  it('refuses unpaired runs', () => {
    const bad = new Map(runs);
    bad.set('adaptive-down', [fold(0, [img('other', 0.5)])]);
    expect(() => computeResults(bad)).toThrow(/not paired/);
  });

  it('renders Markdown tables', () => {
    const md = resultsMarkdown(r, 'random split');
    expect(md).toContain('## random split');
    expect(md).toContain('| dice | 2 | 0.500 ± 0.354 |');
    expect(md).toMatch(/\| adaptive-up \| dice \| 10 \|/);
  });
});
