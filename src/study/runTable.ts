/**
 * Every train run of a v2 split as the results list it (issue 17: "report training Dice at the end of
 * each run"): the ε₁ it trained with, the epoch model selection kept, the training Dice of the shipped
 * weights, the test Dice and the wall time; and per run folder (arm or ε₁ grid value) a summary, so
 * convergence and selection are checked run by run, not assumed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type MeanRange, mean, meanRange, median } from '../common/stats.js';
import { csvCell, fixed3, markdownTable } from '../common/table.js';
import { readTrajectory } from '../uncertainty/trajectory.js';
import { type GridRun, meanEpsUsed } from './grid.js';
import { readRunTiming } from './report.js';
import { readJsonFile } from '../common/files.js';

export interface RunRow {
  /** folder under OUT/<split>/: an arm, or eps-grid/eps-E */
  folder: string;
  stage: number;
  seed: number;
  fold: number;
  /** the fixed ε₁ (--eps), or for an adaptive run the mean ε₁ it applied after the warm-up; null without PolyDice-1 */
  eps: number | null;
  /** the epoch whose weights were kept (lowest validation loss) */
  bestEpoch: number;
  bestValLoss: number;
  /** mean Dice of the kept weights on the un-augmented training images */
  trainDice: number | null;
  testDice: number;
  /** wall-clock seconds of the run's train processes; null if not recorded */
  wallSeconds: number | null;
}

interface SummaryFile {
  folds: { fold: number; bestEpoch: number; bestValLoss: number; test: { dice: number }; trainDice?: number }[];
}

const flagValue = (flags: readonly string[], name: string): string | undefined => {
  const i = flags.indexOf(name);
  return i >= 0 ? flags[i + 1] : undefined;
};

/** A finished run's row; null while its summary.json is not written. */
export function readRunRow(run: GridRun, epochs: number): RunRow | null {
  const file = join(run.dir, 'summary.json');
  if (!existsSync(file)) return null;
  const summary = readJsonFile(file) as SummaryFile;
  const f = summary.folds.find((x) => x.fold === run.fold);
  if (!f) throw new Error(`${file}: no entry for fold ${run.fold}`);
  const fixed = flagValue(run.flags, '--eps');
  const eps = run.flags.includes('--adaptive')
    ? meanEpsUsed(readTrajectory(join(run.dir, `fold-${run.fold}`)), epochs)
    : fixed === undefined
      ? null
      : Number(fixed);
  const { wallSeconds } = readRunTiming(run.dir, run.fold);
  return {
    folder: run.folder,
    stage: run.stage,
    seed: run.seed,
    fold: run.fold,
    eps,
    bestEpoch: f.bestEpoch,
    bestValLoss: f.bestValLoss,
    trainDice: f.trainDice ?? null,
    testDice: f.test.dice,
    wallSeconds,
  };
}

/** One run folder's runs in a line: how many, ε₁, selected epochs, training and test Dice, time. */
export interface RunGroup {
  folder: string;
  runs: number;
  epsMean: number | null;
  bestEpoch: { median: number; min: number; max: number };
  trainDice: MeanRange | null;
  testDice: number;
  wallSecondsMean: number | null;
}

export function runGroups(rows: readonly RunRow[]): RunGroup[] {
  const folders = [...new Set(rows.map((r) => r.folder))];
  return folders.map((folder) => {
    const g = rows.filter((r) => r.folder === folder);
    const eps = g.map((r) => r.eps).filter((e): e is number => e !== null);
    const train = g.map((r) => r.trainDice).filter((d): d is number => d !== null);
    const walls = g.map((r) => r.wallSeconds);
    const epochs = g.map((r) => r.bestEpoch);
    return {
      folder,
      runs: g.length,
      epsMean: eps.length ? mean(eps) : null,
      bestEpoch: { median: median(epochs), min: Math.min(...epochs), max: Math.max(...epochs) },
      trainDice: meanRange(train),
      testDice: mean(g.map((r) => r.testDice)),
      wallSecondsMean: walls.every((w) => w !== null) ? mean(walls as number[]) : null,
    };
  });
}

/** The per-folder summary as a Markdown table. */
export function runGroupsMarkdown(groups: readonly RunGroup[]): string {
  return markdownTable(
    [
      'runs of',
      'runs',
      'ε₁ (mean)',
      'selected epoch: median (range)',
      'training Dice: mean (range)',
      'test Dice',
      'wall s',
    ],
    groups.map((g) => [
      g.folder,
      String(g.runs),
      fixed3(g.epsMean),
      `${g.bestEpoch.median} (${g.bestEpoch.min}–${g.bestEpoch.max})`,
      g.trainDice ? `${fixed3(g.trainDice.mean)} (${fixed3(g.trainDice.min)}–${fixed3(g.trainDice.max)})` : '–',
      fixed3(g.testDice),
      g.wallSecondsMean === null ? '–' : g.wallSecondsMean.toFixed(0),
    ]),
  );
}

const CSV_COLUMNS = [
  'folder',
  'stage',
  'seed',
  'fold',
  'eps',
  'bestEpoch',
  'bestValLoss',
  'trainDice',
  'testDice',
  'wallSeconds',
] as const satisfies readonly (keyof RunRow)[];

/** Every run, one CSV line each (empty cell for a missing value). */
export function runsCsv(rows: readonly RunRow[]): string {
  const cell = (v: string | number | null): string => csvCell(v ?? Number.NaN);
  const lines = [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((c) => cell(r[c])).join(','))];
  return `${lines.join('\n')}\n`;
}
