/**
 * The overlay of `npm run predict` tints exactly the mask's pixels, on a real CVC-ClinicDB frame
 * (384×288) with a probability map that has a known foreground (a disc off-centre), so a misplaced,
 * striped or empty tint fails. (sharp returns 3 channels from a 1-channel raw input after resize:
 * read as one channel, the tint landed in stripes.)
 */
import { existsSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImageBytes, maskPng, overlayPng } from '../../src/serve/predictNode.js';

const FRAME = '../shared/data/CVC-ClinicDB/images/1.png';

describe('overlay PNG', () => {
  it.skipIf(!existsSync(FRAME))('tints exactly the pixels of the mask PNG, on a real frame', async () => {
    const size = 64;
    const input = await decodeImageBytes(readFileSync(FRAME), size);
    const prob = new Float32Array(size * size);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) prob[y * size + x] = (x - 40) ** 2 + (y - 20) ** 2 < 12 ** 2 ? 0.9 : 0.1;
    const [w, h] = [input.width, input.height];
    const mask = await sharp(await maskPng(prob, size, w, h)).extractChannel(0).raw().toBuffer();
    const over = await sharp(await overlayPng(input, prob, size)).raw().toBuffer();
    const orig = await input.pipeline().removeAlpha().toColourspace('srgb').raw().toBuffer();
    let [fg, wrong] = [0, 0];
    for (let p = 0; p < w * h; p++) {
      const on = mask[p]! === 255;
      if (on) fg++;
      const tinted = over[p * 3]! !== orig[p * 3]! || over[p * 3 + 1]! !== orig[p * 3 + 1]! || over[p * 3 + 2]! !== orig[p * 3 + 2]!;
      const expected = [0, 1, 2].map((c) => (on ? Math.round(0.5 * orig[p * 3 + c]! + (c === 0 ? 127.5 : 0)) : orig[p * 3 + c]!));
      if ([0, 1, 2].some((c) => over[p * 3 + c] !== expected[c]) || (tinted && !on)) wrong++;
    }
    // The disc covers π·12²/64² ≈ 11% of the frame, in its upper right.
    expect(fg / (w * h)).toBeGreaterThan(0.09);
    expect(fg / (w * h)).toBeLessThan(0.13);
    expect(mask[Math.round((20 / 64) * h) * w + Math.round((40 / 64) * w)]).toBe(255);
    expect(mask[Math.round((50 / 64) * h) * w + Math.round((10 / 64) * w)]).toBe(0);
    expect(wrong).toBe(0);
  });
});
