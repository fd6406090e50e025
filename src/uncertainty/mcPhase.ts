/**
 * The MC-Dropout phase of training (METHOD.md §3): every M epochs, the current weights go into the
 * MC-Dropout graph (N stochastic samples per image in one run, encoder shared), each training image
 * (un-augmented) gets a difficulty from its pixel uncertainty, and the ε mapping (§4) turns the
 * difficulties into each image's ε_1 for the following epochs.
 */
import { INPUT, OUTPUT } from '../graphBuilder/graphIO.js';
import { type ModelConfig, buildMcModel } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { imageMetrics } from '../training/metrics.js';
import { type ExecutionProvider, createSession, f32, scalar } from '../runtime/runtime.js';
import type { Sample } from '../data/sample.js';
import { batchesOf, toBatch } from '../training/batches.js';
import { type DifficultySpec, imageDifficulty } from './difficulty.js';
import { type EpsMapping, mapDifficulties, unmeasuredEps } from './epsilon.js';
import { imageSamples } from './pixel.js';
import type { TrajectoryRow } from './trajectory.js';

export interface McSettings {
  /** Run a phase after every `every` epochs (M). */
  every: number;
  /** Stochastic passes per image (N). */
  samples: number;
  /** Dropout probability during the phase (p). */
  p: number;
  difficulty: DifficultySpec;
  /** Difficulty → ε_1; 'off' records the trajectory but leaves ε as configured. */
  mapping: EpsMapping;
}

/** Difficulty, Dice of the MC mean prediction and the new ε of every image in `indices`. */
export async function mcPhase(
  c: ModelConfig,
  params: Float32Array,
  samples: readonly Sample[],
  indices: readonly number[],
  mc: McSettings,
  providers: ExecutionProvider[],
  phase: number,
  epoch: number,
): Promise<TrajectoryRow[]> {
  const g = buildMcModel({ ...c, samples: mc.samples }, { weights: params });
  const session = await createSession(serialize(g), { providers });
  const size = c.imageSize;
  const pixels = size * size;
  const measured = new Map<number, { difficulty: number; dice: number }>();
  for (const b of batchesOf(indices, c.batch)) {
    const batch = toBatch(b.items.map((i) => samples[i]!), b.items.map(() => 0), size);
    const out = await session.run({ [INPUT.image]: f32(batch.image, batch.dims), [INPUT.dropoutRatio]: scalar(mc.p) });
    const all = out[OUTPUT.samples]!.data as Float32Array;
    for (let k = 0; k < b.real; k++) {
      const d = imageDifficulty(imageSamples(all, k, mc.samples, pixels), mc.samples, mc.difficulty);
      measured.set(b.items[k]!, { difficulty: d.difficulty, dice: imageMetrics(Float32Array.from(d.meanProb), samples[b.items[k]!]!.mask).dice });
    }
  }
  await session.release();
  const eps = mapDifficulties(mc.mapping, new Map([...measured].map(([i, m]) => [i, m.difficulty])));
  return [...measured].map(([index, m]) => ({ phase, epoch, index, name: samples[index]!.name, difficulty: m.difficulty, eps: eps.get(index) ?? unmeasuredEps(mc.mapping), dice: m.dice }));
}
