/**
 * Pixel uncertainty from the N Monte-Carlo Dropout samples of one image (METHOD.md §3).
 *
 * Input layout: the MC graph's `samples` output is [B, N, H, W] probabilities (after sigmoid); one
 * image b is the contiguous slice of N·H·W values, sample-major (sample k's map at k·H·W). Use
 * `imageSamples` to cut that slice without copying.
 *
 * Per pixel, with p_1 … p_N the N probabilities and p̄ their mean:
 *   variance            (1/N) Σ (p_k − p̄)²        population variance (÷N): METHOD.md §3's "variance
 *                                                   of the N predicted values", the default kind
 *   entropy             H[p̄] = −p̄ ln p̄ − (1−p̄) ln(1−p̄)   predictive entropy, binary, nats
 *   mutual-information  H[p̄] − (1/N) Σ H[p_k]      BALD: total minus expected (aleatoric) entropy;
 *                                                   ≥ 0 by concavity of H, 0 when all samples agree
 * Inside every logarithm p is clamped to [1e−7, 1 − 1e−7] so saturated sigmoids give finite values.
 * Sums run in float64; maps come back as Float64Array.
 */

export const UNCERTAINTY_KINDS = ['variance', 'entropy', 'mutual-information'] as const;
export type UncertaintyKind = (typeof UNCERTAINTY_KINDS)[number];
export const DEFAULT_UNCERTAINTY: UncertaintyKind = 'variance';

export const isUncertaintyKind = (s: string): s is UncertaintyKind =>
  (UNCERTAINTY_KINDS as readonly string[]).includes(s);

/** Clamp applied to p inside logarithms. */
export const LOG_CLAMP = 1e-7;

/** Binary entropy in nats, p clamped to [LOG_CLAMP, 1 − LOG_CLAMP]. */
export function binaryEntropy(p: number): number {
  const c = Math.min(1 - LOG_CLAMP, Math.max(LOG_CLAMP, p));
  return -c * Math.log(c) - (1 - c) * Math.log(1 - c);
}

export interface PixelUncertainty {
  /** Mean probability p̄ per pixel (the MC prediction; also the foreground mask source for 'foreground-mean'). */
  mean: Float64Array;
  variance: Float64Array;
  entropy: Float64Array;
  mutualInformation: Float64Array;
}

/** The N·H·W slice of image `b` in a [B, N, H, W] `samples` output (a view, no copy). */
export function imageSamples(batch: Float32Array, b: number, n: number, pixels: number): Float32Array {
  const len = n * pixels;
  if ((b + 1) * len > batch.length)
    throw new Error(`imageSamples: image ${b} (N=${n}, ${pixels} pixels) lies past the end of ${batch.length} values`);
  return batch.subarray(b * len, (b + 1) * len);
}

/** All per-pixel maps of one image from its N samples (Float32Array of N·H·W, sample-major). */
export function pixelUncertainty(samples: ArrayLike<number>, n: number): PixelUncertainty {
  if (!Number.isInteger(n) || n < 1) throw new Error(`pixelUncertainty: N must be a positive integer, got ${n}`);
  if (samples.length % n !== 0)
    throw new Error(`pixelUncertainty: ${samples.length} values do not split into ${n} samples`);
  const px = samples.length / n;
  const mean = new Float64Array(px);
  const variance = new Float64Array(px);
  const entropy = new Float64Array(px);
  const mutualInformation = new Float64Array(px);
  const meanEntropy = new Float64Array(px); // (1/N) Σ H[p_k]
  for (let k = 0; k < n; k++) {
    const off = k * px;
    for (let i = 0; i < px; i++) {
      const p = samples[off + i]!;
      mean[i]! += p;
      meanEntropy[i]! += binaryEntropy(p);
    }
  }
  for (let i = 0; i < px; i++) {
    mean[i]! /= n;
    meanEntropy[i]! /= n;
  }
  // Second pass for the variance (two-pass: no cancellation as in E[p²] − p̄²).
  for (let k = 0; k < n; k++) {
    const off = k * px;
    for (let i = 0; i < px; i++) {
      const d = samples[off + i]! - mean[i]!;
      variance[i]! += d * d;
    }
  }
  for (let i = 0; i < px; i++) {
    variance[i]! /= n;
    entropy[i] = binaryEntropy(mean[i]!);
    // Rounding can leave a hair below 0 when all samples agree; MI is ≥ 0 mathematically.
    mutualInformation[i] = Math.max(0, entropy[i]! - meanEntropy[i]!);
  }
  return { mean, variance, entropy, mutualInformation };
}

/** The map of one kind out of pixelUncertainty's result. */
export function uncertaintyMap(u: PixelUncertainty, kind: UncertaintyKind): Float64Array {
  switch (kind) {
    case 'variance':
      return u.variance;
    case 'entropy':
      return u.entropy;
    case 'mutual-information':
      return u.mutualInformation;
  }
}
