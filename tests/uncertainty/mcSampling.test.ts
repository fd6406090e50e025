/**
 * MC-Dropout uncertainty on the shipped graphs: exactly zero variance at p = 0, positive at p > 0;
 * and the shared-encoder graph samples the same distribution as the plain one (the input repeated
 * N times), checked by comparing means across many runs within sampling error.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { prng } from '../../src/common/prng.js';
import { buildMcModel, presetConfig } from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import { AGGREGATES, imageDifficulty } from '../../src/uncertainty/difficulty.js';
import { imageSamples } from '../../src/uncertainty/pixel.js';

const image = (size: number) => {
  const r = prng(5);
  return new ort.Tensor(
    'float32',
    Float32Array.from({ length: 3 * size * size }, () => r.next()),
    [1, 3, size, size],
  );
};
const run = async (s: ort.InferenceSession, x: ort.Tensor, p: number) =>
  (await s.run({ image: x, dropout_ratio: new ort.Tensor('float32', [p], []) })).samples!.data as Float32Array;

describe('MC-Dropout difficulty on the shipped MC graph (small preset, 128², N = 10)', () => {
  const c = presetConfig('small');
  it('is exactly 0 for every aggregate at p = 0 and positive at p = 0.5', async () => {
    const s = await ort.InferenceSession.create(serialize(buildMcModel(c)));
    const x = image(c.imageSize);
    const px = c.imageSize ** 2;
    for (const aggregate of AGGREGATES) {
      const spec = { uncertainty: 'variance' as const, aggregate, q: 0.9 };
      expect(imageDifficulty(imageSamples(await run(s, x, 0), 0, c.samples, px), c.samples, spec).difficulty).toBe(0);
      expect(
        imageDifficulty(imageSamples(await run(s, x, 0.5), 0, c.samples, px), c.samples, spec).difficulty,
      ).toBeGreaterThan(0);
    }
  });
});

describe('shared encoder vs plain MC graph', () => {
  it('sample the same distribution (mean probability and mean variance within 4 standard errors over 60 runs)', async () => {
    const c = presetConfig('tiny', { samples: 8 });
    const px = c.imageSize ** 2;
    const x = image(c.imageSize);
    const stats = async (shareEncoder: boolean) => {
      const s = await ort.InferenceSession.create(serialize(buildMcModel(c, { shareEncoder })));
      const means: number[] = [];
      const variances: number[] = [];
      for (let r = 0; r < 60; r++) {
        const out = await run(s, x, 0.5);
        means.push(out.reduce((a, v) => a + v, 0) / out.length);
        variances.push(imageDifficulty(imageSamples(out, 0, c.samples, px), c.samples).difficulty);
      }
      return { means, variances };
    };
    const [shared, plain] = [await stats(true), await stats(false)];
    const z = (a: number[], b: number[]) => {
      const m = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
      const v = (w: number[]) => w.reduce((s, x) => s + (x - m(w)) ** 2, 0) / (w.length - 1);
      return Math.abs(m(a) - m(b)) / Math.sqrt(v(a) / a.length + v(b) / b.length);
    };
    expect(z(shared.means, plain.means)).toBeLessThan(4);
    expect(z(shared.variances, plain.variances)).toBeLessThan(4);
    // The graphs really differ: the plain one repeats its input once, the shared one the live activations at the first Dropout.
    expect(buildMcModel(c, { shareEncoder: false }).nodes.length).toBeLessThan(buildMcModel(c).nodes.length);
  });
});
