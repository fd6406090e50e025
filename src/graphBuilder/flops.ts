/**
 * Floating-point operation counts of a graph's convolutions, from the static shapes recorded on its
 * nodes. One multiply-add counts as 2 FLOPs; biases, activations, pooling, normalization and
 * dropout are not counted (they are a small fraction of a U-Net's work).
 *   Conv:          2 · Cout · Cin/group · kh · kw · Hout · Wout · N
 *   ConvTranspose: 2 · Cin · Cout/group · kh · kw · Hin · Win · N  (every input pixel scatters a
 *                  full kernel, so the input's spatial size is the one that counts)
 * Shapes are those of the graph as built: in an MC-Dropout graph the nodes after the first Dropout
 * see the batch repeated N times, and are counted N times.
 */
import type { Graph, Node } from './graph.js';

export interface ConvFlops {
  /** All counted FLOPs. */
  total: number;
  conv: number;
  convTranspose: number;
  /** Number of Conv and ConvTranspose nodes counted. */
  nodes: number;
}

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** FLOPs of one node: non-zero only for Conv and ConvTranspose. */
export function nodeFlops(node: Node): number {
  if (node.op !== 'Conv' && node.op !== 'ConvTranspose') return 0;
  const x = node.inputs[0]!.shape;
  const w = node.inputs[1]!.shape;
  const y = node.outputs[0]!.shape;
  const kernel = product(w.slice(2));
  if (node.op === 'Conv') {
    // weight [Cout, Cin/group, kh, kw]: its first two dims already hold Cout and Cin/group.
    const [n, cout] = y as [number, number];
    return 2 * cout * w[1]! * kernel * product(y.slice(2)) * n;
  }
  // ConvTranspose weight [Cin, Cout/group, kh, kw].
  const [n, cin] = x as [number, number];
  return 2 * cin * w[1]! * kernel * product(x.slice(2)) * n;
}

/** Conv and ConvTranspose FLOPs of a whole graph (one run, the whole static batch). */
export function convFlops(g: Graph): ConvFlops {
  const r: ConvFlops = { total: 0, conv: 0, convTranspose: 0, nodes: 0 };
  for (const node of g.nodes) {
    const f = nodeFlops(node);
    if (node.op === 'Conv') r.conv += f;
    else if (node.op === 'ConvTranspose') r.convTranspose += f;
    else continue;
    r.total += f;
    r.nodes++;
  }
  return r;
}
