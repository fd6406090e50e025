/** npm run train: k-fold training of the U-Net on a dataset (default: the built-in synthetic set). */
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { DATASET_FORMATS, type DatasetFormat, loadDataset } from '../data/datasets.js';
import { deriveSeed } from '../common/prng.js';
import type { Sample } from '../data/sample.js';
import { LOSS_PRESETS, type LossWeights, parseLoss } from '../graphBuilder/losses.js';
import { PRESETS, type PresetName, presetConfig, validateConfig } from '../graphBuilder/models.js';
import { DEFAULT_OPTIMIZER } from '../graphBuilder/optimizers.js';
import { paramLayout } from '../graphBuilder/trainingModels.js';
import { DEFAULT_AUGMENT, NO_AUGMENT } from '../training/augment.js';
import { type ExecutionProvider, fallbackNote, parseProviders, resolveProvider } from '../runtime/runtime.js';
import { foldPlans } from '../training/splits.js';
import {
  type EpochLog,
  type FoldResult,
  LOOP_MEMORY_SHARE,
  type Progress,
  resolveStepsPerRun,
  trainFold,
} from '../training/trainer.js';
import { type Aggregate, DEFAULT_QUANTILE, parseAggregate, parseUncertainty } from '../uncertainty/difficulty.js';
import { type EpsScheduleFactory, fixedEps, withWarmup } from '../training/epsSchedule.js';
import { mcEpsSchedule } from '../uncertainty/adaptive.js';
import { type EpsPolicy, parseEpsPolicy, validateEpsPolicy } from '../uncertainty/epsilon.js';
import type { UncertaintyKind } from '../uncertainty/pixel.js';
import {
  UsageError,
  asNumber,
  asText,
  integerFrom,
  numberWhere,
  oneOf,
  orWord,
  progress,
  readFlags,
  runMain,
  usage,
  writeFileAtomic,
} from './cli.js';
import { readJsonFile } from '../common/files.js';

/** What train.json holds. `dataset.fingerprint` is absent in runs written before it was recorded. */
interface SavedRun {
  /** RunOptions, or as earlier versions wrote them (savedRunOptions reads both). */
  options: Record<string, unknown>;
  dataset: { format: string; images: number; fingerprint?: string };
}

/** sha256 over every sample's name, decoded image and mask, in order: what the folds are cut from. */
function datasetFingerprint(samples: readonly Sample[]): string {
  const h = createHash('sha256');
  for (const s of samples) h.update(`${s.name}\0${s.width}x${s.height}\0`).update(s.image).update(s.mask);
  return h.digest('hex');
}

/** The paper's protocol (METHOD.md §5) on a GPU; a CPU needs a smaller network and images. */
const GPU_DEFAULTS = { preset: 'paper', size: 224, batch: 32, epochs: 200 } as const;
const CPU_DEFAULTS = { preset: 'small', size: 128, batch: 8, epochs: 30 } as const;

/** ε_1 with --adaptive and no --eps-map: min-max normalised difficulty, the hardest image gets 1. */
const ADAPTIVE_EPS: EpsPolicy = { kind: 'linear', epsMin: 0, epsMax: 1, direction: 'up' };
/** MC phase interval with --adaptive and no --mc-every (METHOD.md §5). */
const ADAPTIVE_MC_EVERY = 10;

/** The options of a run, parsed; train.json keeps them and --resume reads them back (savedRunOptions). */
interface RunOptions {
  data: string | null;
  format: DatasetFormat;
  fold: number | 'all';
  folds: number;
  split: 'random' | 'sequence';
  epochs: number;
  batch: number;
  lr: number;
  size: number;
  loss: LossWeights;
  /** Each image's ε_1 of PolyDice-1: `--eps E` is fixed:E; `--adaptive` maps difficulty with `--eps-map`. */
  eps: EpsPolicy;
  preset: PresetName;
  ep: ExecutionProvider[];
  seed: number;
  dropoutP: number;
  valFraction: number;
  syntheticCount: number;
  limit: number | null;
  augment: boolean;
  /** MC-Dropout phases: every M epochs (0 = none). */
  mcEvery: number;
  mcSamples: number;
  mcP: number;
  uncertainty: UncertaintyKind;
  aggregate: { aggregate: Aggregate; q: number };
  /** Train steps per session run: a number, or 'epoch' (as many as memory allows, up to an epoch). */
  stepsPerRun: number | 'epoch';
  /** ε_1 = 0 for the training images during the first W epochs (study v2's warm-up). */
  epsWarmup: number;
  /** With --adaptive: each MC phase's ε_1 values permuted across the images (study v2's control). */
  epsShuffle: boolean;
}

const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
const byProvider = (gpu: number | string, cpu: number | string): string => `${gpu} (GPU), ${cpu} (CPU)`;

/** train's flags; `undefined` defaults are decided after parsing (by provider, or by --adaptive). */
const TRAIN_FLAGS = {
  data: {
    help: 'dataset folder (CVC-ClinicDB, its original TIFF layout, Kvasir-SEG, or image/mask pairs)',
    parse: asText,
    default: null,
    defaultHelp: 'the built-in synthetic set',
  },
  format: {
    help: 'auto, cvc, cvc-original, kvasir, pairs or synthetic',
    parse: oneOf(DATASET_FORMATS),
    default: 'auto',
  },
  fold: { help: 'which fold to train: 0..folds-1, or all', parse: orWord('all', 'all' as const, asNumber), default: 0 },
  folds: { help: 'k of k-fold cross-validation', parse: integerFrom(2, 'an integer of at least 2'), default: 5 },
  split: {
    help: 'random (frame-level) or sequence (CVC-ClinicDB video sequences kept in one fold)',
    parse: oneOf(['random', 'sequence']),
    default: 'random',
  },
  'val-fraction': {
    help: 'share of each training part held out for validation',
    parse: numberWhere((v) => v > 0 && v <= 0.5, 'in (0, 0.5]: the best model is chosen on validation loss'),
    default: 0.1,
  },
  epochs: { help: 'epochs per fold', parse: integerFrom(1), default: undefined, defaultHelp: byProvider(200, 30) },
  batch: { help: 'images per train step', parse: asNumber, default: undefined, defaultHelp: byProvider(32, 8) },
  lr: { help: 'Adam learning rate', parse: numberWhere((v) => v > 0, 'positive'), default: 0.001 },
  size: {
    help: 'images are resized to size×size',
    parse: asNumber,
    default: undefined,
    defaultHelp: `the preset's: ${byProvider(GPU_DEFAULTS.size, CPU_DEFAULTS.size)}`,
  },
  loss: {
    help: Object.keys(LOSS_PRESETS).join(', '),
    parse: parseLoss,
    default: parseLoss('polydice1'),
    defaultHelp: 'polydice1',
  },
  eps: {
    help: 'fixed ε_1 of PolyDice-1 for every image',
    parse: (raw: string, flag: string): number => {
      const eps = asNumber(raw, flag);
      validateEpsPolicy({ kind: 'fixed', eps });
      return eps;
    },
    default: undefined,
    defaultHelp: '0',
  },
  preset: {
    help: PRESET_NAMES.join(', '),
    parse: oneOf(PRESET_NAMES),
    default: undefined,
    defaultHelp: byProvider(GPU_DEFAULTS.preset, CPU_DEFAULTS.preset),
  },
  ep: {
    help: 'execution providers: cpu, cuda, webgpu, or a fallback list such as cuda,cpu',
    parse: parseProviders,
    default: ['cpu'] as ExecutionProvider[],
    defaultHelp: 'cpu',
  },
  seed: { help: 'seed of weights, folds, shuffling, augmentation and dropout', parse: asNumber, default: 1 },
  'dropout-p': { help: 'dropout probability while training (bottleneck and decoder)', parse: asNumber, default: 0.5 },
  'synthetic-count': { help: 'images in the synthetic set', parse: asNumber, default: 80 },
  limit: {
    help: 'use only the first N images of the dataset (quick trials)',
    parse: orWord('all', null, asNumber),
    default: null,
    defaultHelp: 'all',
  },
  'no-augment': { help: 'turn off flips and brightness/contrast augmentation', switch: true },
  adaptive: {
    help:
      "the method (METHOD.md): MC-Dropout phases every --mc-every epochs set each image's ε_1 " +
      'from its difficulty via --eps-map',
    switch: true,
  },
  'mc-every': {
    help:
      "MC-Dropout phase every M epochs: records each training image's difficulty, ε and Dice " +
      '(trajectory.jsonl); 0 = none',
    parse: integerFrom(0, 'a non-negative integer'),
    default: undefined,
    defaultHelp: `${ADAPTIVE_MC_EVERY} with --adaptive, else 0`,
  },
  'mc-samples': { help: 'stochastic passes per image in an MC phase (N)', parse: integerFrom(2), default: 10 },
  'mc-p': {
    help: 'dropout probability in an MC phase (p)',
    parse: numberWhere((p) => p > 0 && p < 1, 'in (0, 1)'),
    default: 0.5,
  },
  uncertainty: {
    help: 'pixel uncertainty: variance, entropy or mutual-information',
    parse: parseUncertainty,
    default: 'variance',
  },
  aggregate: {
    help: 'image difficulty from the pixel map: mean, max, quantile[:q], foreground-mean or sum',
    parse: parseAggregate,
    default: { aggregate: 'mean', q: DEFAULT_QUANTILE } as { aggregate: Aggregate; q: number },
    defaultHelp: 'mean',
  },
  'eps-map': {
    help:
      'difficulty → ε_1 with --adaptive: linear:MIN,MAX[:up|down], rank:MIN,MAX[:up|down], fixed:E; ' +
      'unmeasured images get the midpoint',
    parse: parseEpsPolicy,
    default: undefined,
    defaultHelp: 'linear:0,1:up',
  },
  'eps-warmup': {
    help:
      'ε_1 = 0 for the training images during the first W epochs (e.g. until the first MC phase), ' +
      'then ε_1 as --eps or --adaptive set it; validation images keep that ε_1 throughout',
    parse: integerFrom(0, 'a non-negative integer'),
    default: 0,
  },
  'eps-shuffle': {
    help:
      "with --adaptive: each MC phase's ε_1 values are permuted across the images (seeded), " +
      'a control with the same values and no link to difficulty',
    switch: true,
  },
  'steps-per-run': {
    help:
      'train steps per onnxruntime run (K): parameters and Adam moments cross host↔device once per K steps; ' +
      'epoch = all steps of an epoch within a memory budget; 1 = one step per run ' +
      '(cpu and cuda; webgpu keeps the state on the GPU and uses 1)',
    parse: orWord('epoch', 'epoch' as const, integerFrom(1, 'a positive integer or epoch')),
    default: 'epoch',
  },
  out: { help: 'run folder', parse: asText, default: undefined, defaultHelp: 'runs/<date>-<preset>' },
  resume: {
    help:
      'continue the run in --out from its last checkpoints ' +
      '(its saved options are used; other flags must agree with them)',
    switch: true,
  },
  overwrite: { help: 'replace an existing run in --out (without it, an existing run needs --resume)', switch: true },
} as const;

const SUMMARY =
  'Trains the U-Net with k-fold cross-validation. Each fold keeps the weights of its lowest validation loss,\n' +
  'exports them as model.onnx and writes test-fold metrics. ' +
  'Defaults follow the paper (METHOD.md §5: 224², batch 32,\n' +
  'Adam 1e-3, 200 epochs) on a GPU (--ep cuda/webgpu). On CPU the defaults are the small preset (base 16), 128²,\n' +
  'batch 8 and 30 epochs, so that the default run (synthetic data, one fold) finishes in a few minutes on 2 cores.';

interface ParsedCommandLine {
  options: RunOptions;
  out: string;
  resume: boolean;
  overwrite: boolean;
  /** The flags given on the command line, e.g. ['epochs', 'lr']. */
  given: string[];
  provider: ExecutionProvider;
}

async function optionsFromFlags(): Promise<ParsedCommandLine> {
  const { values: f, given } = readFlags('train', SUMMARY, TRAIN_FLAGS);
  // The provider this run gets, before anything is loaded or written; the defaults follow it.
  const { provider, skipped } = await resolveProvider(f.ep);
  for (const x of skipped) progress(fallbackNote(x.provider, x.why));
  if (f.ep.length > 1 || skipped.length) progress(`--ep: using ${provider}`);
  const d = provider !== 'cpu' ? GPU_DEFAULTS : CPU_DEFAULTS;
  const preset = f.preset ?? d.preset;
  if (f.adaptive && f.eps !== undefined) {
    throw new UsageError(
      '--eps sets one fixed ε_1 for every image, and --adaptive sets ' +
        "each image's ε_1 from its difficulty (--eps-map): " +
        'give one of them (--eps-map fixed:E keeps a fixed ε_1 with MC phases)',
    );
  }
  if (!f.adaptive && f['eps-map'] !== undefined) {
    const why = "--eps-map maps each image's difficulty to its ε_1 with --adaptive";
    throw new UsageError(`${why}: add --adaptive, or give one ε_1 with --eps`);
  }
  if (f['eps-shuffle'] && !f.adaptive) {
    throw new UsageError('--eps-shuffle permutes the ε_1 that --adaptive sets from difficulty: add --adaptive');
  }
  const mcEvery = f['mc-every'] ?? (f.adaptive ? ADAPTIVE_MC_EVERY : 0);
  if (f.adaptive && mcEvery === 0) throw new UsageError('--adaptive needs MC phases: --mc-every must be at least 1');
  const options: RunOptions = {
    data: f.data,
    format: f.format,
    fold: f.fold,
    folds: f.folds,
    split: f.split,
    epochs: f.epochs ?? d.epochs,
    batch: f.batch ?? d.batch,
    lr: f.lr,
    // The preset's own image size unless --size is given (tiny 32², study 64², small 128², paper 224²).
    size: f.size ?? PRESETS[preset].imageSize,
    loss: f.loss,
    eps: f.adaptive ? (f['eps-map'] ?? ADAPTIVE_EPS) : { kind: 'fixed', eps: f.eps ?? 0 },
    preset,
    ep: f.ep,
    seed: f.seed,
    dropoutP: f['dropout-p'],
    valFraction: f['val-fraction'],
    syntheticCount: f['synthetic-count'],
    limit: f.limit,
    augment: !f['no-augment'],
    mcEvery,
    mcSamples: f['mc-samples'],
    mcP: f['mc-p'],
    uncertainty: f.uncertainty,
    aggregate: f.aggregate,
    stepsPerRun: f['steps-per-run'],
    epsWarmup: f['eps-warmup'],
    epsShuffle: f['eps-shuffle'],
  };
  if (f.ep.includes('webgpu') && options.stepsPerRun !== 'epoch' && options.stepsPerRun > 1) {
    throw new UsageError(
      '--steps-per-run above 1 is for cpu and cuda: with webgpu the state already stays on the GPU between one-step runs',
    );
  }
  const { fold, folds } = options;
  if (fold !== 'all' && !(Number.isInteger(fold) && fold >= 0 && fold < folds)) {
    throw new UsageError(`--fold must be all or an integer in 0..${folds - 1}, got "${fold}"`);
  }
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const out = f.out ?? join('runs', `${stamp}-${preset}`);
  if (f.resume && !existsSync(join(out, 'train.json'))) {
    throw new UsageError(`--resume needs --out pointing at an existing run folder (no ${join(out, 'train.json')})`);
  }
  if (f.resume && f.overwrite) throw new UsageError('--resume and --overwrite exclude each other');
  if (!f.resume && !f.overwrite && existsSync(join(out, 'train.json'))) {
    throw new UsageError(
      `${out} already holds a run (train.json): continue it with --resume, replace it with --overwrite, or choose another --out`,
    );
  }
  return { options, out, resume: f.resume, overwrite: f.overwrite, given, provider };
}

/**
 * The options of a train.json, also as earlier versions wrote them: the loss, --ep, --uncertainty and
 * --aggregate as their flag text, ε as `eps` (a number) and `epsMap` ('off' unless --adaptive), no MC
 * fields before MC phases existed (none ran) and no stepsPerRun before K-step runs.
 */
function savedRunOptions(saved: Record<string, unknown>): RunOptions {
  const { epsMap, ...o } = saved;
  const text = (v: unknown): v is string => typeof v === 'string';
  const flagDefault = (k: keyof typeof TRAIN_FLAGS): unknown => (TRAIN_FLAGS[k] as { default?: unknown }).default;
  if (text(o.loss)) o.loss = parseLoss(o.loss);
  if (text(o.ep)) o.ep = parseProviders(o.ep);
  if (typeof o.eps === 'number') {
    const fixed = epsMap === undefined || epsMap === 'off';
    o.eps = fixed ? { kind: 'fixed', eps: o.eps } : parseEpsPolicy(String(epsMap));
  }
  if (text(o.aggregate)) o.aggregate = parseAggregate(o.aggregate);
  if (text(o.uncertainty)) o.uncertainty = parseUncertainty(o.uncertainty);
  o.mcEvery ??= 0;
  o.mcSamples ??= flagDefault('mc-samples');
  o.mcP ??= flagDefault('mc-p');
  o.uncertainty ??= flagDefault('uncertainty');
  o.aggregate ??= flagDefault('aggregate');
  o.stepsPerRun ??= flagDefault('steps-per-run');
  o.epsWarmup ??= 0;
  o.epsShuffle ??= false;
  return o as unknown as RunOptions;
}

/** The RunOptions field a flag sets (flags are kebab-case, fields camelCase), or undefined for flags that are not options. */
function optionOf(flag: string): keyof RunOptions | undefined {
  const special: Record<string, keyof RunOptions> = { 'no-augment': 'augment', adaptive: 'eps', 'eps-map': 'eps' };
  const key = special[flag] ?? flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return ['out', 'resume', 'overwrite', 'help'].includes(flag) ? undefined : (key as keyof RunOptions);
}

/** Flags given with --resume that disagree with the saved run's options, as "--flag (saved: x, given: y)". */
function conflictingFlags(given: readonly string[], saved: RunOptions, parsed: RunOptions): string[] {
  return given.flatMap((flag) => {
    const key = optionOf(flag);
    if (!key || JSON.stringify(saved[key] ?? null) === JSON.stringify(parsed[key] ?? null)) return [];
    return [`--${flag} (saved: ${JSON.stringify(saved[key] ?? null)}, given: ${JSON.stringify(parsed[key] ?? null)})`];
  });
}

/** Each image's ε_1: fixed without MC phases, else the method of uncertainty/adaptive.ts. */
function epsScheduleOf(o: RunOptions): EpsScheduleFactory {
  if (o.mcEvery === 0) {
    if (o.eps.kind !== 'fixed') {
      throw new UsageError(`ε_1 from difficulty (${o.eps.kind}) needs MC phases: --mc-every must be at least 1`);
    }
    return withWarmup(fixedEps(o.eps.eps), o.epsWarmup);
  }
  // A fixed ε_1 with MC phases: the phases record the trajectory (with the ε_1 used) and ε stays fixed.
  const difficulty = { uncertainty: o.uncertainty, ...o.aggregate };
  const mc = { every: o.mcEvery, samples: o.mcSamples, p: o.mcP, difficulty };
  const shuffle = o.epsShuffle ? { shuffleSeed: deriveSeed(o.seed, 'eps-shuffle') } : {};
  return withWarmup(mcEpsSchedule(mc, o.eps, shuffle), o.epsWarmup);
}

/** A one-line progress bar on a terminal; one line per epoch otherwise (logs, CI). */
function progressReporter(epochs: number, label: string): Progress {
  const tty = process.stderr.isTTY;
  const started = performance.now();
  let done = 0;
  return {
    step(epoch, i, total, loss) {
      if (!tty) return;
      const width = 24;
      const filled = Math.round((i / total) * width);
      process.stderr.write(
        `\r${label} epoch ${epoch + 1}/${epochs} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${i}/${total} loss ${loss.toFixed(4)}   `,
      );
    },
    epoch(log: EpochLog) {
      done++;
      const perEpoch = (performance.now() - started) / 1000 / done;
      const eta = Math.round(perEpoch * (epochs - log.epoch));
      const line = `${label} epoch ${log.epoch}/${epochs}  train loss ${log.trainLoss.toFixed(4)}  val loss ${log.valLoss.toFixed(4)}  val Dice ${log.valDice.toFixed(4)}${log.best ? ' *' : '  '}  ${log.seconds.toFixed(1)} s  ETA ${Math.floor(eta / 60)}m${String(eta % 60).padStart(2, '0')}s`;
      process.stderr.write(tty ? `\r${line}\n` : `${line}\n`);
    },
  };
}

runMain(async () => {
  const parsed = await optionsFromFlags();
  const { out, resume } = parsed;
  const saved = resume ? (readJsonFile(join(out, 'train.json')) as SavedRun) : undefined;
  const options: RunOptions = saved ? savedRunOptions(saved.options) : parsed.options;
  if (saved) {
    const conflicts = conflictingFlags(parsed.given, options, parsed.options);
    if (conflicts.length)
      throw new UsageError(
        `--resume continues ${out} with its saved options; these flags disagree with them: ${conflicts.join(', ')}`,
      );
  }
  // A resumed run gets the first available provider of its saved list (checked before loading data).
  const provider = saved ? (await resolveProvider(options.ep)).provider : parsed.provider;
  const providers: ExecutionProvider[] = [provider];
  const config = presetConfig(options.preset, {
    imageSize: options.size,
    batch: options.batch,
    training: { loss: options.loss, optimizer: DEFAULT_OPTIMIZER },
    unet: { seed: options.seed, dropout: { bottleneck: true, decoder: true, p: options.dropoutP } },
  });
  validateConfig(config);
  const budget = LOOP_MEMORY_SHARE * totalmem();
  const stepsPerRun = provider === 'webgpu' ? 1 : usage(() => resolveStepsPerRun(options.stepsPerRun, config, budget));

  progress(`loading ${options.data ?? 'the synthetic set'} at ${options.size}²...`);
  const t0 = performance.now();
  const data = await loadDataset(options.data ?? undefined, options.data ? options.format : 'synthetic', options.size, {
    limit: options.limit ?? undefined,
    seed: options.seed,
    syntheticCount: options.syntheticCount,
  });
  for (const p of data.problems) progress(`warning: ${p}`);
  progress(`${data.samples.length} images (${data.format}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const fingerprint = datasetFingerprint(data.samples);
  if (saved?.dataset.fingerprint !== undefined && saved.dataset.fingerprint !== fingerprint) {
    throw new Error(
      `the dataset ${options.data ?? '(synthetic)'} is not the one ${out} was trained on: ${saved.dataset.images} images then, ${data.samples.length} now, ` +
        `fingerprint ${saved.dataset.fingerprint.slice(0, 12)}… then, ${fingerprint.slice(0, 12)}… now (names and decoded pixels); resuming would mix folds`,
    );
  }
  if (parsed.overwrite && existsSync(out)) rmSync(out, { recursive: true, force: true });
  const folds = usage(() => foldPlans(options.split, data.sequences, options.folds, options.seed, options.valFraction));
  if (!resume)
    writeFileAtomic(
      join(out, 'train.json'),
      `${JSON.stringify({ options, provider, config, dataset: { format: data.format, images: data.samples.length, fingerprint } }, null, 2)}\n`,
    );

  const layout = paramLayout(config);
  const epsSchedule = epsScheduleOf(options);
  const results: FoldResult[] = [];
  for (const plan of folds.filter((f) => options.fold === 'all' || f.fold === options.fold)) {
    const dir = join(out, `fold-${plan.fold}`);
    progress(
      `fold ${plan.fold}: ${plan.train.length} train, ${plan.val.length} validation, ${plan.test.length} test images → ${dir}`,
    );
    const result = await trainFold(
      data.samples,
      plan,
      {
        config,
        layout,
        epochs: options.epochs,
        lr: options.lr,
        dropoutP: options.dropoutP,
        augment: options.augment ? DEFAULT_AUGMENT : NO_AUGMENT,
        providers,
        seed: options.seed,
        epsSchedule,
        stepsPerRun,
      },
      dir,
      resume,
      progressReporter(options.epochs, `fold ${plan.fold}`),
    );
    results.push(result);
    const m = result.metrics.mean;
    progress(
      `fold ${plan.fold}: best epoch ${result.bestEpoch}, test Dice ${m.dice.toFixed(4)}, IoU ${m.iou.toFixed(4)}, ` +
        `training Dice ${result.metrics.train.dice.toFixed(4)}`,
    );
  }
  const summary = {
    run: out,
    folds: results.map((r) => ({
      fold: r.fold,
      bestEpoch: r.bestEpoch,
      bestValLoss: r.bestValLoss,
      model: r.model,
      test: r.metrics.mean,
      trainDice: r.metrics.train.dice,
    })),
  };
  writeFileAtomic(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  progress(
    `done: models, metrics and checkpoints are in ${out}/ (summary.json; per fold: model.onnx, metrics.json, epochs.jsonl, checkpoint/)`,
  );
});
