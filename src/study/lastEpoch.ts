/**
 * Study v2's check of model selection: a run's weights at its last epoch (the checkpoint, written after
 * every epoch) instead of the selected epoch's (model.onnx, metrics.json), scored on the same test
 * images, and on the un-augmented training images for convergence. Descriptive: the design's tests use
 * the selected weights (DESIGN.md); this asks whether the arms' order depends on the selection rule,
 * since the selected epoch varies from 7 to 60 between runs of one arm.
 */
import { join } from 'node:path';
import { readJsonFile } from '../common/files.js';
import type { ModelConfig } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { buildEvalModel, paramLayout } from '../graphBuilder/trainingModels.js';
import { type DatasetFormat, type LoadedDataset, loadDataset } from '../data/datasets.js';
import { createSession } from '../runtime/runtime.js';
import { loadCheckpoint } from '../training/checkpoint.js';
import { type ImageRow, foregroundShare, imageMetrics } from '../training/metrics.js';
import { foldPlans } from '../training/splits.js';
import { predictAll } from '../training/trainer.js';

/** What a run's train.json says about its data and folds. */
interface RunData {
  options: {
    data: string | null;
    format: DatasetFormat;
    size: number;
    seed: number;
    limit: number | null;
    syntheticCount: number;
    split: 'random' | 'sequence';
    folds: number;
    valFraction: number;
  };
  dataset: { images: number };
}

export interface LastEpochScores {
  /** the epoch of the weights scored (the run's last) */
  epoch: number;
  images: ImageRow[];
  /** mean Dice on the fold's un-augmented training images */
  trainDice: number;
}

/** Datasets loaded once for many runs, keyed by what loading depends on. */
export type DatasetCache = Map<string, Promise<LoadedDataset>>;

function runDataset(o: RunData['options'], cache: DatasetCache): Promise<LoadedDataset> {
  const synthetic = o.data === null;
  const key = JSON.stringify([o.data, o.format, o.size, o.limit, synthetic ? [o.seed, o.syntheticCount] : null]);
  let loaded = cache.get(key);
  if (!loaded) {
    loaded = loadDataset(o.data ?? undefined, synthetic ? 'synthetic' : o.format, o.size, {
      limit: o.limit ?? undefined,
      seed: o.seed,
      syntheticCount: o.syntheticCount,
    });
    cache.set(key, loaded);
  }
  return loaded;
}

/**
 * Score fold `fold` of the run in `runDir` with its checkpoint's weights, on the data its train.json
 * names (loaded through `cache`); the fold's test images are checked against metrics.json. Throws,
 * naming the file, when the checkpoint is not at `epochs` or the folds do not match.
 */
export async function lastEpochScores(
  runDir: string,
  fold: number,
  epochs: number,
  cache: DatasetCache,
): Promise<LastEpochScores> {
  const trainJson = join(runDir, 'train.json');
  const run = readJsonFile(trainJson) as RunData;
  const { samples, sequences } = await runDataset(run.options, cache);
  if (run.dataset.images !== samples.length)
    throw new Error(`${trainJson}: trained on ${run.dataset.images} images, the dataset now has ${samples.length}`);
  const o = run.options;
  const plan = foldPlans(o.split, sequences, o.folds, o.seed, o.valFraction)[fold];
  if (!plan) throw new Error(`${trainJson}: no fold ${fold} in ${o.folds} folds`);
  const metricsFile = join(runDir, `fold-${fold}`, 'metrics.json');
  const selected = (readJsonFile(metricsFile) as { images: ImageRow[] }).images.map((r) => r.name);
  const test = plan.test.map((i) => samples[i]!.name);
  if (selected.join('\0') !== test.join('\0'))
    throw new Error(`${metricsFile}: its test images are not fold ${fold}'s of this dataset (other data or split?)`);

  const dir = join(runDir, `fold-${fold}`, 'checkpoint');
  const ck = loadCheckpoint(dir);
  if (ck.epoch !== epochs) throw new Error(`${dir}: checkpoint after epoch ${ck.epoch}, expected the last (${epochs})`);
  const config = ck.config as ModelConfig;
  const layout = paramLayout(config);
  if (layout.values.length !== ck.params.length)
    throw new Error(`${dir}: ${ck.params.length} parameters, its config's U-Net has ${layout.values.length}`);
  const session = await createSession(serialize(buildEvalModel(config, layout)), { providers: ['cpu'] });
  try {
    const score = (indices: readonly number[]) =>
      predictAll(session, ck.params, samples, indices, config.batch, () => 0).then((r) =>
        r.probs.map((p, k) => ({ sample: samples[indices[k]!]!, ...imageMetrics(p, samples[indices[k]!]!.mask) })),
      );
    const images = (await score(plan.test)).map(
      ({ sample, ...m }): ImageRow => ({ name: sample.name, ...m, area: foregroundShare(sample.mask) }),
    );
    const fit = await score(plan.train);
    return { epoch: ck.epoch, images, trainDice: fit.reduce((a, r) => a + r.dice, 0) / fit.length };
  } finally {
    await session.release();
  }
}
