/**
 * Finite-difference gradient checking of graphs built with our autodiff, run in onnxruntime-node.
 * The loss is a random projection of the outputs, L = Σ R ⊙ f(x); the analytic gradient is checked
 * along a random direction v per input (jax's check_grads): (L(x+hv) − L(x−hv)) / 2h ≈ <∇L, v>.
 */
import * as ort from 'onnxruntime-node';
import { type Prng, prng } from '../../src/common/prng.js';
import { gradients } from '../../src/graphBuilder/autodiff.js';
import { type Graph, addOutput, constant, op1 } from '../../src/graphBuilder/graph.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import { type Value, numel } from '../../src/graphBuilder/types.js';

export type Feeds = Record<string, Float32Array>;

export interface GradCheckResult {
  input: string;
  numeric: number;
  analytic: number;
  error: number; // |numeric − analytic| / max(1, |numeric|, |analytic|)
}

/** L = Σ R ⊙ y with a fixed random R, so every output element matters with a different weight. */
export function projectToScalar(g: Graph, y: Value, rng: Prng): Value {
  const r = constant(
    g,
    'projection',
    'float32',
    y.shape,
    Float32Array.from({ length: numel(y.shape) }, () => rng.next() * 2 - 1),
  );
  return op1(g, 'ReduceSum', [op1(g, 'Mul', [y, r])], { keepdims: 0 });
}

export async function gradCheck(
  g: Graph,
  loss: Value,
  wrt: Value[],
  feeds: Feeds,
  h = 1e-2,
  seed = 3,
): Promise<GradCheckResult[]> {
  addOutput(g, 'loss', loss);
  gradients(g, loss, wrt).forEach((d, i) => {
    addOutput(g, `grad_${i}`, d);
  });
  const session = await ort.InferenceSession.create(serialize(g));
  const tensors = (f: Feeds) =>
    Object.fromEntries(
      Object.entries(f).map(([k, v]) => [
        k,
        new ort.Tensor('float32', v, g.inputs.find((i) => i.name === k)!.shape as number[]),
      ]),
    );
  const base = await session.run(tensors(feeds));
  const rng = prng(seed);
  const results: GradCheckResult[] = [];
  for (const [i, x] of wrt.entries()) {
    const v = Float32Array.from({ length: numel(x.shape) }, () => rng.next() * 2 - 1);
    const shifted = async (sign: number): Promise<number> => {
      const moved = feeds[x.name]!.map((xi, k) => xi + sign * h * v[k]!);
      return ((await session.run(tensors({ ...feeds, [x.name]: moved }))).loss!.data as Float32Array)[0]!;
    };
    const numeric = ((await shifted(1)) - (await shifted(-1))) / (2 * h);
    const grad = base[`grad_${i}`]!.data as Float32Array;
    const analytic = grad.reduce((s, gk, k) => s + gk * v[k]!, 0);
    results.push({
      input: x.name,
      numeric,
      analytic,
      error: Math.abs(numeric - analytic) / Math.max(1, Math.abs(numeric), Math.abs(analytic)),
    });
  }
  return results;
}
