/**
 * Training-time augmentation (METHOD.md: "horizontal flip, vertical flip, brightness and contrast
 * change, each with probability 0.5"). Flips move image and mask together; brightness and contrast
 * change the image only (they do not move pixels, so the labels stay right). Never used for
 * validation or test.
 *
 * Every call draws exactly AUGMENT_DRAWS numbers from the stream, whatever is applied (a skipped
 * transform still draws its amount), so the stream's position depends only on the number of calls
 * and a run resumed from a saved stream state lines up exactly.
 */
import type { Prng } from '../common/prng.js';
import type { Sample } from '../data/sample.js';

export interface AugmentOptions {
  /** Probability of a horizontal (left-right) flip. */
  hflip: number;
  /** Probability of a vertical (top-bottom) flip. */
  vflip: number;
  /** Probability of a brightness change. */
  brightness: number;
  /** Probability of a contrast change. */
  contrast: number;
  /** Brightness offset is uniform in ±brightnessRange·255 (the same offset for all channels). */
  brightnessRange: number;
  /** Contrast factor is uniform in [1 − contrastRange, 1 + contrastRange], around the image mean. */
  contrastRange: number;
}

export const DEFAULT_AUGMENT: Readonly<AugmentOptions> = Object.freeze({
  hflip: 0.5,
  vflip: 0.5,
  brightness: 0.5,
  contrast: 0.5,
  brightnessRange: 0.2,
  contrastRange: 0.2,
});

/** Nothing applied (output equals input), but the same draws per call, so streams stay aligned. */
export const NO_AUGMENT: Readonly<AugmentOptions> = Object.freeze({
  ...DEFAULT_AUGMENT,
  hflip: 0,
  vflip: 0,
  brightness: 0,
  contrast: 0,
});

/** Random numbers drawn per call, in this order: hflip?, vflip?, brightness?, offset, contrast?, factor. */
export const AUGMENT_DRAWS = 6;

/** A new sample with new buffers; the input (often a cached dataset sample) is never modified. */
export function augment(sample: Sample, rng: Prng, opts: Readonly<AugmentOptions> = DEFAULT_AUGMENT): Sample {
  const { width: w, height: h, image, mask } = sample;
  if (image.length !== w * h * 3 || mask.length !== w * h) {
    throw new Error(`augment: ${sample.name} has ${image.length} image / ${mask.length} mask bytes for ${w}×${h}`);
  }
  // all draws first, in a fixed order and number (`<` so that probability 0 never fires, 1 always does)
  const doH = rng.next() < opts.hflip;
  const doV = rng.next() < opts.vflip;
  const doB = rng.next() < opts.brightness;
  const offset = (2 * rng.next() - 1) * opts.brightnessRange * 255;
  const doC = rng.next() < opts.contrast;
  const factor = 1 + (2 * rng.next() - 1) * opts.contrastRange;

  const outImage = new Uint8Array(image.length);
  const outMask = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) {
    const sy = doV ? h - 1 - y : y;
    for (let x = 0; x < w; x++) {
      const sx = doH ? w - 1 - x : x;
      const src = sy * w + sx;
      const dst = y * w + x;
      outMask[dst] = mask[src]!;
      outImage[3 * dst] = image[3 * src]!;
      outImage[3 * dst + 1] = image[3 * src + 1]!;
      outImage[3 * dst + 2] = image[3 * src + 2]!;
    }
  }

  if (doB || doC) {
    // brightness, then contrast around the mean of the brightened image (mean over all channels, so
    // the colour balance is kept), rounded and clamped once at the end
    const add = doB ? offset : 0;
    let sum = 0;
    for (let i = 0; i < outImage.length; i++) sum += outImage[i]!;
    const mean = outImage.length > 0 ? sum / outImage.length + add : 0;
    const scale = doC ? factor : 1;
    for (let i = 0; i < outImage.length; i++) {
      const v = mean + scale * (outImage[i]! + add - mean);
      outImage[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return { ...sample, image: outImage, mask: outMask };
}
