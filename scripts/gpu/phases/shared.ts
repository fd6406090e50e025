/**
 * What the GPU check's phases share: progress lines, the clock, timing summaries in the form
 * gpu-check.json reports them, model configurations, input batches and the finiteness check.
 */
import { prng } from '../../../src/common/prng.js';
import { timingRecord } from '../../../src/common/stats.js';
import { type ModelConfig, type PresetName, presetConfig } from '../../../src/graphBuilder/models.js';
import { toPlanar } from '../../../src/data/preprocess.js';
import { syntheticSet } from '../../../src/data/synthetic.js';
import type { Batch } from '../../../src/runtime/runtime.js';

export const progress = (m: string): void => void process.stderr.write(`gpu-check: ${m}\n`);
export const now = (): number => performance.now();

/** Timings (ms) as gpu-check.json reports them: the benches' timing record (since 2026-12-03 with the mean). */
export const timingStats = timingRecord;

/** A preset at this image size and batch (and MC samples), optionally with another dropout ratio. */
export function configFor(
  preset: PresetName,
  size: number,
  batch: number,
  extra: { samples?: number; p?: number } = {},
): ModelConfig {
  const base = presetConfig(preset, { imageSize: size, batch, samples: extra.samples });
  return { ...base, unet: { ...base.unet, dropout: { ...base.unet.dropout, p: extra.p ?? base.unet.dropout.p } } };
}

/** A batch of uniform random images and 0/1 targets (timing only). */
export function randomBatch(c: ModelConfig, seed: number): Batch {
  const r = prng(seed);
  const px = c.imageSize * c.imageSize;
  const image = new Float32Array(c.batch * 3 * px);
  const target = new Float32Array(c.batch * px);
  for (let i = 0; i < image.length; i++) image[i] = r.next();
  for (let i = 0; i < target.length; i++) target[i] = r.next() < 0.5 ? 1 : 0;
  return { image, target, eps: new Float32Array(c.batch), dims: [c.batch, 3, c.imageSize, c.imageSize] };
}

/** Batches of the built-in synthetic polyp set (exact masks), the same on every machine. */
export function syntheticBatches(c: ModelConfig, count: number, seed: number): Batch[] {
  const samples = syntheticSet(count * c.batch, c.imageSize, seed);
  const px = c.imageSize * c.imageSize;
  return Array.from({ length: count }, (_, k) => {
    const image = new Float32Array(c.batch * 3 * px);
    const target = new Float32Array(c.batch * px);
    for (let i = 0; i < c.batch; i++) {
      const s = samples[k * c.batch + i]!;
      toPlanar(s.image, px, image, i * 3 * px);
      for (let p = 0; p < px; p++) target[i * px + p] = s.mask[p]!;
    }
    return { image, target, eps: new Float32Array(c.batch), dims: [c.batch, 3, c.imageSize, c.imageSize] };
  });
}

export function checkFinite(name: string, xs: ArrayLike<number>): void {
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i]!)) throw new Error(`${name}: non-finite value at index ${i} (${xs[i]})`);
  }
}
