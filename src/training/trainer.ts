/**
 * The training loop for one fold: epochs of fused train steps over augmented batches, validation
 * with the eval model, the best-validation-loss weights kept, a checkpoint and a log line after
 * every epoch, and at the end the inference model with the best weights and test-fold metrics.
 *
 * Resuming is exact at epoch boundaries: every random stream (shuffling, augmentation, Dropout
 * masks) is either saved in the checkpoint or derived from (seed, epoch).
 */
import { appendFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { deriveSeed, prng, shuffleInPlace } from '../common/prng.js';
import { writeFileAtomic } from '../common/files.js';
import { buildInferenceModel, type ModelConfig } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import {
  type ParamLayout,
  buildEvalModel,
  buildTrainLoopModel,
  buildTrainStepModel,
} from '../graphBuilder/trainingModels.js';
import { type AugmentOptions, augment } from './augment.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { type ImageMetrics, type ImageRow, foregroundShare, imageMetrics, summarize } from './metrics.js';
import {
  type DeviceState,
  type ExecutionProvider,
  STATE_OUTPUTS,
  type TrainState,
  createSession,
  evaluate,
  initialState,
  toHost,
  trainStepOnDevice,
  trainSteps,
} from '../runtime/runtime.js';
import type { Sample } from '../data/sample.js';
import { batchesOf, toBatch } from './batches.js';
import type { EpsScheduleFactory } from './epsSchedule.js';

export interface FoldPlan {
  fold: number;
  train: number[];
  val: number[];
  test: number[];
}

export interface TrainSettings {
  config: ModelConfig; // batch = training batch size; imageSize = the samples' size
  layout: ParamLayout;
  epochs: number;
  lr: number;
  /** Dropout probability during training (the MC-Dropout layers are active while training). */
  dropoutP: number;
  augment: AugmentOptions;
  providers: ExecutionProvider[];
  seed: number;
  /**
   * Each image's ε_1 of PolyDice-1: fixedEps(E), or the adaptive method (METHOD.md §3–4:
   * uncertainty/adaptive.ts), which also writes the fold's difficulty trajectory.
   */
  epsSchedule: EpsScheduleFactory;
  /**
   * Train steps per session run (K): 1 runs the one-step model per batch; K > 1 the K-step Loop
   * model, so the state crosses host↔device once per K steps (capped at the steps of an epoch).
   * Either gives byte-identical weights (tests/graphBuilder/trainLoop.test.ts, trainer test).
   */
  stepsPerRun: number;
}

export interface EpochLog {
  epoch: number;
  step: number;
  trainLoss: number;
  valLoss: number;
  valDice: number;
  best: boolean;
  seconds: number;
}

/** Everything a resumed run needs beyond parameters and moments (stored in the checkpoint's JSON). */
interface LoopState {
  shuffle: number[];
  augment: number[];
  history: EpochLog[];
  bestValLoss: number;
  bestEpoch: number;
}

export class NonFiniteLossError extends Error {}

/**
 * Host memory the stacked inputs of one K-step run take: images, targets and ε of K batches, counted
 * twice (our arrays and the runtime's copy of them on the device or in its arena).
 */
export const loopInputBytes = (c: ModelConfig, k: number): number =>
  2 * k * c.batch * ((c.unet.inChannels + 1) * c.imageSize ** 2 + 1) * 4;

/** Share of the machine's memory the stacked K-step inputs may take. */
export const LOOP_MEMORY_SHARE = 0.25;

/**
 * Steps per session run: 'epoch' = as many as the memory budget allows (the trainer caps it at
 * the steps of an epoch); an explicit K must fit the budget, else an error naming K and the estimate.
 */
export function resolveStepsPerRun(request: number | 'epoch', c: ModelConfig, budgetBytes: number): number {
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
  if (request === 'epoch') return Math.max(1, Math.floor(budgetBytes / loopInputBytes(c, 1)));
  if (!(Number.isInteger(request) && request >= 1))
    throw new Error(`--steps-per-run must be a positive integer or epoch, got ${request}`);
  if (loopInputBytes(c, request) > budgetBytes) {
    throw new Error(
      `--steps-per-run ${request} needs about ${mib(loopInputBytes(c, request))} for its stacked batches (${c.batch} images of ${c.imageSize}² per step), ` +
        `over the budget of ${mib(budgetBytes)} (${LOOP_MEMORY_SHARE * 100}% of this machine's memory); use at most ${Math.max(1, Math.floor(budgetBytes / loopInputBytes(c, 1)))}`,
    );
  }
  return request;
}

export interface FoldResult {
  fold: number;
  bestEpoch: number;
  bestValLoss: number;
  model: string;
  metrics: { mean: Record<keyof ImageMetrics, number>; train: { dice: number }; images: ImageRow[] };
}

export interface Progress {
  step(epoch: number, done: number, total: number, loss: number): void;
  epoch(log: EpochLog): void;
}

/** Loss and per-image probabilities over a list of images, in batches of the eval model's size. */
export async function predictAll(
  session: InferenceSession,
  params: Float32Array,
  samples: readonly Sample[],
  indices: readonly number[],
  batch: number,
  eps: (i: number) => number,
) {
  const size = samples[0]!.width;
  const losses: number[] = [];
  const probs: Float32Array[] = [];
  for (const b of batchesOf(indices, batch)) {
    const out = await evaluate(
      session,
      params,
      toBatch(
        b.items.map((i) => samples[i]!),
        b.items.map(eps),
        size,
      ),
    );
    for (let k = 0; k < b.real; k++) {
      losses.push(out.perImage[k]!);
      probs.push(out.probability.subarray(k * size * size, (k + 1) * size * size));
    }
  }
  return { losses, probs };
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Train one fold into `dir`; resumes from `dir/checkpoint` when `resume` and it exists. */
export async function trainFold(
  samples: readonly Sample[],
  plan: FoldPlan,
  s: TrainSettings,
  dir: string,
  resume: boolean,
  progress: Progress,
): Promise<FoldResult> {
  const c = s.config;
  const ckptDir = join(dir, 'checkpoint');
  const logFile = join(dir, 'epochs.jsonl');
  const evalSession = await createSession(serialize(buildEvalModel(c, s.layout)), { providers: s.providers });
  const size = c.imageSize;

  let state: TrainState = initialState(s.layout.values);
  let best: Float32Array = s.layout.values.slice();
  let loop: LoopState = {
    shuffle: prng(deriveSeed(s.seed, `shuffle:${plan.fold}`)).state(),
    augment: prng(deriveSeed(s.seed, `augment:${plan.fold}`)).state(),
    history: [],
    bestValLoss: Infinity,
    bestEpoch: -1,
  };
  let startEpoch = 0;
  if (resume && !existsSync(join(ckptDir, 'manifest.json')) && existsSync(logFile)) {
    // Epochs were logged, so a checkpoint was committed once: its manifest is gone, not yet to come.
    throw new Error(
      `${join(ckptDir, 'manifest.json')} is missing but ${logFile} records finished epochs: refusing to restart the fold over them (delete ${dir} to train this fold from scratch)`,
    );
  }
  if (resume && existsSync(join(ckptDir, 'manifest.json'))) {
    const ck = loadCheckpoint(ckptDir);
    state = { params: ck.params, m: ck.adam.m, v: ck.adam.v, step: ck.step };
    best = ck.extra.best_params!.data as Float32Array;
    loop = ck.rng as LoopState;
    startEpoch = ck.epoch;
    // The log may have a line the checkpoint does not (killed between the two writes): rewrite it.
    writeFileAtomic(logFile, loop.history.map((h) => `${JSON.stringify(h)}\n`).join(''));
  } else {
    rmSync(logFile, { force: true });
  }

  const schedule = s.epsSchedule({ dir, samples, train: plan.train, config: c, providers: s.providers });
  schedule.start(startEpoch);
  const epsOf = (i: number): number => schedule.epsOf(i);

  const shuffleRng = prng(0, loop.shuffle);
  const augmentRng = prng(0, loop.augment);
  for (let epoch = startEpoch; epoch < s.epochs; epoch++) {
    const t0 = performance.now();
    const batches = batchesOf(shuffleInPlace([...plan.train], shuffleRng), c.batch);
    const k = Math.min(s.stepsPerRun, batches.length);
    // A fresh Dropout stream per epoch (see DropoutControls.stream): resumable by construction.
    const model = k > 1 ? buildTrainLoopModel(c, k, s.layout, epoch) : buildTrainStepModel(c, s.layout, epoch);
    // Device-resident state outputs only for the one-step model: a K-step run hands the state back on the host.
    const session = await createSession(serialize(model), {
      providers: s.providers,
      ...(k === 1 ? { deviceOutputs: STATE_OUTPUTS } : {}),
    });
    let onDevice: DeviceState = state;
    const losses: number[] = [];
    const batchOf = (b: (typeof batches)[number]) =>
      toBatch(
        b.items.map((i) => augment(samples[i]!, augmentRng, s.augment)),
        b.items.map(epsOf),
        size,
      );
    const checkFinite = (loss: number, bi: number): void => {
      if (Number.isFinite(loss)) return;
      const kept =
        epoch > 0
          ? `the last good checkpoint (${ckptDir}, epoch ${epoch}) is intact`
          : 'no checkpoint had been written yet';
      throw new NonFiniteLossError(
        `loss became ${loss} at epoch ${epoch + 1}, batch ${bi + 1} (try a lower --lr); ${kept}`,
      );
    };
    for (let first = 0; first < batches.length; first += k) {
      const chunk = batches.slice(first, first + k).map(batchOf);
      if (k > 1) {
        const r = await trainSteps(session, await toHost(onDevice), chunk, k, s.lr, s.dropoutP);
        r.losses.forEach((loss, i) => {
          checkFinite(loss, first + i);
        });
        onDevice = r.state;
        losses.push(...r.losses);
      } else {
        const r = await trainStepOnDevice(session, onDevice, chunk[0]!, s.lr, s.dropoutP);
        checkFinite(r.loss, first);
        onDevice = r.state;
        losses.push(r.loss);
      }
      progress.step(epoch, losses.length, batches.length, losses.at(-1)!);
    }
    state = await toHost(onDevice); // before release: the device buffers belong to the session
    await session.release();
    await schedule.afterEpoch(epoch + 1, state.params);

    const val = await predictAll(evalSession, state.params, samples, plan.val, c.batch, epsOf);
    const valLoss = mean(val.losses);
    const valDice = mean(val.probs.map((p, k) => imageMetrics(p, samples[plan.val[k]!]!.mask).dice));
    const isBest = valLoss < loop.bestValLoss;
    if (isBest) {
      best = state.params.slice();
      loop.bestValLoss = valLoss;
      loop.bestEpoch = epoch;
    }
    const log: EpochLog = {
      epoch: epoch + 1,
      step: state.step,
      trainLoss: mean(losses),
      valLoss,
      valDice,
      best: isBest,
      seconds: (performance.now() - t0) / 1000,
    };
    loop = { ...loop, shuffle: shuffleRng.state(), augment: augmentRng.state(), history: [...loop.history, log] };
    saveCheckpoint(ckptDir, {
      step: state.step,
      epoch: epoch + 1,
      config: c,
      rng: loop,
      layout: s.layout.slots,
      params: state.params,
      adam: { m: state.m, v: state.v },
      extra: { best_params: { dtype: 'F32', shape: [best.length], data: best } },
    });
    appendFileSync(logFile, `${JSON.stringify(log)}\n`);
    progress.epoch(log);
  }

  // The shipped model: the inference graph with the best-validation-loss weights.
  const inference = buildInferenceModel({ ...c, batch: 1 }, { weights: best });
  const model = join(dir, 'model.onnx');
  writeFileAtomic(model, serialize(inference));

  const test = await predictAll(evalSession, best, samples, plan.test, c.batch, () => 0);
  // With the adaptive method, the shipped weights' MC-Dropout difficulty of every test image too, so
  // that difficulty can be compared with test Dice on the same images (issue 9).
  const difficulty = await schedule.testDifficulty?.(best, plan.test);
  const images = test.probs.map((p, k): ImageRow => {
    const sample = samples[plan.test[k]!]!;
    return {
      name: sample.name,
      ...imageMetrics(p, sample.mask),
      area: foregroundShare(sample.mask),
      ...(difficulty ? { difficulty: difficulty.get(plan.test[k]!)! } : {}),
    };
  });
  // Convergence check (study v2): the shipped weights' Dice on the un-augmented training images.
  const fit = await predictAll(evalSession, best, samples, plan.train, c.batch, () => 0);
  const train = { dice: mean(fit.probs.map((p, k) => imageMetrics(p, samples[plan.train[k]!]!.mask).dice)) };
  const metrics = { mean: summarize(images), train, images };
  writeFileAtomic(join(dir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  return { fold: plan.fold, bestEpoch: loop.bestEpoch + 1, bestValLoss: loop.bestValLoss, model, metrics };
}
