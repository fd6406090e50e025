/**
 * Every gradient rule, checked by finite differences on a table of shape cases (broadcasting
 * included). A meta-test fails when a rule has no case. Samplers keep inputs away from kinks
 * (ReLU at 0, ties in max, clip bounds), as jax does for floor.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type Prng, prng } from '../../src/common/prng.js';
import { gradients } from '../../src/graphBuilder/autodiff.js';
import { GRADIENTS } from '../../src/graphBuilder/gradients.js';
import { addInput, addOutput, constant, createGraph, op, op1 } from '../../src/graphBuilder/graph.js';
import type { AttrsOf, OpType } from '../../src/graphBuilder/ops.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import { type Shape, type Value, numel } from '../../src/graphBuilder/types.js';
import { type Feeds, gradCheck, projectToScalar } from './gradcheck.js';

type Sampler = (r: Prng, n: number) => Float32Array;
const uniform =
  (lo: number, hi: number): Sampler =>
  (r, n) =>
    Float32Array.from({ length: n }, () => lo + (hi - lo) * r.next());
/** |x| in [0.2, 1] with random sign: no element near a kink at 0. */
const awayFromZero: Sampler = (r, n) =>
  Float32Array.from({ length: n }, () => (r.next() < 0.5 ? -1 : 1) * (0.2 + 0.8 * r.next()));
/** A shuffled ladder of multiples of 0.1: no two elements within 0.1 (max-pool, max). */
const distinct: Sampler = (r, n) => {
  const v = Float32Array.from({ length: n }, (_, i) => (i - Math.floor(n / 2)) * 0.1);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r.next() * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return v;
};

/** The ladder shifted by half a step: 0.05 away from every element of another ladder. */
const halfStep: Sampler = (r, n) => distinct(r, n).map((x) => x + 0.05);

type Operand =
  | { shape: Shape; sample?: Sampler }
  | { ints: number[] }
  | { floats: number[]; shape: Shape }
  | { bools: number[]; shape: Shape };
interface Case {
  op: OpType;
  label?: string;
  inputs: Operand[];
  attrs?: Record<string, number | number[]>;
  tol?: number;
}

const cases: Case[] = [
  { op: 'Identity', inputs: [{ shape: [2, 3] }] },
  { op: 'Relu', inputs: [{ shape: [3, 4], sample: awayFromZero }] },
  { op: 'Sigmoid', inputs: [{ shape: [3, 4] }] },
  { op: 'Neg', inputs: [{ shape: [5] }] },
  { op: 'Sqrt', inputs: [{ shape: [5], sample: uniform(0.5, 2) }] },
  { op: 'Exp', inputs: [{ shape: [5] }] },
  { op: 'Log', inputs: [{ shape: [5], sample: uniform(0.5, 2) }] },
  { op: 'Abs', inputs: [{ shape: [6], sample: awayFromZero }] },
  { op: 'Acos', inputs: [{ shape: [6], sample: uniform(-0.8, 0.8) }] },
  { op: 'Reciprocal', inputs: [{ shape: [6], sample: uniform(0.5, 2) }] },
  { op: 'Add', label: 'broadcast [2,3,4]+[3,1]', inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }] },
  { op: 'Sub', label: 'broadcast [4]-[]', inputs: [{ shape: [4] }, { shape: [] }] },
  { op: 'Mul', label: 'broadcast [2,3]*[1,3]', inputs: [{ shape: [2, 3] }, { shape: [1, 3] }] },
  {
    op: 'Div',
    label: 'broadcast [2,3]/[2,1]',
    inputs: [{ shape: [2, 3] }, { shape: [2, 1], sample: uniform(0.5, 2) }],
  },
  {
    op: 'Max',
    label: 'broadcast [2,3] vs [3]',
    inputs: [
      { shape: [2, 3], sample: distinct },
      { shape: [3], sample: halfStep },
    ],
  },
  {
    op: 'Min',
    label: 'broadcast [2,3] vs [3]',
    inputs: [
      { shape: [2, 3], sample: distinct },
      { shape: [3], sample: halfStep },
    ],
  },
  { op: 'Where', inputs: [{ bools: [1, 0, 1, 0, 0, 1], shape: [2, 3] }, { shape: [2, 3] }, { shape: [3] }] },
  { op: 'Cast', inputs: [{ shape: [4] }], attrs: { to: 1 } },
  {
    op: 'Clip',
    inputs: [
      { shape: [8], sample: (r, n) => distinct(r, n).map((x) => x * 3 + 0.01) },
      { floats: [-0.5], shape: [] },
      { floats: [0.5], shape: [] },
    ],
  },
  { op: 'MatMul', label: 'batched [2,3,4]x[4,5]', inputs: [{ shape: [2, 3, 4] }, { shape: [4, 5] }] },
  {
    op: 'Conv',
    label: '3x3 pad 1',
    inputs: [{ shape: [2, 3, 6, 6] }, { shape: [4, 3, 3, 3] }, { shape: [4] }],
    attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
  },
  {
    op: 'Conv',
    label: '1x1 no bias',
    inputs: [{ shape: [2, 4, 5, 5] }, { shape: [2, 4, 1, 1] }],
    attrs: { kernel_shape: [1, 1] },
  },
  {
    op: 'Conv',
    label: '3x3 valid, uneven pads',
    inputs: [{ shape: [1, 2, 6, 5] }, { shape: [3, 2, 3, 3] }, { shape: [3] }],
    attrs: { kernel_shape: [3, 3], pads: [0, 1, 1, 0] },
  },
  {
    op: 'Conv',
    label: '3x3 pad 1, fewer outputs than inputs',
    inputs: [{ shape: [2, 6, 5, 5] }, { shape: [3, 6, 3, 3] }, { shape: [3] }],
    attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
  },
  {
    op: 'Conv',
    label: '3x3 uneven pads, fewer outputs than inputs',
    inputs: [{ shape: [1, 4, 6, 5] }, { shape: [2, 4, 3, 3] }],
    attrs: { kernel_shape: [3, 3], pads: [0, 1, 1, 0] },
  },
  {
    op: 'ConvTranspose',
    label: '2x2 stride 2',
    inputs: [{ shape: [2, 4, 3, 3] }, { shape: [4, 2, 2, 2] }, { shape: [2] }],
    attrs: { kernel_shape: [2, 2], strides: [2, 2] },
  },
  {
    op: 'MaxPool',
    label: '2x2 stride 2',
    inputs: [{ shape: [2, 2, 4, 6], sample: distinct }],
    attrs: { kernel_shape: [2, 2], strides: [2, 2] },
  },
  {
    op: 'Dropout',
    inputs: [{ shape: [4, 50] }, { floats: [0.5], shape: [] }, { bools: [1], shape: [] }],
    attrs: { seed: 5 },
  },
  { op: 'Concat', inputs: [{ shape: [2, 3] }, { shape: [2, 2] }], attrs: { axis: 1 } },
  { op: 'Reshape', inputs: [{ shape: [2, 6] }, { ints: [3, 4] }] },
  { op: 'Unsqueeze', inputs: [{ shape: [2, 3] }, { ints: [1] }] },
  { op: 'Squeeze', inputs: [{ shape: [2, 1, 3] }, { ints: [1] }] },
  { op: 'Transpose', inputs: [{ shape: [2, 3, 4] }], attrs: { perm: [1, 2, 0] } },
  { op: 'Expand', label: '[3,1] to [2,3,4]', inputs: [{ shape: [3, 1] }, { ints: [2, 3, 4] }] },
  { op: 'Slice', inputs: [{ shape: [4, 6] }, { ints: [1, 2] }, { ints: [3, 5] }] },
  { op: 'Pad', inputs: [{ shape: [2, 3] }, { ints: [1, 0, 0, 2] }] },
  {
    op: 'ReduceSum',
    label: 'axis 1, keepdims 0',
    inputs: [{ shape: [2, 3, 4] }, { ints: [1] }],
    attrs: { keepdims: 0 },
  },
  { op: 'ReduceSum', label: 'all axes', inputs: [{ shape: [2, 3] }] },
  { op: 'ReduceMean', inputs: [{ shape: [2, 3, 4] }], attrs: { axes: [0, 2], keepdims: 1 } },
  { op: 'ReduceMax', inputs: [{ shape: [3, 5], sample: distinct }], attrs: { axes: [1], keepdims: 0 } },
];

function buildCase(c: Case, rng: Prng) {
  const g = createGraph(`grad_${c.op}`);
  const feeds: Feeds = {};
  const wrt: Value[] = [];
  const inputs = c.inputs.map((o, i) => {
    if ('ints' in o) return constant(g, `c${i}`, 'int64', [o.ints.length], o.ints);
    if ('floats' in o) return constant(g, `c${i}`, 'float32', o.shape, o.floats);
    if ('bools' in o) return constant(g, `c${i}`, 'bool', o.shape, o.bools);
    const x = addInput(g, `x${i}`, 'float32', o.shape);
    feeds[x.name] = (o.sample ?? uniform(-1, 1))(rng, numel(o.shape));
    wrt.push(x);
    return x;
  });
  const y = op(g, c.op, inputs, (c.attrs ?? {}) as AttrsOf<OpType>)[0]!;
  return { g, y, wrt, feeds };
}

const name = (c: Case): string => `${c.op}${c.label ? ` (${c.label})` : ''}`;
const smooth = cases.filter((c) => c.op !== 'Dropout');

describe('gradient rules', () => {
  it('every rule in the table has at least one case', () => {
    const withRule = (Object.keys(GRADIENTS) as OpType[]).filter((op) => GRADIENTS[op].kind === 'rule');
    const missing = withRule.filter((op) => !cases.some((c) => c.op === op));
    expect(missing, `rules without a gradient-check case: ${missing.join(', ')}`).toEqual([]);
  });

  it.each(smooth.map((c) => [name(c), c] as const))('%s matches finite differences', async (_, c) => {
    const { g, y, wrt, feeds } = buildCase(c, prng(11));
    const results = await gradCheck(g, projectToScalar(g, y, prng(12)), wrt, feeds);
    for (const r of results)
      expect(r.error, `${c.op} d/d${r.input}: numeric ${r.numeric} vs analytic ${r.analytic}`).toBeLessThan(
        c.tol ?? 2e-3,
      );
  });

  // Dropout draws a new mask on every run, so finite differences across runs are meaningless.
  // Its output is linear in x, so within one run L(x) = <∇L, x> exactly (Euler), with the mask
  // that run drew; a wrong mask or scale breaks the identity.
  it('Dropout: the gradient uses the same mask and scale as the forward (linearity check)', async () => {
    const c = cases.find((k) => k.op === 'Dropout')!;
    const { g, wrt, feeds } = buildCase(c, prng(11));
    const [, mask] = g.nodes[0]!.outputs;
    // Use y through the node's own output to exercise the rule (the builder's dropout() uses the mask).
    const loss = projectToScalar(g, g.nodes[0]!.outputs[0]!, prng(12));
    addOutput(g, 'loss', loss);
    addOutput(g, 'grad', gradients(g, loss, wrt)[0]!);
    addOutput(g, 'mask', op1(g, 'Cast', [mask!], { to: 1 }));
    const s = await ort.InferenceSession.create(serialize(g));
    const out = await s.run({ x0: new ort.Tensor('float32', feeds.x0!, [4, 50]) });
    const grad = out.grad!.data as Float32Array;
    const x = feeds.x0!;
    const inner = grad.reduce((a, gk, k) => a + gk * x[k]!, 0);
    const dropped = (out.mask!.data as Float32Array).filter((m) => m === 0).length;
    expect(dropped).toBeGreaterThan(40); // p = 0.5 of 200: really dropping
    expect(Math.abs(inner - (out.loss!.data as Float32Array)[0]!)).toBeLessThan(1e-4);
    grad.forEach((gk, k) => {
      expect(gk === 0).toBe((out.mask!.data as Float32Array)[k] === 0);
    });
  });
});
