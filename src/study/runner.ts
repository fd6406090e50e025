/**
 * Runs a study's train runs: each an independent `src/cli/train.ts` process, `workers` at a time,
 * resumable (a run with its metrics.json is skipped, one with a checkpoint resumes from it), with its
 * stderr in <run>/train.log and its wall time summed over invocations in <run>/wall-time.json (kept current
 * while it runs, so a runner killed with its session loses at most WALL_TIME_UPDATE_MS of a run's time).
 * A run folder belongs to one set of train flags, kept in <run>/study-run.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic, readJsonFile } from '../common/files.js';
import { progress } from '../common/progress.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const trainScript = join(repoRoot, 'src', 'cli', 'train.ts');

/** One train run: fold `fold` of the run folder `dir`, trained with `flags`. */
export interface TrainRun {
  /** shown in progress lines and failures */
  label: string;
  dir: string;
  fold: number;
  /** every train flag but --fold, --out and --resume */
  flags: readonly string[];
}

export const metricsFile = (r: TrainRun): string => join(r.dir, `fold-${r.fold}`, 'metrics.json');
export const isFinished = (r: TrainRun): boolean => existsSync(metricsFile(r));
const wallFile = (r: Pick<TrainRun, 'dir'>): string => join(r.dir, 'wall-time.json');

export class RunFolderConflict extends Error {}

/**
 * Claim each run's folder for its flags (study-run.json), or throw RunFolderConflict when the folder
 * holds a run with other flags: a different study pointed at the same --out, which skipping or
 * resuming would mix in.
 */
export function claimRunFolders(runs: readonly TrainRun[]): void {
  for (const r of runs) {
    const file = join(r.dir, 'study-run.json');
    const args = [...r.flags, '--fold', String(r.fold)];
    if (existsSync(file)) {
      const before = (readJsonFile(file) as { args: string[] }).args;
      if (before.join('\0') !== args.join('\0')) {
        throw new RunFolderConflict(
          `${r.dir} holds a run with other options:\n  there: ${before.join(' ')}\n  now:   ${args.join(' ')}\n` +
            'use another --out (or the same options)',
        );
      }
    } else {
      mkdirSync(r.dir, { recursive: true });
      writeFileAtomic(file, `${JSON.stringify({ args })}\n`);
    }
  }
}

/** How often a running invocation's wall time is written to wall-time.json. */
export const WALL_TIME_UPDATE_MS = 15_000;

/**
 * The wall-time record of one invocation of run `r` (train processes' wall-clock seconds, summed over
 * resumed invocations, in wall-time.json): each `update()` writes the previous invocations' seconds plus
 * this one's so far and returns this one's seconds. Called periodically and at the end, so the time of
 * an invocation killed without warning is kept up to its last update.
 */
export function wallTimeRecorder(
  r: Pick<TrainRun, 'dir'>,
  threads: string,
  now: () => number = () => performance.now(),
): { update: () => number } {
  const file = wallFile(r);
  const before = existsSync(file)
    ? (readJsonFile(file) as { seconds: number; invocations: number })
    : { seconds: 0, invocations: 0 };
  const t0 = now();
  const update = (): number => {
    const seconds = (now() - t0) / 1000;
    const record = { seconds: before.seconds + seconds, invocations: before.invocations + 1, threads };
    writeFileAtomic(file, `${JSON.stringify(record)}\n`);
    return seconds;
  };
  update();
  return { update };
}

/**
 * Run every unfinished run, `workers` at a time (claim the folders first). Returns the failures.
 * SIGINT/SIGTERM stop the children (they checkpoint per epoch) and then throw.
 */
export async function runAll(runs: readonly TrainRun[], workers: number): Promise<string[]> {
  const todo = runs.filter((r) => {
    if (!isFinished(r)) return true;
    progress(`skip ${r.label}: finished (${metricsFile(r)})`);
    return false;
  });
  const failures: string[] = [];
  // K runs share the cores: each gets cores/K onnxruntime threads (unless POLYSEG_THREADS is set).
  const threads = process.env.POLYSEG_THREADS ?? String(Math.max(1, Math.floor(availableParallelism() / workers)));
  let next = 0;
  const children = new Set<ChildProcess>();
  let stopped = false;
  const stop = () => {
    stopped = true; // no new runs; the running ones stop at their own signal handling
    for (const c of children) c.kill('SIGTERM');
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const worker = async (): Promise<void> => {
    while (next < todo.length && !stopped) {
      const r = todo[next++]!;
      const checkpoint = join(r.dir, `fold-${r.fold}`, 'checkpoint', 'manifest.json');
      const resume = existsSync(join(r.dir, 'train.json')) && existsSync(checkpoint);
      const args = ['--import', 'tsx', trainScript, ...r.flags, '--fold', String(r.fold), '--out', r.dir];
      if (resume) args.push('--resume');
      progress(`${resume ? 'resume' : 'start'} ${r.label}: ${r.dir}`);
      mkdirSync(r.dir, { recursive: true });
      const log = createWriteStream(join(r.dir, 'train.log'), { flags: 'a' });
      log.write(`# node ${args.join(' ')}\n`);
      const wall = wallTimeRecorder(r, threads);
      const ticker = setInterval(wall.update, WALL_TIME_UPDATE_MS);
      const code = await new Promise<number>((done) => {
        const env = { ...process.env, POLYSEG_THREADS: threads };
        const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'], env });
        children.add(child);
        let buf = '';
        child.stderr!.on('data', (chunk: Buffer) => {
          log.write(chunk);
          buf += chunk.toString();
          const lines = buf.split('\n');
          buf = lines.pop()!;
          for (const l of lines) if (l.trim()) progress(`[${r.label}] ${l}`);
        });
        child.on('close', (c, signal) => {
          children.delete(child);
          done(c ?? (signal ? 128 : 1));
        });
      });
      await new Promise<void>((ok) => log.end(ok));
      clearInterval(ticker);
      const seconds = wall.update();
      const secs = seconds.toFixed(1);
      if (code === 0 && isFinished(r)) progress(`done ${r.label} in ${secs} s`);
      else {
        failures.push(`${r.label} (exit ${code}; log: ${join(r.dir, 'train.log')})`);
        progress(`FAILED ${r.label} after ${secs} s (exit ${code}); log: ${join(r.dir, 'train.log')}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, Math.max(1, todo.length)) }, worker));
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  if (stopped) {
    throw new Error(
      'interrupted: finished runs are kept, interrupted ones resume from their last checkpoint on the next call',
    );
  }
  return failures;
}
