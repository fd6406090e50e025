/**
 * Study v2's per-run table (src/study/runTable.ts): each finished run's ε₁ (fixed from its flags, the
 * applied mean for an adaptive run), selected epoch, training and test Dice and wall time; unfinished runs
 * are left out; the per-folder summary and the CSV carry the same numbers.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GridRun } from '../../src/study/grid.js';
import { readRunRow, runGroups, runGroupsMarkdown, runsCsv } from '../../src/study/runTable.js';
import { appendTrajectory } from '../../src/uncertainty/trajectory.js';

const root = mkdtempSync(join(tmpdir(), 'run-table-'));

function run(
  folder: string,
  fold: number,
  flags: string[],
  done: { best: number; train?: number; test: number },
): GridRun {
  const dir = join(root, folder, `run-${fold}`);
  mkdirSync(join(dir, `fold-${fold}`), { recursive: true });
  const entry = { fold, bestEpoch: done.best, bestValLoss: 0.3, test: { dice: done.test }, trainDice: done.train };
  writeFileSync(join(dir, 'summary.json'), JSON.stringify({ run: dir, folds: [entry] }));
  writeFileSync(join(dir, 'wall-time.json'), JSON.stringify({ seconds: 100 + fold }));
  writeFileSync(join(dir, `fold-${fold}`, 'epochs.jsonl'), '{"epoch":1,"seconds":2}\n');
  return { stage: 1, split: 'sequence', folder, seed: 1, fold, flags, dir };
}

describe('study v2 run table', () => {
  it('reads ε₁, selected epoch, training/test Dice and wall time of each finished run', () => {
    const dice = [0, 1].map((f) =>
      run('dice', f, ['--loss', 'dice'], { best: 20 + 10 * f, train: [0.7, 0.8][f], test: 0.6 }),
    );
    const fixed = run('eps-grid/eps--0.25', 0, ['--loss', 'polydice1', '--eps', '-0.25'], { best: 33, test: 0.5 });
    const up = run('adaptive-up', 0, ['--loss', 'polydice1', '--adaptive', '--eps-map', 'linear:0,0.5:up'], {
      best: 40,
      train: 0.9,
      test: 0.65,
    });
    // phases after epochs 5 (mean ε₁ 0.1, serves 5 epochs) and 10 (mean 0.4, serves the last 10 of 20)
    const row = (epoch: number, index: number, eps: number) => ({
      phase: epoch / 5,
      epoch,
      index,
      name: `f${index}`,
      difficulty: eps,
      eps,
      dice: 0.5,
    });
    appendTrajectory(join(up.dir, 'fold-0'), [row(5, 0, 0), row(5, 1, 0.2)]);
    appendTrajectory(join(up.dir, 'fold-0'), [row(10, 0, 0.3), row(10, 1, 0.5)]);
    const unfinished: GridRun = { ...fixed, fold: 3, dir: join(root, 'nowhere') };

    expect(readRunRow(unfinished, 20)).toBeNull();
    const rows = [...dice, fixed, up].map((r) => readRunRow(r, 20)!);
    expect(rows.map((r) => r.eps)).toEqual([null, null, -0.25, expect.closeTo((5 * 0.1 + 10 * 0.4) / 15, 12)]);
    expect(rows[1]).toMatchObject({
      folder: 'dice',
      fold: 1,
      bestEpoch: 30,
      trainDice: 0.8,
      testDice: 0.6,
      wallSeconds: 101,
    });
    expect(rows[2]!.trainDice).toBeNull();

    const groups = runGroups(rows);
    expect(groups.map((g) => g.folder)).toEqual(['dice', 'eps-grid/eps--0.25', 'adaptive-up']);
    expect(groups[0]).toMatchObject({
      runs: 2,
      epsMean: null,
      bestEpoch: { median: 25, min: 20, max: 30 },
      wallSecondsMean: 100.5,
    });
    expect(groups[0]!.trainDice!.mean).toBeCloseTo(0.75, 12);
    expect(groups[1]!.trainDice).toBeNull();
    expect(runGroupsMarkdown(groups)).toMatch(/\| dice +\| 2 +\| – +\| 25 \(20–30\) +\| 0\.750 \(0\.700–0\.800\)/);

    const csv = runsCsv(rows).trim().split('\n');
    expect(csv[0]).toBe('folder,stage,seed,fold,eps,bestEpoch,bestValLoss,trainDice,testDice,wallSeconds');
    expect(csv[3]).toBe('eps-grid/eps--0.25,1,1,0,-0.25,33,0.3,,0.5,100');
    expect(csv).toHaveLength(5);
  });
});
