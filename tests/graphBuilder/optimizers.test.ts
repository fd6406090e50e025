import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { prng } from '../../src/common/prng.js';
import { addInput, addOutput, createGraph } from '../../src/graphBuilder/graph.js';
import { type OptimizerConfig, adamStep } from '../../src/graphBuilder/optimizers.js';
import { serialize } from '../../src/graphBuilder/serialize.js';

/** Plain float64 Adam / AdamW, written from the papers (Kingma & Ba alg. 1; Loshchilov & Hutter alg. 2). */
function referenceStep(p: number[], g: number[], m: number[], v: number[], t: number, lr: number, c: OptimizerConfig) {
  const out = { p: [...p], m: [...m], v: [...v] };
  for (let i = 0; i < p.length; i++) {
    const gi = c.kind === 'adam' ? g[i]! + c.weightDecay * p[i]! : g[i]!;
    out.m[i] = c.beta1 * m[i]! + (1 - c.beta1) * gi;
    out.v[i] = c.beta2 * v[i]! + (1 - c.beta2) * gi * gi;
    const mHat = out.m[i]! / (1 - c.beta1 ** t);
    const vHat = out.v[i]! / (1 - c.beta2 ** t);
    out.p[i] =
      p[i]! - (lr * mHat) / (Math.sqrt(vHat) + c.epsilon) - (c.kind === 'adamw' ? lr * c.weightDecay * p[i]! : 0);
  }
  return out;
}

describe.each<OptimizerConfig>([
  { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 },
  { kind: 'adam', beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1 },
  { kind: 'adamw', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.05 },
])('$kind (β1 $beta1, β2 $beta2, weight decay $weightDecay)', (cfg) => {
  it('matches a float64 reference over 5 steps', async () => {
    const P = 64;
    const g = createGraph('opt');
    const [params, grad, m, v] = ['params', 'gradient', 'm', 'v'].map((n) => addInput(g, n, 'float32', [P])) as [
      never,
      never,
      never,
      never,
    ];
    const step = addInput(g, 'step', 'float32', []);
    const lr = addInput(g, 'lr', 'float32', []);
    const next = adamStep(g, { params, m, v }, grad, step, lr, cfg);
    addOutput(g, 'p', next.params);
    addOutput(g, 'm_out', next.m);
    addOutput(g, 'v_out', next.v);
    const session = await ort.InferenceSession.create(serialize(g));
    const rng = prng(5);
    let ours: { p: Float32Array; m: Float32Array; v: Float32Array } = {
      p: Float32Array.from({ length: P }, () => rng.next() - 0.5),
      m: new Float32Array(P),
      v: new Float32Array(P),
    };
    const start = ours.p.slice();
    let ref = { p: Array.from(ours.p), m: new Array<number>(P).fill(0), v: new Array<number>(P).fill(0) };
    for (let t = 1; t <= 5; t++) {
      const grads = Float32Array.from({ length: P }, () => (rng.next() - 0.5) * 10 ** (rng.next() * 4 - 2));
      const f = (a: Float32Array) => new ort.Tensor('float32', a, [P]);
      const out = await session.run({
        params: f(ours.p),
        gradient: f(grads),
        m: f(ours.m),
        v: f(ours.v),
        step: new ort.Tensor('float32', [t], []),
        lr: new ort.Tensor('float32', [0.01], []),
      });
      ours = { p: out.p!.data as Float32Array, m: out.m_out!.data as Float32Array, v: out.v_out!.data as Float32Array };
      ref = referenceStep(ref.p, Array.from(grads), ref.m, ref.v, t, 0.01, cfg);
    }
    for (let i = 0; i < P; i++) {
      expect(ours.p[i]).toBeCloseTo(ref.p[i]!, 5);
      expect(Math.abs(ours.v[i]! - ref.v[i]!)).toBeLessThan(1e-6 * Math.max(1, ref.v[i]!));
    }
    // The weights really moved: Adam's steps are about lr each, whatever the gradient's scale.
    const moved = ours.p.reduce((a, x, i) => a + Math.abs(x - start[i]!), 0) / P;
    expect(moved).toBeGreaterThan(5e-3);
  });
});
