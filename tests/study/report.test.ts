import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { difficultyVsDice, readRunTiming, summarizeTiming } from '../../src/study/report.js';
import type { FoldMetrics } from '../../src/study/results.js';

const img = (name: string, dice: number, difficulty?: number) => ({
  name,
  dice,
  iou: 0,
  precision: 0,
  recall: 0,
  ...(difficulty === undefined ? {} : { difficulty }),
});
const fold = (k: number, images: ReturnType<typeof img>[]): FoldMetrics => ({
  fold: k,
  mean: { dice: 0, iou: 0, precision: 0, recall: 0 },
  images,
});

describe('study report', () => {
  it('run time: epochs.jsonl seconds and wall-time.json, summed and averaged', () => {
    const dir = mkdtempSync(join(tmpdir(), 'timing-'));
    mkdirSync(join(dir, 'fold-1'));
    writeFileSync(join(dir, 'fold-1', 'epochs.jsonl'), '{"epoch":1,"seconds":2.5}\n{"epoch":2,"seconds":3.5}\n');
    writeFileSync(join(dir, 'wall-time.json'), '{"seconds":10,"invocations":2}\n');
    const t = readRunTiming(dir, 1);
    expect(t).toEqual({ fold: 1, epochs: 2, epochSeconds: 6, wallSeconds: 10 });
    const s = summarizeTiming('dice', [t, { fold: 0, epochs: 2, epochSeconds: 2, wallSeconds: 6 }]);
    expect(s).toEqual({ config: 'dice', runs: 2, wallSecondsPerRun: 8, secondsPerEpoch: 2, wallSecondsTotal: 16 });
    expect(
      summarizeTiming('dice', [t, { fold: 0, epochs: 2, epochSeconds: 2, wallSeconds: null }]).wallSecondsPerRun,
    ).toBeNull();
  });

  it('difficulty vs test Dice: Spearman per fold and pooled (hand-computed), null without difficulties', () => {
    // Fold 0: difficulty ranks 1 2 3 4, Dice ranks 4 2 3 1 → ρ = −4/5.
    const f0 = fold(0, [img('a', 0.9, 0.1), img('b', 0.8, 0.2), img('c', 0.85, 0.3), img('d', 0.5, 0.4)]);
    // Fold 1: perfectly increasing → ρ = 1.
    const f1 = fold(1, [img('e', 0.1, 1), img('f', 0.2, 2), img('g', 0.3, 3)]);
    const d = difficultyVsDice('adaptive-up', [f0, f1])!;
    expect(d.perFold.map((f) => f.images)).toEqual([4, 3]);
    expect(d.perFold[0]!.spearman).toBeCloseTo(-0.8, 12);
    expect(d.perFold[1]!.spearman).toBeCloseTo(1, 12);
    expect(d.pooled.images).toBe(7);
    expect(difficultyVsDice('dice', [fold(0, [img('a', 0.9), img('b', 0.8)])])).toBeNull();
  });
});
