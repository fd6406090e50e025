/**
 * A graph under construction: typed values, nodes with inferred output shapes, initializers.
 * Every node is shape-checked when it is added, so a wrong wiring fails at the line that made it,
 * with the node's name and its input shapes in the message.
 */
import { type AttrValueAny, type AttrsOf, type InferContext, OPS, type OpType } from './ops.js';
import { type Names, createNames } from './names.js';
import {
  type DType,
  type Shape,
  type TensorArray,
  type TensorData,
  type Value,
  constantInts,
  fmtValue,
  numel,
} from './types.js';

/**
 * A node of op T; without T, of any op: a union discriminated by `op`, so that testing `node.op`
 * narrows `node.attrs` to that op's attributes (a Conv node's `attrs.pads` is a number list).
 */
export type Node<T extends OpType = OpType> = { [K in T]: OpNode<K> }[T];

interface OpNode<T extends OpType> {
  readonly name: string;
  readonly op: T;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  readonly attrs: Readonly<AttrsOf<T>>;
}

/** A node's attributes by name, whatever its op (for writers that go through all of them). */
export const attrsByName = (node: Node): Readonly<Record<string, AttrValueAny>> => node.attrs;

export interface Initializer extends Value {
  readonly constant: TensorData;
  /** Trainable parameter (weights) as opposed to a fixed constant (shapes, axes, eps). */
  readonly trainable: boolean;
}

/** Where one named parameter sits in a flat parameter vector. */
export interface ParamSlot {
  readonly name: string;
  readonly shape: Shape;
  readonly offset: number;
}

/**
 * Training graphs take all parameters as ONE flat input (session creation took 22 s with 6k
 * inputs versus 0.6 s with one); `param()` then cuts each weight out of it.
 */
export interface FlatParams {
  readonly flat: Value;
  readonly slots: ReadonlyMap<string, ParamSlot>;
  /** The per-weight values cut from `flat`, in creation order: what gradients are taken of. */
  readonly values: Value[];
}

export interface Graph {
  readonly name: string;
  readonly inputs: Value[];
  readonly outputs: Value[];
  readonly initializers: Initializer[];
  readonly nodes: Node[];
  readonly names: Names;
  /** Free-form metadata stored in the model (config, seeds). */
  readonly metadata: Record<string, string>;
  /** Set for training graphs: parameters come from a flat input instead of initializers. */
  flatParams?: FlatParams;
  /** Set to build with given (e.g. trained) weights: initializers take consecutive slices of `values`. */
  weights?: { values: Float32Array; offset: number };
}

export function createGraph(name: string): Graph {
  return { name, inputs: [], outputs: [], initializers: [], nodes: [], names: createNames(), metadata: {} };
}

/**
 * A subgraph of `outer` (a Loop body): its own nodes, inputs, outputs and initializers, but the
 * outer graph's naming authority, so that no name in it shadows one outside (ONNX requires that),
 * and its nodes may use the outer graph's values directly (outer-scope references).
 */
export function createSubgraph(outer: Graph, name: string): Graph {
  return { name, inputs: [], outputs: [], initializers: [], nodes: [], names: outer.names, metadata: {} };
}

export function addInput(g: Graph, name: string, dtype: DType, shape: Shape): Value {
  const v = { name: g.names.exact(name), dtype, shape: [...shape] };
  g.inputs.push(v);
  return v;
}

/** Mark `v` as a graph output called `name` (an Identity renames it when needed). */
export function addOutput(g: Graph, name: string, v: Value): Value {
  const out = v.name === name ? v : op(g, 'Identity', [v], {}, { outputNames: [name] })[0]!;
  g.outputs.push(out);
  return out;
}

function typedArray(dtype: DType, values: ArrayLike<number> | TensorArray): TensorArray {
  if (values instanceof Float32Array || values instanceof BigInt64Array || values instanceof Uint8Array) return values;
  const arr = Array.from(values);
  if (dtype === 'float32') return Float32Array.from(arr);
  if (dtype === 'int64') return BigInt64Array.from(arr.map((x) => BigInt(x)));
  return Uint8Array.from(arr);
}

function addInitializer(
  g: Graph,
  name: string,
  dtype: DType,
  shape: Shape,
  values: ArrayLike<number> | TensorArray,
  trainable: boolean,
): Initializer {
  const data = typedArray(dtype, values);
  if (data.length !== numel(shape))
    throw new Error(`initializer ${name}: ${data.length} values for shape [${shape.join(',')}]`);
  const init: Initializer = { name, dtype, shape: [...shape], constant: { dtype, shape: [...shape], data }, trainable };
  g.initializers.push(init);
  return init;
}

/**
 * A trainable parameter named `scope.local` (e.g. `down1.conv1.weight`): an initializer holding
 * `init()`, or, in a training graph, its slice of the flat parameter input. `init` is called only
 * when the values are needed (the weight initialization of the paper preset draws 31M normals; a
 * training graph, rebuilt every epoch, needs none of them).
 */
export function param(g: Graph, local: string, shape: Shape, init: () => Float32Array): Value {
  const name = g.names.param(local);
  if (!g.flatParams)
    return addInitializer(
      g,
      name,
      'float32',
      shape,
      g.weights ? takeWeights(g.weights, name, numel(shape)) : init(),
      true,
    );
  const slot = g.flatParams.slots.get(name);
  if (!slot || slot.shape.join() !== shape.join())
    throw new Error(`parameter ${name} [${shape.join(',')}] is not in the flat parameter layout`);
  const v = scope(g, local, () => {
    const span = (label: string, at: number): Value => constant(g, label, 'int64', [1], [at]);
    const slice = op1(g, 'Slice', [
      g.flatParams!.flat,
      span('start', slot.offset),
      span('end', slot.offset + numel(shape)),
    ]);
    return op1(g, 'Reshape', [slice, constant(g, 'shape', 'int64', [shape.length], shape)]);
  });
  g.flatParams.values.push(v);
  return v;
}

/** Slots for weights packed back to back in the order given. */
export function packSlots(weights: readonly { name: string; shape: Shape }[]): ParamSlot[] {
  let offset = 0;
  return weights.map(({ name, shape }) => {
    const slot = { name, shape: [...shape], offset };
    offset += numel(shape);
    return slot;
  });
}

/** The flat layout of a graph's trainable initializers, in creation order, and their values. */
export function flatLayout(g: Graph): { slots: ParamSlot[]; values: Float32Array } {
  const params = g.initializers.filter((i) => i.trainable);
  const slots = packSlots(params);
  const values = new Float32Array(params.reduce((n, p) => n + numel(p.shape), 0));
  params.forEach((p, i) => {
    values.set(p.constant.data as Float32Array, slots[i]!.offset);
  });
  return { slots, values };
}

function takeWeights(w: NonNullable<Graph['weights']>, name: string, count: number): Float32Array {
  if (w.offset + count > w.values.length)
    throw new Error(`parameter ${name} needs ${count} more values than the ${w.values.length} weights given`);
  const slice = w.values.subarray(w.offset, w.offset + count);
  w.offset += count;
  return slice;
}

/** Build a graph's initializers from `values` (flat, in creation order) instead of initializing them. */
export function useWeights(g: Graph, values: Float32Array): void {
  g.weights = { values, offset: 0 };
}

/** Throws unless every given weight was used: the graph and the weights describe the same network. */
export function checkWeightsUsed(g: Graph): void {
  if (g.weights && g.weights.offset !== g.weights.values.length) {
    throw new Error(`${g.name}: ${g.weights.values.length} weights given, the network has ${g.weights.offset}`);
  }
}

/** Take the parameters of a graph under construction from the flat input `flat` laid out as `slots`. */
export function useFlatParams(g: Graph, flat: Value, slots: readonly ParamSlot[]): void {
  g.flatParams = { flat, slots: new Map(slots.map((s) => [s.name, s])), values: [] };
}

/** A fixed constant tensor (shape operands, axes, scalars) named `scope.local` (numbered on repeats). */
export function constant(g: Graph, local: string, dtype: DType, shape: Shape, values: ArrayLike<number>): Initializer {
  return addInitializer(g, g.names.constant(local), dtype, shape, values, false);
}

export interface OpOptions {
  /** Exact names for the outputs (graph outputs); default: derived from the node name. */
  outputNames?: readonly string[];
}

/** Add one node; returns its outputs with inferred dtype and shape. */
export function op<T extends OpType>(
  g: Graph,
  type: T,
  inputs: readonly Value[],
  attrs: AttrsOf<T>,
  options: OpOptions = {},
): Value[] {
  const spec = OPS[type];
  const name = g.names.node(type);
  const describe = (): string => `${name} (${type}) with inputs ${inputs.map(fmtValue).join(', ') || 'none'}`;
  const ctx: InferContext = {
    fail(message) {
      throw new Error(`${describe()}: ${message}`);
    },
    ints(index) {
      const v = inputs[index];
      return (v && constantInts(v)) ?? ctx.fail(`input ${index} must be an int64 constant`);
    },
  };
  const [lo, hi] = spec.arity;
  if (inputs.length < lo || inputs.length > hi) ctx.fail(`expects ${lo}..${hi} inputs, got ${inputs.length}`);
  for (const key of Object.keys(attrs)) if (!(key in spec.attrs)) ctx.fail(`unknown attribute "${key}"`);
  // The table's entries are typed per op; here we only need the common call signature.
  const infer = spec.infer as (
    i: readonly Value[],
    a: AttrsOf<T>,
    c: InferContext,
  ) => { dtype: DType; shape: number[] }[];
  const outputs = infer(inputs, attrs, ctx).map((ts, i) => ({
    name: options.outputNames?.[i] !== undefined ? g.names.exact(options.outputNames[i]!) : g.names.output(name, i),
    ...ts,
  }));
  const node: Node<T> = { name, op: type, inputs: [...inputs], outputs, attrs };
  // A node of op T is one member of the union `Node`; TypeScript does not widen a generic T's member to it.
  g.nodes.push(node as Node);
  return outputs;
}

/** Single-output shorthand for `op`. */
export const op1 = <T extends OpType>(
  g: Graph,
  type: T,
  inputs: readonly Value[],
  attrs: AttrsOf<T> = {} as AttrsOf<T>,
): Value => op(g, type, inputs, attrs)[0]!;

/** Run `fn` inside a naming scope. */
export const scope = <T>(g: Graph, name: string, fn: () => T): T => g.names.scoped(name, fn);
