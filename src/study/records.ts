/**
 * Run records: the result files of a study's finished runs, without their weights, as one JSON line per
 * run. A grid trained on machines that share no storage (cloud instances, sessions whose disk is not
 * kept) keeps its progress in a records file: export it, commit or copy it, and import it on the next
 * machine; the runner then skips the restored runs and the results step tabulates them as if trained there.
 *
 * Kept: every file of the run folder (study-run.json, train.json, summary.json, wall-time.json and, per
 * fold, metrics.json, epochs.jsonl and trajectory.jsonl), which is all the results read. Left out: the
 * weights (model.onnx, checkpoint/, a few MB a run), train.log, and trajectory.csv, which import derives
 * again from trajectory.jsonl (byte for byte). So a restored run cannot be resumed, re-scored with
 * `--weights last` or predicted with: train it again for those.
 *
 * Size: an adaptive run's trajectory is most of its record (~700 kB of 5,000 rows at 64², 60 epochs);
 * a file named *.gz is gzipped (readRecordsFile recognises gzip by its magic bytes), about 4× smaller.
 */
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { readJsonFile, writeFileAtomic } from '../common/files.js';
import { TRAJECTORY_CSV, TRAJECTORY_JSONL, readTrajectoryRows, trajectoryCsv } from '../uncertainty/trajectory.js';

/** One finished run: its folder relative to the study folder, and its files (relative path → text). */
export interface RunRecord {
  run: string;
  files: Record<string, string>;
}

/** What a run folder holds that a record leaves out (see the module comment). */
const LEFT_OUT = (name: string): boolean =>
  name === 'checkpoint' ||
  name === 'train.log' ||
  name === TRAJECTORY_CSV ||
  name.endsWith('.onnx') ||
  name.includes('.tmp-');

const GZIP_MAGIC = [0x1f, 0x8b];

/** Write a records file (exportRecords' text), gzipped when `path` ends in .gz. */
export function writeRecordsFile(path: string, text: string): void {
  writeFileAtomic(path, path.endsWith('.gz') ? gzipSync(text, { level: 9 }) : text);
}

/** The text of a records file, plain or gzipped (whatever its name). */
export function readRecordsFile(path: string): string {
  const bytes = readFileSync(path);
  const gzipped = bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
  return (gzipped ? gunzipSync(bytes) : bytes).toString('utf8');
}

const FOLD_OF_RUN = /^run-(\d+)$/;

/** The fold a run folder trains (OUT/.../run-F/fold-F), or null for any other folder. */
const foldOf = (dir: string): number | null => {
  const m = FOLD_OF_RUN.exec(dir.split(sep).at(-1) ?? '');
  return m ? Number(m[1]) : null;
};

/** A run folder is finished once its fold's metrics.json exists (as the runner's isFinished). */
const finishedMetrics = (dir: string, fold: number): string => join(dir, `fold-${fold}`, 'metrics.json');

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir)
    .filter((name) => !LEFT_OUT(name))
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? filesUnder(path, base) : [relative(base, path)];
    });
}

/** The finished run folders under `root`, in sorted order (so the same runs give the same file). */
function finishedRunDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (dir: string): void => {
    const fold = foldOf(dir);
    if (fold !== null && existsSync(join(dir, 'study-run.json'))) {
      if (existsSync(finishedMetrics(dir, fold))) out.push(dir);
      return;
    }
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
    }
  };
  walk(root);
  return out;
}

/** The records of every finished run under `out/<folder>` for each folder (e.g. the splits). */
export function exportRecords(out: string, folders: readonly string[]): string {
  const lines = folders.flatMap((folder) =>
    finishedRunDirs(join(out, folder)).map((dir) => {
      const files = Object.fromEntries(
        filesUnder(dir).map((f) => [f.split(sep).join('/'), readFileSync(join(dir, f), 'utf8')]),
      );
      const record: RunRecord = { run: relative(out, dir).split(sep).join('/'), files };
      return `${JSON.stringify(record)}\n`;
    }),
  );
  return lines.join('');
}

export interface ImportSummary {
  restored: number;
  /** runs already finished in the study folder with the same flags (left as they are) */
  present: number;
}

function parseRecords(text: string, source: string): RunRecord[] {
  return text
    .split('\n')
    .map((line, k) => ({ line, k }))
    .filter(({ line }) => line.trim() !== '')
    .map(({ line, k }) => {
      let r: RunRecord;
      try {
        r = JSON.parse(line) as RunRecord;
      } catch (e) {
        throw new Error(`${source}:${k + 1}: not JSON (${(e as Error).message})`);
      }
      const paths = [r.run, ...Object.keys(r.files ?? {})];
      if (
        typeof r.run !== 'string' ||
        typeof r.files !== 'object' ||
        Object.values(r.files).some((v) => typeof v !== 'string') ||
        paths.some((p) => p.startsWith('/') || p.split('/').includes('..'))
      ) {
        throw new Error(`${source}:${k + 1}: not a run record ({"run": relative folder, "files": {path: text}})`);
      }
      const fold = foldOf(r.run.split('/').join(sep));
      if (fold === null || !('study-run.json' in r.files) || !(`fold-${fold}/metrics.json` in r.files)) {
        throw new Error(
          `${source}:${k + 1}: ${r.run} is not a finished run (run-F with study-run.json and fold-F/metrics.json)`,
        );
      }
      return r;
    });
}

const argsOf = (studyRunJson: string): string =>
  ((JSON.parse(studyRunJson) as { args: string[] }).args ?? []).join('\0');

/**
 * Restore the records of `text` (from exportRecords) into the study folder `out`. A run already finished
 * there is left alone; a folder claimed or partly trained with the same flags gets the record (and loses
 * its partial weights, which belong to an unfinished invocation); a folder holding other flags is an
 * error naming it. metrics.json, the runner's "finished" mark, is written last, so an interrupted import
 * leaves no half-restored run that counts as finished.
 */
export function importRecords(text: string, out: string, source: string): ImportSummary {
  const summary: ImportSummary = { restored: 0, present: 0 };
  for (const r of parseRecords(text, source)) {
    const dir = join(out, ...r.run.split('/'));
    const fold = foldOf(dir)!;
    const claim = join(dir, 'study-run.json');
    if (existsSync(claim)) {
      const there = (readJsonFile(claim) as { args: string[] }).args.join('\0');
      if (there !== argsOf(r.files['study-run.json']!)) {
        throw new Error(
          `${dir} holds a run with other options than the record in ${source}: use another --out (or the same options)`,
        );
      }
      if (existsSync(finishedMetrics(dir, fold))) {
        summary.present++;
        continue;
      }
      rmSync(join(dir, `fold-${fold}`, 'checkpoint'), { recursive: true, force: true });
      rmSync(join(dir, `fold-${fold}`, 'model.onnx'), { force: true });
    }
    const metrics = `fold-${fold}/metrics.json`;
    for (const f of Object.keys(r.files).filter((f) => f !== metrics))
      writeFileAtomic(join(dir, ...f.split('/')), r.files[f]!);
    const trajectory = join(dir, `fold-${fold}`, TRAJECTORY_JSONL);
    if (`fold-${fold}/${TRAJECTORY_JSONL}` in r.files)
      writeFileAtomic(join(dir, `fold-${fold}`, TRAJECTORY_CSV), trajectoryCsv(readTrajectoryRows(trajectory)));
    writeFileAtomic(join(dir, ...metrics.split('/')), r.files[metrics]!);
    summary.restored++;
  }
  return summary;
}
