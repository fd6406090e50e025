/**
 * One gradient rule per op, in one table keyed by the op-type union: a missing entry is a compile
 * error, and the rule of op X is given a node of op X (its attributes typed as X's). "none"
 * (outputs carry no gradient: comparisons, masks) and "forbidden" (must never sit on a
 * differentiated path) are explicit entries. Rules emit only standard ONNX ops that every
 * provider we target runs (no MaxPool indices, no training-mode BatchNormalization).
 * Each rule returns d(loss)/d(input) in any shape that broadcasts to the input: the engine reduces.
 */
import { chooseWeightGrad, convWeightGrad } from './convWeightGrad.js';
import { type Graph, constant, op1 } from './graph.js';
import type { GradContext, GradEntry, GradRule, GradTable } from './gradientTypes.js';
import type { OpType } from './ops.js';
import { type Value, fmtShape } from './types.js';

const rule = <T extends OpType>(r: GradRule<T>): GradEntry<T> => ({ kind: 'rule', rule: r });
const none = <T extends OpType>(why: string): GradEntry<T> => ({ kind: 'none', why });

// ---- small helpers -------------------------------------------------------------------------
const scalar = (g: Graph, v: number): Value => constant(g, 'c', 'float32', [], [v]);
const ints = (g: Graph, name: string, v: readonly number[]): Value => constant(g, name, 'int64', [v.length], v);
const mul = (g: Graph, a: Value, b: Value): Value => op1(g, 'Mul', [a, b]);
const reshape = (g: Graph, x: Value, shape: readonly number[]): Value =>
  op1(g, 'Reshape', [x, ints(g, 'shape', shape)]);
/** Keep dy where `cond` holds, 0 elsewhere. */
const maskWhere = (g: Graph, cond: Value, dy: Value): Value => op1(g, 'Where', [cond, dy, scalar(g, 0)]);
const dropWhere = (g: Graph, cond: Value, dy: Value): Value => op1(g, 'Where', [cond, scalar(g, 0), dy]);
/** Swap the last two axes (matrix transpose of a batch of matrices). */
const transposeLast2 = (g: Graph, x: Value): Value => {
  const perm = [...x.shape.keys()];
  perm.splice(-2, 2, perm.length - 1, perm.length - 2);
  return op1(g, 'Transpose', [x], { perm });
};
const unaryRule = <T extends OpType>(f: (g: Graph, x: Value, y: Value, dy: Value) => Value): GradEntry<T> =>
  rule(({ g, node, dy }) => [f(g, node.inputs[0]!, node.outputs[0]!, dy[0]!)]);

type ReduceOp = 'ReduceSum' | 'ReduceMean' | 'ReduceMax';

/** Re-expand a reduction's gradient over the reduced axes. */
function expandReduced(g: Graph, ctx: GradContext<ReduceOp>, axes: readonly number[] | undefined): Value {
  const x = ctx.node.inputs[0]!;
  const rank = x.shape.length;
  const all = !axes || axes.length === 0;
  const set = new Set((axes ?? []).map((a) => (a < 0 ? a + rank : a)));
  const keptShape = x.shape.map((d, i) => (all || set.has(i) ? 1 : d));
  return op1(g, 'Expand', [reshape(g, ctx.dy[0]!, keptShape), ints(g, 'shape', x.shape)]);
}

/** A reduction's axes (undefined: all): ReduceSum's are an optional input (opset 13), the others' an attribute. */
const reduceAxesOf = ({ node, constInts }: GradContext<ReduceOp>): readonly number[] | undefined => {
  if (node.op === 'ReduceSum') return node.inputs[1] ? constInts(node.inputs[1]) : undefined;
  return node.attrs.axes;
};

const BIG = 2 ** 53 - 1; // "to the end" as a Slice end (with negative steps: past the start)

function requireAttrs(ctx: GradContext, ok: boolean, what: string): void {
  if (!ok)
    throw new Error(
      `gradient of ${ctx.node.op} at ${ctx.node.name}: only ${what} is supported (attributes ${JSON.stringify(ctx.node.attrs)})`,
    );
}

/** [N, C, H, W] of a conv's or pool's operand: the rules support 2-D convolutions and pools only. */
function dims4(ctx: GradContext, v: Value): [number, number, number, number] {
  const [n, c, h, w, ...rest] = v.shape;
  if (w === undefined || rest.length > 0) {
    const where = `gradient of ${ctx.node.op} at ${ctx.node.name}`;
    throw new Error(`${where}: only 2-D is supported, ${v.name} is ${fmtShape(v.shape)}`);
  }
  return [n!, c!, h!, w];
}

// ---- convolutions --------------------------------------------------------------------------

/**
 * Conv (stride 1, no dilation, no groups: the U-Net's 3x3 and 1x1 convs).
 * dX: a Conv of dY with the weights transposed (in ↔ out) and flipped, pads k−1−p: as fast as
 *   the forward conv on onnxruntime CPU (ConvTranspose measured up to 2x slower).
 * dW[m,c,i,j] = Σ_n,y,x dY[n,m,y,x]·Xpad[n,c,y+i,x+j]: the k² shifted windows of one operand
 *   contracted with the other in MatMuls (about 2.5x faster on CPU than a Conv with transposed
 *   operands); the formulation is chosen per layer by its shape (convWeightGrad.ts).
 */
const convGrad: GradRule<'Conv'> = (ctx) => {
  const { g, node, dy, wants } = ctx;
  const x = node.inputs[0]!;
  const w = node.inputs[1]!;
  const b = node.inputs[2];
  const a = node.attrs;
  const ones = (v?: readonly number[]): boolean => !v || v.every((s) => s === 1);
  requireAttrs(
    ctx,
    ones(a.strides) && ones(a.dilations) && (a.group ?? 1) === 1 && x.shape.length === 4,
    'a 2-D conv with stride 1, dilation 1, group 1',
  );
  const d = dy[0]!;
  const [n, c] = dims4(ctx, x);
  const [m, , kh, kw] = dims4(ctx, w);
  const pads = a.pads ?? [0, 0, 0, 0];
  let dx: Value | undefined;
  if (wants[0]) {
    // wt[c, m, i, j] = w[m, c, kh−1−i, kw−1−j]. The flip is a MatMul of the kh·kw taps with the
    // reversing permutation matrix: a Slice with steps −1 takes onnxruntime's slow generic path
    // (6.5 ms for the 256×256×3×3 bottleneck weight at base 16, against well under 1 ms).
    let wt = w;
    if (kh > 1 || kw > 1) {
      const k2 = kh * kw;
      const reverse = constant(
        g,
        'reverse',
        'float32',
        [k2, k2],
        Array.from({ length: k2 * k2 }, (_, e) => (Math.floor(e / k2) + (e % k2) === k2 - 1 ? 1 : 0)),
      );
      wt = reshape(g, op1(g, 'MatMul', [reshape(g, w, [m, c, k2]), reverse]), [m, c, kh, kw]);
    }
    wt = op1(g, 'Transpose', [wt], { perm: [1, 0, 2, 3] });
    const back = [kh - 1 - pads[0]!, kw - 1 - pads[1]!, kh - 1 - pads[2]!, kw - 1 - pads[3]!];
    dx = op1(g, 'Conv', [d, wt], { dilations: [1, 1], group: 1, kernel_shape: [kh, kw], pads: back, strides: [1, 1] });
  }
  const shape = { n, c, m, h: x.shape[2]!, w: x.shape[3]!, kh, kw };
  const dw = wants[1] ? convWeightGrad(g, chooseWeightGrad(shape), x, d, shape, pads) : undefined;
  const db = b && wants[2] ? op1(g, 'ReduceSum', [d, ints(g, 'axes', [0, 2, 3])], { keepdims: 0 }) : undefined;
  return [dx, dw, b ? db : undefined].slice(0, node.inputs.length);
};

/**
 * ConvTranspose with kernel = stride and no padding (the U-Net's 2x2 up-convolution): the
 * windows do not overlap, so dX is a plain strided Conv of dY with the same weights, and dW is
 * a batched MatMul of X with each of dY's k×k phases.
 */
const convTransposeGrad: GradRule<'ConvTranspose'> = (ctx) => {
  const { g, node, dy, wants } = ctx;
  const x = node.inputs[0]!;
  const w = node.inputs[1]!;
  const b = node.inputs[2];
  const a = node.attrs;
  const [c, m, kh, kw] = dims4(ctx, w);
  const zero = (v?: readonly number[]): boolean => !v || v.every((p) => p === 0);
  requireAttrs(
    ctx,
    a.strides?.[0] === kh && a.strides?.[1] === kw && zero(a.pads) && zero(a.output_padding) && (a.group ?? 1) === 1,
    'kernel = stride, no padding, group 1',
  );
  const d = dy[0]!;
  const [n, , h, wd] = dims4(ctx, x);
  const dx = wants[0]
    ? op1(g, 'Conv', [d, w], {
        dilations: [1, 1],
        group: 1,
        kernel_shape: [kh, kw],
        pads: [0, 0, 0, 0],
        strides: [kh, kw],
      })
    : undefined;
  let dw: Value | undefined;
  if (wants[1]) {
    // dW[c, m, i, j] = Σ X[n, c, y, x]·dY[n, m, k·y + i, k·x + j]: each phase (i, j) of dY is a Slice
    // with steps (kh, kw), contracted with X in a batched MatMul. Measured on the base-16 train step
    // (2026-12-03): 6-D Transpose regrouping dY into its phases 15.6 ms at up0 (dY [8,16,128,128]).
    const xs = reshape(g, x, [n, c, h * wd]);
    const phases: Value[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const phase = op1(g, 'Slice', [
          d,
          ints(g, 'starts', [i, j]),
          ints(g, 'ends', [BIG, BIG]),
          ints(g, 'axes', [2, 3]),
          ints(g, 'steps', [kh, kw]),
        ]); // [N, M, h, w]
        phases.push(
          reshape(g, op1(g, 'MatMul', [xs, transposeLast2(g, reshape(g, phase, [n, m, h * wd]))]), [n, c, m, 1]),
        ); // [N, C, M, 1]
      }
    }
    const prod = phases.length === 1 ? phases[0]! : op1(g, 'Concat', phases, { axis: 3 }); // [N, C, M, kh·kw]
    dw = reshape(g, op1(g, 'ReduceSum', [prod, ints(g, 'axes', [0])], { keepdims: 0 }), w.shape);
  }
  const db = b && wants[2] ? op1(g, 'ReduceSum', [d, ints(g, 'axes', [0, 2, 3])], { keepdims: 0 }) : undefined;
  return [dx, dw, b ? db : undefined].slice(0, node.inputs.length);
};

// ---- the table -----------------------------------------------------------------------------

export const GRADIENTS: GradTable = {
  Identity: rule(({ dy }) => [dy[0]]),
  Relu: unaryRule((g, _x, y, dy) => maskWhere(g, op1(g, 'Greater', [y, scalar(g, 0)]), dy)), // from the output
  Sigmoid: unaryRule((g, _x, y, dy) => mul(g, dy, mul(g, y, op1(g, 'Sub', [scalar(g, 1), y])))), // σ' = σ(1−σ)
  Neg: unaryRule((g, _x, _y, dy) => op1(g, 'Neg', [dy])),
  Sqrt: unaryRule((g, _x, y, dy) => op1(g, 'Div', [dy, mul(g, y, scalar(g, 2))])), // 1 / (2√x)
  Exp: unaryRule((g, _x, y, dy) => mul(g, dy, y)),
  Log: unaryRule((g, x, _y, dy) => op1(g, 'Div', [dy, x])),
  Abs: unaryRule((g, x, _y, dy) => mul(g, dy, op1(g, 'Sign', [x]))),
  Acos: unaryRule((g, x, _y, dy) =>
    op1(g, 'Neg', [op1(g, 'Div', [dy, op1(g, 'Sqrt', [op1(g, 'Sub', [scalar(g, 1), mul(g, x, x)])])])]),
  ), // −1/√(1−x²)
  Reciprocal: unaryRule((g, _x, y, dy) => op1(g, 'Neg', [mul(g, dy, mul(g, y, y))])), // −1/x² = −y²
  Sign: none('piecewise constant'),
  Add: rule(({ dy }) => [dy[0], dy[0]]),
  Sub: rule(({ g, dy, wants }) => [dy[0], wants[1] ? op1(g, 'Neg', [dy[0]!]) : undefined]),
  Mul: rule(({ g, node, dy, wants }) => [
    wants[0] ? mul(g, dy[0]!, node.inputs[1]!) : undefined,
    wants[1] ? mul(g, dy[0]!, node.inputs[0]!) : undefined,
  ]),
  Div: rule(({ g, node, dy, wants }) => [
    wants[0] ? op1(g, 'Div', [dy[0]!, node.inputs[1]!]) : undefined,
    wants[1] ? op1(g, 'Neg', [op1(g, 'Div', [mul(g, dy[0]!, node.outputs[0]!), node.inputs[1]!])]) : undefined, // −dy·a/b² = −dy·y/b
  ]),
  // Ties send the gradient to the first operand.
  Max: rule(({ g, node, dy }) => {
    const second = op1(g, 'Less', [node.inputs[0]!, node.inputs[1]!]);
    return [dropWhere(g, second, dy[0]!), maskWhere(g, second, dy[0]!)];
  }),
  Min: rule(({ g, node, dy }) => {
    const second = op1(g, 'Greater', [node.inputs[0]!, node.inputs[1]!]);
    return [dropWhere(g, second, dy[0]!), maskWhere(g, second, dy[0]!)];
  }),
  Less: none('boolean output'),
  Greater: none('boolean output'),
  Equal: none('boolean output'),
  Where: rule(({ g, node, dy, wants }) => {
    const cond = node.inputs[0]!;
    return [
      undefined,
      wants[1] ? maskWhere(g, cond, dy[0]!) : undefined,
      wants[2] ? dropWhere(g, cond, dy[0]!) : undefined,
    ];
  }),
  Cast: rule(({ node, dy }) => [
    node.inputs[0]!.dtype === 'float32' && node.outputs[0]!.dtype === 'float32' ? dy[0] : undefined,
  ]),
  // Zero outside [min, max]: this is what keeps arccos' gradient finite at perfect overlap.
  Clip: rule(({ g, node, dy }) => {
    const [, lo, hi] = node.inputs;
    const x = node.inputs[0]!;
    let d = dy[0]!;
    if (lo) d = dropWhere(g, op1(g, 'Less', [x, lo]), d);
    if (hi) d = dropWhere(g, op1(g, 'Greater', [x, hi]), d);
    return [d, ...node.inputs.slice(1).map(() => undefined)];
  }),
  MatMul: rule(({ g, node, dy, wants }) => {
    const a = node.inputs[0]!;
    const b = node.inputs[1]!;
    return [
      wants[0] ? op1(g, 'MatMul', [dy[0]!, transposeLast2(g, b)]) : undefined,
      wants[1] ? op1(g, 'MatMul', [transposeLast2(g, a), dy[0]!]) : undefined,
    ];
  }),
  Conv: rule(convGrad),
  ConvTranspose: rule(convTransposeGrad),
  // Without the indices output (WebGPU lacks it): the gradient goes to the positions equal to the
  // window's max. Exact ties share it; after a ReLU those are zeros, whose gradient ReLU drops.
  MaxPool: rule((ctx) => {
    const { g, node, dy } = ctx;
    const a = node.attrs;
    const kernel = a.kernel_shape!; // every MaxPool node has one: its shape inference requires it
    const k = kernel[0]!;
    const x = node.inputs[0]!;
    const [, , h, w] = dims4(ctx, x);
    const square = kernel.every((s) => s === k) && (a.strides ?? []).every((s) => s === k);
    const fits = (a.pads ?? []).every((p) => p === 0) && h % k === 0 && w % k === 0;
    requireAttrs(ctx, square && fits, 'square k×k pooling with stride k, no padding, sizes divisible by k');
    // The pooled output and its gradient up-sampled by nearest-neighbour Resize, then same-shape
    // Equal and Where. Measured on ORT CPU for one 2×2 pool of [8,16,128,128] (2026-12-03): 3.7 ms,
    // against 13.6 ms up-sampling with Expand and 15.4 ms broadcasting a [.., h, 1, w, 1] view over
    // the [.., h, 2, w, 2] view of x (onnxruntime's broadcasting over inner axes is slow).
    const up = (v: Value): Value =>
      op1(
        g,
        'Resize',
        [v, constant(g, 'roi', 'float32', [0], []), constant(g, 'scales', 'float32', [4], [1, 1, k, k])],
        {
          coordinate_transformation_mode: 'asymmetric',
          mode: 'nearest',
          nearest_mode: 'floor',
        },
      );
    const isMax = op1(g, 'Equal', [x, up(node.outputs[0]!)]);
    return [maskWhere(g, isMax, up(dy[0]!))];
  }),
  BatchNormalization: {
    kind: 'forbidden',
    why: 'the op is emitted in inference form only; training graphs compose batch statistics from primitives',
  },
  Dropout: rule(({ g, node, dy }) => {
    const ratio = node.inputs[1]!;
    const keep = op1(g, 'Cast', [node.outputs[1]!], { to: 1 });
    const scale = op1(g, 'Reciprocal', [op1(g, 'Sub', [scalar(g, 1), ratio])]);
    return [dy[0] ? mul(g, mul(g, dy[0], keep), scale) : undefined, undefined, undefined];
  }),
  Concat: rule(({ g, node, dy, wants }) => {
    const rank = node.outputs[0]!.shape.length;
    const axis = (node.attrs.axis! + rank) % rank; // every Concat node has an axis: its shape inference requires it
    let offset = 0;
    return node.inputs.map((x, i) => {
      const start = offset;
      offset += x.shape[axis]!;
      return wants[i]
        ? op1(g, 'Slice', [dy[0]!, ints(g, 'starts', [start]), ints(g, 'ends', [offset]), ints(g, 'axes', [axis])])
        : undefined;
    });
  }),
  Reshape: rule(({ g, node, dy }) => [reshape(g, dy[0]!, node.inputs[0]!.shape), undefined]),
  Unsqueeze: rule(({ g, node, dy }) => [reshape(g, dy[0]!, node.inputs[0]!.shape), undefined]),
  Squeeze: rule(({ g, node, dy }) => [reshape(g, dy[0]!, node.inputs[0]!.shape), undefined]),
  Transpose: rule(({ g, node, dy }) => {
    const perm = node.attrs.perm ?? [...node.inputs[0]!.shape.keys()].reverse();
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [op1(g, 'Transpose', [dy[0]!], { perm: inverse })];
  }),
  Expand: rule(({ dy }) => [dy[0], undefined]), // the engine sums over the expanded axes
  Slice: rule((ctx) => {
    const { g, node, dy, constInts } = ctx;
    const x = node.inputs[0]!;
    const starts = constInts(node.inputs[1]!);
    const ends = constInts(node.inputs[2]!);
    const axes = node.inputs[3] ? constInts(node.inputs[3]) : starts.map((_, i) => i);
    const steps = node.inputs[4] ? constInts(node.inputs[4]) : axes.map(() => 1);
    requireAttrs(
      ctx,
      steps.every((s) => s === 1),
      'step 1',
    );
    const rank = x.shape.length;
    const pads = new Array<number>(2 * rank).fill(0);
    axes.forEach((axis, i) => {
      const ax = (axis + rank) % rank;
      const dim = x.shape[ax]!;
      const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
      pads[ax] = clamp(starts[i]!);
      pads[ax + rank] = dim - clamp(ends[i]!);
    });
    return [op1(g, 'Pad', [dy[0]!, ints(g, 'pads', pads)]), ...node.inputs.slice(1).map(() => undefined)];
  }),
  Pad: rule(({ g, node, dy, constInts }) => {
    const x = node.inputs[0]!;
    const pads = constInts(node.inputs[1]!);
    const rank = x.shape.length;
    const starts = x.shape.map((_, i) => pads[i]!);
    const ends = x.shape.map((d, i) => pads[i]! + d);
    return [
      op1(g, 'Slice', [
        dy[0]!,
        ints(g, 'starts', starts),
        ints(g, 'ends', ends),
        ints(g, 'axes', [...Array(rank).keys()]),
      ]),
      ...node.inputs.slice(1).map(() => undefined),
    ];
  }),
  ReduceSum: rule((ctx) => [expandReduced(ctx.g, ctx, reduceAxesOf(ctx)), undefined].slice(0, ctx.node.inputs.length)),
  Resize: {
    kind: 'forbidden',
    why: "emitted only inside gradients (the max-pool gradient's up-sampling), never differentiated",
  },
  Gather: {
    kind: 'forbidden',
    why: "emitted only to pick a step's batch from the K-step inputs, never on a differentiated path",
  },
  Loop: {
    kind: 'forbidden',
    why: 'the K-step Loop runs whole train steps (each body has its own backward); it is never differentiated itself',
  },
  ReduceMean: rule((ctx) => {
    const { g, node } = ctx;
    const x = node.inputs[0]!;
    const count = x.shape.reduce((a, b) => a * b, 1) / node.outputs[0]!.shape.reduce((a, b) => a * b, 1);
    return [mul(g, expandReduced(g, ctx, reduceAxesOf(ctx)), scalar(g, 1 / count))];
  }),
  // Ties share the gradient (as in MaxPool).
  ReduceMax: rule((ctx) => {
    const { g, node } = ctx;
    const x = node.inputs[0]!;
    const y = node.outputs[0]!;
    const axes = reduceAxesOf(ctx);
    const all = !axes || axes.length === 0;
    const keptShape = x.shape.map((d, i) =>
      all || axes.map((a) => (a + x.shape.length) % x.shape.length).includes(i) ? 1 : d,
    );
    const isMax = op1(g, 'Equal', [x, reshape(g, y, keptShape)]);
    return [maskWhere(g, isMax, expandReduced(g, ctx, axes))];
  }),
};
