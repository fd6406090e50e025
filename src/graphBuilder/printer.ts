/**
 * A human-readable text snapshot of a graph's structure: inputs, parameters (names and shapes,
 * never values), nodes with their attributes and output shapes, outputs. Committed under graphs/
 * so that a change to a network shows up in review as a readable diff.
 */
import { type Graph, attrsByName } from './graph.js';
import type { AttrValueAny, SubGraph } from './ops.js';
import { IR_VERSION, OPSET } from './opset.js';
import { type TensorData, fmtShape, fmtValue, numel } from './types.js';

/** Small constants (shape operands, axes, scalars) are printed; weights never are. */
function constantText(t: TensorData, trainable: boolean): string {
  if (trainable || numel(t.shape) > 8) return '';
  const values = Array.from(t.data as ArrayLike<number | bigint>, (x) => String(x));
  return ` = ${values.join(',')}`;
}

function attrText(v: AttrValueAny): string {
  if (typeof v === 'number' || typeof v === 'string') return String(v);
  if (Array.isArray(v)) return `[${v.join(',')}]`;
  return `graph ${(v as SubGraph).name} (below)`;
}

/** The text of a graph; a Loop body follows its Loop node, indented. */
export function toText(g: Graph): string {
  const params = g.initializers.filter((i) => i.trainable);
  const paramCount = params.reduce((n, p) => n + numel(p.shape), 0);
  const lines = [
    `graph ${g.name}  (ONNX IR ${IR_VERSION}, opset ${OPSET})`,
    ...Object.keys(g.metadata)
      .sort()
      .map((k) => `meta ${k} = ${g.metadata[k]}`),
    '',
    'inputs:',
    ...g.inputs.map((v) => `  ${fmtValue(v)}`),
    '',
    `initializers: ${g.initializers.length} (${params.length} trainable tensors, ${paramCount} parameters)`,
    ...g.initializers.map(
      (i) => `  ${fmtValue(i)}${constantText(i.constant, i.trainable)}${i.trainable ? '' : '  (const)'}`,
    ),
    '',
    `nodes: ${g.nodes.length}`,
    ...g.nodes.flatMap((n) => {
      const byName = attrsByName(n);
      const attrs = Object.keys(byName)
        .sort()
        .map((k) => `${k}=${attrText(byName[k]!)}`);
      const outs = n.outputs.map((o) => `${o.dtype}${fmtShape(o.shape)}`).join(', ');
      const line = `  ${n.name}: ${n.op}(${n.inputs.map((v) => v.name).join(', ')})${attrs.length ? ` {${attrs.join(', ')}}` : ''} -> ${outs}`;
      const bodies = Object.values(byName).filter((v): v is Graph => typeof v === 'object' && !Array.isArray(v));
      return [
        line,
        ...bodies.flatMap((b) =>
          toText(b)
            .trimEnd()
            .split('\n')
            .map((l) => `    | ${l}`),
        ),
      ];
    }),
    '',
    'outputs:',
    ...g.outputs.map((v) => `  ${fmtValue(v)}`),
  ];
  return `${lines.join('\n')}\n`;
}
