import { describe, expect, it } from 'vitest';
import { addInput, constant, createGraph, op1, scope } from '../../src/graphBuilder/graph.js';
import type { AttrsOf, OpType } from '../../src/graphBuilder/ops.js';
import { createNames } from '../../src/graphBuilder/names.js';
import type { DType, Shape, Value } from '../../src/graphBuilder/types.js';

type Operand = { shape: Shape; dtype?: DType } | { ints: number[] };
interface Case {
  op: OpType;
  inputs: Operand[];
  attrs?: Record<string, number | number[]>;
  expect: Shape;
}

/** Shape inference, one row per op and interesting case; expected shapes worked out by hand. */
const cases: Case[] = [
  { op: 'Add', inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }], expect: [2, 3, 4] },
  { op: 'Mul', inputs: [{ shape: [] }, { shape: [5, 1] }], expect: [5, 1] },
  { op: 'Less', inputs: [{ shape: [4] }, { shape: [] }], expect: [4] },
  { op: 'MatMul', inputs: [{ shape: [7, 2, 3] }, { shape: [3, 5] }], expect: [7, 2, 5] },
  {
    op: 'Conv',
    inputs: [{ shape: [2, 3, 16, 16] }, { shape: [8, 3, 3, 3] }, { shape: [8] }],
    attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
    expect: [2, 8, 16, 16],
  },
  {
    op: 'Conv',
    inputs: [{ shape: [1, 4, 9, 9] }, { shape: [4, 2, 3, 3] }],
    attrs: { group: 2, strides: [2, 2] },
    expect: [1, 4, 4, 4],
  },
  {
    op: 'ConvTranspose',
    inputs: [{ shape: [1, 8, 4, 4] }, { shape: [8, 4, 2, 2] }],
    attrs: { strides: [2, 2] },
    expect: [1, 4, 8, 8],
  },
  {
    op: 'MaxPool',
    inputs: [{ shape: [1, 4, 9, 9] }],
    attrs: { kernel_shape: [2, 2], strides: [2, 2] },
    expect: [1, 4, 4, 4],
  },
  { op: 'Concat', inputs: [{ shape: [1, 2, 4] }, { shape: [1, 3, 4] }], attrs: { axis: -2 }, expect: [1, 5, 4] },
  { op: 'Reshape', inputs: [{ shape: [2, 3, 4] }, { ints: [0, -1] }], expect: [2, 12] },
  { op: 'Transpose', inputs: [{ shape: [2, 3, 4] }], attrs: { perm: [2, 0, 1] }, expect: [4, 2, 3] },
  {
    op: 'Slice',
    inputs: [{ shape: [10, 8] }, { ints: [1, -3] }, { ints: [100, 8] }, { ints: [0, 1] }],
    expect: [9, 3],
  },
  { op: 'Slice', inputs: [{ shape: [10] }, { ints: [0] }, { ints: [10] }, { ints: [0] }, { ints: [3] }], expect: [4] },
  { op: 'Expand', inputs: [{ shape: [3, 1] }, { ints: [2, 3, 4] }], expect: [2, 3, 4] },
  { op: 'Unsqueeze', inputs: [{ shape: [3, 4] }, { ints: [0, -1] }], expect: [1, 3, 4, 1] },
  { op: 'Squeeze', inputs: [{ shape: [1, 3, 1] }, { ints: [2] }], expect: [1, 3] },
  { op: 'ReduceSum', inputs: [{ shape: [2, 3, 4] }, { ints: [1] }], attrs: { keepdims: 0 }, expect: [2, 4] },
  { op: 'ReduceSum', inputs: [{ shape: [2, 3, 4] }], expect: [1, 1, 1] },
  { op: 'ReduceMean', inputs: [{ shape: [2, 3, 4] }], attrs: { axes: [-1], keepdims: 1 }, expect: [2, 3, 1] },
  { op: 'Acos', inputs: [{ shape: [5] }], expect: [5] },
];

function build(c: Case) {
  const g = createGraph('t');
  const inputs: Value[] = c.inputs.map((o, i) =>
    'ints' in o
      ? constant(g, `c${i}`, 'int64', [o.ints.length], o.ints)
      : addInput(g, `x${i}`, o.dtype ?? 'float32', o.shape),
  );
  return op1(g, c.op, inputs, (c.attrs ?? {}) as AttrsOf<OpType>);
}

describe('shape inference', () => {
  it.each(
    cases.map((c) => [`${c.op} ${JSON.stringify(c.inputs.map((o) => ('ints' in o ? o.ints : o.shape)))}`, c] as const),
  )('%s', (_, c) => {
    expect(build(c).shape).toEqual(c.expect);
  });

  it.each([
    [
      'Add',
      [{ shape: [2, 3] }, { shape: [4, 3] }],
      {},
      /^Add \(Add\).*x0: float32\[2,3\].*cannot broadcast shapes \[2,3\] and \[4,3\]/,
    ],
    ['Conv', [{ shape: [1, 3, 8, 8] }, { shape: [4, 2, 3, 3] }], {}, /Conv.*input has 3 channels, weight expects 2/],
    ['Concat', [{ shape: [1, 2, 4] }, { shape: [1, 3, 5] }], { axis: 1 }, /differ outside axis 1/],
    ['Reshape', [{ shape: [2, 3] }, { ints: [4, -1] }], {}, /cannot reshape \[2,3\] to \[4,-1\]/],
    ['MaxPool', [{ shape: [1, 1, 1, 1] }], { kernel_shape: [2, 2] }, /does not fit size 1/],
    ['MatMul', [{ shape: [2, 3] }, { shape: [4, 5] }], {}, /inner dimensions differ: \[2,3\] x \[4,5\]/],
  ] as const)('%s mismatch names the node and the shapes', (op, inputs, attrs, message) => {
    expect(() =>
      build({ op, inputs: inputs as unknown as Operand[], attrs: attrs as Case['attrs'], expect: [] }),
    ).toThrow(message);
  });

  it('rejects unknown attributes and wrong arity', () => {
    expect(() => build({ op: 'Relu', inputs: [{ shape: [1] }], attrs: { alpha: 1 }, expect: [] })).toThrow(
      /unknown attribute "alpha"/,
    );
    expect(() => build({ op: 'Relu', inputs: [{ shape: [1] }, { shape: [1] }], expect: [] })).toThrow(
      /expects 1..1 inputs, got 2/,
    );
  });
});

describe('names', () => {
  it('are hierarchical: nodes with /, parameters with ., repeats numbered', () => {
    const g = createGraph('n');
    const x = addInput(g, 'x', 'float32', [1]);
    scope(g, 'down2', () =>
      scope(g, 'conv1', () => {
        expect(constant(g, 'weight', 'float32', [1], [1]).name).toBe('down2.conv1.weight');
        op1(g, 'Relu', [x]);
        op1(g, 'Relu', [x]);
      }),
    );
    expect(g.nodes.map((n) => n.name)).toEqual(['down2/conv1/Relu', 'down2/conv1/Relu_1']);
    expect(g.nodes[0]!.outputs[0]!.name).toBe('down2/conv1/Relu_output_0');
  });

  it('never hands out a name twice and pops scopes on error', () => {
    const names = createNames();
    names.scoped('a', () => names.param('w'));
    expect(() => names.scoped('a', () => names.param('w'))).toThrow(/"a.w" is already used/);
    expect(() =>
      names.scoped('b', () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(names.node('Relu')).toBe('Relu'); // back at the root scope
    expect(() => names.scoped('bad name', () => 0)).toThrow(/scope name/);
  });
});
