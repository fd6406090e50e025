/**
 * src/study/collapse.ts: the float64 PolyDice-1 loss and its analytic gradients (∂L/∂p_i, ∂L/∂z_i) against
 * central finite differences, at generic points and at the edges (empty mask, all-zero prediction, the clip
 * saturated), against the loss graph of losses.ts and its autodiff gradient in onnxruntime (float32), and the
 * large-image limit's closed forms (uniform prediction: cos θ = √f, the background bracket, ε₁*).
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { normal, prng } from '../../src/common/prng.js';
import { gradients } from '../../src/graphBuilder/autodiff.js';
import { addInput, addOutput, createGraph } from '../../src/graphBuilder/graph.js';
import { lossGraph } from '../../src/graphBuilder/losses.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import {
  COS_MAX,
  backgroundEpsThreshold,
  diceSums,
  limitBackgroundBracket,
  limitEpsThreshold,
  limitForegroundBracket,
  limitPushUpIntervals,
  pixelCoefficients,
  polyDice1GradP,
  polyDice1GradZ,
  polyDice1Value,
  polyDiceState,
  scaleConditionF,
  sigmoid,
  uniformSums,
  uniformTheta,
} from '../../src/study/collapse.js';

const N = 64; // 8×8 images

/** Central differences of f at x, one coordinate at a time. */
function centralDiff(f: (x: Float64Array) => number, x: ArrayLike<number>, h: number): Float64Array {
  const y = Float64Array.from(x);
  return Float64Array.from(y, (v, i) => {
    y[i] = v + h;
    const up = f(y);
    y[i] = v - h;
    const down = f(y);
    y[i] = v;
    return (up - down) / (2 * h);
  });
}

function expectGradClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string): void {
  const scale = Math.max(...Array.from(want, Math.abs));
  expect(scale, `${what}: the gradient must not vanish`).toBeGreaterThan(0);
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i]! - want[i]!), `${what}, pixel ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(
      rel * scale,
    );
  }
}

const rng = prng(17);
const randomMask = (share: number): Float64Array =>
  Float64Array.from({ length: N }, () => (rng.next() < share ? 1 : 0));
const randomLogits = (mean: number, sd: number): Float64Array =>
  Float64Array.from({ length: N }, () => mean + sd * normal(rng));
const rect = Float64Array.from({ length: N }, (_, i) =>
  Math.floor(i / 8) >= 2 && Math.floor(i / 8) < 6 && i % 8 >= 1 && i % 8 < 5 ? 1 : 0,
);
const EPS = [-0.25, 0, 0.25, 0.5, 1, 2];

describe('analytic gradients vs central differences (float64)', () => {
  const cases: [string, Float64Array, Float64Array][] = [
    ['random logits, random mask', randomLogits(0, 2), randomMask(0.4)],
    ['soft prediction, rectangle', randomLogits(0.5, 1), rect],
    [
      'near-uniform 0.5, small mask',
      randomLogits(0, 0.1),
      Float64Array.from({ length: N }, (_, i) => (i === 27 || i === 28 ? 1 : 0)),
    ],
    ['confident, good overlap', Float64Array.from(rect, (t) => (t ? 3 : -3)).map((v) => v + 0.3 * normal(rng)), rect],
  ];
  for (const [name, z, g] of cases) {
    it.each(EPS)(`${name}, ε₁ = %s`, (eps) => {
      const p = z.map(sigmoid);
      expect(polyDiceState(diceSums(p, g), eps).clipped).toBe(false);
      expectGradClose(
        polyDice1GradP(p, g, eps),
        centralDiff((x) => polyDice1Value(x, g, eps), p, 1e-6),
        1e-6,
        'p',
      );
      const lz = (x: Float64Array): number => polyDice1Value(x.map(sigmoid), g, eps);
      expectGradClose(polyDice1GradZ(z, g, eps), centralDiff(lz, z, 1e-5), 1e-6, 'z');
    });
  }

  it.each(EPS)('empty mask, prediction with a ≥ 1 (cos θ inside the clip), ε₁ = %s', (eps) => {
    const g = new Float64Array(N);
    const p = randomLogits(-0.8, 0.3).map(sigmoid);
    const st = polyDiceState(diceSums(p, g), eps);
    expect(st.b2).toBe(0);
    expect(st.clipped).toBe(false); // u = 1/(ab + δ) with b = √η = 1e-6: 1 − u ≈ 1e-6·a > 1.0133e-6
    expectGradClose(
      polyDice1GradP(p, g, eps),
      centralDiff((x) => polyDice1Value(x, g, eps), p, 1e-6),
      1e-6,
      'p',
    );
    // every pixel is background: all pushed down (the smoothed Dice behaviour of losses.ts's doc)
    for (const v of polyDice1GradP(p, g, eps)) expect(v).toBeGreaterThan(0);
  });

  it.each(EPS)('empty mask, small prediction (cos θ clipped: only s carries the gradient), ε₁ = %s', (eps) => {
    const g = new Float64Array(N);
    const p = Float64Array.from({ length: N }, () => 0.05 + 0.02 * rng.next());
    const st = polyDiceState(diceSums(p, g), eps);
    expect(st.clipped).toBe(true);
    expect(pixelCoefficients(st).beta).toBe(0);
    expectGradClose(
      polyDice1GradP(p, g, eps),
      centralDiff((x) => polyDice1Value(x, g, eps), p, 1e-6),
      1e-6,
      'p',
    );
  });

  it.each(EPS)('all-zero prediction on a non-empty mask, ε₁ = %s', (eps) => {
    const g = rect;
    const p = new Float64Array(N);
    const st = polyDiceState(diceSums(p, g), eps);
    expect(st.clipped).toBe(false); // 1 − u ≈ ab = 1e-6·√16 = 4e-6: just inside the clip
    const grad = polyDice1GradP(p, g, eps);
    // a step of 1e-8 keeps u inside the clip; the η-sized change of a is even in h and cancels
    expectGradClose(
      grad,
      centralDiff((x) => polyDice1Value(x, g, eps), p, 1e-8),
      1e-5,
      'p',
    );
    // background pixels: α·0 = 0; foreground: −β ≈ −(1 + 2ε₁)/(b2 + δ) (losses.ts's doc)
    for (let i = 0; i < N; i++) {
      if (g[i]) expect(grad[i]! / (-(1 + 2 * eps) / 17)).toBeCloseTo(1, 3);
      else expect(Math.abs(grad[i]!)).toBe(0);
    }
  });

  it('perfect overlap: cos θ clipped, s = 1 and ∂s/∂p = 0, so the gradient vanishes', () => {
    const p = Float64Array.from(rect);
    const st = polyDiceState(diceSums(p, rect), 1);
    expect(st.clipped).toBe(true);
    expect(st.s).toBeCloseTo(1, 12);
    expect(st.loss).toBeCloseTo(1.5 * Math.acos(COS_MAX) ** 2, 12);
    for (const v of polyDice1GradP(p, rect, 1)) expect(Math.abs(v)).toBeLessThan(1e-12);
    for (const v of centralDiff((x) => polyDice1Value(x, rect, 1), p, 1e-6)) expect(Math.abs(v)).toBeLessThan(1e-9);
  });

  it.each(EPS)('p = 0.9·g: cos θ clipped (p ∥ g), the gradient is the s-term alone, ε₁ = %s', (eps) => {
    const p = rect.map((t) => 0.9 * t);
    const st = polyDiceState(diceSums(p, rect), eps);
    expect(st.clipped).toBe(true);
    expect(pixelCoefficients(st).beta).toBe(0);
    expectGradClose(
      polyDice1GradP(p, rect, eps),
      centralDiff((x) => polyDice1Value(x, rect, eps), p, 1e-6),
      1e-6,
      'p',
    );
  });
});

describe('the same numbers as the loss graph of losses.ts (onnxruntime, float32)', () => {
  it('loss per image and ∂(batch mean)/∂z', async () => {
    const images: [Float64Array, Float64Array, number][] = [
      [randomLogits(0, 2), randomMask(0.3), 0],
      [randomLogits(0.3, 1), rect, 1],
      [randomLogits(-1, 0.5), new Float64Array(N), 0.25],
      [randomLogits(0, 0.2), Float64Array.from({ length: N }, (_, i) => (i === 9 ? 1 : 0)), 2],
    ];
    const B = images.length;
    const shape = [B, 1, 8, 8];
    const g = createGraph('loss_grad');
    const z = addInput(g, 'logits', 'float32', shape);
    const t = addInput(g, 'target', 'float32', shape);
    const e = addInput(g, 'eps', 'float32', [B]);
    const { perImage, batch } = lossGraph(g, z, t, e, { polydice1: 1 });
    addOutput(g, 'per_image', perImage);
    addOutput(g, 'grad', gradients(g, batch, [z])[0]!);
    const session = await ort.InferenceSession.create(serialize(g));
    const zs = new Float32Array(B * N);
    const ts = new Float32Array(B * N);
    images.forEach(([zi, ti], b) => {
      zs.set(zi, b * N);
      ts.set(ti, b * N);
    });
    const out = await session.run({
      logits: new ort.Tensor('float32', zs, shape),
      target: new ort.Tensor('float32', ts, shape),
      eps: new ort.Tensor(
        'float32',
        Float32Array.from(images, ([, , eps]) => eps),
        [B],
      ),
    });
    await session.release();
    const loss = out.per_image!.data as Float32Array;
    const grad = out.grad!.data as Float32Array;
    images.forEach(([, ti, eps], b) => {
      // the graph's own float32 inputs, read back in float64
      const zb = Float64Array.from(zs.subarray(b * N, (b + 1) * N));
      expect(Math.abs(loss[b]! - polyDice1Value(zb.map(sigmoid), ti, eps))).toBeLessThan(1e-5);
      const want = polyDice1GradZ(zb, ti, eps).map((v) => v / B);
      expectGradClose(grad.subarray(b * N, (b + 1) * N), want, 1e-4, `image ${b}`);
    });
  });
});

describe('uniform prediction and the large-image limit', () => {
  const big = 1e12; // pixels: δ = 1 and η are negligible next to the sums

  it('cos θ = √f whatever c is', () => {
    for (const f of [0.005, 0.07, 0.3]) {
      for (const c of [0.1, 0.5, 1]) {
        const st = polyDiceState(uniformSums(big, f * big, c), 0);
        expect(st.theta).toBeCloseTo(uniformTheta(f), 6);
      }
    }
  });

  it('α = 2b/(a(a² + b²))·[(kθ² − 1)ρ + 2kθ cot θ] and the foreground bracket', () => {
    for (const eps of EPS) {
      for (const f of [0.003, 0.02, 0.07, 0.2, 0.45]) {
        for (const c of [0.1, 0.3, 0.5, 0.9, 1]) {
          const st = polyDiceState(uniformSums(big, f * big, c), eps);
          const { alpha, beta } = pixelCoefficients(st);
          const scale = (2 * st.b) / (st.a * (st.a2 + st.b2));
          expect(alpha / scale).toBeCloseTo(limitBackgroundBracket(eps, f, c), 5);
          // foreground pixel at p = c: α·c − β, same positive factor once divided by c
          expect((alpha * c - beta) / (scale * c)).toBeCloseTo(limitForegroundBracket(eps, f, c), 5);
        }
      }
    }
  });

  it('ε₁*(f, c): the bracket vanishes there and has the announced sign on either side', () => {
    for (const f of [0.003, 0.01, 0.03, 0.07, 0.2]) {
      for (const c of [0.1, 0.3, 0.5, 0.7, 1]) {
        const th = limitEpsThreshold(f, c);
        if (th.eps === null) {
          for (const eps of [-0.45, 0, 1, 10, 1000])
            expect(limitBackgroundBracket(eps, f, c)).toBeGreaterThanOrEqual(0);
          continue;
        }
        expect(Math.abs(limitBackgroundBracket(th.eps, f, c))).toBeLessThan(1e-9);
        const sign = (eps: number): boolean => limitBackgroundBracket(eps, f, c) < 0;
        expect(sign(th.eps + 0.01)).toBe(th.up === 'above');
        expect(sign(th.eps - 0.01)).toBe(th.up === 'below');
        // the exact per-frame threshold agrees with the limit on a big image
        const exact = backgroundEpsThreshold(polyDiceState(uniformSums(big, f * big, c), 0));
        expect(exact.up).toBe(th.up);
        expect(exact.eps!).toBeCloseTo(th.eps, 4);
      }
    }
  });

  it('small polyps: f → 0 gives ε₁* → 4/π² − ½ ≈ −0.095 (even ε₁ = 0 pushes the background up)', () => {
    expect(limitEpsThreshold(1e-9, 0.5).eps!).toBeCloseTo(4 / Math.PI ** 2 - 0.5, 3);
    expect(limitBackgroundBracket(0, 0.002, 0.5)).toBeLessThan(0);
    expect(limitBackgroundBracket(0, 0.02, 0.5)).toBeGreaterThan(0);
  });

  it('push-up intervals are (0, f*) with f* increasing in ε₁; ∂L/∂s > 0 for f < cos²(1/√k)', () => {
    let last = 0;
    for (const eps of [0, 0.125, 0.25, 0.5, 1, 2]) {
      const iv = limitPushUpIntervals(eps, 0.5);
      expect(iv).toHaveLength(1);
      expect(iv[0]![0]).toBe(1e-5);
      expect(iv[0]![1]).toBeGreaterThan(last);
      last = iv[0]![1];
      expect(limitBackgroundBracket(eps, last * 1.001, 0.5)).toBeGreaterThan(0);
      expect(limitBackgroundBracket(eps, last * 0.999, 0.5)).toBeLessThan(0);
      const fs = scaleConditionF(eps);
      expect((0.5 + eps) * uniformTheta(fs) ** 2).toBeCloseTo(1, 9);
    }
    expect(scaleConditionF(-0.25)).toBe(0); // 1/√k = 2 > π/2: kθ² < 1 for every f
  });
});
