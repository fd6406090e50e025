import { describe, expect, it } from 'vitest';
import { SMOOTH } from '../../src/graphBuilder/losses.js';
import {
  type ImageMetrics,
  type ImageRow,
  hardestImages,
  imageMetrics,
  softDice,
  summarize,
} from '../../src/training/metrics.js';

const P = (...v: number[]): Float32Array => Float32Array.from(v);
const M = (...v: number[]): Uint8Array => Uint8Array.from(v);

describe('imageMetrics', () => {
  it('matches hand counts', () => {
    // pred (>0.5): 1 1 0 0 1 0 ; mask: 1 0 1 0 1 1 → TP 2, FP 1, FN 2, TN 1
    const m = imageMetrics(P(0.9, 0.6, 0.4, 0.1, 0.51, 0.5), M(1, 0, 1, 0, 1, 1));
    expect(m.dice).toBeCloseTo(4 / 7, 12); // 2·2 / (2·2 + 1 + 2)
    expect(m.iou).toBeCloseTo(2 / 5, 12); // 2 / (2 + 1 + 2)
    expect(m.precision).toBeCloseTo(2 / 3, 12);
    expect(m.recall).toBeCloseTo(2 / 4, 12);
  });

  it('thresholds strictly above 0.5 by default, and honours another threshold', () => {
    expect(imageMetrics(P(0.5), M(1)).recall).toBe(0);
    expect(imageMetrics(P(0.5000001), M(1)).recall).toBe(1);
    expect(imageMetrics(P(0.3, 0.2), M(1, 0), 0.25)).toEqual({ dice: 1, iou: 1, precision: 1, recall: 1 });
  });

  it('perfect prediction scores 1; fully wrong scores 0', () => {
    expect(imageMetrics(P(1, 0, 1), M(1, 0, 1))).toEqual({ dice: 1, iou: 1, precision: 1, recall: 1 });
    expect(imageMetrics(P(0, 1, 0), M(1, 0, 1))).toEqual({ dice: 0, iou: 0, precision: 0, recall: 0 });
  });

  it('empty cases: 0/0 is 1 only when prediction and mask are both empty', () => {
    // both empty: the image is entirely right
    expect(imageMetrics(P(0.1, 0.2, 0), M(0, 0, 0))).toEqual({ dice: 1, iou: 1, precision: 1, recall: 1 });
    // empty prediction, non-empty mask: precision is 0/0 → 0, recall 0/2 = 0
    expect(imageMetrics(P(0.1, 0.2, 0), M(1, 1, 0))).toEqual({ dice: 0, iou: 0, precision: 0, recall: 0 });
    // non-empty prediction, empty mask: recall is 0/0 → 0, precision 0/1 = 0
    expect(imageMetrics(P(0.9, 0.2, 0), M(0, 0, 0))).toEqual({ dice: 0, iou: 0, precision: 0, recall: 0 });
    // zero pixels: both trivially empty
    expect(imageMetrics(P(), M())).toEqual({ dice: 1, iou: 1, precision: 1, recall: 1 });
  });

  it('treats any non-zero mask byte as foreground and checks lengths', () => {
    expect(imageMetrics(P(1, 0), M(255, 0)).dice).toBe(1);
    expect(() => imageMetrics(P(1, 0), M(1))).toThrow(/2 probabilities for 1 mask pixels/);
  });

  it('dice and iou agree: iou = dice / (2 − dice)', () => {
    const prob = P(0.9, 0.8, 0.7, 0.2, 0.9, 0.1, 0.6, 0.4);
    const mask = M(1, 1, 0, 1, 1, 0, 0, 1);
    const m = imageMetrics(prob, mask);
    expect(m.iou).toBeCloseTo(m.dice / (2 - m.dice), 12);
  });
});

describe('summarize', () => {
  it('means each metric over images, every image weighing the same', () => {
    const list: ImageMetrics[] = [
      { dice: 1, iou: 1, precision: 1, recall: 1 },
      { dice: 0.5, iou: 1 / 3, precision: 0.25, recall: 0 },
    ];
    const s = summarize(list);
    expect(s.dice).toBeCloseTo(0.75, 12);
    expect(s.iou).toBeCloseTo(2 / 3, 12);
    expect(s.precision).toBeCloseTo(0.625, 12);
    expect(s.recall).toBeCloseTo(0.5, 12);
  });

  it('accepts entries with extra fields; an empty list gives NaN', () => {
    expect(
      summarize([{ name: 'a', dice: 0.2, iou: 0.1, precision: 0.3, recall: 0.4 } as ImageMetrics]).recall,
    ).toBeCloseTo(0.4, 12);
    const e = summarize([]);
    expect([e.dice, e.iou, e.precision, e.recall].every(Number.isNaN)).toBe(true);
  });
});

describe('softDice', () => {
  it('is (2Σpt + δ)/(Σp² + Σt² + δ), the complement of the Dice loss', () => {
    // p = 0.8, 0.5, 0.1, 0; t = 1, 0, 1, 0 → Σpt = 0.9, Σp² = 0.9, Σt² = 2
    const prob = P(0.8, 0.5, 0.1, 0);
    const mask = M(1, 0, 1, 0);
    expect(SMOOTH).toBe(1);
    expect(softDice(prob, mask)).toBeCloseTo((1.8 + 1) / (2.9 + 1), 6);
    expect(softDice(prob, mask, 0)).toBeCloseTo(1.8 / 2.9, 6);
  });

  it('is 1 for a perfect binary prediction and for empty on empty; low for the opposite', () => {
    expect(softDice(P(1, 0, 1), M(1, 0, 1))).toBe(1);
    expect(softDice(P(0, 0), M(0, 0))).toBe(1);
    expect(softDice(P(0, 0), M(0, 0), 0)).toBe(1);
    expect(softDice(P(0, 1), M(1, 0), 0)).toBe(0);
    expect(softDice(P(0, 1), M(1, 0))).toBeCloseTo(1 / 3, 12); // δ / (1 + 1 + δ)
  });

  it('checks lengths', () => {
    expect(() => softDice(P(1), M(1, 0))).toThrow(/softDice/);
  });
});

describe('hardestImages', () => {
  const img = (name: string, dice: number): ImageRow => ({ name, dice, iou: dice / 2, precision: 1, recall: dice });

  it('takes ceil(fraction · N) lowest by Dice, ties by name', () => {
    const rows = [img('a', 0.5), img('b', 0.1), img('c', 0.1), img('d', 0.9)];
    expect(hardestImages(rows, 0.1)).toEqual(['b']);
    expect(hardestImages(rows, 0.25)).toEqual(['b']);
    expect(hardestImages(rows, 0.5)).toEqual(['b', 'c']);
  });
});
