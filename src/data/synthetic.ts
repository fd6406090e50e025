/**
 * A built-in synthetic polyp set: procedural colonoscopy-like frames (reddish mucosa with
 * vignetting, folds and specular highlights) with one or two elliptical polyps that differ from
 * the mucosa in tint and shading, and exact masks. Seeded: the same seed gives the same set.
 * Small enough to train on 2 CPU cores in minutes; not a substitute for real data.
 */
import { deriveSeed, normal, prng } from '../common/prng.js';
import type { Sample } from './sample.js';

const clamp255 = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));

export function syntheticSample(index: number, size: number, seed: number): Sample {
  const r = prng(deriveSeed(seed, `synthetic:${index}`));
  const u = (lo: number, hi: number): number => lo + (hi - lo) * r.next();
  const base = [u(150, 200), u(60, 100), u(50, 80)]; // mucosa tint
  const tint = [u(-40, 30), u(-10, 40), u(-10, 30)]; // polyp tint relative to mucosa
  const polyps = Array.from({ length: r.next() < 0.3 ? 2 : 1 }, () => ({
    cx: u(0.25, 0.75) * size,
    cy: u(0.25, 0.75) * size,
    rx: u(0.08, 0.25) * size,
    ry: u(0.08, 0.25) * size,
    angle: u(0, Math.PI),
  }));
  const folds = Array.from({ length: 3 }, () => ({ phase: u(0, 6.3), freq: u(2, 6), angle: u(0, Math.PI) }));
  const light = { x: u(0.3, 0.7) * size, y: u(0.3, 0.7) * size };
  const image = new Uint8Array(size * size * 3);
  const mask = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - light.x, y - light.y) / size;
      let shade = 1.1 - 0.9 * d * d; // vignetting around the light source
      for (const f of folds) {
        const t = ((x * Math.cos(f.angle) + y * Math.sin(f.angle)) / size) * f.freq + f.phase;
        shade *= 1 + 0.08 * Math.sin(t * 2 * Math.PI);
      }
      let inside = 0;
      let bulge = 0;
      for (const p of polyps) {
        const dx = x - p.cx;
        const dy = y - p.cy;
        const a = (dx * Math.cos(p.angle) + dy * Math.sin(p.angle)) / p.rx;
        const b = (-dx * Math.sin(p.angle) + dy * Math.cos(p.angle)) / p.ry;
        const q = a * a + b * b;
        if (q <= 1) {
          inside = 1;
          bulge = Math.max(bulge, Math.sqrt(1 - q)); // dome shading
        }
      }
      const k = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) {
        const colour = base[c]! + inside * (tint[c]! + 25 * bulge);
        image[k + c] = clamp255(colour * shade + 6 * normal(r));
      }
      if (inside && bulge > 0.93 && r.next() < 0.5) image.fill(250, k, k + 3); // specular highlight
      mask[y * size + x] = inside;
    }
  }
  return { image, mask, width: size, height: size, name: `synthetic-${String(index).padStart(4, '0')}` };
}

export const syntheticSet = (count: number, size: number, seed: number): Sample[] =>
  Array.from({ length: count }, (_, i) => syntheticSample(i, size, seed));
