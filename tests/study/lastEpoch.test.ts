/**
 * The last-epoch check of study v2 (`--weights last`): a run's checkpoint scored on its own test fold.
 * With one epoch the last epoch is the selected one, so the scores must equal the trainer's own
 * metrics.json; on a model trained on real CVC frames they must describe a model that segments.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DatasetCache, lastEpochScores } from '../../src/study/lastEpoch.js';
import type { ImageRow } from '../../src/training/metrics.js';
import { haveCvc, trainedCvcRun } from '../fixtures/trainedModel.js';

const metricsOf = (run: string, fold: number) =>
  JSON.parse(readFileSync(join(run, `fold-${fold}`, 'metrics.json'), 'utf8')) as {
    images: ImageRow[];
    train: { dice: number };
  };

describe('lastEpochScores', () => {
  const run = mkdtempSync(join(tmpdir(), 'last-epoch-'));
  const trained = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/train.ts',
      ...['--synthetic-count', '24', '--preset', 'tiny', '--size', '32', '--batch', '4'],
      ...['--epochs', '1', '--folds', '3', '--fold', '1', '--seed', '5', '--out', run],
    ],
    { encoding: 'utf8' },
  );

  it('one epoch: the checkpoint scores exactly what the trainer wrote for the selected weights', async () => {
    expect(trained.status, trained.stderr).toBe(0);
    const cache: DatasetCache = new Map();
    const last = await lastEpochScores(run, 1, 1, cache);
    const selected = metricsOf(run, 1);
    expect(last.epoch).toBe(1);
    expect(last.images).toEqual(selected.images);
    expect(last.trainDice).toBeCloseTo(selected.train.dice, 12);
    expect(cache.size).toBe(1);
  });

  it('refuses a checkpoint that is not at the last epoch, and a fold whose test images differ', async () => {
    await expect(lastEpochScores(run, 1, 2, new Map())).rejects.toThrow(
      `${join(run, 'fold-1', 'checkpoint')}: checkpoint after epoch 1, expected the last (2)`,
    );
    const file = join(run, 'fold-1', 'metrics.json');
    const m = metricsOf(run, 1);
    writeFileSync(file, JSON.stringify({ ...m, images: m.images.slice(1) }));
    await expect(lastEpochScores(run, 1, 1, new Map())).rejects.toThrow(`${file}: its test images are not fold 1's`);
  });

  it.runIf(haveCvc)(
    'a model trained on real CVC frames: the same test frames, and it segments them',
    async () => {
      const cvc = trainedCvcRun();
      const last = await lastEpochScores(cvc, 0, 40, new Map());
      const selected = metricsOf(cvc, 0);
      expect(last.images.map((r) => r.name)).toEqual(selected.images.map((r) => r.name));
      const mean = last.images.reduce((a, r) => a + r.dice, 0) / last.images.length;
      expect(mean).toBeGreaterThan(0.3);
      expect(last.trainDice).toBeGreaterThan(0.3);
      expect(last.images.every((r) => r.area! > 0 && r.area! < 1)).toBe(true);
    },
    600_000,
  ); // the shared fixture trains once per source change (30 s alone, over 2 min on a busy machine)
});
