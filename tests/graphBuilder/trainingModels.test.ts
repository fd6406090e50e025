/**
 * The training artifacts end to end on a tiny U-Net: whole-model gradients against finite
 * differences for each loss, the fused step equals training model + optimizer model, and the
 * fused step overfits a few synthetic images.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { prng } from '../../src/common/prng.js';
import { LOSS_PRESETS, type LossName } from '../../src/graphBuilder/losses.js';
import { presetConfig } from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import {
  buildEvalModel,
  buildOptimizerModel,
  buildTrainStepModel,
  buildTrainingModel,
  paramLayout,
} from '../../src/graphBuilder/trainingModels.js';
import {
  type Batch,
  createSession,
  evaluate,
  f32,
  initialState,
  scalar,
  trainStep,
} from '../../src/runtime/runtime.js';
import { syntheticSet } from '../../src/data/synthetic.js';
import { toBatch } from '../../src/training/batches.js';

const syntheticBatch = (count: number, size: number, seed: number, eps = 0): Batch =>
  toBatch(syntheticSet(count, size, seed), new Array<number>(count).fill(eps), size);

const feedsOf = (b: Batch, params: Float32Array) => ({
  image: f32(b.image, b.dims),
  target: f32(b.target, [b.dims[0]!, 1, b.dims[2]!, b.dims[3]!]),
  eps: f32(b.eps, [b.dims[0]!]),
  params: f32(params, [params.length]),
  dropout_ratio: scalar(0), // deterministic forward for finite differences
});

/**
 * Whole-model gradients against central differences, coordinate by coordinate: in every
 * parameter tensor the two entries with the largest gradient and one random entry. (A random
 * direction over a whole tensor moves every pre-activation of a layer and crosses many ReLU kinks
 * at any step size; one weight at a time crosses few.) Where the two step sizes disagree, a kink
 * lies on the segment and the check is inconclusive; most checks must be conclusive.
 */
/** Step: this small U-Net curves noticeably over 1e-2 in its first layers. */
const H = 1e-3;
/** A float32 loss near 1 is rounded to a few 1e-7: the difference quotient carries that / 2H. */
const NOISE = 5e-7 / (2 * H);

describe.each(Object.keys(LOSS_PRESETS) as LossName[])('training model, loss %s', (loss) => {
  it('whole-model gradient matches finite differences', async () => {
    const c = presetConfig('tiny', {
      imageSize: 16,
      batch: 2,
      training: { loss: LOSS_PRESETS[loss], optimizer: presetConfig('tiny').training.optimizer },
    });
    const layout = paramLayout(c);
    const rng = prng(9);
    // Random biases too: zero biases on dead features give logits exactly 0, a kink of its own.
    const params = layout.values.map((x) => x + 0.05 * (rng.next() - 0.5));
    const session = await ort.InferenceSession.create(serialize(buildTrainingModel(c, layout)));
    const b = syntheticBatch(2, 16, 4, 0.5);
    b.eps[1] = -0.3; // per-image ε
    const lossAt = async (p: Float32Array) => ((await session.run(feedsOf(b, p))).loss!.data as Float32Array)[0]!;
    const grad = (await session.run(feedsOf(b, params))).gradient!.data as Float32Array;
    expect(grad.every(Number.isFinite)).toBe(true);
    const fd = async (i: number, h: number) => {
      const [up, down] = [params.slice(), params.slice()];
      up[i]! += h;
      down[i]! -= h;
      return ((await lossAt(up)) - (await lossAt(down))) / (2 * h);
    };
    let [checked, conclusive] = [0, 0];
    for (const slot of layout.slots) {
      const n = slot.shape.reduce((a, d) => a * d, 1);
      const order = [...Array(n).keys()].sort(
        (x, y) => Math.abs(grad[slot.offset + y]!) - Math.abs(grad[slot.offset + x]!),
      );
      for (const k of new Set([...order.slice(0, 2), Math.floor(rng.next() * n)])) {
        const i = slot.offset + k;
        const [coarse, fine] = [await fd(i, 3 * H), await fd(i, H)];
        const tolerance = 0.05 * Math.max(Math.abs(grad[i]!), Math.abs(fine)) + NOISE;
        checked++;
        if (Math.abs(coarse - fine) > tolerance) continue; // a kink within the step: inconclusive
        conclusive++;
        expect(Math.abs(grad[i]! - fine), `${slot.name}[${k}]: numeric ${fine}, analytic ${grad[i]}`).toBeLessThan(
          tolerance,
        );
      }
    }
    expect(conclusive).toBeGreaterThanOrEqual(0.8 * checked);
  });
});

describe('train-step model', () => {
  const c = presetConfig('tiny', { imageSize: 32, batch: 4 });
  const layout = paramLayout(c);

  it('equals the training model followed by the optimizer model', async () => {
    const b = syntheticBatch(4, 32, 1);
    const fused = await createSession(serialize(buildTrainStepModel(c, layout)));
    const training = await createSession(serialize(buildTrainingModel(c, layout)));
    const optimizer = await createSession(serialize(buildOptimizerModel(c, layout)));
    const s0 = initialState(layout.values);
    const one = await trainStep(fused, s0, b, 1e-3, 0);
    const P = layout.values.length;
    const g = await training.run(feedsOf(b, s0.params));
    const o = await optimizer.run({
      params: f32(s0.params, [P]),
      gradient: g.gradient!,
      adam_m: f32(s0.m, [P]),
      adam_v: f32(s0.v, [P]),
      step: scalar(1),
      lr: scalar(1e-3),
    });
    const split = o.params_out!.data as Float32Array;
    let diff = 0;
    for (let i = 0; i < P; i++) diff = Math.max(diff, Math.abs(split[i]! - one.state.params[i]!));
    expect(diff).toBeLessThan(1e-6);
    expect(one.loss).toBeCloseTo((g.loss!.data as Float32Array)[0]!, 5);
  });

  it('overfits 4 synthetic images to Dice > 0.95 within a few hundred steps', async () => {
    const b = syntheticBatch(4, 32, 2);
    const fused = await createSession(serialize(buildTrainStepModel(c, layout)));
    const evalSession = await createSession(serialize(buildEvalModel(c, layout)));
    let s = initialState(layout.values);
    const dice = (p: Float32Array): number => {
      let [inter, sum] = [0, 0];
      p.forEach((pi, k) => {
        const hard = pi > 0.5 ? 1 : 0;
        inter += hard * b.target[k]!;
        sum += hard + b.target[k]!;
      });
      return (2 * inter) / sum;
    };
    let last = 0;
    for (let step = 0; step < 400; step++) {
      s = (await trainStep(fused, s, b, 3e-3, 0)).state;
      if (step % 50 === 49) {
        last = dice((await evaluate(evalSession, s.params, b)).probability);
        if (last > 0.95) break;
      }
    }
    expect(last).toBeGreaterThan(0.95);
  });
});
