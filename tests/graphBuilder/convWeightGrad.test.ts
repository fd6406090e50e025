/**
 * Every weight-gradient formulation against a float64 loop of the definition
 * dW[m,c,i,j] = Σ dY[n,m,y,x]·Xpad[n,c,y+i,x+j], on shapes that take each branch: X shifted (M ≥ C)
 * and dY shifted (M < C), 3×3 with padding 1, 3×3 without padding, 1×1, non-square images. The
 * whole-model gradient checks (gradients.test.ts, models) cover the formulation the builder picks.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { prng } from '../../src/common/prng.js';
import {
  type ConvShape,
  WEIGHT_GRAD_FORMULATIONS,
  chooseWeightGrad,
  convWeightGrad,
} from '../../src/graphBuilder/convWeightGrad.js';
import { addInput, addOutput, createGraph } from '../../src/graphBuilder/graph.js';
import { serialize } from '../../src/graphBuilder/serialize.js';

interface Case {
  label: string;
  s: ConvShape;
  pad: number;
}

const cases: Case[] = [
  { label: 'X shifted, 3x3 pad 1', s: { n: 2, c: 3, m: 4, h: 5, w: 6, kh: 3, kw: 3 }, pad: 1 },
  { label: 'dY shifted (M < C), 3x3 pad 1', s: { n: 2, c: 5, m: 2, h: 6, w: 4, kh: 3, kw: 3 }, pad: 1 },
  { label: 'X shifted, 3x3 no padding', s: { n: 3, c: 2, m: 3, h: 6, w: 5, kh: 3, kw: 3 }, pad: 0 },
  { label: 'dY shifted, 3x3 no padding', s: { n: 1, c: 4, m: 2, h: 5, w: 7, kh: 3, kw: 3 }, pad: 0 },
  { label: '1x1', s: { n: 2, c: 3, m: 2, h: 4, w: 4, kh: 1, kw: 1 }, pad: 0 },
];

function reference({ n, c, m, h, w, kh, kw }: ConvShape, pad: number, x: Float32Array, dy: Float32Array): Float64Array {
  const [oh, ow] = [h + 2 * pad - kh + 1, w + 2 * pad - kw + 1];
  const dw = new Float64Array(m * c * kh * kw);
  for (let b = 0; b < n; b++)
    for (let mo = 0; mo < m; mo++)
      for (let ci = 0; ci < c; ci++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++)
            for (let y = 0; y < oh; y++)
              for (let xx = 0; xx < ow; xx++) {
                const [yi, xi] = [y + i - pad, xx + j - pad];
                if (yi < 0 || yi >= h || xi < 0 || xi >= w) continue;
                dw[((mo * c + ci) * kh + i) * kw + j]! +=
                  dy[((b * m + mo) * oh + y) * ow + xx]! * x[((b * c + ci) * h + yi) * w + xi]!;
              }
  return dw;
}

describe('conv weight gradient formulations', () => {
  for (const { label, s, pad } of cases) {
    const [oh, ow] = [s.h + 2 * pad - s.kh + 1, s.w + 2 * pad - s.kw + 1];
    const r = prng(11);
    const x = Float32Array.from({ length: s.n * s.c * s.h * s.w }, () => r.next() - 0.5);
    const dy = Float32Array.from({ length: s.n * s.m * oh * ow }, () => r.next() - 0.5);
    const want = reference(s, pad, x, dy);
    for (const f of WEIGHT_GRAD_FORMULATIONS) {
      it(`${f}: ${label}`, async () => {
        const g = createGraph('dw');
        const xv = addInput(g, 'x', 'float32', [s.n, s.c, s.h, s.w]);
        const dyv = addInput(g, 'dy', 'float32', [s.n, s.m, oh, ow]);
        const out = addOutput(g, 'dw', convWeightGrad(g, f, xv, dyv, s, [pad, pad, pad, pad]));
        expect(out.shape).toEqual([s.m, s.c, s.kh, s.kw]);
        const session = await ort.InferenceSession.create(serialize(g));
        const got = (
          await session.run({ x: new ort.Tensor('float32', x, xv.shape), dy: new ort.Tensor('float32', dy, dyv.shape) })
        ).dw!.data as Float32Array;
        await session.release();
        const err = Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i]!)));
        expect(err).toBeLessThan(1e-5);
      });
    }
  }

  it('the builder picks a known formulation for every shape, and the same one for the same shape', () => {
    const s = { n: 8, c: 16, m: 16, h: 128, w: 128, kh: 3, kw: 3 };
    expect(WEIGHT_GRAD_FORMULATIONS).toContain(chooseWeightGrad(s));
    expect(chooseWeightGrad({ ...s })).toBe(chooseWeightGrad(s));
  });
});
