/**
 * The MC-Dropout phase of training (METHOD.md §3): every M epochs, the current weights go into the
 * MC-Dropout graph (N stochastic samples per image in one run, encoder shared) and each training image
 * (un-augmented) gets a difficulty from its pixel uncertainty. What the difficulties are used for
 * (ε_1 per image, the trajectory) is adaptive.ts.
 */
import { INPUT, OUTPUT } from '../graphBuilder/graphIO.js';
import { type ModelConfig, buildMcModel } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { imageMetrics } from '../training/metrics.js';
import { type ExecutionProvider, createSession, f32, scalar } from '../runtime/runtime.js';
import type { Sample } from '../data/sample.js';
import { batchesOf, toBatch } from '../training/batches.js';
import { type DifficultySpec, imageDifficulty } from './difficulty.js';
import { imageSamples } from './pixel.js';

export interface McSettings {
  /** Run a phase after every `every` epochs (M). */
  every: number;
  /** Stochastic passes per image (N). */
  samples: number;
  /** Dropout probability during the phase (p). */
  p: number;
  difficulty: DifficultySpec;
}

/** What an MC phase measures of one image. */
export interface McMeasurement {
  difficulty: number;
  /** Dice of the MC mean prediction (p̄ > 0.5) against the mask. */
  dice: number;
}

/** Difficulty and Dice of the MC mean prediction of every image in `indices`, by index, in `indices` order. */
export async function mcPhase(
  c: ModelConfig,
  params: Float32Array,
  samples: readonly Sample[],
  indices: readonly number[],
  mc: McSettings,
  providers: ExecutionProvider[],
): Promise<Map<number, McMeasurement>> {
  const g = buildMcModel({ ...c, samples: mc.samples }, { weights: params });
  const session = await createSession(serialize(g), { providers });
  const size = c.imageSize;
  const pixels = size * size;
  const measured = new Map<number, McMeasurement>();
  for (const b of batchesOf(indices, c.batch)) {
    const batch = toBatch(
      b.items.map((i) => samples[i]!),
      b.items.map(() => 0),
      size,
    );
    const out = await session.run({ [INPUT.image]: f32(batch.image, batch.dims), [INPUT.dropoutRatio]: scalar(mc.p) });
    const all = out[OUTPUT.samples]!.data as Float32Array;
    for (let k = 0; k < b.real; k++) {
      const d = imageDifficulty(imageSamples(all, k, mc.samples, pixels), mc.samples, mc.difficulty);
      measured.set(b.items[k]!, {
        difficulty: d.difficulty,
        dice: imageMetrics(Float32Array.from(d.meanProb), samples[b.items[k]!]!.mask).dice,
      });
    }
  }
  await session.release();
  return measured;
}
