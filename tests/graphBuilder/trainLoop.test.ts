/**
 * The K-step Loop model (buildTrainLoopModel) against K one-step runs of the fused train-step
 * model: byte-identical parameters, moments and losses with dropout off, and with dropout on as
 * well (the body's Dropouts have the one-step model's seeds and onnxruntime advances each Dropout's
 * generator per execution); fewer steps than K; the official ONNX checker accepts the model (Loop
 * body, outer-scope references) and infers the same shapes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { presetConfig } from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import { buildTrainLoopModel, buildTrainStepModel, paramLayout } from '../../src/graphBuilder/trainingModels.js';
import { toBatch } from '../../src/training/batches.js';
import {
  type Batch,
  type TrainState,
  createSession,
  initialState,
  trainStep,
  trainSteps,
} from '../../src/runtime/runtime.js';
import { syntheticSet } from '../../src/data/synthetic.js';

const c = presetConfig('tiny', { imageSize: 16, batch: 2 });
const layout = paramLayout(c);
const K = 3;
const batches: Batch[] = [0, 1, 2].map((i) => toBatch(syntheticSet(2, 16, 20 + i), [0.1 * i, 0.3], 16));

async function oneByOne(ratio: number, n: number): Promise<{ state: TrainState; losses: number[] }> {
  const session = await createSession(serialize(buildTrainStepModel(c, layout, 5)));
  let state = initialState(layout.values);
  const losses: number[] = [];
  for (const b of batches.slice(0, n)) {
    const r = await trainStep(session, state, b, 1e-3, ratio);
    state = r.state;
    losses.push(r.loss);
  }
  await session.release();
  return { state, losses };
}

async function looped(ratio: number, n: number) {
  const session = await createSession(serialize(buildTrainLoopModel(c, K, layout, 5)));
  const r = await trainSteps(session, initialState(layout.values), batches.slice(0, n), K, 1e-3, ratio);
  await session.release();
  return r;
}

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('K-step Loop model', () => {
  for (const ratio of [0, 0.5]) {
    it(`gives byte-identical state and losses to ${K} one-step runs (dropout ${ratio})`, async () => {
      const [one, loop] = [await oneByOne(ratio, K), await looped(ratio, K)];
      expect(loop.state.step).toBe(K);
      expect(Array.from(loop.losses)).toEqual(one.losses);
      expect(bytes(loop.state.params).equals(bytes(one.state.params))).toBe(true);
      expect(bytes(loop.state.m).equals(bytes(one.state.m))).toBe(true);
      expect(bytes(loop.state.v).equals(bytes(one.state.v))).toBe(true);
      expect(bytes(loop.state.params).equals(bytes(layout.values))).toBe(false);
    });
  }

  it('runs only the steps given (fewer than K)', async () => {
    const [one, loop] = [await oneByOne(0, 2), await looped(0, 2)];
    expect(loop.losses.length).toBe(2);
    expect(loop.state.step).toBe(2);
    expect(bytes(loop.state.params).equals(bytes(one.state.params))).toBe(true);
  });

  it('refuses more batches than K', async () => {
    const session = await createSession(serialize(buildTrainLoopModel(c, 2, layout)));
    await expect(trainSteps(session, initialState(layout.values), batches, 2, 1e-3, 0)).rejects.toThrow(
      /3 batches for a 2-step model/,
    );
  });

  it('is accepted by the official ONNX checker, with the same shapes as ours', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loop-'));
    try {
      const file = join(dir, 'loop.onnx');
      writeFileSync(file, serialize(buildTrainLoopModel(c, K, layout)));
      const out = execFileSync(
        process.env.ONNX_PYTHON ?? '/usr/bin/python3',
        ['tests/graphBuilder/check_onnx.py', file],
        { encoding: 'utf8' },
      );
      const r = JSON.parse(out.trim()) as { ok: boolean; unknown: string[] };
      expect(r.ok, out).toBe(true);
      // ONNX 1.12 leaves Loop outputs' shapes open: exactly the six carried outputs.
      expect(r.unknown).toHaveLength(6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
