/**
 * The one preprocessing (src/data/preprocess.ts): the resize training, Node prediction and the
 * browser share, checked against hand-computed values.
 */
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { nearestResize, resizeRgb, toPlanar } from '../../src/data/preprocess.js';

const FRAME = '../shared/data/CVC-ClinicDB/images/1.png';

/** A width×height RGB image whose every channel of column x is f(x). */
const columns = (width: number, height: number, f: (x: number) => number): Uint8Array => {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) out.fill(f(x), (y * width + x) * 3, (y * width + x) * 3 + 3);
  return out;
};

describe('resizeRgb', () => {
  it('is the identity at the same size and keeps a flat image flat at any size', () => {
    const img = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) % 256);
    expect(resizeRgb(img, 5, 4, 3, 5, 4)).toEqual(img);
    for (const [w, h] of [
      [3, 7],
      [11, 2],
      [128, 128],
    ] as const)
      expect(new Set(resizeRgb(new Uint8Array(17 * 13 * 3).fill(93), 17, 13, 3, w, h))).toEqual(new Set([93]));
  });

  it('weighs what each output covers when it shrinks (antialiased): alternating columns 8 → 4', () => {
    // Lanczos-3 stretched ×2 around centre 1: inputs 0..6 at (stretched) distances −.25, .25, .75, 1.25,
    // 1.75, 2.25, 2.75 weigh .89007, .89007, .27019, −.13287, −.06779, .03002, .00736 over 0,255,0,255,0,255,0
    // → 255·.78722 / 1.88706 = 106.4 → 106. Without the stretch it would give 0 or 255 (aliasing).
    const out = resizeRgb(
      columns(8, 2, (x) => (x % 2 ? 255 : 0)),
      8,
      2,
      3,
      4,
      1,
    );
    expect(Array.from(out.filter((_, i) => i % 3 === 0))).toEqual([106, 134, 121, 149]);
  });

  it('is plain Lanczos-3 when it enlarges: 2 → 4 columns of 0 and 200, overshoot clamped', () => {
    // Centres 0.25, 0.75, 1.25, 1.75: output 1 weighs input 0 by .89007 and input 1 by .27019 →
    // 200·.27019/1.16026 = 46.6; output 0 undershoots to −35.1 → 0; output 3 overshoots to 235.1.
    const out = resizeRgb(
      columns(2, 1, (x) => 200 * x),
      2,
      1,
      3,
      4,
      1,
    );
    expect(Array.from(out.filter((_, i) => i % 3 === 0))).toEqual([0, 47, 153, 235]);
  });

  it.skipIf(!existsSync(FRAME))(
    "is within a grey level of sharp's lanczos3 (what training used before) on a real frame",
    async () => {
      const raw = await sharp(FRAME).raw().toBuffer();
      const ours = resizeRgb(raw, 384, 288, 3, 128, 128);
      const theirs = await sharp(FRAME).resize(128, 128, { fit: 'fill' }).raw().toBuffer();
      let sum = 0;
      for (let i = 0; i < ours.length; i++) sum += Math.abs(ours[i]! - theirs[i]!);
      expect(sum / ours.length).toBeLessThan(0.25); // 0.11 measured
    },
  );

  it('reads RGBA (alpha dropped) and grey (replicated) like RGB', () => {
    const rgb = Uint8Array.from({ length: 6 * 4 * 3 }, (_, i) => (i * 53) % 256);
    const rgba = new Uint8Array(6 * 4 * 4);
    for (let p = 0; p < 24; p++) rgba.set([...rgb.subarray(p * 3, p * 3 + 3), 7], p * 4);
    expect(resizeRgb(rgba, 6, 4, 4, 3, 5)).toEqual(resizeRgb(rgb, 6, 4, 3, 3, 5));
    const grey = Uint8Array.from({ length: 24 }, (_, i) => i * 10);
    const greyAsRgb = Uint8Array.from({ length: 72 }, (_, i) => grey[Math.floor(i / 3)]!);
    expect(resizeRgb(grey, 6, 4, 1, 4, 4)).toEqual(resizeRgb(greyAsRgb, 6, 4, 3, 4, 4));
  });

  it('names a wrong buffer length', () => {
    expect(() => resizeRgb(new Uint8Array(10), 2, 2, 3, 1, 1)).toThrow(/10 values for 2×2×3/);
  });
});

describe('nearestResize and toPlanar', () => {
  it('takes the input pixel under each output centre', () => {
    // 4 → 2: centres 1, 3 → inputs 1 and 3; 2 → 5: ⌊(x + .5)·2/5⌋ = 0,0,1,1,1.
    expect(Array.from(nearestResize(Uint8Array.of(10, 11, 12, 13), 4, 1, 2, 1))).toEqual([11, 13]);
    expect(Array.from(nearestResize(Uint8Array.of(0, 255), 2, 1, 5, 1))).toEqual([0, 0, 255, 255, 255]);
    expect(Array.from(nearestResize(Uint8Array.of(1, 2, 3, 4), 1, 4, 1, 2))).toEqual([2, 4]);
  });

  it('toPlanar puts each channel in its own plane, scaled to [0, 1]', () => {
    const out = new Float32Array(6);
    toPlanar(Uint8Array.of(0, 51, 255, 102, 153, 204), 2, out);
    expect(Array.from(out)).toEqual([0, 102 / 255, 51 / 255, 153 / 255, 1, 204 / 255].map(Math.fround));
  });
});
