/**
 * "Runs everywhere, same numbers": the serialized tiny U-Net gives the same outputs in
 * onnxruntime-node (CPU), in onnxruntime-web (wasm, run here from Node) and in a plain-TypeScript
 * reference forward, for every norm; and the MC-Dropout graph at dropout_ratio 0 reproduces the
 * inference probability in every sample.
 */
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { prng, normal } from '../../src/common/prng.js';
import type { Graph } from '../../src/graphBuilder/graph.js';
import type { NormKind } from '../../src/graphBuilder/layers.js';
import { buildInferenceModel, buildMcModel, presetConfig } from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import { type Params, unetReference } from '../reference/unetReference.js';

const TOL = 1e-4;
const SAMPLES = 3;

// Not required in Node (any count works), but the default is min(4, ceil(cores / 2)) worker threads,
// which a 32x32 model does not need; one thread keeps the test's cost the same on every machine.
ortWeb.env.wasm.numThreads = 1;

const RUNTIMES = { node: { ort: ortNode, ep: 'cpu' }, web: { ort: ortWeb, ep: 'wasm' } } as const;
type Runtime = keyof typeof RUNTIMES;
type Outputs = Record<string, Float32Array>;

async function run(
  runtime: Runtime,
  model: Uint8Array,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
): Promise<Outputs> {
  const { ort, ep } = RUNTIMES[runtime];
  const session = await ort.InferenceSession.create(model, { executionProviders: [ep] });
  try {
    const inputs = Object.fromEntries(
      Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor('float32', f.data, f.dims)]),
    );
    const out = await session.run(inputs);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function expectClose(a: Float32Array, b: Float32Array, what: string): void {
  const d = maxAbsDiff(a, b);
  expect(d, `${what}: max |diff| = ${d.toExponential(2)} > ${TOL}`).toBeLessThanOrEqual(TOL);
}

/**
 * Freshly built graphs have zero biases, unit norm weights and identity BN statistics, which would
 * hide a swapped or ignored parameter; give every bias, norm weight and running statistic a seeded
 * non-trivial value (the He-normal conv weights already are). Returns all float32 parameters by name.
 */
function perturb(g: Graph, seed: number): Params {
  const rng = prng(seed);
  const params = new Map<string, Float32Array>();
  for (const init of g.initializers) {
    if (init.dtype !== 'float32') continue;
    const data = init.constant.data as Float32Array;
    const draw =
      init.name.endsWith('.norm.weight') || init.name.endsWith('.running_var')
        ? () => 0.5 + rng.next() // positive scales and variances in [0.5, 1.5)
        : init.name.endsWith('.bias') || init.name.endsWith('.running_mean')
          ? () => 0.2 * normal(rng)
          : undefined;
    if (draw) for (let i = 0; i < data.length; i++) data[i] = draw();
    params.set(init.name, data);
  }
  return params;
}

/** Overwrite `g`'s parameters with `params` (same names: both models create the same parameters). */
function load(g: Graph, params: Params): void {
  for (const init of g.initializers) {
    const p = params.get(init.name);
    if (p) (init.constant.data as Float32Array).set(p);
    else expect(init.trainable, `${g.name}: parameter ${init.name} is not in the inference model`).toBe(false);
  }
}

describe.each<NormKind>(['none', 'batch', 'group'])('tiny U-Net, norm = %s', (norm) => {
  const config = presetConfig('tiny', { batch: 2, samples: SAMPLES, unet: { norm } });
  const { batch, imageSize: size } = config;
  const { inChannels } = config.unet;
  const rng = prng(7);
  const image = Float32Array.from({ length: batch * inChannels * size * size }, () => rng.next());
  const imageFeed = { data: image, dims: [batch, inChannels, size, size] };
  const results = {} as Record<Runtime, { inference: Outputs; mc: Outputs }>;
  let reference: ReturnType<typeof unetReference>;

  beforeAll(async () => {
    const inference = buildInferenceModel(config);
    const params = perturb(inference, 11);
    const mc = buildMcModel(config);
    load(mc, params);
    const [inferenceBytes, mcBytes] = [serialize(inference), serialize(mc)];
    const ratio = { data: new Float32Array([0]), dims: [] };
    for (const runtime of Object.keys(RUNTIMES) as Runtime[]) {
      results[runtime] = {
        inference: await run(runtime, inferenceBytes, { image: imageFeed }),
        mc: await run(runtime, mcBytes, { image: imageFeed, dropout_ratio: ratio }),
      };
    }
    reference = unetReference(config.unet, params, { n: batch, c: inChannels, h: size, w: size, data: image });
  });

  it('has outputs that depend on the input (a dead network would agree trivially)', () => {
    const logits = results.node.inference.logits!;
    const spread = Math.max(...logits) - Math.min(...logits);
    expect(spread, `logits span only ${spread}`).toBeGreaterThan(0.1);
  });

  it.each(['logits', 'probability'])('%s: onnxruntime-web matches onnxruntime-node', (out) => {
    expectClose(results.web.inference[out]!, results.node.inference[out]!, `${norm} ${out} web vs node`);
  });

  it.each(['logits', 'probability'] as const)('%s: onnxruntime-node matches the reference forward', (out) => {
    expectClose(results.node.inference[out]!, reference[out].data, `${norm} ${out} node vs reference`);
  });

  it.each(Object.keys(RUNTIMES) as Runtime[])(
    'MC-Dropout at ratio 0 in %s: every sample is the inference probability',
    (runtime) => {
      const samples = results[runtime].mc.samples!; // [B, N, H, W]
      const probability = results.node.inference.probability!; // [B, 1, H, W]
      const plane = size * size;
      expect(samples.length).toBe(batch * SAMPLES * plane);
      for (let b = 0; b < batch; b++)
        for (let s = 0; s < SAMPLES; s++) {
          const sample = samples.subarray((b * SAMPLES + s) * plane, (b * SAMPLES + s + 1) * plane);
          expectClose(
            sample,
            probability.subarray(b * plane, (b + 1) * plane),
            `${norm} ${runtime} MC image ${b} sample ${s} vs node inference`,
          );
        }
    },
  );
});
