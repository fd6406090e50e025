/**
 * What the study reports beyond the results tables (issue 9): run times, the MC-Dropout difficulty
 * trajectory of one fold, how the final model's difficulty of a test image relates to its test Dice,
 * and the figures. Reads run folders, returns data, Markdown and SVG strings; writes nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Figure, type PhaseSummary, sectionFigures, summarizePhases } from '../uncertainty/report.js';
import { spearman } from '../common/stats.js';
import { lineChart } from '../common/svg.js';
import { fixed3 } from '../common/table.js';
import { readTrajectory } from '../uncertainty/trajectory.js';
import type { FoldMetrics, StudyResults } from './results.js';
import { readJsonFile } from '../common/files.js';

/** One run's time: the trainer's per-epoch seconds (training, MC phase, validation) and the wall time of its processes. */
export interface RunTiming {
  fold: number;
  epochs: number;
  /** sum of epochs.jsonl `seconds` */
  epochSeconds: number;
  /** wall-clock seconds of the train processes (start-up, data loading, export and test included); null if not recorded */
  wallSeconds: number | null;
}

export function readRunTiming(runDir: string, fold: number): RunTiming {
  const epochs = readFileSync(join(runDir, `fold-${fold}`, 'epochs.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { seconds: number });
  const wallFile = join(runDir, 'wall-time.json');
  const wall = existsSync(wallFile) ? (readJsonFile(wallFile) as { seconds: number }).seconds : null;
  return { fold, epochs: epochs.length, epochSeconds: epochs.reduce((a, e) => a + e.seconds, 0), wallSeconds: wall };
}

export interface TimingSummary {
  config: string;
  runs: number;
  /** mean over runs of the wall time of one run (null if some run has none) */
  wallSecondsPerRun: number | null;
  /** mean seconds of one epoch (training + MC phase when due + validation) */
  secondsPerEpoch: number;
  /** sum of the runs' wall times */
  wallSecondsTotal: number | null;
}

export function summarizeTiming(config: string, runs: readonly RunTiming[]): TimingSummary {
  const walls = runs.map((r) => r.wallSeconds);
  const allWall = walls.every((w) => w !== null);
  const total = allWall ? (walls as number[]).reduce((a, b) => a + b, 0) : null;
  return {
    config,
    runs: runs.length,
    wallSecondsPerRun: total === null ? null : total / runs.length,
    secondsPerEpoch: runs.reduce((a, r) => a + r.epochSeconds, 0) / runs.reduce((a, r) => a + r.epochs, 0),
    wallSecondsTotal: total,
  };
}

/** Spearman ρ between the final model's MC-Dropout difficulty of each test image and its test Dice. */
export interface DifficultyVsDice {
  config: string;
  perFold: { fold: number; images: number; spearman: number }[];
  /** over all test images (difficulties of different folds come from different models) */
  pooled: { images: number; spearman: number };
}

/** Null when the runs recorded no test-image difficulty (MC phases off). */
export function difficultyVsDice(config: string, folds: readonly FoldMetrics[]): DifficultyVsDice | null {
  const withD = folds.map((f) => ({
    fold: f.fold,
    rows: f.images.filter((r) => typeof r.difficulty === 'number' && Number.isFinite(r.difficulty)),
  }));
  if (withD.every((f) => f.rows.length === 0)) return null;
  const rho = (rows: FoldMetrics['images']) =>
    spearman(
      rows.map((r) => r.difficulty!),
      rows.map((r) => r.dice),
    );
  const all = withD.flatMap((f) => f.rows);
  return {
    config,
    perFold: withD.map((f) => ({ fold: f.fold, images: f.rows.length, spearman: rho(f.rows) })),
    pooled: { images: all.length, spearman: rho(all) },
  };
}

/** The difficulty trajectory of one fold of one configuration (training images, every MC phase). */
export interface TrajectoryReport {
  config: string;
  fold: number;
  phases: PhaseSummary[];
}

const CONFIG_COLORS = { mean: '#08306b', hard25: '#d6604d', hard10: '#b2182b', p5: '#762a83' };

/** Test Dice per configuration: mean ± std over folds, and the robustness measures over pooled images. */
export function diceFigure(split: string, r: StudyResults): string {
  const cats = r.summaries.map((s) => s.config);
  const at = (f: (s: StudyResults['summaries'][number]) => number | null) =>
    r.summaries.map((s, i) => [i, f(s) ?? Number.NaN] as const);
  return lineChart({
    title: `Test Dice per configuration (${split} split)`,
    xLabel: 'configuration',
    yLabel: 'Dice',
    xCategories: cats,
    width: 900,
    series: [
      {
        label: 'mean over folds ± std',
        color: CONFIG_COLORS.mean,
        markersOnly: true,
        width: 3,
        points: at((s) => s.perFold.dice.mean),
        errors: r.summaries.map((s) => s.perFold.dice.std),
      },
      {
        label: 'hardest 25% (by dice)',
        color: CONFIG_COLORS.hard25,
        markersOnly: true,
        points: at((s) => s.hardest25),
      },
      {
        label: 'hardest 10% (by dice)',
        color: CONFIG_COLORS.hard10,
        markersOnly: true,
        points: at((s) => s.hardest10),
      },
      { label: '5th percentile', color: CONFIG_COLORS.p5, markersOnly: true, points: at((s) => s.diceP5) },
    ],
  });
}

/** Scatter of the final model's test-image difficulty against test Dice (all folds of one configuration). */
export function difficultyDiceFigure(split: string, config: string, folds: readonly FoldMetrics[]): string {
  const rows = folds
    .flatMap((f) => f.images)
    .filter((r) => typeof r.difficulty === 'number' && Number.isFinite(r.difficulty));
  return lineChart({
    title: `Test images: difficulty vs Dice (${config}, ${split}, all folds)`,
    xLabel: 'difficulty (mean pixel variance, final model)',
    yLabel: 'test Dice',
    yDomain: [0, 1],
    series: [
      {
        label: 'one test image',
        color: '#4393c3',
        markersOnly: true,
        width: 1,
        points: rows.map((r) => [r.difficulty!, r.dice] as const),
      },
    ],
  });
}

/** Trajectory table and figures of `config`'s fold `fold` (run folder `runDir`). */
export function trajectoryReport(
  split: string,
  config: string,
  runDir: string,
  fold: number,
): { report: TrajectoryReport; figures: Figure[] } {
  const phases = readTrajectory(join(runDir, `fold-${fold}`));
  const label = `${split}-${config}-fold-${fold}`;
  return {
    report: { config, fold, phases: summarizePhases(phases) },
    figures: sectionFigures({ label, file: join(runDir, `fold-${fold}`), phases }),
  };
}

const secs = (v: number | null): string =>
  v === null ? '–' : v >= 120 ? `${(v / 60).toFixed(1)} min` : `${v.toFixed(1)} s`;

export function timingMarkdown(rows: readonly TimingSummary[]): string {
  const out = [
    '| config | runs | wall time per run | seconds per epoch | wall time, all runs |',
    '| --- | --: | --: | --: | --: |',
  ];
  for (const t of rows)
    out.push(
      `| ${t.config} | ${t.runs} | ${secs(t.wallSecondsPerRun)} | ${t.secondsPerEpoch.toFixed(2)} | ${secs(t.wallSecondsTotal)} |`,
    );
  return `${out.join('\n')}\n`;
}

export function trajectoryMarkdown(t: TrajectoryReport): string {
  const out = [
    `Difficulty trajectory of ${t.config}, fold ${t.fold} (training images at each MC phase; ρ = Spearman between an image's difficulty and the Dice of its MC mean prediction in that phase):`,
    '',
    '| phase | epoch | images | difficulty Q1 | median | Q3 | mean ε₁ | mean Dice | ρ(difficulty, Dice) |',
    '| --: | --: | --: | --: | --: | --: | --: | --: | --: |',
  ];
  const g = (v: number): string => (Number.isFinite(v) ? v.toExponential(3) : '–');
  for (const p of t.phases)
    out.push(
      `| ${p.phase} | ${p.epoch} | ${p.images} | ${g(p.q1)} | ${g(p.median)} | ${g(p.q3)} | ${fixed3(p.meanEps)} | ${fixed3(p.meanDice)} | ${fixed3(p.spearman)} |`,
    );
  return `${out.join('\n')}\n`;
}

export function difficultyVsDiceMarkdown(rows: readonly DifficultyVsDice[]): string {
  const out = [
    'Final model (lowest validation loss) MC-Dropout difficulty of each **test** image vs its test Dice, Spearman ρ (negative: images the model is unsure of are segmented worse):',
    '',
    '| config | per fold ρ | pooled ρ (images) |',
    '| --- | --- | --: |',
  ];
  for (const d of rows)
    out.push(
      `| ${d.config} | ${d.perFold.map((f) => fixed3(f.spearman)).join(', ')} | ${fixed3(d.pooled.spearman)} (${d.pooled.images}) |`,
    );
  return `${out.join('\n')}\n`;
}
