/**
 * The table of ONNX ops we emit: for each, its attributes (kind and order), its arity and its
 * shape inference. Adding an op means adding one entry here; the op-type union `OpType` is derived
 * from this table, so the gradient table (later) and the builder are checked against it.
 */
import { type DType, type Shape, type Value, fmtShape, fmtValue, numel } from './types.js';

export type AttrKind = 'int' | 'ints' | 'float' | 'floats' | 'string' | 'graph';

/** What an op needs to know of a graph-valued attribute (Loop's body): the body's signature. */
export interface SubGraph {
  readonly name: string;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
}
type AttrValue<K extends AttrKind> = K extends 'int' | 'float'
  ? number
  : K extends 'graph'
    ? SubGraph
    : K extends 'string'
      ? string
      : readonly number[];
export type AttrValueAny = number | string | readonly number[] | SubGraph;
type AttrSchema = Readonly<Record<string, AttrKind>>;

export interface TypeShape {
  dtype: DType;
  shape: number[];
}

/** What a shape-inference function sees; `fail` throws an error naming the node and its inputs. */
export interface InferContext {
  fail(message: string): never;
  /** The int64 contents of a constant operand (shape, axes, starts...), or a failure. */
  ints(index: number): number[];
}

interface OpDef<S extends AttrSchema> {
  readonly attrs: S;
  /** Minimum and maximum number of inputs. */
  readonly arity: readonly [number, number];
  /** Number of outputs; -1: variadic (as many as `infer` returns). */
  readonly outputs: number;
  infer(inputs: readonly Value[], attrs: Partial<AttrsFor<S>>, ctx: InferContext): TypeShape[];
}
type AttrsFor<S extends AttrSchema> = { [K in keyof S]: AttrValue<S[K]> };

const def = <S extends AttrSchema>(d: OpDef<S>): OpDef<S> => d;

// ---- shape helpers -------------------------------------------------------------------------

/** Numpy-style multidirectional broadcasting. */
export function broadcastShapes(shapes: readonly Shape[], ctx: InferContext): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s[s.length - rank + i] ?? 1;
      if (k === d || k === 1) continue;
      if (d !== 1) ctx.fail(`cannot broadcast shapes ${shapes.map(fmtShape).join(' and ')}`);
      d = k;
    }
    out.push(d);
  }
  return out;
}

const normAxis = (axis: number, rank: number, ctx: InferContext): number => {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) ctx.fail(`axis ${axis} out of range for rank ${rank}`);
  return a;
};

const same = (x: Value): TypeShape => ({ dtype: x.dtype, shape: [...x.shape] });

const requireFloat = (xs: readonly Value[], ctx: InferContext): void => {
  for (const x of xs) if (x.dtype !== 'float32') ctx.fail(`expects float32, got ${x.dtype} for ${x.name}`);
};

const unary = def({
  attrs: {},
  arity: [1, 1],
  outputs: 1,
  infer: ([x], _a, ctx) => {
    requireFloat([x!], ctx);
    return [same(x!)];
  },
});

const binary = def({
  attrs: {},
  arity: [2, 2],
  outputs: 1,
  infer: ([a, b], _a, ctx) => {
    if (a!.dtype !== b!.dtype) ctx.fail(`dtype mismatch ${a!.dtype} vs ${b!.dtype}`);
    return [{ dtype: a!.dtype, shape: broadcastShapes([a!.shape, b!.shape], ctx) }];
  },
});

const compare = def({
  attrs: {},
  arity: [2, 2],
  outputs: 1,
  infer: ([a, b], _a, ctx) => [{ dtype: 'bool', shape: broadcastShapes([a!.shape, b!.shape], ctx) }],
});

function reduceShape(
  shape: Shape,
  axes: readonly number[] | undefined,
  keepdims: boolean,
  ctx: InferContext,
): number[] {
  const all = axes === undefined || axes.length === 0;
  const set = new Set((axes ?? []).map((a) => normAxis(a, shape.length, ctx)));
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (all || set.has(i)) {
      if (keepdims) out.push(1);
    } else out.push(d);
  });
  return out;
}

/** Reductions whose axes are an attribute in opset 17 (ReduceMean, ReduceMax). */
const reduceAttr = def({
  attrs: { axes: 'ints', keepdims: 'int' },
  arity: [1, 1],
  outputs: 1,
  infer: ([x], a, ctx) => [{ dtype: x!.dtype, shape: reduceShape(x!.shape, a.axes, (a.keepdims ?? 1) === 1, ctx) }],
});

/** Output size of a sliding window along one axis (Conv, MaxPool). */
function windowOut(size: number, k: number, s: number, d: number, p0: number, p1: number, ctx: InferContext): number {
  const out = Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
  if (out < 1) ctx.fail(`window of ${k} (dilation ${d}, stride ${s}, pads ${p0},${p1}) does not fit size ${size}`);
  return out;
}

interface WindowAttrs {
  kernel_shape?: readonly number[];
  pads?: readonly number[];
  strides?: readonly number[];
  dilations?: readonly number[];
}

function spatial(x: Shape, kernel: readonly number[], a: WindowAttrs, ctx: InferContext): number[] {
  const n = x.length - 2;
  if (kernel.length !== n) ctx.fail(`kernel ${fmtShape(kernel)} does not match ${n} spatial dims`);
  return kernel.map((k, i) =>
    windowOut(x[i + 2]!, k, a.strides?.[i] ?? 1, a.dilations?.[i] ?? 1, a.pads?.[i] ?? 0, a.pads?.[i + n] ?? 0, ctx),
  );
}

// ---- the table -----------------------------------------------------------------------------

export const OPS = {
  Identity: def({ attrs: {}, arity: [1, 1], outputs: 1, infer: ([x]) => [same(x!)] }),
  Relu: unary,
  Sigmoid: unary,
  Neg: unary,
  Sqrt: unary,
  Exp: unary,
  Log: unary,
  Abs: unary,
  Acos: unary,
  Reciprocal: unary,
  Add: binary,
  Sub: binary,
  Mul: binary,
  Div: binary,
  Max: binary,
  Min: binary,
  Sign: unary,
  Less: compare,
  Greater: compare,
  Equal: compare,
  Where: def({
    attrs: {},
    arity: [3, 3],
    outputs: 1,
    infer: ([c, a, b], _a, ctx) => {
      if (c!.dtype !== 'bool') ctx.fail('condition must be bool');
      if (a!.dtype !== b!.dtype) ctx.fail(`dtype mismatch ${a!.dtype} vs ${b!.dtype}`);
      return [{ dtype: a!.dtype, shape: broadcastShapes([c!.shape, a!.shape, b!.shape], ctx) }];
    },
  }),
  Cast: def({
    attrs: { to: 'int' },
    arity: [1, 1],
    outputs: 1,
    infer: ([x], a, ctx) => {
      const to = ({ 1: 'float32', 7: 'int64', 9: 'bool' } as const)[a.to as 1 | 7 | 9];
      if (!to) ctx.fail(`unsupported Cast target ${a.to}`);
      return [{ dtype: to, shape: [...x!.shape] }];
    },
  }),
  Clip: def({
    attrs: {},
    arity: [1, 3],
    outputs: 1,
    infer: ([x, ...bounds], _a, ctx) => {
      for (const b of bounds)
        if (b.shape.length !== 0) ctx.fail(`Clip bounds must be scalars, got ${fmtShape(b.shape)}`);
      return [same(x!)];
    },
  }),
  MatMul: def({
    attrs: {},
    arity: [2, 2],
    outputs: 1,
    infer: ([a, b], _a, ctx) => {
      if (a!.shape.length < 2 || b!.shape.length < 2) ctx.fail('MatMul operands must have rank >= 2');
      const [m, k] = a!.shape.slice(-2) as [number, number];
      const [k2, n] = b!.shape.slice(-2) as [number, number];
      if (k !== k2) ctx.fail(`inner dimensions differ: ${fmtShape(a!.shape)} x ${fmtShape(b!.shape)}`);
      const batch = broadcastShapes([a!.shape.slice(0, -2), b!.shape.slice(0, -2)], ctx);
      return [{ dtype: a!.dtype, shape: [...batch, m, n] }];
    },
  }),
  Conv: def({
    attrs: { dilations: 'ints', group: 'int', kernel_shape: 'ints', pads: 'ints', strides: 'ints' },
    arity: [2, 3],
    outputs: 1,
    infer: ([x, w, b], a, ctx) => {
      requireFloat([x!, w!], ctx);
      const group = a.group ?? 1;
      const [n, c] = x!.shape as [number, number];
      const [m, cg] = w!.shape as [number, number];
      if (x!.shape.length !== w!.shape.length)
        ctx.fail(`input ${fmtShape(x!.shape)} and weight ${fmtShape(w!.shape)} ranks differ`);
      if (c !== cg * group) ctx.fail(`input has ${c} channels, weight expects ${cg * group} (group ${group})`);
      if (b && (b.shape.length !== 1 || b.shape[0] !== m)) ctx.fail(`bias ${fmtShape(b.shape)} must be [${m}]`);
      const kernel = a.kernel_shape ?? w!.shape.slice(2);
      return [{ dtype: 'float32', shape: [n, m, ...spatial(x!.shape, kernel, a, ctx)] }];
    },
  }),
  ConvTranspose: def({
    attrs: {
      dilations: 'ints',
      group: 'int',
      kernel_shape: 'ints',
      output_padding: 'ints',
      pads: 'ints',
      strides: 'ints',
    },
    arity: [2, 3],
    outputs: 1,
    infer: ([x, w, b], a, ctx) => {
      requireFloat([x!, w!], ctx);
      const group = a.group ?? 1;
      const [n, c] = x!.shape as [number, number];
      if (w!.shape[0] !== c) ctx.fail(`input has ${c} channels, weight ${fmtShape(w!.shape)} expects ${w!.shape[0]}`);
      const m = w!.shape[1]! * group;
      if (b && (b.shape.length !== 1 || b.shape[0] !== m)) ctx.fail(`bias ${fmtShape(b.shape)} must be [${m}]`);
      const kernel = a.kernel_shape ?? w!.shape.slice(2);
      const ns = kernel.length;
      const out = kernel.map((k, i) => {
        const s = a.strides?.[i] ?? 1;
        const d = a.dilations?.[i] ?? 1;
        const pads = (a.pads?.[i] ?? 0) + (a.pads?.[i + ns] ?? 0);
        return s * (x!.shape[i + 2]! - 1) + (a.output_padding?.[i] ?? 0) + (k - 1) * d + 1 - pads;
      });
      return [{ dtype: 'float32', shape: [n, m, ...out] }];
    },
  }),
  MaxPool: def({
    // One output only: the WebGPU provider does not implement MaxPool's indices output.
    attrs: { kernel_shape: 'ints', pads: 'ints', strides: 'ints' },
    arity: [1, 1],
    outputs: 1,
    infer: ([x], a, ctx) => {
      const kernel = a.kernel_shape ?? ctx.fail('kernel_shape is required');
      return [{ dtype: x!.dtype, shape: [x!.shape[0]!, x!.shape[1]!, ...spatial(x!.shape, kernel, a, ctx)] }];
    },
  }),
  BatchNormalization: def({
    // Inference form only (training_mode = 0): statistics come in as inputs.
    attrs: { epsilon: 'float', momentum: 'float' },
    arity: [5, 5],
    outputs: 1,
    infer: ([x, ...params], _a, ctx) => {
      const c = x!.shape[1];
      for (const p of params)
        if (p.shape.length !== 1 || p.shape[0] !== c)
          ctx.fail(`parameter ${p.name} ${fmtShape(p.shape)} must be [${c}]`);
      return [same(x!)];
    },
  }),
  Dropout: def({
    // Outputs: y and the keep-mask. We always consume the mask (see layers.dropout), which keeps
    // onnxruntime's EliminateDropout pass from deleting the node.
    attrs: { seed: 'int' },
    arity: [3, 3],
    outputs: 2,
    infer: ([x, ratio, training], _a, ctx) => {
      if (ratio!.shape.length !== 0 || ratio!.dtype !== 'float32') ctx.fail('ratio must be a float32 scalar');
      if (training!.shape.length !== 0 || training!.dtype !== 'bool') ctx.fail('training_mode must be a bool scalar');
      return [same(x!), { dtype: 'bool', shape: [...x!.shape] }];
    },
  }),
  Concat: def({
    attrs: { axis: 'int' },
    arity: [1, 65536],
    outputs: 1,
    infer: (xs, a, ctx) => {
      const rank = xs[0]!.shape.length;
      const axis = normAxis(a.axis ?? ctx.fail('axis is required'), rank, ctx);
      const out = [...xs[0]!.shape];
      for (const x of xs.slice(1)) {
        if (x.dtype !== xs[0]!.dtype) ctx.fail('inputs have different dtypes');
        if (x.shape.length !== rank || x.shape.some((d, i) => i !== axis && d !== out[i])) {
          ctx.fail(`shapes ${xs.map((v) => fmtShape(v.shape)).join(', ')} differ outside axis ${axis}`);
        }
        out[axis]! += x.shape[axis]!;
      }
      return [{ dtype: xs[0]!.dtype, shape: out }];
    },
  }),
  Reshape: def({
    attrs: {},
    arity: [2, 2],
    outputs: 1,
    infer: ([x], _a, ctx) => {
      const target = ctx.ints(1).map((d, i) => (d === 0 ? x!.shape[i]! : d));
      const known = target.filter((d) => d !== -1);
      if (target.length - known.length > 1) ctx.fail('at most one -1 in the target shape');
      const total = numel(x!.shape);
      const rest = numel(known);
      const out = target.map((d) => (d === -1 ? total / rest : d));
      if (numel(out) !== total || out.some((d) => !Number.isInteger(d))) {
        ctx.fail(`cannot reshape ${fmtShape(x!.shape)} to ${fmtShape(target)}`);
      }
      return [{ dtype: x!.dtype, shape: out }];
    },
  }),
  Transpose: def({
    attrs: { perm: 'ints' },
    arity: [1, 1],
    outputs: 1,
    infer: ([x], a, ctx) => {
      const rank = x!.shape.length;
      const perm = a.perm ?? [...Array(rank).keys()].reverse();
      if (perm.length !== rank || new Set(perm).size !== rank || perm.some((p) => p < 0 || p >= rank)) {
        ctx.fail(`perm ${fmtShape(perm)} is not a permutation of rank ${rank}`);
      }
      return [{ dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]!) }];
    },
  }),
  Slice: def({
    attrs: {},
    arity: [3, 5],
    outputs: 1,
    infer: (inputs, _a, ctx) => {
      const x = inputs[0]!;
      const starts = ctx.ints(1);
      const ends = ctx.ints(2);
      const axes = inputs.length > 3 ? ctx.ints(3) : starts.map((_, i) => i);
      const steps = inputs.length > 4 ? ctx.ints(4) : starts.map(() => 1);
      const out = [...x.shape];
      axes.forEach((axis, i) => {
        const ax = normAxis(axis, x.shape.length, ctx);
        const dim = x.shape[ax]!;
        const step = steps[i]!;
        if (step === 0) ctx.fail('steps must be non-zero');
        // ONNX clamping: [0, dim] for positive steps, [-1, dim-1] for negative ones.
        const [lo, hi] = step > 0 ? [0, dim] : [-1, dim - 1];
        const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
        out[ax] = Math.max(0, Math.ceil((clamp(ends[i]!) - clamp(starts[i]!)) / step));
      });
      return [{ dtype: x.dtype, shape: out }];
    },
  }),
  Pad: def({
    // Constant-mode padding (the default mode); pads = [begin_0.., end_0..] as an int64 constant.
    attrs: {},
    arity: [2, 3],
    outputs: 1,
    infer: ([x], _a, ctx) => {
      const pads = ctx.ints(1);
      const rank = x!.shape.length;
      if (pads.length !== 2 * rank) ctx.fail(`pads has ${pads.length} values, expected ${2 * rank}`);
      return [{ dtype: x!.dtype, shape: x!.shape.map((d, i) => d + pads[i]! + pads[i + rank]!) }];
    },
  }),
  Expand: def({
    attrs: {},
    arity: [2, 2],
    outputs: 1,
    infer: ([x], _a, ctx) => [{ dtype: x!.dtype, shape: broadcastShapes([x!.shape, ctx.ints(1)], ctx) }],
  }),
  Unsqueeze: def({
    attrs: {},
    arity: [2, 2],
    outputs: 1,
    infer: ([x], _a, ctx) => {
      const rank = x!.shape.length + ctx.ints(1).length;
      const axes = new Set(ctx.ints(1).map((a) => normAxis(a, rank, ctx)));
      const rest = [...x!.shape];
      return [{ dtype: x!.dtype, shape: [...Array(rank).keys()].map((i) => (axes.has(i) ? 1 : rest.shift()!)) }];
    },
  }),
  Squeeze: def({
    attrs: {},
    arity: [2, 2],
    outputs: 1,
    infer: ([x], _a, ctx) => {
      const axes = new Set(ctx.ints(1).map((a) => normAxis(a, x!.shape.length, ctx)));
      for (const a of axes) if (x!.shape[a] !== 1) ctx.fail(`cannot squeeze axis ${a} of ${fmtShape(x!.shape)}`);
      return [{ dtype: x!.dtype, shape: x!.shape.filter((_, i) => !axes.has(i)) }];
    },
  }),
  ReduceSum: def({
    // opset 13+: axes is an optional input; absent means all axes.
    attrs: { keepdims: 'int' },
    arity: [1, 2],
    outputs: 1,
    infer: (inputs, a, ctx) => {
      const axes = inputs.length > 1 ? ctx.ints(1) : undefined;
      return [{ dtype: inputs[0]!.dtype, shape: reduceShape(inputs[0]!.shape, axes, (a.keepdims ?? 1) === 1, ctx) }];
    },
  }),
  ReduceMean: reduceAttr,
  ReduceMax: reduceAttr,
  /** Resize by constant per-axis scales (inputs X, roi (empty), scales); we emit it only as nearest up-sampling. */
  Resize: def({
    attrs: { coordinate_transformation_mode: 'string', mode: 'string', nearest_mode: 'string' },
    arity: [3, 3],
    outputs: 1,
    infer: ([x, , scales], _a, ctx) => {
      const c = scales!.constant;
      if (c?.dtype !== 'float32' || c.shape.length !== 1 || c.shape[0] !== x!.shape.length)
        return ctx.fail(`scales must be a float32 constant of length ${x!.shape.length}`);
      const factors = Array.from(c.data as Float32Array);
      const out = x!.shape.map((d, i) => d * factors[i]!);
      if (out.some((d) => !Number.isInteger(d)))
        ctx.fail(`scales ${factors.join(',')} do not give whole sizes from ${fmtShape(x!.shape)}`);
      return [{ dtype: x!.dtype, shape: out }];
    },
  }),
  Gather: def({
    attrs: { axis: 'int' },
    arity: [2, 2],
    outputs: 1,
    infer: ([x, idx], a, ctx) => {
      if (idx!.dtype !== 'int64') ctx.fail(`indices must be int64, got ${idx!.dtype}`);
      const axis = normAxis(a.axis ?? 0, x!.shape.length, ctx);
      return [{ dtype: x!.dtype, shape: [...x!.shape.slice(0, axis), ...idx!.shape, ...x!.shape.slice(axis + 1)] }];
    },
  }),
  /**
   * Loop with a trip count M (int64 scalar) and a condition (bool scalar); the body maps
   * (iteration, condition, carried...) to (condition, carried...). Static shapes only: the body may
   * not have scan outputs (their length would be the run-time trip count), so per-iteration
   * results are written into carried accumulators instead.
   */
  Loop: def({
    attrs: { body: 'graph' },
    arity: [2, 65536],
    outputs: -1,
    infer: ([m, cond, ...carried], a, ctx) => {
      const body = a.body ?? ctx.fail('body is required');
      if (m!.dtype !== 'int64' || m!.shape.length !== 0) ctx.fail('M must be an int64 scalar');
      if (cond!.dtype !== 'bool' || cond!.shape.length !== 0) ctx.fail('cond must be a bool scalar');
      const [iter, bcond, ...bin] = body.inputs;
      if (iter?.dtype !== 'int64' || iter.shape.length !== 0 || !bcond || bcond.dtype !== 'bool')
        ctx.fail(`body ${body.name} must start with inputs (iteration int64[], condition bool[])`);
      if (bin.length !== carried.length)
        ctx.fail(`body ${body.name} takes ${bin.length} carried values, the Loop gives ${carried.length}`);
      const [ocond, ...out] = body.outputs;
      if (ocond?.dtype !== 'bool' || ocond.shape.length !== 0)
        ctx.fail(`body ${body.name} must output the condition (bool[]) first`);
      if (out.length !== carried.length)
        ctx.fail(
          `body ${body.name} outputs ${out.length} values for ${carried.length} carried ones (scan outputs are not supported: static shapes)`,
        );
      carried.forEach((v, i) => {
        for (const b of [bin[i]!, out[i]!]) {
          if (b.dtype !== v.dtype || fmtShape(b.shape) !== fmtShape(v.shape))
            ctx.fail(`carried value ${i}: Loop gives ${fmtValue(v)}, body has ${fmtValue(b)}`);
        }
      });
      return carried.map(same);
    },
  }),
} as const;

export type OpType = keyof typeof OPS;
type SchemaOf<T extends OpType> = (typeof OPS)[T]['attrs'];
export type AttrsOf<T extends OpType> = Partial<AttrsFor<SchemaOf<T>>>;

/** Attribute kinds of an op, for serialization. */
export const attrKinds = (op: OpType): Readonly<Record<string, AttrKind>> => OPS[op].attrs;
