import { describe, expect, it } from 'vitest';
import { binaryEntropy, imageSamples, pixelUncertainty, uncertaintyMap } from '../../src/uncertainty/pixel.js';

describe('pixelUncertainty', () => {
  // N = 2 samples of 2 pixels, sample-major: sample 0 = [0.2, 0.9], sample 1 = [0.6, 0.9].
  const u = pixelUncertainty(Float32Array.of(0.2, 0.9, 0.6, 0.9), 2);

  it('mean and population variance (÷N)', () => {
    expect(u.mean[0]).toBeCloseTo(0.4, 7);
    expect(u.mean[1]).toBeCloseTo(0.9, 7);
    expect(u.variance[0]).toBeCloseTo(0.04, 7); // ((0.2−0.4)² + (0.6−0.4)²) / 2
    expect(u.variance[1]).toBeCloseTo(0, 12); // the samples agree
  });

  it('predictive entropy H[p̄] in nats', () => {
    expect(u.entropy[0]).toBeCloseTo(0.6730116670092565, 6); // −0.4 ln 0.4 − 0.6 ln 0.6
    expect(u.entropy[1]).toBeCloseTo(0.3250829733914482, 6); // H(0.9)
  });

  it('mutual information H[p̄] − mean H[p_k] (BALD)', () => {
    expect(u.mutualInformation[0]).toBeCloseTo(0.08630462173553433, 6); // H(0.4) − (H(0.2) + H(0.6)) / 2
    expect(u.mutualInformation[1]).toBe(0); // all samples agree: no epistemic part
    expect(uncertaintyMap(u, 'mutual-information')).toBe(u.mutualInformation);
    expect(uncertaintyMap(u, 'variance')).toBe(u.variance);
    expect(uncertaintyMap(u, 'entropy')).toBe(u.entropy);
  });

  it('clamps p inside the logarithms: saturated samples stay finite', () => {
    const s = pixelUncertainty(Float32Array.of(0, 1, 1, 1), 2); // pixel 0: samples 0 and 1; pixel 1: both 1
    expect(s.variance[0]).toBeCloseTo(0.25, 12);
    expect(s.entropy[0]).toBeCloseTo(Math.LN2, 12);
    expect(s.mutualInformation[0]).toBeCloseTo(0.6931454687503853, 10); // ln 2 − H(1e−7)
    expect(Number.isFinite(s.entropy[1]!)).toBe(true);
    expect(s.entropy[1]).toBeLessThan(2e-6);
    expect(binaryEntropy(0)).toBe(binaryEntropy(1e-7));
  });

  it('N = 1 has zero variance and zero MI', () => {
    const s = pixelUncertainty(Float32Array.of(0.3, 0.7), 1);
    expect([...s.variance]).toEqual([0, 0]);
    expect([...s.mutualInformation]).toEqual([0, 0]);
  });

  it('imageSamples cuts image b out of a [B, N, H, W] batch; bad shapes throw', () => {
    const batch = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i); // B=2, N=3, 4 pixels
    expect([...imageSamples(batch, 1, 3, 4)]).toEqual(Array.from({ length: 12 }, (_, i) => 12 + i));
    expect(() => imageSamples(batch, 2, 3, 4)).toThrow(/past the end/);
    expect(() => pixelUncertainty(Float32Array.of(1, 2, 3), 2)).toThrow(/do not split/);
    expect(() => pixelUncertainty(Float32Array.of(1, 2), 0)).toThrow(/positive integer/);
  });
});
