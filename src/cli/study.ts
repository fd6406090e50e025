/**
 * npm run study: study v2 (docs/results/v2/DESIGN.md). Runs the grid's three stages (src/study/grid.ts)
 * as train processes (src/study/runner.ts), each stage once the one before it is complete, then
 * tabulates the model-level comparisons (src/study/resultsV2.ts). Resumable: finished runs are
 * skipped, interrupted ones resume. `--shard i/n` runs a deterministic share of each stage (a job
 * array on a cluster); a shard that finds an earlier stage incomplete says what it waits for and stops.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { PROJECT_CVC_DIR, listDataset } from '../data/datasets.js';
import { machineInfo } from '../runtime/machine.js';
import { type ExecutionProvider, parseProviders } from '../runtime/runtime.js';
import { type EpsChoice, chooseFixedEps, selectedValDice } from '../study/configs.js';
import {
  type GridRun,
  type GridSettings,
  type Split,
  V2_EPS_GRID,
  armRunDir,
  epsGridFolder,
  meanEpsUsed,
  shard,
  stage1,
  stage2,
  stage3,
} from '../study/grid.js';
import {
  type ArmModel,
  type SplitResultsV2,
  readModels,
  splitFigures,
  splitMarkdown,
  selectionGain,
  splitResults,
} from '../study/resultsV2.js';
import { type DatasetCache, lastEpochScores } from '../study/lastEpoch.js';
import { type TrainRun, claimRunFolders, isFinished, runAll } from '../study/runner.js';
import { exportRecords, importRecords, readRecordsFile, writeRecordsFile } from '../study/records.js';
import { type RunRow, readRunRow, runsCsv } from '../study/runTable.js';
import { textTable } from '../common/table.js';
import { mean } from '../common/stats.js';
import { readRunTiming } from '../study/report.js';
import { readTrajectory } from '../uncertainty/trajectory.js';
import {
  UsageError,
  asNumber,
  asText,
  integerFrom,
  oneOf,
  orWord,
  parseFlags,
  progress,
  runMain,
  usage,
  writeFileAtomic,
} from './cli.js';

/** The CPU scale of the design (DESIGN.md "Scale"); on a GPU, train's own (the paper's) defaults. */
const CPU_STUDY = { preset: 'study', epochs: 60, size: 64, mcEvery: 5 } as const;

const numberList = (raw: string, flag: string): number[] => raw.split(',').map((s) => asNumber(s.trim(), flag));
const seedList = (raw: string, flag: string): number[] => {
  const seeds = numberList(raw, flag);
  if (seeds.some((s) => !Number.isInteger(s)) || new Set(seeds).size !== seeds.length) {
    throw new UsageError(`--${flag} must be distinct integers, got "${raw}"`);
  }
  return seeds;
};
function parseShard(raw: string, flag: string): { i: number; n: number } {
  const m = /^(\d+)\/(\d+)$/.exec(raw);
  if (!m || !(Number(m[1]) < Number(m[2]))) throw new UsageError(`--${flag} must be i/n with 0 ≤ i < n, got "${raw}"`);
  return { i: Number(m[1]), n: Number(m[2]) };
}

const SUMMARY =
  'Runs study v2 (docs/results/v2/DESIGN.md): dice, bce, PolyDice-1 with ε₁ chosen on validation from a grid, ' +
  'adaptive-up/down over ε* ± 0.25 with a warm-up, and two controls (shuffled ε₁, the adaptive mean), ' +
  'on CVC-ClinicDB with sequence-grouped and random 5-fold splits and 3 seeds: 240 `npm run train` processes, ' +
  '--workers at a time, in three stages. Resumable (finished runs are skipped, interrupted ones resume). ' +
  'Then writes results.md and results.json to --results; an incomplete grid is not tabulated unless ' +
  '--allow-incomplete. --export-records/--import-records carry finished runs between machines without shared storage. On CPU: the study preset (base 8), 64², 60 epochs, an MC phase every 5 epochs.';

const FLAGS = {
  data: {
    help: 'dataset folder, or "synthetic" for the built-in synthetic set',
    parse: asText,
    default: PROJECT_CVC_DIR,
  },
  split: { help: 'sequence, random or both', parse: oneOf(['sequence', 'random', 'both']), default: 'both' },
  seeds: {
    help: 'seeds of every arm (comma-separated)',
    parse: seedList,
    default: [1, 2, 3] as number[],
    defaultHelp: '1,2,3',
  },
  'grid-seeds': {
    help: 'seeds that train the ε₁ selection grid (ε* is chosen on their validation folds)',
    parse: seedList,
    default: [1] as number[],
    defaultHelp: '1',
  },
  folds: { help: 'k of k-fold cross-validation (every fold is run)', parse: integerFrom(2), default: 5 },
  'eps-grid': {
    help: 'ε₁ values of the selection grid',
    parse: numberList,
    default: V2_EPS_GRID,
    defaultHelp: V2_EPS_GRID.join(','),
  },
  'half-width': { help: 'the adaptive range is ε* ± this', parse: asNumber, default: 0.25 },
  preset: { help: 'model preset', parse: asText, default: undefined, defaultHelp: `${CPU_STUDY.preset} (CPU)` },
  epochs: {
    help: 'epochs per run',
    parse: integerFrom(1),
    default: undefined,
    defaultHelp: `${CPU_STUDY.epochs} (CPU)`,
  },
  size: { help: 'image size', parse: integerFrom(8), default: undefined, defaultHelp: `${CPU_STUDY.size} (CPU)` },
  batch: { help: 'batch size', parse: integerFrom(1), default: undefined, defaultHelp: "train's default" },
  'mc-every': {
    help: 'MC phase every M epochs (also the warm-up of the adaptive arms and controls)',
    parse: integerFrom(1),
    default: undefined,
    defaultHelp: `${CPU_STUDY.mcEvery} (CPU), 10 (GPU)`,
  },
  ep: {
    help: 'execution providers',
    parse: parseProviders,
    default: ['cpu'] as ExecutionProvider[],
    defaultHelp: 'cpu',
  },
  'synthetic-count': { help: 'images in the synthetic set', parse: integerFrom(8), default: undefined },
  limit: { help: 'use only the first N images', parse: orWord('all', undefined, integerFrom(1)), default: undefined },
  out: { help: 'study folder (one run folder per split × arm × seed × fold)', parse: asText, default: 'runs/study-v2' },
  results: { help: 'where results.md and results.json go', parse: asText, default: undefined, defaultHelp: 'OUT' },
  workers: {
    help: 'runs at once; each gets cores/workers onnxruntime threads',
    parse: integerFrom(1),
    default: undefined,
    defaultHelp: 'cores (CPU), 1 (GPU)',
  },
  shard: {
    help: 'run share i of n of every stage (0 ≤ i < n), e.g. a Slurm array task: $SLURM_ARRAY_TASK_ID/N',
    parse: parseShard,
    default: { i: 0, n: 1 },
    defaultHelp: '0/1',
  },
  'results-only': { help: 'train nothing: tabulate the run folders in --out', switch: true },
  'import-records': {
    help:
      'first restore the finished runs of this records file (from --export-records; plain or gzipped) into --out, then go on ' +
      'as asked (train, --status, --results-only); a run folder with other flags is an error',
    parse: asText,
    default: undefined,
  },
  'export-records': {
    help:
      "train nothing: write the result files of --out's finished runs (no weights, no logs) to this file, one " +
      'JSON line per run (gzipped if the name ends in .gz), to carry a grid to a machine that does not share --out',
    parse: asText,
    default: undefined,
  },
  status: {
    help: 'train nothing: print how far the grid in --out is, per split and stage, and an estimate of the time left',
    switch: true,
  },
  'allow-incomplete': { help: 'tabulate an incomplete grid (the pairs it has; the tables say so)', switch: true },
  weights: {
    help:
      "the weights the tables score: selected (the design's: each run's lowest validation loss) or last (each " +
      "run's final epoch, from its checkpoint: a descriptive check of the selection rule; use its own --results)",
    parse: oneOf(['selected', 'last']),
    default: 'selected',
  },
} as const;

function parseOptions() {
  const f = parseFlags('study', SUMMARY, FLAGS);
  const gpu = f.ep[0] !== 'cpu';
  const common = ['--folds', String(f.folds), '--ep', f.ep.join(',')];
  if (f.data !== 'synthetic') {
    if (!existsSync(f.data)) {
      throw new UsageError(
        `--data: ${f.data} does not exist (pass --data DIR, or --data synthetic for the built-in set)`,
      );
    }
    common.push('--data', f.data);
  }
  const preset = f.preset ?? (gpu ? undefined : CPU_STUDY.preset);
  const epochs = f.epochs ?? (gpu ? 200 : CPU_STUDY.epochs);
  const size = f.size ?? (gpu ? undefined : CPU_STUDY.size);
  if (preset !== undefined) common.push('--preset', preset);
  common.push('--epochs', String(epochs));
  if (size !== undefined) common.push('--size', String(size));
  if (f.batch !== undefined) common.push('--batch', String(f.batch));
  if (f['synthetic-count'] !== undefined) common.push('--synthetic-count', String(f['synthetic-count']));
  if (f.limit !== undefined) common.push('--limit', String(f.limit));
  const missingGridSeed = f['grid-seeds'].find((s) => !f.seeds.includes(s));
  if (missingGridSeed !== undefined) throw new UsageError(`--grid-seeds: ${missingGridSeed} is not one of --seeds`);
  const settings: GridSettings = {
    splits: f.split === 'both' ? ['sequence', 'random'] : [f.split],
    seeds: f.seeds,
    gridSeeds: f['grid-seeds'],
    folds: f.folds,
    epsGrid: f['eps-grid'],
    mcEvery: f['mc-every'] ?? (gpu ? 10 : CPU_STUDY.mcEvery),
    halfWidth: f['half-width'],
    epochs,
    common,
    out: f.out,
  };
  return {
    settings,
    data: f.data,
    workers: f.workers ?? (gpu ? 1 : availableParallelism()),
    shard: f.shard,
    resultsOnly: f['results-only'],
    status: f.status,
    allowIncomplete: f['allow-incomplete'],
    weights: f.weights,
    importRecords: f['import-records'],
    exportRecords: f['export-records'],
    results: f.results ?? f.out,
  };
}

const asTrainRun = (r: GridRun): TrainRun & GridRun => ({
  ...r,
  label: `${r.split}/${r.folder} seed ${r.seed} fold ${r.fold}`,
});

/**
 * Run this shard's share of a stage; returns the failed runs. A failure does not stop the grid: the
 * stage's other runs and the other split go on, and the call fails at the end (a failed run leaves its
 * stage incomplete, so the split's later stages wait).
 */
async function runStage(
  stage: string,
  runs: readonly GridRun[],
  o: ReturnType<typeof parseOptions>,
): Promise<string[]> {
  const mine = shard(runs.map(asTrainRun), o.shard.i, o.shard.n);
  usage(() => claimRunFolders(mine));
  const left = mine.filter((r) => !isFinished(r)).length;
  progress(`${stage}: ${runs.length} runs, ${mine.length} in this shard, ${left} to train`);
  return runAll(mine, o.workers);
}

/** The stage's runs not finished (by any shard), or none. */
const unfinished = (runs: readonly GridRun[]): GridRun[] => runs.filter((r) => !isFinished(asTrainRun(r)));

/** ε* of each split from the grid seeds' validation Dice (DESIGN.md), kept in OUT/<split>/eps-star.json. */
function chooseEpsStar(s: GridSettings): Map<Split, EpsChoice> {
  const choices = new Map<Split, EpsChoice>();
  for (const split of s.splits) {
    const byEps = new Map(
      s.epsGrid.map((eps) => [
        eps,
        s.gridSeeds.flatMap((seed) =>
          Array.from({ length: s.folds }, (_, fold) => {
            const dir = join(s.out, split, epsGridFolder(eps), `seed-${seed}`, `run-${fold}`);
            return selectedValDice(readFileSync(join(dir, `fold-${fold}`, 'epochs.jsonl'), 'utf8'));
          }),
        ),
      ]),
    );
    const choice = chooseFixedEps(s.epsGrid, byEps);
    choices.set(split, choice);
    mkdirSync(join(s.out, split), { recursive: true });
    writeFileAtomic(join(s.out, split, 'eps-star.json'), `${JSON.stringify(choice, null, 2)}\n`);
  }
  return choices;
}

/** The mean ε₁ an adaptive-up run applied after its warm-up (the mean-up control's fixed ε₁). */
const meanEpsOf =
  (s: GridSettings) =>
  (up: GridRun): number =>
    meanEpsUsed(readTrajectory(join(up.dir, `fold-${up.fold}`)), s.epochs);

/** The finished runs of one split's grid, every stage (a stage-3 run appears once its adaptive-up run is done). */
function splitRunRows(one: GridSettings, epsStar: number): RunRow[] {
  const done = (r: GridRun): boolean => isFinished(asTrainRun(r));
  const runs2 = stage2(one, new Map([[one.splits[0]!, epsStar]]));
  const upDone = runs2.filter((r) => r.folder === 'adaptive-up').every(done);
  const all = [...stage1(one), ...runs2, ...(upDone ? stage3(one, meanEpsOf(one)) : [])];
  return all.map((r) => readRunRow(r, one.epochs)).filter((r): r is RunRow => r !== null);
}

/** Each model re-scored with its run's last-epoch weights (`--weights last`). */
async function lastEpochModels(
  s: GridSettings,
  split: Split,
  epsStar: number,
  models: readonly ArmModel[],
): Promise<ArmModel[]> {
  const cache: DatasetCache = new Map();
  const out: ArmModel[] = [];
  for (const m of models) {
    const scores = await lastEpochScores(armRunDir(s, split, m.arm, m.seed, m.fold, epsStar), m.fold, s.epochs, cache);
    out.push({ ...m, images: scores.images, trainDice: scores.trainDice });
    progress(
      `${split}: last-epoch weights scored for ${out.length}/${models.length} models (${m.arm} seed ${m.seed} fold ${m.fold})`,
    );
  }
  return out;
}

/** Video of each image (CVC's sequences; other data: each image its own cluster). */
function videoMap(data: string): (name: string) => string {
  if (data === 'synthetic') return (name) => name;
  const seq = new Map(listDataset(data, 'auto').items.map((it) => [it.name, it.sequence]));
  return (name) => {
    const v = seq.get(name);
    return v === undefined ? `image:${name}` : `video:${v}`;
  };
}

/**
 * How far the grid is: finished runs per split and stage (folders do not depend on ε*, so stages 2 and 3
 * are counted before ε* is known), and the time left from the finished runs' wall times.
 */
function statusReport(o: ReturnType<typeof parseOptions>): string {
  const s = o.settings;
  const withMc = (r: GridRun): boolean => r.flags.includes('--adaptive');
  const rows: string[][] = [];
  const wall = { mc: [] as number[], plain: [] as number[] };
  const left = { mc: 0, plain: 0 };
  for (const split of s.splits) {
    const one = { ...s, splits: [split] };
    const stages: [string, GridRun[]][] = [
      ['1', stage1(one)],
      ['2', stage2(one, new Map([[split, 0]]))],
      ['3', stage3(one, () => 0)],
    ];
    for (const [stage, runs] of stages) {
      const done = runs.filter((r) => isFinished(asTrainRun(r)));
      for (const r of runs) {
        const kind = withMc(r) ? 'mc' : 'plain';
        if (!isFinished(asTrainRun(r))) left[kind]++;
        else {
          const t = readRunTiming(r.dir, r.fold).wallSeconds;
          if (t !== null) wall[kind].push(t);
        }
      }
      rows.push([split, stage, `${done.length}/${runs.length}`]);
    }
  }
  const avg = (xs: number[]): number | null => (xs.length ? mean(xs) : null);
  const plain = avg(wall.plain);
  const mc = avg(wall.mc) ?? (plain === null ? null : plain * 1.3);
  const secondsLeft = plain === null || mc === null ? null : (left.plain * plain + left.mc * (mc ?? 0)) / o.workers;
  const fmt = (x: number | null): string => (x === null ? '–' : `${x.toFixed(0)} s`);
  return [
    textTable(['split', 'stage', 'finished'], rows),
    '',
    `mean wall time per run: ${fmt(plain)} without MC phases, ${fmt(avg(wall.mc))} with them`,
    `left: ${left.plain + left.mc} run(s); at ${o.workers} at a time about ` +
      `${secondsLeft === null ? '– (no run finished yet)' : `${(secondsLeft / 3600).toFixed(1)} h`}`,
  ].join('\n');
}

runMain(async () => {
  const o = parseOptions();
  const s = o.settings;
  if (o.importRecords !== undefined) {
    const file = o.importRecords;
    if (!existsSync(file)) throw new UsageError(`--import-records: ${file} does not exist`);
    const r = importRecords(readRecordsFile(file), s.out, file);
    progress(`${file}: ${r.restored} finished run(s) restored into ${s.out}, ${r.present} already there`);
  }
  if (o.exportRecords !== undefined) {
    const text = exportRecords(s.out, s.splits);
    writeRecordsFile(o.exportRecords, text);
    progress(`${o.exportRecords}: ${text.split('\n').length - 1} finished run(s) of ${s.out} (${s.splits.join(', ')})`);
    return;
  }
  if (o.status) {
    process.stdout.write(`${statusReport(o)}\n`);
    return;
  }
  const started = performance.now();
  const wait = (what: string, missing: readonly GridRun[]): void =>
    progress(`${what} waits for ${missing.length} unfinished run(s), e.g. ${missing[0]!.dir} (other shards?)`);

  // One split after the other (the sequence split, the primary result, first), each as far as its
  // stages allow: a shard that waits in one split goes on with the next.
  if (!o.resultsOnly) {
    const failed: string[] = [];
    for (const split of s.splits) {
      const one = { ...s, splits: [split] };
      const runs1 = stage1(one);
      failed.push(...(await runStage(`${split} stage 1 (dice, bce, ε₁ grid)`, runs1, o)));
      const missing1 = unfinished(runs1);
      if (missing1.length) {
        wait(`${split} stage 2`, missing1);
        continue;
      }
      const star = chooseEpsStar(one).get(split)!;
      progress(`${split}: ε* = ${star.eps} (chosen on validation folds)`);
      const runs2 = stage2(one, new Map([[split, star.eps]]));
      failed.push(...(await runStage(`${split} stage 2 (polydice1-fixed, adaptive-up/down, shuffled-up)`, runs2, o)));
      const missing2 = unfinished(runs2.filter((r) => r.folder === 'adaptive-up'));
      if (missing2.length) {
        wait(`${split} stage 3`, missing2);
        continue;
      }
      const runs3 = stage3(one, meanEpsOf(s));
      failed.push(...(await runStage(`${split} stage 3 (mean-up)`, runs3, o)));
    }
    if (failed.length) {
      throw new Error(
        `${failed.length} run(s) failed (the other runs went on; finished runs are kept):\n  ${failed.join('\n  ')}\n` +
          'fix the cause (see each log) and run again: finished runs are skipped, interrupted ones resume',
      );
    }
  }

  // Results: every split whose stage 1 is complete (ε* is known), from the run folders.
  const epsStar = new Map<Split, EpsChoice>();
  for (const split of s.splits) {
    const one = { ...s, splits: [split] };
    if (unfinished(stage1(one)).length === 0) epsStar.set(split, chooseEpsStar(one).get(split)!);
  }
  if (epsStar.size === 0) {
    progress('no results yet: stage 1 is unfinished');
    return;
  }
  const videoOf = videoMap(o.data);
  const splits: SplitResultsV2[] = [];
  const runTables: { split: Split; csv: string }[] = [];
  const missing: string[] = [];
  for (const split of s.splits) {
    const choice = epsStar.get(split);
    if (!choice) {
      missing.push(`${split}: stage 1 unfinished`);
      continue;
    }
    const read = readModels(s, split, choice.eps);
    missing.push(...read.missing);
    if (read.missing.length === 0 || o.allowIncomplete) {
      if (o.weights === 'last') {
        // The run table describes the selected weights; this check tabulates the arms only.
        const last = await lastEpochModels(s, split, choice.eps, read.models);
        const selection = selectionGain(read.models, last, Math.ceil(s.epochs / 2));
        splits.push({ ...splitResults(split, choice, last, videoOf), weights: 'last', selection });
        continue;
      }
      const rows = splitRunRows({ ...s, splits: [split] }, choice.eps);
      runTables.push({ split, csv: runsCsv(rows) });
      splits.push(splitResults(split, choice, read.models, videoOf, rows));
    }
  }
  if (missing.length && !o.allowIncomplete) {
    progress(
      `not tabulated: ${missing.length} run(s) have no metrics.json yet (e.g. ${missing[0]}); ` +
        'run again to train them, or pass --allow-incomplete',
    );
    return;
  }
  const machine = machineInfo();
  const md = [
    '# Study v2 results',
    '',
    `Design: docs/results/v2/DESIGN.md. Train flags common to all runs: \`${s.common.join(' ')}\`; seeds ${s.seeds.join(', ')}; ` +
      `${s.folds} folds; MC phase every ${s.mcEvery} epochs.`,
    `Machine: ${machine.cpuModel}, ${machine.availableParallelism} cores, ${machine.totalMemoryGiB} GiB; ` +
      `tabulated at commit ${machine.gitCommit ?? 'unknown'}${machine.gitDirty ? ' (with uncommitted changes)' : ''}.`,
    ...(missing.length
      ? [`**Incomplete grid: ${missing.length} run(s) missing; comparisons use the pairs present.**`]
      : []),
    ...(o.weights === 'last'
      ? [
          `**Weights scored: each run's last epoch (${s.epochs}, from its checkpoint), not its selected epoch.** A ` +
            'descriptive check of the selection rule: the design tests the selected weights; training Dice is the ' +
            "last epoch's; no MC difficulty (its ρ columns are empty).",
        ]
      : []),
    '',
    ...splits.map(splitMarkdown),
  ];
  mkdirSync(o.results, { recursive: true });
  const json = { settings: s, machine, complete: missing.length === 0, missing, splits };
  writeFileAtomic(join(o.results, 'results.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileAtomic(join(o.results, 'results.md'), `${md.join('\n')}\n`);
  for (const f of splits.flatMap(splitFigures)) writeFileAtomic(join(o.results, f.id), f.svg);
  for (const t of runTables) writeFileAtomic(join(o.results, `${t.split}-runs.csv`), t.csv);
  const secs = ((performance.now() - started) / 1000).toFixed(0);
  progress(`study v2 ${missing.length === 0 ? 'complete' : 'partial'} in ${secs} s: ${join(o.results, 'results.md')}`);
});
