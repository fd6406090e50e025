import { describe, expect, it } from 'vitest';
import { prng } from '../../src/common/prng.js';
import {
  clusterBootstrapMean,
  holm,
  incompleteBeta,
  studentTCdf,
  studentTQuantile,
  tInterval,
} from '../../src/common/stats.js';

describe("Student's t", () => {
  it('quantiles match published tables', () => {
    // R: qt(0.975, c(1, 4, 14, 100))
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.7062047362, 8);
    expect(studentTQuantile(0.975, 4)).toBeCloseTo(2.7764451052, 9);
    expect(studentTQuantile(0.975, 14)).toBeCloseTo(2.1447866879, 9);
    expect(studentTQuantile(0.975, 100)).toBeCloseTo(1.9839715185, 9);
    expect(studentTQuantile(0.025, 14)).toBeCloseTo(-2.1447866879, 9);
  });
  it('the CDF is symmetric and I_x(a, b) has its closed forms', () => {
    expect(studentTCdf(0, 7)).toBeCloseTo(0.5, 14);
    expect(studentTCdf(1.3, 5) + studentTCdf(-1.3, 5)).toBeCloseTo(1, 14);
    expect(incompleteBeta(0.3, 1, 1)).toBeCloseTo(0.3, 14); // uniform
    expect(incompleteBeta(0.3, 2, 1)).toBeCloseTo(0.09, 14); // x^a
    expect(incompleteBeta(0.3, 1, 3)).toBeCloseTo(1 - 0.7 ** 3, 14);
  });
  it('tInterval gives the mean, the interval and the one-sample test', () => {
    const r = tInterval([1, 2, 3, 4, 5]);
    expect(r.estimate).toBe(3);
    expect(r.sd).toBeCloseTo(Math.sqrt(2.5), 14);
    expect(r.high - r.estimate).toBeCloseTo(2.7764451052 * Math.sqrt(2.5 / 5), 8);
    expect(r.p).toBeCloseTo(0.01324, 5); // R: t.test(1:5)$p.value = 0.01324491
    expect(() => tInterval([1])).toThrow(/at least 2/);
  });
});

describe('holm', () => {
  it('adjusts step-down, keeps monotone order and the input order', () => {
    expect(holm([0.01, 0.04, 0.03, 0.005])).toEqual([0.03, 0.06, 0.06, 0.02].map((x) => expect.closeTo(x, 12)));
    expect(holm([0.5, 0.9])).toEqual([1, 1].map((x) => expect.closeTo(x, 12)));
    expect(holm([])).toEqual([]);
  });
});

describe('clusterBootstrapMean', () => {
  it('estimates the pooled mean and widens with clustering', () => {
    const r = prng(3);
    const values = Array.from({ length: 20 }, () => r.next());
    // 20 videos of 25 identical frames vs 500 frames each from its own video, same values.
    const clustered = values.map((v) => Array.from({ length: 25 }, () => v));
    const independent = values.flatMap((v) => Array.from({ length: 25 }, () => [v]));
    const a = clusterBootstrapMean(clustered, prng(1), 4000);
    const b = clusterBootstrapMean(independent, prng(1), 4000);
    const pooled = values.reduce((x, y) => x + y, 0) / values.length;
    expect(a.estimate).toBeCloseTo(pooled, 12);
    expect(b.estimate).toBeCloseTo(pooled, 12);
    expect(a.low).toBeLessThan(pooled);
    expect(a.high).toBeGreaterThan(pooled);
    // The sd of a cluster mean is √25 = 5 times the frame-level one.
    expect((a.high - a.low) / (b.high - b.low)).toBeGreaterThan(3.5);
    expect(() => clusterBootstrapMean([[1]], prng(1))).toThrow(/at least 2/);
  });
  it('is reproducible from its seed', () => {
    const c = [[0.1, 0.2], [0.5], [0.9, 0.8, 0.7]];
    expect(clusterBootstrapMean(c, prng(9), 500)).toEqual(clusterBootstrapMean(c, prng(9), 500));
  });
});
