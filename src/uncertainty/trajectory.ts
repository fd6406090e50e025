/**
 * The difficulty trajectory of one training run (METHOD.md §3–4: "record every image's difficulty
 * and ε at every MC phase"; the note's first experimental step). After each MC phase, one row per
 * measured image is appended to two files in the fold's folder:
 *   trajectory.jsonl   one JSON object per line (what readTrajectory and the report read)
 *   trajectory.csv     the same rows for spreadsheets; header written once, when the file is new
 *
 * Row fields (the caller fills them; suggested meanings, which the report assumes):
 *   phase       0-based MC phase counter
 *   epoch       completed training epochs when the phase ran (1-based, as epochs.jsonl's `epoch`)
 *   index       the image's index in the dataset (the index epsFor receives)
 *   name        the image's name (file stem)
 *   difficulty  the aggregate uncertainty (difficulty.ts)
 *   eps         the ε_1 this phase assigns the image (used for training until the next phase)
 *   dice        Dice of the MC mean prediction (p̄ > 0.5) against the mask, e.g. imageMetrics(meanProb, mask).dice
 *
 * Crash behaviour ("atomic-ish"): a phase's lines go out in one append + fsync per file, so a crash
 * leaves whole earlier phases intact and at worst a torn last line, which readTrajectory skips. On
 * resume from a checkpoint, call trimTrajectory to drop phases the checkpoint does not cover.
 * Non-finite numbers are written as null (JSON) or an empty cell (CSV) and read back as NaN.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/files.js';
import { csvCell } from '../common/table.js';

export interface TrajectoryRow {
  phase: number;
  epoch: number;
  index: number;
  name: string;
  difficulty: number;
  eps: number;
  dice: number;
}

export interface TrajectoryPhase {
  phase: number;
  epoch: number;
  /** Sorted by image index. */
  rows: TrajectoryRow[];
}

export const TRAJECTORY_JSONL = 'trajectory.jsonl';
export const TRAJECTORY_CSV = 'trajectory.csv';
const COLUMNS = ['phase', 'epoch', 'index', 'name', 'difficulty', 'eps', 'dice'] as const;
export const CSV_HEADER = `${COLUMNS.join(',')}\n`;

const num = (v: number): number | null => (Number.isFinite(v) ? v : null);
const jsonLine = (r: TrajectoryRow): string =>
  `${JSON.stringify({ phase: r.phase, epoch: r.epoch, index: r.index, name: r.name, difficulty: num(r.difficulty), eps: num(r.eps), dice: num(r.dice) })}\n`;

const csvLine = (r: TrajectoryRow): string => `${COLUMNS.map((c) => csvCell(r[c])).join(',')}\n`;

/** trajectory.csv for these rows: what appendTrajectory leaves after appending them phase by phase. */
export const trajectoryCsv = (rows: readonly TrajectoryRow[]): string => CSV_HEADER + rows.map(csvLine).join('');

function appendSynced(path: string, text: string): void {
  const fd = openSync(path, 'a');
  try {
    const bytes = Buffer.from(text, 'utf8');
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Append one MC phase's rows to dir/trajectory.{jsonl,csv} (creating dir and the files as needed). */
export function appendTrajectory(dir: string, rows: readonly TrajectoryRow[]): void {
  if (rows.length === 0) return;
  mkdirSync(dir, { recursive: true });
  appendSynced(join(dir, TRAJECTORY_JSONL), rows.map(jsonLine).join(''));
  const csv = join(dir, TRAJECTORY_CSV);
  const fresh = !existsSync(csv) || statSync(csv).size === 0;
  appendSynced(csv, (fresh ? CSV_HEADER : '') + rows.map(csvLine).join(''));
}

/** Every row of a trajectory.jsonl (path to the file or to its folder), in file order. */
export function readTrajectoryRows(path: string): TrajectoryRow[] {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, TRAJECTORY_JSONL) : path;
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const rows: TrajectoryRow[] = [];
  const n = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);
  lines.forEach((line, k) => {
    if (line.trim() === '') return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch (e) {
      // Only the last line may be torn (a crash mid-append); anything else is a corrupt file.
      if (k === lines.length - 1) return;
      throw new Error(`${file}:${k + 1}: not JSON (${(e as Error).message})`);
    }
    if (typeof o.phase !== 'number' || typeof o.epoch !== 'number' || typeof o.index !== 'number') {
      throw new Error(`${file}:${k + 1}: a trajectory row needs numeric phase, epoch and index`);
    }
    rows.push({
      phase: o.phase,
      epoch: o.epoch,
      index: o.index,
      name: String(o.name ?? o.index),
      difficulty: n(o.difficulty),
      eps: n(o.eps),
      dice: n(o.dice),
    });
  });
  return rows;
}

/**
 * Rows grouped into phases, sorted by phase, each phase's rows sorted by image index. A row repeated
 * for the same (phase, index) keeps its last occurrence. A phase's epoch is that of its last row.
 */
export function groupPhases(rows: readonly TrajectoryRow[]): TrajectoryPhase[] {
  const phases = new Map<number, { epoch: number; byIndex: Map<number, TrajectoryRow> }>();
  for (const r of rows) {
    const p = phases.get(r.phase) ?? { epoch: r.epoch, byIndex: new Map() };
    p.epoch = r.epoch;
    p.byIndex.set(r.index, r);
    phases.set(r.phase, p);
  }
  return [...phases.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([phase, p]) => ({ phase, epoch: p.epoch, rows: [...p.byIndex.values()].sort((a, b) => a.index - b.index) }));
}

/** The phases of a trajectory (path to trajectory.jsonl or its folder); [] when the file is missing. */
export function readTrajectory(path: string): TrajectoryPhase[] {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, TRAJECTORY_JSONL) : path;
  return existsSync(file) ? groupPhases(readTrajectoryRows(file)) : [];
}

/** index → difficulty of the latest phase (to rebuild the ε table on resume); empty if none. */
export function latestDifficulties(phases: readonly TrajectoryPhase[]): Map<number, number> {
  const last = phases.at(-1);
  return new Map(last ? last.rows.map((r) => [r.index, r.difficulty]) : []);
}

/**
 * Keep only the rows `keep` accepts, rewriting both files atomically (e.g. on resume from a
 * checkpoint after `epoch` epochs: trimTrajectory(dir, (r) => r.epoch <= epoch)). No-op without a file.
 */
export function trimTrajectory(dir: string, keep: (row: TrajectoryRow) => boolean): void {
  const file = join(dir, TRAJECTORY_JSONL);
  if (!existsSync(file)) return;
  const rows = readTrajectoryRows(file).filter(keep);
  writeFileAtomic(file, rows.map(jsonLine).join(''));
  writeFileAtomic(join(dir, TRAJECTORY_CSV), trajectoryCsv(rows));
}
