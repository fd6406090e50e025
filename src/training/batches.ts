/** Batches of fixed size (graphs have static shapes) in the models' planar float layout. */
import type { Batch } from '../runtime/runtime.js';
import { toPlanar } from '../data/preprocess.js';
import type { Sample } from '../data/sample.js';

/** Fill batches of exactly `batch` items (graphs have static shapes): the last one wraps around. */
export function batchesOf(order: readonly number[], batch: number): { items: number[]; real: number }[] {
  const out: { items: number[]; real: number }[] = [];
  for (let i = 0; i < order.length; i += batch) {
    const items = order.slice(i, i + batch);
    const real = items.length;
    for (let k = 0; items.length < batch; k++) items.push(order[k % order.length]!);
    out.push({ items, real });
  }
  return out;
}

/** Planar float batch from samples (already augmented or not). */
export function toBatch(samples: readonly Sample[], eps: readonly number[], size: number): Batch {
  const px = size * size;
  const image = new Float32Array(samples.length * 3 * px);
  const target = new Float32Array(samples.length * px);
  samples.forEach((s, i) => {
    toPlanar(s.image, px, image, i * 3 * px);
    for (let k = 0; k < px; k++) target[i * px + k] = s.mask[k]!;
  });
  return { image, target, eps: Float32Array.from(eps), dims: [samples.length, 3, size, size] };
}
