import { describe, expect, it } from 'vitest';
import { type Prng, prng } from '../../src/common/prng.js';
import {
  AUGMENT_DRAWS,
  type AugmentOptions,
  DEFAULT_AUGMENT,
  NO_AUGMENT,
  augment,
} from '../../src/training/augment.js';
import { syntheticSample } from '../../src/data/synthetic.js';
import type { Sample } from '../../src/data/sample.js';

/** A 4×3 sample whose pixel (x, y) holds channels (10x+y, 100+10x+y, 200+x+y) and mask 1 on x = 0 only. */
function ramp(): Sample {
  const w = 4;
  const h = 3;
  const image = new Uint8Array(w * h * 3);
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      image.set([10 * x + y, 100 + 10 * x + y, 200 + x + y], 3 * p);
      mask[p] = x === 0 ? 1 : 0;
    }
  }
  return { image, mask, width: w, height: h, name: 'ramp' };
}

const only = (o: Partial<AugmentOptions>): AugmentOptions => ({ ...NO_AUGMENT, ...o });
const px = (s: Sample, x: number, y: number): number[] =>
  Array.from(s.image.subarray(3 * (y * s.width + x), 3 * (y * s.width + x) + 3));

/** A stream that counts its draws. */
function counting(seed: number): Prng & { draws: number } {
  const r = prng(seed);
  const c = {
    draws: 0,
    next: () => {
      c.draws++;
      return r.next();
    },
    state: () => r.state(),
  };
  return c;
}

describe('augment', () => {
  it('flips move pixels exactly, and the mask with them', () => {
    const s = ramp();
    const h = augment(s, prng(1), only({ hflip: 1 }));
    const v = augment(s, prng(1), only({ vflip: 1 }));
    const hv = augment(s, prng(1), only({ hflip: 1, vflip: 1 }));
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 4; x++) {
        expect(px(h, x, y)).toEqual(px(s, 3 - x, y));
        expect(px(v, x, y)).toEqual(px(s, x, 2 - y));
        expect(px(hv, x, y)).toEqual(px(s, 3 - x, 2 - y));
        expect(h.mask[y * 4 + x]).toBe(s.mask[y * 4 + (3 - x)]);
        expect(v.mask[y * 4 + x]).toBe(s.mask[(2 - y) * 4 + x]);
      }
    }
    expect(Array.from(h.mask)).toEqual([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(Array.from(v.mask)).toEqual(Array.from(s.mask)); // the mask column is symmetric under vflip
    expect({ ...h, image: null, mask: null }).toEqual({ ...s, image: null, mask: null }); // size and name kept
  });

  it('a double flip is the identity', () => {
    const s = syntheticSample(3, 24, 5);
    for (const o of [only({ hflip: 1 }), only({ vflip: 1 }), only({ hflip: 1, vflip: 1 })]) {
      const twice = augment(augment(s, prng(2), o), prng(3), o);
      expect(twice.image).toEqual(s.image);
      expect(twice.mask).toEqual(s.mask);
    }
  });

  it('brightness and contrast change the image only, within their ranges', () => {
    const s = syntheticSample(1, 24, 7);
    for (let seed = 0; seed < 20; seed++) {
      const b = augment(s, prng(seed), only({ brightness: 1 }));
      expect(b.mask).toEqual(s.mask);
      // a uniform offset: every unclamped byte moves by the same amount, at most 0.2·255
      const diffs = new Set<number>();
      for (let i = 0; i < s.image.length; i++)
        if (b.image[i]! > 0 && b.image[i]! < 255) diffs.add(b.image[i]! - s.image[i]!);
      expect(diffs.size).toBeLessThanOrEqual(2); // one offset, rounding of a fractional offset
      for (const d of diffs) expect(Math.abs(d)).toBeLessThanOrEqual(52);

      const c = augment(s, prng(seed), only({ contrast: 1 }));
      expect(c.mask).toEqual(s.mask);
      // scaling around the mean keeps the mean (up to clamping and rounding) and scales spread by 0.8..1.2
      const mean = (a: Uint8Array): number => a.reduce((t, v) => t + v, 0) / a.length;
      const sd = (a: Uint8Array): number => {
        const m = mean(a);
        return Math.sqrt(a.reduce((t, v) => t + (v - m) ** 2, 0) / a.length);
      };
      expect(Math.abs(mean(c.image) - mean(s.image))).toBeLessThan(1.5);
      const ratio = sd(c.image) / sd(s.image);
      expect(ratio).toBeGreaterThan(0.78);
      expect(ratio).toBeLessThan(1.22);
    }
  });

  it('clamps to [0, 255]', () => {
    const s = ramp();
    s.image.fill(250, 0, 6);
    s.image.fill(3, 6, 12);
    const o = only({ brightness: 1, brightnessRange: 1, contrast: 1, contrastRange: 0.5 });
    let sawLow = false;
    let sawHigh = false;
    for (let seed = 0; seed < 50; seed++) {
      const out = augment(s, prng(seed), o);
      sawLow ||= out.image.includes(0);
      sawHigh ||= out.image.includes(255);
    }
    expect(sawLow && sawHigh).toBe(true);
  });

  it('with all probabilities 0 the output equals the input (in new buffers)', () => {
    const s = syntheticSample(2, 16, 1);
    const out = augment(s, prng(4), NO_AUGMENT);
    expect(out.image).toEqual(s.image);
    expect(out.mask).toEqual(s.mask);
    expect(out.image).not.toBe(s.image);
    expect(out.mask).not.toBe(s.mask);
  });

  it('never modifies the input buffers', () => {
    const s = syntheticSample(4, 16, 2);
    const image = s.image.slice();
    const mask = s.mask.slice();
    const all = only({ hflip: 1, vflip: 1, brightness: 1, contrast: 1 });
    for (let seed = 0; seed < 10; seed++) augment(s, prng(seed), seed % 2 ? all : DEFAULT_AUGMENT);
    expect(s.image).toEqual(image);
    expect(s.mask).toEqual(mask);
  });

  it('same seed, same output; the default options are DEFAULT_AUGMENT', () => {
    const s = syntheticSample(5, 16, 3);
    const a = Array.from(
      { length: 8 },
      (() => {
        const r = prng(9);
        return () => augment(s, r);
      })(),
    );
    const r2 = prng(9);
    const b = Array.from({ length: 8 }, () => augment(s, r2, DEFAULT_AUGMENT));
    expect(a).toEqual(b);
    const r3 = prng(10);
    const c = Array.from({ length: 8 }, () => augment(s, r3));
    expect(c.map((x) => x.image)).not.toEqual(a.map((x) => x.image));
  });

  it('draws the same number of random numbers per call, whatever is applied', () => {
    const s = ramp();
    for (const o of [NO_AUGMENT, DEFAULT_AUGMENT, only({ hflip: 1, vflip: 1, brightness: 1, contrast: 1 })]) {
      const r = counting(6);
      for (let i = 1; i <= 20; i++) {
        augment(s, r, o);
        expect(r.draws).toBe(i * AUGMENT_DRAWS);
      }
    }
    // so a stream resumed from a saved state continues exactly
    const r = prng(8);
    augment(s, r);
    augment(s, r, NO_AUGMENT);
    const resumed = prng(0, r.state());
    expect(augment(s, resumed)).toEqual(augment(s, r));
  });

  it('applies each transform about half the time by default, independently', () => {
    // the mask marks only (0, 0), so its position tells which flips fired (photometric changes leave it)
    const s = { ...ramp(), mask: new Uint8Array(12) };
    s.mask[0] = 1;
    const r = prng(12);
    const n = 4000;
    const counts = { h: 0, v: 0, hv: 0, photometric: 0 };
    for (let i = 0; i < n; i++) {
      const out = augment(s, r);
      const at = out.mask.indexOf(1);
      const isH = at % 4 === 3;
      const isV = at >= 8;
      const flipsOnly = augment(s, prng(0), only({ hflip: +isH, vflip: +isV }));
      counts.h += +isH;
      counts.v += +isV;
      counts.hv += +(isH && isV);
      counts.photometric += +!flipsOnly.image.every((x, j) => x === out.image[j]);
    }
    expect(counts.h / n).toBeGreaterThan(0.46);
    expect(counts.h / n).toBeLessThan(0.54);
    expect(counts.v / n).toBeGreaterThan(0.46);
    expect(counts.v / n).toBeLessThan(0.54);
    expect(counts.hv / n).toBeGreaterThan(0.21); // independent: 0.25
    expect(counts.hv / n).toBeLessThan(0.29);
    // brightness or contrast: 1 − 0.5·0.5 = 0.75 (a few draws change nothing after rounding)
    expect(counts.photometric / n).toBeGreaterThan(0.7);
    expect(counts.photometric / n).toBeLessThan(0.78);
  });

  it('rejects inconsistent buffers', () => {
    const s = ramp();
    expect(() => augment({ ...s, width: 5 }, prng(1))).toThrow(/ramp/);
  });
});
