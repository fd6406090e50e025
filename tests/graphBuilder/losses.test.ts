/**
 * Loss graphs (src/graphBuilder/losses.ts) run in onnxruntime-node against an independent float64
 * implementation of the same formulas written here from METHOD.md §2 (δ = 1, η = 1e-12, cos θ
 * clipped to 1 ∓ 1e-6), on a golden table of hand-made images, plus values worked out on paper,
 * the second-order agreement of PolyDice-1 (ε_1 = 0) with Dice, and parseLoss errors.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { prng, normal } from '../../src/common/prng.js';
import { gradients } from '../../src/graphBuilder/autodiff.js';
import { type Graph, addInput, addOutput, createGraph, op1 } from '../../src/graphBuilder/graph.js';
import {
  LOSS_PRESETS,
  type LossWeights,
  bceWithLogits,
  diceLoss,
  lossGraph,
  parseLoss,
  polyDice1Loss,
} from '../../src/graphBuilder/losses.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import type { Value } from '../../src/graphBuilder/types.js';

// ---- float64 reference ---------------------------------------------------------------------

const DELTA = 1;
const ETA = 1e-12;
// The graph stores the clip bounds as float32 constants; arccos is steep near 1 (θ² ≈ 2(1 − x)),
// so the reference clips at the same float32 numbers: 1 − fround(1 − 1e-6) = 1.0133e-6, not 1e-6.
const COS_MAX = Math.fround(1 - 1e-6);
const COS_MIN = Math.fround(-1 + 1e-6);

interface Terms {
  bce: number;
  dice: number;
  polydice1: number;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Σp², Σt², Σp·t over one image (logits z, target t, flattened), p = σ(z). */
function sums(z: ArrayLike<number>, t: ArrayLike<number>): { a2: number; b2: number; d: number } {
  let a2 = 0;
  let b2 = 0;
  let d = 0;
  for (let i = 0; i < z.length; i++) {
    const p = sigmoid(z[i]!);
    a2 += p * p;
    b2 += t[i]! * t[i]!;
    d += p * t[i]!;
  }
  return { a2, b2, d };
}

/** PolyDice-1's smoothed s = (2ab + δ)/(a2 + b2 + δ) and unclipped cos θ = (d + δ)/(ab + δ). */
function scaleAndCos({ a2, b2, d }: ReturnType<typeof sums>): { s: number; cos: number } {
  const ab = Math.sqrt(a2 + ETA) * Math.sqrt(b2 + ETA);
  return { s: (2 * ab + DELTA) / (a2 + b2 + DELTA), cos: (d + DELTA) / (ab + DELTA) };
}

/** One image: logits z and target t (flattened), ε_1 = eps. */
function reference(z: ArrayLike<number>, t: ArrayLike<number>, eps: number): Terms {
  const sm = sums(z, t);
  const dice = 1 - (2 * sm.d + DELTA) / (sm.a2 + sm.b2 + DELTA);
  const { s, cos } = scaleAndCos(sm);
  const theta = Math.acos(Math.min(Math.max(cos, COS_MIN), COS_MAX));
  const polydice1 = 1 - s + s * (0.5 + eps) * theta * theta;
  // −t·log σ(z) − (1 − t)·log σ(−z): the textbook form, exact in float64 for the |z| ≤ 30 used here
  let bce = 0;
  for (let i = 0; i < z.length; i++) bce += -t[i]! * Math.log(sigmoid(z[i]!)) - (1 - t[i]!) * Math.log(sigmoid(-z[i]!));
  return { bce: bce / z.length, dice, polydice1 };
}

const weighted = (r: Terms, w: LossWeights): number =>
  (w.bce ?? 0) * r.bce + (w.dice ?? 0) * r.dice + (w.polydice1 ?? 0) * r.polydice1;

// ---- graphs --------------------------------------------------------------------------------

interface Batch {
  shape: [number, number, number, number];
  logits: Float32Array;
  target: Float32Array;
  eps: Float32Array;
}

function inputs(g: Graph, b: Batch): [Value, Value, Value] {
  return [
    addInput(g, 'logits', 'float32', b.shape),
    addInput(g, 'target', 'float32', b.shape),
    addInput(g, 'eps', 'float32', [b.shape[0]]),
  ];
}

async function run(g: Graph, b: Batch): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(serialize(g));
  try {
    const out = await session.run({
      logits: new ort.Tensor('float32', b.logits, b.shape),
      target: new ort.Tensor('float32', b.target, b.shape),
      eps: new ort.Tensor('float32', b.eps, [b.shape[0]]),
    });
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** lossGraph with `weights`: outputs per_image [B] and batch []. */
async function runLoss(b: Batch, weights: LossWeights): Promise<{ perImage: Float32Array; batch: number }> {
  const g = createGraph('loss');
  const [z, t, eps] = inputs(g, b);
  const { perImage, batch } = lossGraph(g, z, t, eps, weights);
  expect(perImage.shape).toEqual([b.shape[0]]);
  expect(batch.shape).toEqual([]);
  addOutput(g, 'per_image', perImage);
  addOutput(g, 'batch', batch);
  const out = await run(g, b);
  return { perImage: out.per_image!, batch: out.batch![0]! };
}

/** lossGraph's batch loss and its gradient with respect to the logits (the autodiff engine's). */
async function runLossGrad(b: Batch, weights: LossWeights): Promise<{ batch: number; grad: Float32Array }> {
  const g = createGraph('loss_grad');
  const [z, t, eps] = inputs(g, b);
  const { batch } = lossGraph(g, z, t, eps, weights);
  addOutput(g, 'batch', batch);
  addOutput(g, 'grad', gradients(g, batch, [z])[0]!);
  const out = await run(g, b);
  return { batch: out.batch![0]!, grad: out.grad! };
}

/** Each term function on its own: outputs bce, dice, polydice1, each [B]. */
async function runTerms(b: Batch): Promise<Record<keyof Terms, Float32Array>> {
  const g = createGraph('terms');
  const [z, t, eps] = inputs(g, b);
  const p = op1(g, 'Sigmoid', [z]);
  addOutput(g, 'bce', bceWithLogits(g, z, t));
  addOutput(g, 'dice', diceLoss(g, p, t));
  addOutput(g, 'polydice1', polyDice1Loss(g, p, t, eps));
  return (await run(g, b)) as Record<keyof Terms, Float32Array>;
}

function referenceBatch(b: Batch): Terms[] {
  const n = b.shape[1] * b.shape[2] * b.shape[3];
  return Array.from(b.eps, (e, i) =>
    reference(b.logits.subarray(i * n, (i + 1) * n), b.target.subarray(i * n, (i + 1) * n), e),
  );
}

// float32 graph vs float64 reference: 1e-5 relative, plus 3e-7 absolute for values near 0, where
// the result is a difference of O(1) float32 numbers (1 − s, 1 − ratio; ulp(1) = 1.2e-7).
const REL = 1e-5;
const ABS = 3e-7;
function expectClose(got: number, want: number, what: string): void {
  expect(Math.abs(got - want), `${what}: got ${got}, want ${want}`).toBeLessThanOrEqual(REL * Math.abs(want) + ABS);
}

// ---- golden table --------------------------------------------------------------------------

const H = 8;
const W = 8;
const FAR = 30; // σ(±30) is 1 − 9e-14 / 9e-14: a hard prediction, still finite logits
type Pixel = (y: number, x: number) => number;
const rect =
  (y0: number, y1: number, x0: number, x1: number): Pixel =>
  (y, x) =>
    y >= y0 && y < y1 && x >= x0 && x < x1 ? 1 : 0;
const hard =
  (mask: Pixel): Pixel =>
  (y, x) =>
    mask(y, x) ? FAR : -FAR;

/** [name, logits, target] on an 8×8 image. */
function goldenImages(): [string, Pixel, Pixel][] {
  const rng = prng(7);
  const randomLogits = Array.from({ length: H * W }, () => 3 * normal(rng));
  const randomTarget = Array.from({ length: H * W }, () => (rng.next() < 0.4 ? 1 : 0));
  const softLogits = Array.from({ length: H * W }, () => 1 + normal(rng));
  const at =
    (a: number[]): Pixel =>
    (y, x) =>
      a[y * W + x]!;
  return [
    ['perfect overlap', hard(rect(2, 6, 1, 7)), rect(2, 6, 1, 7)],
    ['half overlap', hard(rect(0, 8, 2, 6)), rect(0, 8, 0, 4)],
    ['empty target, non-zero prediction', (y, x) => (rect(3, 6, 3, 6)(y, x) ? 2 : -1), () => 0],
    ['all-zero prediction, non-empty target', () => -FAR, rect(1, 6, 2, 6)],
    ['empty target, all-zero prediction', () => -FAR, () => 0],
    ['random logits, random target', at(randomLogits), at(randomTarget)],
    ['soft prediction, rectangle target', at(softLogits), rect(1, 7, 1, 5)],
  ];
}

function goldenBatch(eps: number[]): Batch {
  const images = goldenImages();
  const B = images.length;
  const logits = new Float32Array(B * H * W);
  const target = new Float32Array(B * H * W);
  images.forEach(([, z, t], i) => {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        logits[(i * H + y) * W + x] = z(y, x);
        target[(i * H + y) * W + x] = t(y, x);
      }
    }
  });
  return { shape: [B, 1, H, W], logits, target, eps: Float32Array.from(eps) };
}

const NAMES = goldenImages().map(([name]) => name);
const EPS_SETS: [string, number[]][] = [
  ['ε = −0.5', NAMES.map(() => -0.5)],
  ['ε = 0', NAMES.map(() => 0)],
  ['ε = 1', NAMES.map(() => 1)],
  ['ε per image', [-0.5, 0, 1, 0.25, -0.2, 2, 0.7]],
];

describe('loss graphs against the float64 reference', () => {
  it.each(EPS_SETS)('each term, %s', async (_, eps) => {
    const b = goldenBatch(eps);
    const got = await runTerms(b);
    referenceBatch(b).forEach((want, i) => {
      for (const k of ['bce', 'dice', 'polydice1'] as const)
        expectClose(got[k][i]!, want[k], `${k}, ${NAMES[i]}, ε=${eps[i]}`);
    });
  });

  const WEIGHTS: [string, LossWeights][] = [
    ...Object.entries(LOSS_PRESETS),
    ['mixed', { bce: 0.5, dice: 0.25, polydice1: 2 }],
  ];
  it.each(WEIGHTS)('lossGraph %s: per image and batch mean', async (_, weights) => {
    const b = goldenBatch(EPS_SETS[3]![1]);
    const { perImage, batch } = await runLoss(b, weights);
    const want = referenceBatch(b).map((r) => weighted(r, weights));
    want.forEach((w, i) => {
      expectClose(perImage[i]!, w, `${NAMES[i]}`);
    });
    expectClose(batch, want.reduce((a, c) => a + c, 0) / want.length, 'batch');
  });

  it('the golden cases behave as documented', () => {
    const [perfect, half, emptyT, zeroP, bothEmpty] = referenceBatch(goldenBatch(NAMES.map(() => 0)));
    // perfect overlap: s = 1 and cos θ clipped, so only the clip's floor (1/2)·2e-6 remains
    expect(perfect!.polydice1).toBeCloseTo(0.5 * Math.acos(COS_MAX) ** 2, 9);
    expect(perfect!.dice).toBeLessThan(1e-12);
    // half overlap: a2 = b2 = 32, d = 16: Dice = 1 − 33/65
    expect(half!.dice).toBeCloseTo(1 - 33 / 65, 9);
    // empty target: PolyDice-1 ≈ Dice = a2/(a2 + δ)
    expect(Math.abs(emptyT!.polydice1 - emptyT!.dice)).toBeLessThan(1e-4);
    // all-zero prediction on 20 target pixels: both ≈ b2/(b2 + δ) = 20/21
    expect(zeroP!.dice).toBeCloseTo(20 / 21, 9);
    expect(zeroP!.polydice1).toBeCloseTo(20 / 21, 4);
    // nothing to find, nothing found: both ≈ 0
    expect(bothEmpty!.dice).toBeLessThan(1e-12);
    expect(bothEmpty!.polydice1).toBeLessThan(2e-6);
  });
});

describe('values worked out by hand', () => {
  // Image A, 2×2: logits [[30, 0], [0, −30]] → p = [[1, ½], [½, 0]], target [[1, 1], [0, 0]].
  //   a2 = 1 + ¼ + ¼ = 3/2, b2 = 2, d = 1 + ½ = 3/2.
  //   Dice = 1 − (2·3/2 + 1)/(3/2 + 2 + 1) = 1 − 4/4.5 = 1/9 = 0.1111111.
  //   PolyDice-1: ab = √(3/2·2) = √3; s = (2√3 + 1)/4.5 = 0.9920226;
  //     cos θ = (3/2 + 1)/(√3 + 1) = 1.25(√3 − 1) = 0.9150635 (unclipped), θ = 0.4151310, θ² = 0.1723337;
  //     ε = 0: L = 0.0079774 + 0.9920226·0.5·0.1723337 = 0.0934569.
  //     (Unsmoothed, cos θ = (3/2)/√3 = √3/2 would be θ = 30° exactly; δ = 1 moves it on 8 pixels.)
  //   BCE: pixel terms log(1 + e^−30) ≈ 0, ln 2, ln 2, ≈ 0 → mean ln2/2 = 0.3465736.
  // Image B, 2×2: logits 0 → p = ½ everywhere, empty target. a2 = 1, b2 = 0, d = 0.
  //   Dice = 1 − 1/(1 + 0 + 1) = 0.5.
  //   PolyDice-1: b = √η = 1e-6, ab = 1e-6, s = (2e-6 + 1)/2 = 0.500001, cos θ = 1/(1 + 1e-6) → clipped
  //     to 1 − 1.0133e-6 (the float32 bound), θ² = 2.0266e-6; ε = 1: L = 0.499999 + 0.500001·1.5·2.0266e-6
  //     = 0.5000005: ≈ Dice, the θ term is ~1e-6.
  //   BCE: ln 2 = 0.6931472.
  const b: Batch = {
    shape: [2, 1, 2, 2],
    logits: Float32Array.from([30, 0, 0, -30, 0, 0, 0, 0]),
    target: Float32Array.from([1, 1, 0, 0, 0, 0, 0, 0]),
    eps: Float32Array.from([0, 1]),
  };
  const HAND: Terms[] = [
    { dice: 1 / 9, polydice1: 0.0934569, bce: 0.3465736 },
    { dice: 0.5, polydice1: 0.5000005, bce: Math.LN2 },
  ];

  it('graph and reference match the paper values', async () => {
    const got = await runTerms(b);
    const ref = referenceBatch(b);
    HAND.forEach((hand, i) => {
      for (const k of ['bce', 'dice', 'polydice1'] as const) {
        expect(Math.abs(got[k][i]! - hand[k]), `graph ${k} image ${i}`).toBeLessThan(1e-6);
        expect(Math.abs(ref[i]![k] - hand[k]), `reference ${k} image ${i}`).toBeLessThan(1e-6);
      }
    });
  });

  it('batch = mean of the per-image losses', async () => {
    const { perImage, batch } = await runLoss(b, { polydice1: 1 });
    expectClose(batch, (perImage[0]! + perImage[1]!) / 2, 'batch');
  });
});

describe('PolyDice-1 with ε = 0 is Dice to second order', () => {
  // L_Dice = 1 − s·cos θ = (1 − s) + s(θ²/2 − θ⁴/24 + ...), so L_PolyDice-1(ε = 0) − L_Dice =
  // s·θ⁴/24 + ...: as the prediction error (and θ with it) shrinks 10×, the gap shrinks ~10⁴×,
  // until float32 noise (~1e-7 per loss) and, against smoothed Dice, the smoothing take over:
  // 1 − s·cos θ (smoothed s, cos θ) and smoothed Dice differ by ≈ δ·θ²/(2(a2 + b2)) ≈ 1e-4·θ² here,
  // which shrinks only 100× per decade. A 64×64 image with a 2304-pixel target keeps it small; the
  // float64 reference also checks the pure θ⁴ gap against 1 − s·cos θ with the same smoothing.
  const N = 64;
  function nearPerfect(err: number): Batch {
    const rng = prng(11);
    const logits = new Float32Array(N * N);
    const target = new Float32Array(N * N);
    for (let i = 0; i < N * N; i++) {
      const t = rect(8, 56, 8, 56)(Math.floor(i / N), i % N);
      const u = 0.05 + 0.95 * rng.next(); // error in (0, err]: p stays inside (0, 1)
      const p = t ? 1 - err * u : err * u;
      target[i] = t;
      logits[i] = Math.log(p / (1 - p));
    }
    return { shape: [1, 1, N, N], logits, target, eps: Float32Array.from([0]) };
  }

  it('graph: |PolyDice-1 − Dice| shrinks ≥ 100× per 10× smaller error, until float32 noise', async () => {
    const gaps = await Promise.all(
      [0.5, 0.05, 0.005].map(async (e) => {
        const got = await runTerms(nearPerfect(e));
        return { e, gap: Math.abs(got.polydice1[0]! - got.dice[0]!) };
      }),
    );
    // measured: 8.4e-4, 6.4e-8, ~1e-11 (float64 reference: 8.4e-4, 6.7e-8, 9.5e-10)
    const NOISE = 1e-6;
    expect(gaps[0]!.gap, 'the coarsest error must be well above float32 noise').toBeGreaterThan(100 * NOISE);
    for (let i = 1; i < gaps.length; i++) {
      const [coarse, fine] = [gaps[i - 1]!, gaps[i]!];
      expect(fine.gap, `error ${coarse.e} → ${fine.e}: gap ${coarse.gap} → ${fine.gap}`).toBeLessThanOrEqual(
        Math.max(coarse.gap / 100, NOISE),
      );
    }
    expect(gaps[1]!.gap).toBeLessThanOrEqual(gaps[0]!.gap / 100);
  });

  it('reference: against 1 − s·cos θ with the same smoothing the gap is fourth order (≥ 1000× per decade)', () => {
    const gaps = [0.5, 0.05, 0.005].map((e) => {
      const b = nearPerfect(e);
      const { s, cos } = scaleAndCos(sums(b.logits, b.target));
      expect(cos, 'stays below the clip').toBeLessThan(COS_MAX);
      return Math.abs(referenceBatch(b)[0]!.polydice1 - (1 - s * cos));
    });
    expect(gaps[1]!).toBeLessThanOrEqual(gaps[0]! / 1000);
    expect(gaps[2]!).toBeLessThanOrEqual(gaps[1]! / 1000);
  });
});

describe('gradients (autodiff engine) at the edges', () => {
  const ALL: LossWeights = { bce: 1, dice: 1, polydice1: 1 };
  const n = H * W;

  it.each(EPS_SETS)('are finite for every golden case and term, %s', async (_, eps) => {
    for (const weights of [ALL, ...Object.values(LOSS_PRESETS)]) {
      const { grad } = await runLossGrad(goldenBatch(eps), weights);
      const bad = grad.findIndex((v) => !Number.isFinite(v));
      expect(bad, `${JSON.stringify(weights)}: non-finite gradient in ${NAMES[Math.floor(bad / n)]}`).toBe(-1);
    }
  });

  it('match float64 finite differences of the reference away from the edges', async () => {
    const b = goldenBatch(EPS_SETS[3]![1]);
    const weights = { bce: 0.5, dice: 0.25, polydice1: 2 };
    const { grad } = await runLossGrad(b, weights);
    const B = b.shape[0];
    for (const i of [1, 5, 6]) {
      // half overlap, random maps, soft prediction: cos θ well inside the clip
      const z = Float64Array.from(b.logits.subarray(i * n, (i + 1) * n));
      const t = b.target.subarray(i * n, (i + 1) * n);
      const loss = (zz: Float64Array): number => weighted(reference(zz, t, b.eps[i]!), weights) / B;
      const h = 1e-5;
      const fd = Array.from(z, (_, k) => {
        const up = Float64Array.from(z);
        const down = Float64Array.from(z);
        up[k]! += h;
        down[k]! -= h;
        return (loss(up) - loss(down)) / (2 * h);
      });
      const scale = Math.max(...fd.map(Math.abs));
      fd.forEach((want, k) => {
        expect(Math.abs(grad[i * n + k]! - want), `${NAMES[i]}, pixel ${k}`).toBeLessThanOrEqual(1e-4 * scale);
      });
    }
  });

  it('point the documented way (ε = 0)', async () => {
    const b = goldenBatch(EPS_SETS[1]![1]);
    // Near-zero rather than all-zero prediction: onnxruntime's float32 Sigmoid returns exactly 0
    // below z ≈ −17 (σ(−15) comes out as 6·2⁻²⁴), so σ' = σ(1 − σ) = 0 there and no gradient
    // reaches logits of −30 at all (float32 saturates the same way at z ≳ 17 anyway).
    b.logits.fill(-8, 3 * n, 4 * n);
    const at = (grad: Float32Array, i: number): Float32Array => grad.subarray(i * n, (i + 1) * n);
    for (const weights of [LOSS_PRESETS.dice, LOSS_PRESETS.polydice1]) {
      const { grad } = await runLossGrad(b, weights);
      // empty target: every prediction is pushed down
      at(grad, 2).forEach((v, k) => {
        expect(v, `${JSON.stringify(weights)} empty target, pixel ${k}`).toBeGreaterThan(0);
      });
      // (near) all-zero prediction: every target pixel is pushed up
      at(grad, 3).forEach((v, k) => {
        if (b.target[3 * n + k])
          expect(v, `${JSON.stringify(weights)} near-zero prediction, pixel ${k}`).toBeLessThan(0);
      });
    }
  });

  it('BCE: ∂/∂z = (σ(z) − t)/(pixels·B), also at z = 0 exactly and for huge |z|', async () => {
    const logits = Float32Array.from([0, 0, 0, 0, 200, -200, 1.5, -2]);
    const target = Float32Array.from([0, 1, 0, 1, 1, 1, 0, 1]);
    const b: Batch = { shape: [2, 1, 2, 2], logits, target, eps: new Float32Array(2) };
    const { grad } = await runLossGrad(b, LOSS_PRESETS.bce);
    logits.forEach((z, k) => {
      expectClose(grad[k]!, (sigmoid(z) - target[k]!) / 8, `pixel ${k}, z = ${z}, t = ${target[k]}`);
    });
  });
});

describe('BCE with logits', () => {
  it('matches the naive −t·log p − (1 − t)·log(1 − p) for moderate logits', async () => {
    const rng = prng(3);
    const shape: Batch['shape'] = [3, 1, 5, 7];
    const n = 5 * 7;
    const logits = Float32Array.from({ length: 3 * n }, () => 4 * (2 * rng.next() - 1));
    const target = Float32Array.from({ length: 3 * n }, () => (rng.next() < 0.5 ? 1 : 0));
    const got = (await runTerms({ shape, logits, target, eps: new Float32Array(3) })).bce;
    for (let i = 0; i < 3; i++) {
      let naive = 0;
      for (let j = i * n; j < (i + 1) * n; j++) {
        const p = 1 / (1 + Math.exp(-logits[j]!));
        naive += -target[j]! * Math.log(p) - (1 - target[j]!) * Math.log(1 - p);
      }
      expectClose(got[i]!, naive / n, `image ${i}`);
    }
  });

  it('stays finite for huge logits (the naive form would give log 0)', async () => {
    const b: Batch = {
      shape: [1, 1, 1, 4],
      logits: Float32Array.from([200, -200, 200, -200]),
      target: Float32Array.from([1, 0, 0, 1]),
      eps: new Float32Array(1),
    };
    // two correct pixels cost 0, two wrong ones cost 200: mean 100
    expectClose((await runTerms(b)).bce[0]!, 100, 'bce');
  });
});

describe('options', () => {
  it('parseLoss maps every preset name to its weights', () => {
    for (const [name, w] of Object.entries(LOSS_PRESETS)) expect(parseLoss(name)).toEqual(w);
    expect(parseLoss('dice+bce')).toEqual({ dice: 1, bce: 1 });
  });

  it.each(['', 'Dice', 'focal', 'toString', 'dice + bce'])('parseLoss(%j) names --loss and the valid names', (name) => {
    expect(() => parseLoss(name)).toThrow(/--loss.*bce, dice, polydice1, dice\+bce/);
  });

  it('lossGraph rejects mismatched shapes and all-zero weights', () => {
    const g = createGraph('bad');
    const z = addInput(g, 'z', 'float32', [2, 1, 4, 4]);
    const t = addInput(g, 't', 'float32', [2, 1, 4, 5]);
    const eps = addInput(g, 'eps', 'float32', [2]);
    const eps3 = addInput(g, 'eps3', 'float32', [3]);
    expect(() => lossGraph(g, z, t, eps, { dice: 1 })).toThrow(/logits \[2,1,4,4\] and target \[2,1,4,5\]/);
    expect(() => lossGraph(g, z, z, eps3, { dice: 1 })).toThrow(/eps \[3\] must be \[2\]/);
    expect(() => lossGraph(g, z, z, eps, { dice: 0 })).toThrow(/every loss weight is zero/);
  });
});
