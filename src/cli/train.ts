/** npm run train: k-fold training of the U-Net on a dataset (default: the built-in synthetic set). */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { type DatasetFormat, loadDataset } from '../data/datasets.js';
import type { Sample } from '../data/sample.js';
import { LOSS_PRESETS, parseLoss } from '../graphBuilder/losses.js';
import { PRESETS, type PresetName, presetConfig, validateConfig } from '../graphBuilder/models.js';
import { DEFAULT_OPTIMIZER } from '../graphBuilder/optimizers.js';
import { paramLayout } from '../graphBuilder/trainingModels.js';
import { DEFAULT_AUGMENT, NO_AUGMENT } from '../training/augment.js';
import { type ExecutionProvider, parseProviders, resolveProvider } from '../runtime/runtime.js';
import { groupedKFoldSplits, kFoldSplits } from '../training/splits.js';
import { type EpochLog, type FoldResult, LOOP_MEMORY_SHARE, type Progress, resolveStepsPerRun, trainFold } from '../training/trainer.js';
import { parseAggregate, parseUncertainty } from '../uncertainty/difficulty.js';
import { type EpsScheduleFactory, fixedEps } from '../training/epsSchedule.js';
import { mcEpsSchedule } from '../uncertainty/adaptive.js';
import { type EpsPolicy, parseEpsPolicy } from '../uncertainty/epsilon.js';
import { UsageError, numberFlag, parseFlags, progress, runMain, usage, writeFileAtomic } from './cli.js';

/** What train.json holds. `dataset.fingerprint` is absent in runs written before it was recorded. */
interface SavedRun {
  options: RunOptions;
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
  loss: string;
  eps: number;
  preset: PresetName;
  ep: string;
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
  uncertainty: string;
  aggregate: string;
  epsMap: string;
  /** Train steps per session run: a number, or 'epoch' (as many as memory allows, up to an epoch). */
  stepsPerRun: number | 'epoch';
}

async function optionsFromFlags(): Promise<{ options: RunOptions; out: string; resume: boolean; overwrite: boolean; given: string[]; provider: ExecutionProvider }> {
  const f = parseFlags(
    'train',
    'Trains the U-Net with k-fold cross-validation. Each fold keeps the weights of its lowest validation loss,\n' +
      'exports them as model.onnx and writes test-fold metrics. Defaults follow the paper (METHOD.md §5: 224², batch 32,\n' +
      `Adam 1e-3, 200 epochs) on a GPU (--ep cuda/webgpu). On CPU the defaults are the small preset (base 16), 128²,\n` +
      'batch 8 and 30 epochs, so that the default run (synthetic data, one fold) finishes in a few minutes on 2 cores.',
    {
      data: { type: 'string', description: 'dataset folder (CVC-ClinicDB, its original TIFF layout, Kvasir-SEG, or image/mask pairs)', default: 'the built-in synthetic set' },
      format: { type: 'string', description: 'auto, cvc, cvc-original, kvasir, pairs or synthetic', default: 'auto' },
      fold: { type: 'string', description: 'which fold to train: 0..folds-1, or all', default: '0' },
      folds: { type: 'string', description: 'k of k-fold cross-validation', default: '5' },
      split: { type: 'string', description: 'random (frame-level) or sequence (CVC-ClinicDB video sequences kept in one fold)', default: 'random' },
      'val-fraction': { type: 'string', description: 'share of each training part held out for validation', default: '0.1' },
      epochs: { type: 'string', description: 'epochs per fold', default: `${GPU_DEFAULTS.epochs} (GPU), ${CPU_DEFAULTS.epochs} (CPU)` },
      batch: { type: 'string', description: 'images per train step', default: `${GPU_DEFAULTS.batch} (GPU), ${CPU_DEFAULTS.batch} (CPU)` },
      lr: { type: 'string', description: 'Adam learning rate', default: '0.001' },
      size: { type: 'string', description: 'images are resized to size×size', default: `the preset's: ${GPU_DEFAULTS.size} (GPU), ${CPU_DEFAULTS.size} (CPU)` },
      loss: { type: 'string', description: Object.keys(LOSS_PRESETS).join(', '), default: 'polydice1' },
      eps: { type: 'string', description: 'fixed ε_1 of PolyDice-1 for every image', default: '0' },
      preset: { type: 'string', description: Object.keys(PRESETS).join(', '), default: `${GPU_DEFAULTS.preset} (GPU), ${CPU_DEFAULTS.preset} (CPU)` },
      ep: { type: 'string', description: 'execution providers: cpu, cuda, webgpu, or a fallback list such as cuda,cpu', default: 'cpu' },
      seed: { type: 'string', description: 'seed of weights, folds, shuffling, augmentation and dropout', default: '1' },
      'dropout-p': { type: 'string', description: 'dropout probability while training (bottleneck and decoder)', default: '0.5' },
      'synthetic-count': { type: 'string', description: 'images in the synthetic set', default: '80' },
      limit: { type: 'string', description: 'use only the first N images of the dataset (quick trials)', default: 'all' },
      'no-augment': { type: 'boolean', description: 'turn off flips and brightness/contrast augmentation' },
      adaptive: { type: 'boolean', description: 'the method (METHOD.md): MC-Dropout phases every --mc-every epochs set each image\'s ε_1 from its difficulty via --eps-map' },
      'mc-every': { type: 'string', description: 'MC-Dropout phase every M epochs: records each training image\'s difficulty, ε and Dice (trajectory.jsonl); 0 = none', default: '10 with --adaptive, else 0' },
      'mc-samples': { type: 'string', description: 'stochastic passes per image in an MC phase (N)', default: '10' },
      'mc-p': { type: 'string', description: 'dropout probability in an MC phase (p)', default: '0.5' },
      uncertainty: { type: 'string', description: 'pixel uncertainty: variance, entropy or mutual-information', default: 'variance' },
      aggregate: { type: 'string', description: 'image difficulty from the pixel map: mean, max, quantile[:q], foreground-mean or sum', default: 'mean' },
      'eps-map': { type: 'string', description: 'difficulty → ε_1 with --adaptive: linear:MIN,MAX[:up|down], rank:MIN,MAX[:up|down], fixed:E; unmeasured images get the midpoint', default: 'linear:0,1:up' },
      'steps-per-run': {
        type: 'string',
        description: 'train steps per onnxruntime run (K): parameters and Adam moments cross host↔device once per K steps; epoch = all steps of an epoch within a memory budget; 1 = one step per run (cpu and cuda; webgpu keeps the state on the GPU and uses 1)',
        default: 'epoch',
      },
      out: { type: 'string', description: 'run folder', default: 'runs/<date>-<preset>' },
      resume: { type: 'boolean', description: 'continue the run in --out from its last checkpoints (its saved options are used; other flags must agree with them)' },
      overwrite: { type: 'boolean', description: 'replace an existing run in --out (without it, an existing run needs --resume)' },
    },
  );
  const providers = usage(() => parseProviders(f.ep));
  // The provider this run gets, before anything is loaded or written; the defaults follow it.
  const { provider, skipped } = await resolveProvider(providers);
  for (const x of skipped) progress(`--ep: ${x.provider} is not available (${x.why.split('\n')[0]}); trying the next`);
  if (providers.length > 1 || skipped.length) progress(`--ep: using ${provider}`);
  const gpu = provider !== 'cpu';
  const d = gpu ? GPU_DEFAULTS : CPU_DEFAULTS;
  // These flags' defaults depend on the provider; their help text shows both ("200 (GPU), 30 (CPU)").
  const byProvider = (name: 'epochs' | 'batch' | 'size', fallback: number): number => (f[name].includes('(GPU)') ? fallback : numberFlag(name, f[name]));
  const preset = (f.preset.includes('(GPU)') ? d.preset : f.preset) as PresetName;
  if (!(preset in PRESETS)) throw new UsageError(`--preset must be one of ${Object.keys(PRESETS).join(', ')}, got "${f.preset}"`);
  const fold = f.fold === 'all' ? 'all' : numberFlag('fold', f.fold);
  if (f.split !== 'random' && f.split !== 'sequence') throw new UsageError(`--split must be random or sequence, got "${f.split}"`);
  usage(() => parseLoss(f.loss));
  const options: RunOptions = {
    data: f.data.startsWith('the built-in') ? null : f.data,
    format: f.format as DatasetFormat,
    fold,
    folds: numberFlag('folds', f.folds),
    split: f.split,
    epochs: byProvider('epochs', d.epochs),
    batch: byProvider('batch', d.batch),
    lr: numberFlag('lr', f.lr),
    // The preset's own image size unless --size is given (tiny 32², study 64², small 128², paper 224²).
    size: byProvider('size', PRESETS[preset].imageSize),
    loss: f.loss,
    eps: numberFlag('eps', f.eps),
    preset,
    ep: f.ep,
    seed: numberFlag('seed', f.seed),
    dropoutP: numberFlag('dropout-p', f['dropout-p']),
    valFraction: numberFlag('val-fraction', f['val-fraction']),
    syntheticCount: numberFlag('synthetic-count', f['synthetic-count']),
    limit: f.limit === 'all' ? null : numberFlag('limit', f.limit),
    augment: !f['no-augment'],
    mcEvery: f['mc-every'].includes('with --adaptive') ? (f.adaptive ? 10 : 0) : numberFlag('mc-every', f['mc-every']),
    mcSamples: numberFlag('mc-samples', f['mc-samples']),
    mcP: numberFlag('mc-p', f['mc-p']),
    uncertainty: f.uncertainty,
    aggregate: f.aggregate,
    epsMap: f.adaptive ? f['eps-map'] : 'off',
    stepsPerRun: f['steps-per-run'] === 'epoch' ? 'epoch' : numberFlag('steps-per-run', f['steps-per-run']),
  };
  if (options.stepsPerRun !== 'epoch' && !(Number.isInteger(options.stepsPerRun) && options.stepsPerRun >= 1)) {
    throw new UsageError(`--steps-per-run must be a positive integer or epoch, got "${f['steps-per-run']}"`);
  }
  if (providers.includes('webgpu') && options.stepsPerRun !== 'epoch' && options.stepsPerRun > 1) {
    throw new UsageError('--steps-per-run above 1 is for cpu and cuda: with webgpu the state already stays on the GPU between one-step runs');
  }
  if (!(Number.isInteger(options.mcEvery) && options.mcEvery >= 0)) throw new UsageError(`--mc-every must be a non-negative integer, got ${options.mcEvery}`);
  if (f.adaptive && options.mcEvery === 0) throw new UsageError('--adaptive needs MC phases: --mc-every must be at least 1');
  if (f.adaptive && givenFlags(process.argv.slice(2)).includes('eps')) {
    throw new UsageError('--eps sets one fixed ε_1 for every image, and --adaptive sets each image\'s ε_1 from its difficulty (--eps-map): give one of them (--eps-map fixed:E keeps a fixed ε_1 with MC phases)');
  }
  if (!(Number.isInteger(options.mcSamples) && options.mcSamples >= 2)) throw new UsageError(`--mc-samples must be an integer ≥ 2, got ${options.mcSamples}`);
  if (!(options.mcP > 0 && options.mcP < 1)) throw new UsageError(`--mc-p must be in (0, 1), got ${options.mcP}`);
  epsScheduleOf(options); // validates --uncertainty, --aggregate, --eps-map before anything is written
  if (!(options.epochs >= 1 && Number.isInteger(options.epochs))) throw new UsageError(`--epochs must be a positive integer, got ${options.epochs}`);
  if (!(options.valFraction > 0 && options.valFraction <= 0.5)) throw new UsageError(`--val-fraction must be in (0, 0.5]: the best model is chosen on validation loss, got ${options.valFraction}`);
  if (!(options.lr > 0)) throw new UsageError(`--lr must be positive, got ${options.lr}`);
  if (!(options.eps > -0.5)) throw new UsageError(`--eps must be greater than -0.5 (at -0.5 PolyDice-1 stops depending on the overlap), got ${options.eps}`);
  if (!(Number.isInteger(options.folds) && options.folds >= 2)) throw new UsageError(`--folds must be an integer of at least 2, got "${f.folds}"`);
  if (fold !== 'all' && !(Number.isInteger(fold) && fold >= 0 && fold < options.folds)) throw new UsageError(`--fold must be all or an integer in 0..${options.folds - 1}, got "${f.fold}"`);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const out = f.out.startsWith('runs/<') ? join('runs', `${stamp}-${preset}`) : f.out;
  if (f.resume && !existsSync(join(out, 'train.json'))) throw new UsageError(`--resume needs --out pointing at an existing run folder (no ${join(out, 'train.json')})`);
  if (f.resume && f.overwrite) throw new UsageError('--resume and --overwrite exclude each other');
  if (!f.resume && !f.overwrite && existsSync(join(out, 'train.json'))) {
    throw new UsageError(`${out} already holds a run (train.json): continue it with --resume, replace it with --overwrite, or choose another --out`);
  }
  return { options, out, resume: f.resume, overwrite: f.overwrite, given: givenFlags(process.argv.slice(2)), provider };
}

/** The flags given on the command line (without values), e.g. ['epochs', 'lr']. */
function givenFlags(argv: readonly string[]): string[] {
  return argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!);
}

/** The RunOptions field a flag sets (flags are kebab-case, fields camelCase), or undefined for flags that are not options. */
function optionOf(flag: string): keyof RunOptions | undefined {
  const special: Record<string, keyof RunOptions> = { 'no-augment': 'augment', adaptive: 'epsMap' };
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

/** Each image's ε_1: fixed (--eps), or with MC phases the method of uncertainty/adaptive.ts. */
function epsScheduleOf(o: RunOptions): EpsScheduleFactory {
  // Without --adaptive every image trains with --eps: MC phases then record that ε_1 (fixed:E).
  const policy: EpsPolicy = o.epsMap === 'off' ? { kind: 'fixed', eps: o.eps } : usage(() => parseEpsPolicy(o.epsMap));
  if (o.mcEvery === 0) return fixedEps(o.eps);
  const { aggregate, q } = usage(() => parseAggregate(o.aggregate));
  const difficulty = { uncertainty: usage(() => parseUncertainty(o.uncertainty)), aggregate, q };
  return mcEpsSchedule({ every: o.mcEvery, samples: o.mcSamples, p: o.mcP, difficulty }, policy);
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
      process.stderr.write(`\r${label} epoch ${epoch + 1}/${epochs} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${i}/${total} loss ${loss.toFixed(4)}   `);
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
  const saved = resume ? (JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')) as SavedRun) : undefined;
  const options: RunOptions = saved ? saved.options : parsed.options;
  if (saved) {
    const conflicts = conflictingFlags(parsed.given, saved.options, parsed.options);
    if (conflicts.length) throw new UsageError(`--resume continues ${out} with its saved options; these flags disagree with them: ${conflicts.join(', ')}`);
  }
  // A resumed run gets the first available provider of its saved list (checked before loading data).
  const provider = saved ? (await resolveProvider(parseProviders(options.ep))).provider : parsed.provider;
  const providers: ExecutionProvider[] = [provider];
  const config = presetConfig(options.preset, {
    imageSize: options.size,
    batch: options.batch,
    training: { loss: parseLoss(options.loss), optimizer: DEFAULT_OPTIMIZER },
    unet: { seed: options.seed, dropout: { bottleneck: true, decoder: true, p: options.dropoutP } },
  });
  validateConfig(config);
  const stepsPerRun = provider === 'webgpu' ? 1 : usage(() => resolveStepsPerRun(options.stepsPerRun ?? 'epoch', config, LOOP_MEMORY_SHARE * totalmem()));

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
  const folds =
    options.split === 'sequence'
      ? usage(() => groupedKFoldSplits(data.sequences, options.folds, options.seed, options.valFraction))
      : usage(() => kFoldSplits(data.samples.length, options.folds, options.seed, options.valFraction));
  if (!resume) writeFileAtomic(join(out, 'train.json'), `${JSON.stringify({ options, provider, config, dataset: { format: data.format, images: data.samples.length, fingerprint } }, null, 2)}\n`);

  const layout = paramLayout(config);
  const epsSchedule = epsScheduleOf(options);
  const results: FoldResult[] = [];
  for (const plan of folds.filter((f) => options.fold === 'all' || f.fold === options.fold)) {
    const dir = join(out, `fold-${plan.fold}`);
    progress(`fold ${plan.fold}: ${plan.train.length} train, ${plan.val.length} validation, ${plan.test.length} test images → ${dir}`);
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
    progress(`fold ${plan.fold}: best epoch ${result.bestEpoch}, test Dice ${m.dice.toFixed(4)}, IoU ${m.iou.toFixed(4)}`);
  }
  const summary = {
    run: out,
    folds: results.map((r) => ({ fold: r.fold, bestEpoch: r.bestEpoch, bestValLoss: r.bestValLoss, model: r.model, test: r.metrics.mean })),
  };
  writeFileAtomic(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  progress(`done: models, metrics and checkpoints are in ${out}/ (summary.json; per fold: model.onnx, metrics.json, epochs.jsonl, checkpoint/)`);
});
