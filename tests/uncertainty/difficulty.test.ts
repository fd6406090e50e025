import { describe, expect, it } from 'vitest';
import { aggregateMap, imageDifficulty, parseAggregate, parseUncertainty } from '../../src/uncertainty/difficulty.js';

describe('aggregateMap', () => {
  const map = Float64Array.of(0.1, 0.4, 0.2, 0.3);
  const meanProb = Float64Array.of(0.9, 0.2, 0.6, 0.5); // foreground (> 0.5): pixels 0 and 2

  it('mean, max, sum', () => {
    expect(aggregateMap(map, 'mean')).toBeCloseTo(0.25, 12);
    expect(aggregateMap(map, 'max')).toBeCloseTo(0.4, 12);
    expect(aggregateMap(map, 'sum')).toBeCloseTo(1.0, 12);
  });

  it('quantile by linear interpolation (type 7)', () => {
    // sorted 0.1 0.2 0.3 0.4; q = 0.9 → h = 2.7 → 0.3 + 0.7·0.1
    expect(aggregateMap(map, 'quantile')).toBeCloseTo(0.37, 12);
    expect(aggregateMap(map, 'quantile', { q: 0.5 })).toBeCloseTo(0.25, 12);
    expect(aggregateMap(map, 'quantile', { q: 0 })).toBeCloseTo(0.1, 12);
    expect(aggregateMap(map, 'quantile', { q: 1 })).toBeCloseTo(0.4, 12);
    expect(() => aggregateMap(map, 'quantile', { q: 1.5 })).toThrow(/q must be in/);
  });

  it('foreground-mean over p̄ > 0.5 (0.5 itself is background), falling back to the mean', () => {
    expect(aggregateMap(map, 'foreground-mean', { meanProb })).toBeCloseTo(0.15, 12); // (0.1 + 0.2) / 2
    expect(aggregateMap(map, 'foreground-mean', { meanProb: new Float64Array(4) })).toBeCloseTo(0.25, 12);
    expect(() => aggregateMap(map, 'foreground-mean')).toThrow(/meanProb/);
    expect(() => aggregateMap(map, 'foreground-mean', { meanProb: new Float64Array(3) })).toThrow(/pixels/);
  });

  it('empty map gives NaN', () => {
    expect(aggregateMap([], 'mean')).toBeNaN();
  });
});

describe('imageDifficulty', () => {
  it('composes pixel maps and aggregate', () => {
    // N = 2, 2 pixels: variances 0.04 and 0; p̄ = 0.4 and 0.9
    const s = Float32Array.of(0.2, 0.9, 0.6, 0.9);
    expect(imageDifficulty(s, 2).difficulty).toBeCloseTo(0.02, 7); // default: variance, mean
    expect(imageDifficulty(s, 2, { uncertainty: 'variance', aggregate: 'max', q: 0.9 }).difficulty).toBeCloseTo(
      0.04,
      7,
    );
    // Foreground is pixel 1 only (p̄ = 0.9), whose variance is 0.
    expect(
      imageDifficulty(s, 2, { uncertainty: 'variance', aggregate: 'foreground-mean', q: 0.9 }).difficulty,
    ).toBeCloseTo(0, 7);
    expect(
      imageDifficulty(s, 2, { uncertainty: 'mutual-information', aggregate: 'sum', q: 0.9 }).difficulty,
    ).toBeCloseTo(0.08630462173553433, 6);
    expect(imageDifficulty(s, 2).meanProb[1]).toBeCloseTo(0.9, 7);
  });
});

describe('parsers', () => {
  it('parseAggregate', () => {
    expect(parseAggregate('mean')).toEqual({ aggregate: 'mean', q: 0.9 });
    expect(parseAggregate('quantile')).toEqual({ aggregate: 'quantile', q: 0.9 });
    expect(parseAggregate('quantile:0.75')).toEqual({ aggregate: 'quantile', q: 0.75 });
    expect(parseAggregate('foreground-mean')).toEqual({ aggregate: 'foreground-mean', q: 0.9 });
    expect(() => parseAggregate('median')).toThrow(/--aggregate must be one of/);
    expect(() => parseAggregate('mean:3')).toThrow(/--aggregate/);
    expect(() => parseAggregate('quantile:2')).toThrow(/--aggregate: the quantile/);
    expect(() => parseAggregate('quantile:')).toThrow(/--aggregate: the quantile/);
  });

  it('parseUncertainty', () => {
    expect(parseUncertainty('entropy')).toBe('entropy');
    expect(() => parseUncertainty('std')).toThrow(/--uncertainty must be one of variance, entropy, mutual-information/);
  });
});
