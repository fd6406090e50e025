/**
 * MC-Dropout really samples, on the exact shipped MC graph (the default build-graphs config), in an
 * onnxruntime-node session with default options (all graph optimizations on).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../../src/common/prng.js';
import { addInput, addOutput, constant, createGraph, op, op1 } from '../../src/graphBuilder/graph.js';
import { buildInferenceModel, buildMcModel, presetConfig } from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';

const config = presetConfig('small', { batch: 2, samples: 4 });
const [B, N, S] = [config.batch, config.samples, config.imageSize];
const pixels = S * S;

const rng = prng(7);
const image = new ort.Tensor(
  'float32',
  Float32Array.from({ length: B * 3 * pixels }, () => rng.next()),
  [B, 3, S, S],
);
const ratio = (p: number): ort.Tensor => new ort.Tensor('float32', [p], []);

/** Max |a - b| between sample i and sample j of image b. */
function sampleDiff(samples: Float32Array, b: number, i: number, j: number): number {
  let m = 0;
  const [oi, oj] = [(b * N + i) * pixels, (b * N + j) * pixels];
  for (let k = 0; k < pixels; k++) m = Math.max(m, Math.abs(samples[oi + k]! - samples[oj + k]!));
  return m;
}

let mc: ort.InferenceSession;
let optimizedPath: string;
beforeAll(async () => {
  optimizedPath = join(mkdtempSync(join(tmpdir(), 'mc-')), 'optimized.onnx');
  mc = await ort.InferenceSession.create(serialize(buildMcModel(config)), {
    optimizedModelFilePath: optimizedPath,
    logSeverityLevel: 3,
  });
});

describe('MC-Dropout graph', () => {
  it('keeps its Dropout nodes through onnxruntime graph optimization', () => {
    const optimized = onnxProto.onnx.ModelProto.decode(readFileSync(optimizedPath));
    const dropouts = optimized.graph!.node!.filter((n) => n.opType === 'Dropout');
    expect(dropouts.length).toBe(config.unet.depth + 1); // bottleneck + every decoder block
  });

  it('needs its mask consumed: onnxruntime deletes a Dropout whose mask is unused, even in training mode', async () => {
    const g = createGraph('naive_dropout');
    const x = addInput(g, 'x', 'float32', [1, 1000]);
    // As in the U-Net, the Dropout follows another node (a Dropout right on a graph input survives).
    const [y] = op(
      g,
      'Dropout',
      [op1(g, 'Relu', [x]), constant(g, 'ratio', 'float32', [], [0.5]), constant(g, 'training', 'bool', [], [1])],
      { seed: 1 },
    );
    addOutput(g, 'y', y!);
    const session = await ort.InferenceSession.create(serialize(g));
    const ones = new ort.Tensor('float32', new Float32Array(1000).fill(1), [1, 1000]);
    const out = (await session.run({ x: ones })).y!.data as Float32Array;
    expect(out.every((v) => v === 1)).toBe(true); // no element dropped: the node is gone
  });

  it('takes the dropout ratio as a plain graph input (no initializer a fed value could be ignored for)', () => {
    const g = buildMcModel(config);
    expect(g.inputs.map((v) => v.name)).toContain('dropout_ratio');
    expect(g.initializers.map((v) => v.name)).not.toContain('dropout_ratio');
  });

  it('gives N different samples per image when p > 0', async () => {
    const out = (await mc.run({ image, dropout_ratio: ratio(0.5) })).samples!;
    expect(out.dims).toEqual([B, N, S, S]);
    const data = out.data as Float32Array;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < N; i++)
        for (let j = i + 1; j < N; j++) expect(sampleDiff(data, b, i, j)).toBeGreaterThan(1e-3);
    }
  });

  it('draws new masks on every run', async () => {
    const a = (await mc.run({ image, dropout_ratio: ratio(0.5) })).samples!.data as Float32Array;
    const b = (await mc.run({ image, dropout_ratio: ratio(0.5) })).samples!.data as Float32Array;
    expect(a.some((v, k) => v !== b[k])).toBe(true);
  });

  it('gives N identical samples, equal to the single-pass model, when p = 0', async () => {
    const data = (await mc.run({ image, dropout_ratio: ratio(0) })).samples!.data as Float32Array;
    const single = await ort.InferenceSession.create(serialize(buildInferenceModel(config)));
    const probability = (await single.run({ image })).probability!.data as Float32Array;
    for (let b = 0; b < B; b++) {
      for (let i = 1; i < N; i++) expect(sampleDiff(data, b, 0, i)).toBe(0);
      let m = 0;
      for (let k = 0; k < pixels; k++)
        m = Math.max(m, Math.abs(data[b * N * pixels + k]! - probability[b * pixels + k]!));
      expect(m).toBeLessThan(1e-5);
    }
  });
});
