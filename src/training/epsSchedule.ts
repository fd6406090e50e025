/**
 * Where the trainer gets each training image's ε_1 of PolyDice-1 (METHOD.md §2). The trainer does
 * not know how ε is chosen: it makes one schedule per fold, tells it how many epochs a resumed run
 * has already trained and the weights after every epoch, and asks it for ε per image. The fixed
 * schedule is here; the adaptive method (MC-Dropout difficulty → ε_1, METHOD.md §3–4) is
 * `mcEpsSchedule` in uncertainty/adaptive.ts, which the CLI hands in.
 */
import type { Sample } from '../data/sample.js';
import type { ModelConfig } from '../graphBuilder/models.js';
import type { ExecutionProvider } from '../runtime/runtime.js';

/** The fold a schedule serves. */
export interface EpsFold {
  /** The fold's folder (a schedule may keep files there, e.g. the difficulty trajectory). */
  dir: string;
  samples: readonly Sample[];
  /** Dataset indices of the fold's training images. */
  train: readonly number[];
  config: ModelConfig;
  providers: ExecutionProvider[];
}

/** Each image's ε_1 over one fold's training. Resuming must give the ε an uninterrupted run gives. */
export interface EpsSchedule {
  /**
   * Called once before training: `doneEpochs` epochs are already trained (0 on a fresh run, the
   * checkpoint's epoch on resume). Whatever the schedule recorded after that epoch is to be dropped.
   */
  start(doneEpochs: number): void;
  /** ε_1 of dataset image `index` for the train steps and the validation until the next afterEpoch. */
  epsOf(index: number): number;
  /** After training epoch `epoch` (1-based), before its validation, with the weights it ended with. */
  afterEpoch(epoch: number, params: Float32Array): Promise<void>;
  /** Optional: the difficulty of every test image under the shipped weights, written beside its test metrics. */
  testDifficulty?(params: Float32Array, test: readonly number[]): Promise<ReadonlyMap<number, number>>;
}

/** Makes a fold's schedule (one per fold: a schedule keeps the fold's state). */
export type EpsScheduleFactory = (fold: EpsFold) => EpsSchedule;

/** The same ε_1 for every image in every epoch (PolyDice-1 with a fixed ε; 0 approximates Dice). */
export function fixedEps(eps: number): EpsScheduleFactory {
  return () => ({
    start: () => {},
    epsOf: () => eps,
    afterEpoch: async () => {},
  });
}

/**
 * ε_1 = 0 for the training images during the first `epochs` epochs, then the wrapped schedule's
 * ε_1 (study v2: the adaptive arms and their controls start as PolyDice-1 at ε_1 = 0 until the first
 * MC phase, instead of at the range's midpoint). Validation images keep the wrapped schedule's ε_1
 * in every epoch, so the validation loss that picks the shipped epoch is measured one way throughout.
 */
export function withWarmup(inner: EpsScheduleFactory, epochs: number): EpsScheduleFactory {
  if (!(Number.isInteger(epochs) && epochs >= 0))
    throw new Error(`--eps-warmup must be a whole number of epochs ≥ 0, got ${epochs}`);
  if (epochs === 0) return inner;
  return (fold) => {
    const schedule = inner(fold);
    const train = new Set(fold.train);
    let trained = 0; // epochs finished: the epoch being trained is trained + 1
    return {
      start(doneEpochs) {
        trained = doneEpochs;
        schedule.start(doneEpochs);
      },
      epsOf: (index) => (trained < epochs && train.has(index) ? 0 : schedule.epsOf(index)),
      async afterEpoch(epoch, params) {
        await schedule.afterEpoch(epoch, params);
        trained = epoch;
      },
      ...(schedule.testDifficulty ? { testDifficulty: schedule.testDifficulty.bind(schedule) } : {}),
    };
  };
}
