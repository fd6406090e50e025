/**
 * Reverse-mode autodiff over our graphs. The engine owns the invariants: it visits nodes in reverse
 * construction order (which is topological), accumulates gradient contributions, reduces a
 * broadcast gradient back to its input's shape (written once, here, not in each rule), checks each
 * rule's arity and shapes, and builds only the gradients somebody asked for. The per-op math lives
 * in gradients.ts.
 */
import { type Graph, type Node, constant, op1 } from './graph.js';
import { GRADIENTS } from './gradients.js';
import type { OpType } from './ops.js';
import { type Shape, type Value, constantInts, fmtShape } from './types.js';

const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Sum a gradient over the axes that broadcasting expanded, back to `shape`. */
function reduceToShape(g: Graph, grad: Value, shape: Shape, where: string): Value {
  if (sameShape(grad.shape, shape)) return grad;
  const lead = grad.shape.length - shape.length;
  const axes: number[] = [];
  grad.shape.forEach((d, i) => {
    const target = i < lead ? 1 : shape[i - lead]!;
    if (i < lead || (target === 1 && d !== 1)) axes.push(i);
    else if (target !== d)
      throw new Error(`${where}: gradient ${fmtShape(grad.shape)} does not broadcast to input ${fmtShape(shape)}`);
  });
  const summed = op1(g, 'ReduceSum', [grad, constant(g, 'axes', 'int64', [axes.length], axes)], { keepdims: 1 });
  return op1(g, 'Reshape', [summed, constant(g, 'shape', 'int64', [shape.length], shape)]);
}

/** Enter the backward scope of a node: `down1/conv1/Conv` → `down1/conv1/Conv_Grad/...`. */
function inGradScope<T>(g: Graph, nodeName: string, fn: () => T): T {
  const parts = nodeName.split('/');
  const enter = (i: number): T =>
    i === parts.length
      ? fn()
      : g.names.scoped(i === parts.length - 1 ? `${parts[i]}_Grad` : parts[i]!, () => enter(i + 1));
  return enter(0);
}

/**
 * The gradients of one node's inputs by its op's rule, each reduced to its input's shape (undefined
 * where none is wanted), or undefined for an op whose outputs carry no gradient. Generic in the op,
 * so that the table's rule for op T is only ever given a node of op T.
 */
function nodeGradients<T extends OpType>(
  g: Graph,
  node: Node<T>,
  dy: readonly (Value | undefined)[],
  wants: readonly boolean[],
): (Value | undefined)[] | undefined {
  const entry = GRADIENTS[node.op];
  if (entry.kind === 'forbidden') throw new Error(`${node.name} (${node.op}) must not be differentiated: ${entry.why}`);
  if (entry.kind === 'none') return undefined;
  const constInts = (v: Value): number[] => {
    const ints = constantInts(v);
    if (!ints) throw new Error(`gradient of ${node.op} at ${node.name}: input ${v.name} must be an int64 constant`);
    return ints;
  };
  return inGradScope(g, node.name, () => {
    const grads = entry.rule({ g, node, dy, wants, constInts });
    if (grads.length !== node.inputs.length) {
      const counts = `${grads.length} gradients for ${node.inputs.length} inputs`;
      throw new Error(`gradient rule of ${node.op} returned ${counts} at ${node.name}`);
    }
    return grads.map((grad, i) => {
      const input = node.inputs[i]!;
      if (!grad || !wants[i]) return undefined;
      const where = `gradient of ${node.op} at ${node.name}, input ${i} (${input.name})`;
      return reduceToShape(g, grad, input.shape, where);
    });
  });
}

/**
 * Gradients of the scalar `loss` with respect to each of `wrt`, appended to `g`.
 * Throws if some `wrt` value does not influence the loss (a wiring bug, not a zero gradient).
 */
export function gradients(g: Graph, loss: Value, wrt: readonly Value[]): Value[] {
  if (loss.shape.length !== 0) throw new Error(`loss ${loss.name} must be a scalar, got ${fmtShape(loss.shape)}`);
  // Forward sweep: which values depend differentiably on `wrt` (float values only).
  const requires = new Set(wrt.map((v) => v.name));
  const nodes = [...g.nodes];
  for (const n of nodes) {
    if (GRADIENTS[n.op].kind === 'none' || !n.inputs.some((v) => requires.has(v.name))) continue;
    for (const o of n.outputs) if (o.dtype === 'float32') requires.add(o.name);
  }
  // Backward sweep.
  const contributions = new Map<string, Value[]>([
    [loss.name, [constant(g, `${loss.name}_grad_seed`, 'float32', [], [1])]],
  ]);
  const total = (v: Value): Value | undefined => {
    const parts = contributions.get(v.name);
    if (!parts) return undefined;
    const sum = parts.reduce((a, b) => op1(g, 'Add', [a, b]));
    contributions.set(v.name, [sum]);
    return sum;
  };
  for (const node of nodes.reverse()) {
    const dy = node.outputs.map(total);
    const wants = node.inputs.map((v) => requires.has(v.name));
    if (dy.every((d) => d === undefined) || !wants.some(Boolean)) continue;
    nodeGradients(g, node, dy, wants)?.forEach((grad, i) => {
      const input = node.inputs[i]!;
      if (grad) contributions.set(input.name, [...(contributions.get(input.name) ?? []), grad]);
    });
  }
  return wrt.map((v) => {
    const grad = total(v);
    if (!grad) throw new Error(`${v.name} does not influence ${loss.name}: no gradient path`);
    return grad;
  });
}
