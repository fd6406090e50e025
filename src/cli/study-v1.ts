/**
 * npm run study-v1: the first study's grid (issue 9; its results are docs/results/v1/README.md) (split × configuration × fold), each run an independent
 * `src/cli/train.ts` process, K at a time; resumable; then the results tables.
 *
 * Layout: OUT/<split>/<config>/run-<k>/ is one train.ts run folder per configuration × fold
 * (train.json, summary.json, fold-<k>/{metrics.json, epochs.jsonl, model.onnx, checkpoint/}).
 * One run folder per fold, not per configuration, because train.ts writes the run's options
 * (including --fold) to <run>/train.json and --resume reads every option back from it: folds of
 * one configuration sharing a folder would overwrite each other's train.json when run concurrently,
 * and a resumed fold could read another fold's options. The ε selection grid of `polydice1-fixed`
 * lives in OUT/<split>/eps-grid/eps-<E>/run-<k>/.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { PROJECT_CVC_DIR } from '../data/datasets.js';
import {
  CONFIGS,
  CONFIG_NAMES,
  DEFAULT_EPS_GRID,
  MAIN_CONFIG_NAMES,
  type EpsChoice,
  type StudyConfig,
  chooseFixedEps,
  configFlags,
  epsCandidateFlags,
  epsCandidateName,
  parseConfigList,
  selectedValDice,
} from '../study/configs.js';
import { type FoldMetrics, computeResults, readFoldMetrics, resultsMarkdown } from '../study/results.js';
import {
  diceFigure,
  difficultyDiceFigure,
  difficultyVsDice,
  difficultyVsDiceMarkdown,
  readRunTiming,
  summarizeTiming,
  timingMarkdown,
  trajectoryMarkdown,
  trajectoryReport,
} from '../study/report.js';
import type { Figure } from '../uncertainty/report.js';
import { machineInfo } from '../runtime/machine.js';
import { type TrainRun, claimRunFolders, metricsFile, runAll as runTrainRuns } from '../study/runner.js';
import { type ExecutionProvider, parseProviders } from '../runtime/runtime.js';
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

/**
 * The CPU study preset (issue 9): all 40 runs of one split (6 configurations, ε grid of 4 with ε = 0
 * shared, 5 folds) took 41–42 min on 2 cores, 2 runs at a time with one thread each (4.3 s per epoch,
 * 5.7 s with MC phases). The `small` preset at 128² takes 24 s per epoch: about 6.7 h per split.
 */
const CPU_STUDY = { preset: 'study', epochs: 25, size: 64, mcEvery: 5 } as const;

interface Run extends TrainRun {
  split: string;
  /** folder under OUT/<split>/ (a configuration, or eps-grid/eps-E) */
  name: string;
  flags: string[];
}

/** Claim the folders (a folder of other flags is a usage error), then run what is unfinished. */
async function runAll(runs: Run[], workers: number): Promise<string[]> {
  usage(() => claimRunFolders(runs));
  return runTrainRuns(runs, workers);
}

/** One ε₁ per value, comma-separated; each above -0.5. */
function parseEpsGrid(raw: string, flag: string): number[] {
  const grid = raw.split(',').map((s) => asNumber(s, flag));
  if (grid.some((e) => !(e > -0.5))) throw new UsageError(`--${flag} values must be greater than -0.5`);
  return grid;
}

const STUDY_SUMMARY =
  "Runs the first study's grid (issue 9; docs/results/v1/README.md; `npm run study` runs v2): every split × configuration × fold is one `npm run train` process, " +
  '--workers at a time.\n' +
  'Resumable: runs with a metrics.json are skipped, runs with a checkpoint resume from it. Then writes results.md,\n' +
  'results.json and SVG figures to --results. On CPU the defaults are the study preset ' +
  '(base 8, 64², 25 epochs, MC phase\n' +
  "every 5 epochs: one split in about 42 min on 2 cores); with --ep cuda the paper's " +
  '(METHOD.md: base 64, 224², batch 32,\n' +
  `200 epochs, M = 10). Configurations: ${CONFIGS.map((c) => `${c.name} (${c.description})`).join('; ')}.`;

/** study's flags; `undefined` defaults are decided after parsing (CPU or GPU), or left to train. */
const STUDY_FLAGS = {
  data: {
    help: 'dataset folder, or "synthetic" for the built-in synthetic set',
    parse: asText,
    default: PROJECT_CVC_DIR,
  },
  split: { help: 'random, sequence or both', parse: oneOf(['random', 'sequence', 'both']), default: 'random' },
  folds: { help: 'k of k-fold cross-validation (every fold is run)', parse: integerFrom(2), default: 5 },
  configs: {
    help: `comma-separated configurations: ${CONFIG_NAMES.join(', ')}; all = ${MAIN_CONFIG_NAMES.join(', ')}`,
    parse: (raw: string): StudyConfig[] => parseConfigList(raw === 'all' ? MAIN_CONFIG_NAMES.join(',') : raw),
    default: parseConfigList(MAIN_CONFIG_NAMES.join(',')),
    defaultHelp: 'all',
  },
  'eps-grid': {
    help: 'ε₁ values tried (on validation folds) for polydice1-fixed',
    parse: parseEpsGrid,
    default: DEFAULT_EPS_GRID,
    defaultHelp: DEFAULT_EPS_GRID.join(','),
  },
  preset: {
    help: 'model preset (tiny, study, small, paper)',
    parse: asText,
    default: undefined,
    defaultHelp: `${CPU_STUDY.preset} (CPU), train's GPU default (paper)`,
  },
  epochs: {
    help: 'epochs per run',
    parse: asNumber,
    default: undefined,
    defaultHelp: `${CPU_STUDY.epochs} (CPU), train's GPU default (200)`,
  },
  size: {
    help: 'image size',
    parse: asNumber,
    default: undefined,
    defaultHelp: `${CPU_STUDY.size} (CPU), train's GPU default (224)`,
  },
  batch: { help: 'batch size', parse: asNumber, default: undefined, defaultHelp: "train's default" },
  ep: {
    help: 'execution providers of every run',
    parse: parseProviders,
    default: ['cpu'] as ExecutionProvider[],
    defaultHelp: 'cpu',
  },
  seed: { help: 'seed of every run (weights, folds, shuffling, augmentation, dropout)', parse: asNumber, default: 1 },
  'mc-every': {
    help: 'MC phase every M epochs (adaptive configurations)',
    parse: integerFrom(1),
    default: undefined,
    defaultHelp: `${CPU_STUDY.mcEvery} (CPU), 10 (GPU, METHOD.md)`,
  },
  'synthetic-count': {
    help: 'images in the synthetic set',
    parse: asNumber,
    default: undefined,
    defaultHelp: "train's default",
  },
  limit: {
    help: 'use only the first N images',
    parse: orWord('all', undefined, asNumber),
    default: undefined,
    defaultHelp: 'all',
  },
  out: { help: 'study folder (one run folder per split × configuration × fold)', parse: asText, default: 'runs/study' },
  results: {
    help: 'where results.md, results.json and the SVG figures go (small files, e.g. docs/results)',
    parse: asText,
    default: undefined,
    defaultHelp: 'OUT',
  },
  workers: {
    help: 'runs at once (one per core or per GPU); each gets cores/workers onnxruntime threads',
    parse: integerFrom(1),
    default: undefined,
    defaultHelp: 'cores (CPU), 1 (GPU)',
  },
} as const;

function parseOptions() {
  const f = parseFlags('study-v1', STUDY_SUMMARY, STUDY_FLAGS);
  const { folds, configs } = f;
  const gpu = f.ep[0] !== 'cpu';
  const workers = f.workers ?? (gpu ? 1 : availableParallelism());
  const epsGrid = [...f['eps-grid']];
  const common = ['--folds', String(folds), '--ep', f.ep.join(','), '--seed', String(f.seed)];
  if (f.data !== 'synthetic') {
    if (!existsSync(f.data))
      throw new UsageError(
        `--data: ${f.data} does not exist (pass --data DIR, or --data synthetic for the built-in set)`,
      );
    common.push('--data', f.data);
  }
  // CPU: the study preset unless told otherwise; GPU: train's own (the paper's) defaults.
  for (const k of ['preset', 'epochs', 'size'] as const) {
    const v = f[k] ?? (gpu ? undefined : CPU_STUDY[k]);
    if (v !== undefined) common.push(`--${k}`, String(v));
  }
  for (const k of ['batch', 'synthetic-count', 'limit'] as const) {
    if (f[k] !== undefined) common.push(`--${k}`, String(f[k]));
  }
  const adaptiveExtra = ['--mc-every', String(f['mc-every'] ?? (gpu ? 10 : CPU_STUDY.mcEvery))];
  const splits = f.split === 'both' ? ['random', 'sequence'] : [f.split];
  return { splits, folds, workers, configs, epsGrid, common, adaptiveExtra, out: f.out, results: f.results ?? f.out };
}

const foldMetrics = (runs: Run[]): FoldMetrics[] => runs.map((r) => readFoldMetrics(metricsFile(r), r.fold));

runMain(async () => {
  const o = parseOptions();
  const started = performance.now();
  const foldList = Array.from({ length: o.folds }, (_, k) => k);
  const mk = (split: string, name: string, flags: string[]): Run[] =>
    foldList.map((fold) => ({
      split,
      name,
      label: `${split}/${name} fold ${fold}`,
      fold,
      flags: [...o.common, '--split', split, ...flags],
      dir: join(o.out, split, name, `run-${fold}`),
    }));
  const needGrid = o.configs.some((c) => c.name === 'polydice1-fixed');
  // ε = 0 of the grid is exactly polydice1-e0 (same flags), so it is trained once, in that folder.
  const gridFolder = (eps: number): string => (eps === 0 ? 'polydice1-e0' : join('eps-grid', epsCandidateName(eps)));

  // Phase 1: the ε selection grid (validation folds only), if polydice1-fixed is asked for.
  const choices = new Map<string, EpsChoice>();
  if (needGrid) {
    const grid = o.splits.flatMap((split) =>
      o.epsGrid.flatMap((eps) => mk(split, gridFolder(eps), epsCandidateFlags(eps))),
    );
    progress(`ε selection grid for polydice1-fixed: ε₁ ∈ {${o.epsGrid.join(', ')}}, ${grid.length} runs`);
    const failed = await runAll(grid, o.workers);
    if (failed.length) throw new Error(`${failed.length} run(s) failed:\n  ${failed.join('\n  ')}`);
    for (const split of o.splits) {
      const byEps = new Map(
        o.epsGrid.map((eps) => [
          eps,
          mk(split, gridFolder(eps), []).map((r) =>
            selectedValDice(readFileSync(join(r.dir, `fold-${r.fold}`, 'epochs.jsonl'), 'utf8')),
          ),
        ]),
      );
      const choice = chooseFixedEps(o.epsGrid, byEps);
      choices.set(split, choice);
      progress(
        `${split}: polydice1-fixed uses ε₁ = ${choice.eps} (${choice.meanValDice.map((m) => `${m.eps}: ${m.meanValDice.toFixed(4)}`).join(', ')})`,
      );
    }
  }

  // Phase 2: the configurations. polydice1-fixed is the grid's run of the chosen ε (same flags,
  // seeds and folds), so it is not trained again.
  const runsOf = new Map<string, Map<string, Run[]>>();
  for (const split of o.splits) {
    const m = new Map<string, Run[]>();
    for (const c of o.configs) {
      if (c.name === 'polydice1-fixed') {
        m.set(c.name, mk(split, gridFolder(choices.get(split)!.eps), configFlags(c, choices.get(split)!.eps)));
      } else
        m.set(
          c.name,
          mk(split, c.name, [...configFlags(c), ...(c.name.startsWith('adaptive') ? o.adaptiveExtra : [])]),
        );
    }
    runsOf.set(split, m);
  }
  const all = [...runsOf.values()].flatMap((m) =>
    [...m.entries()].filter(([name]) => name !== 'polydice1-fixed').flatMap(([, r]) => r),
  );
  progress(
    `study: ${o.splits.join(' + ')} split(s) × ${o.configs.length} configuration(s) × ${o.folds} folds = ${all.length} runs, ${o.workers} at a time → ${o.out}`,
  );
  const failed = await runAll(all, o.workers);
  if (failed.length) throw new Error(`${failed.length} run(s) failed, no results written:\n  ${failed.join('\n  ')}`);

  // Results: tables, run times, the difficulty trajectory of one fold, figures.
  const machine = machineInfo();
  const json: Record<string, unknown> = {};
  const figures: Figure[] = [];
  const md: string[] = [
    '# Study results',
    '',
    `Configurations: ${o.configs.map((c) => c.name).join(', ')}; ${o.folds} folds; train flags common to all runs: \`${o.common.join(' ')}\`` +
      `${o.adaptiveExtra.length ? `; adaptive configurations also \`${o.adaptiveExtra.join(' ')}\`` : ''}.`,
    `Machine: ${machine.cpuModel}, ${machine.availableParallelism} cores, ${machine.totalMemoryGiB} GiB, ${machine.os}, Node ${machine.node}, onnxruntime-node ${machine.onnxruntime}; ` +
      `${o.workers} run(s) at a time; results written at commit ${machine.gitCommit ?? 'unknown'}${machine.gitDirty ? ' (with uncommitted changes)' : ''}.`,
    '',
  ];
  for (const [split, m] of runsOf) {
    const folds = new Map([...m].map(([name, runs]) => [name, foldMetrics(runs)]));
    const results = computeResults(folds);
    const choice = choices.get(split) ?? null;
    const timing = [...m].map(([name, runs]) =>
      summarizeTiming(
        name,
        runs.map((r) => readRunTiming(r.dir, r.fold)),
      ),
    );
    const vsDice = [...folds].flatMap(([name, f]) => difficultyVsDice(name, f) ?? []);
    md.push(resultsMarkdown(results, `${split} split`));
    if (choice)
      md.push(
        `polydice1-fixed: ε₁ = ${choice.eps}, chosen on validation folds only from {${choice.meanValDice.map((r) => `${r.eps} (mean val Dice ${r.meanValDice.toFixed(4)})`).join(', ')}}; rule: ${choice.rule}.`,
        '',
      );
    const diceSvg = `${split}-dice.svg`;
    figures.push({ id: diceSvg, title: `Test Dice per configuration (${split})`, svg: diceFigure(split, results) });
    md.push(
      `![Test Dice per configuration, ${split} split](${diceSvg})`,
      '',
      `### Run time (${split} split)`,
      '',
      timingMarkdown(timing),
    );

    // The trajectory of fold 0 of the first adaptive configuration, if it had MC phases.
    const adaptive = o.configs.find((c) => c.name.startsWith('adaptive'))?.name;
    let trajectory = null;
    if (adaptive) {
      const run = m.get(adaptive)![0]!;
      if (existsSync(join(run.dir, `fold-${run.fold}`, 'trajectory.jsonl'))) {
        const t = trajectoryReport(split, adaptive, run.dir, run.fold);
        trajectory = t.report;
        md.push(`### MC-Dropout difficulty (${split} split)`, '', trajectoryMarkdown(t.report));
        for (const f of t.figures) {
          figures.push({ ...f, id: `${f.id}.svg` });
          md.push(`![${f.title}](${f.id}.svg)`, '');
        }
      }
      const scatter = `${split}-${adaptive}-difficulty-vs-dice.svg`;
      if (vsDice.length) {
        figures.push({
          id: scatter,
          title: 'Difficulty vs test Dice',
          svg: difficultyDiceFigure(split, adaptive, folds.get(adaptive)!),
        });
        md.push(difficultyVsDiceMarkdown(vsDice), `![Test-image difficulty vs test Dice, ${adaptive}](${scatter})`, '');
      }
    }
    json[split] = {
      results,
      polydice1Fixed: choice,
      timing,
      trajectory,
      difficultyVsTestDice: vsDice,
      runs: Object.fromEntries([...m].map(([name, runs]) => [name, runs.map((r) => r.dir)])),
    };
  }
  mkdirSync(o.results, { recursive: true });
  for (const f of figures) writeFileAtomic(join(o.results, f.id), f.svg);
  writeFileAtomic(
    join(o.results, 'results.json'),
    `${JSON.stringify({ options: { ...o, configs: o.configs.map((c) => c.name) }, machine, splits: json }, null, 2)}\n`,
  );
  writeFileAtomic(join(o.results, 'results.md'), md.join('\n'));
  progress(
    `study done in ${((performance.now() - started) / 1000).toFixed(0)} s: ${join(o.results, 'results.md')}, results.json and ${figures.length} SVG figure(s)`,
  );
});
