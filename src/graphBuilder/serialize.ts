/**
 * Graph → ONNX ModelProto bytes (onnx-proto / protobufjs). Deterministic: nodes and initializers
 * keep their construction order, attributes are sorted by name, tensors are stored as
 * little-endian raw_data, so the same config always gives the same bytes.
 */
import onnxProto from 'onnx-proto';
import { type Graph, type Node, attrsByName } from './graph.js';
import { attrKinds } from './ops.js';
import { IR_VERSION, OPSET, PRODUCER } from './opset.js';
import { DTYPE_CODE, type TensorData, type Value } from './types.js';

const { onnx } = onnxProto;
type AttributeProto = InstanceType<typeof onnx.AttributeProto>;

const ATTR_TYPE = { float: 1, int: 2, string: 3, graph: 5, floats: 6, ints: 7 } as const;

function attribute(node: Node, name: string): AttributeProto {
  const kind = attrKinds(node.op)[name]!;
  const v = attrsByName(node)[name]!;
  const a = onnx.AttributeProto.create({ name, type: ATTR_TYPE[kind] });
  if (kind === 'int') a.i = v as number;
  else if (kind === 'float') a.f = v as number;
  else if (kind === 'ints') a.ints = [...(v as number[])];
  else if (kind === 'graph') a.g = graphProto(v as Graph, true);
  else if (kind === 'string') a.s = new TextEncoder().encode(v as string);
  else a.floats = [...(v as number[])];
  return a;
}

function rawBytes(t: TensorData): Uint8Array {
  const d = t.data;
  // Typed arrays are little-endian on every platform we run on (x86, ARM, wasm).
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

function tensorProto(name: string, t: TensorData) {
  return onnx.TensorProto.create({ name, dims: [...t.shape], dataType: DTYPE_CODE[t.dtype], rawData: rawBytes(t) });
}

function valueInfo(v: Value) {
  return onnx.ValueInfoProto.create({
    name: v.name,
    type: {
      tensorType: {
        elemType: DTYPE_CODE[v.dtype],
        shape: { dim: v.shape.map((d) => ({ dimValue: d })) },
      },
    },
  });
}

export interface SerializeOptions {
  /** Write the inferred shape of every intermediate value (value_info); default true. */
  valueInfo?: boolean;
}

/** A GraphProto: the model's graph, or a Loop body (recursively, through graph attributes). */
function graphProto(g: Graph, withValueInfo: boolean) {
  const outputNames = new Set(g.outputs.map((o) => o.name));
  const intermediates = g.nodes.flatMap((n) => n.outputs).filter((v) => !outputNames.has(v.name));
  return onnx.GraphProto.create({
    name: g.name,
    node: g.nodes.map((n) =>
      onnx.NodeProto.create({
        name: n.name,
        opType: n.op,
        input: n.inputs.map((v) => v.name),
        output: n.outputs.map((v) => v.name),
        attribute: Object.keys(n.attrs)
          .sort()
          .map((k) => attribute(n, k)),
      }),
    ),
    initializer: g.initializers.map((i) => tensorProto(i.name, i.constant)),
    input: g.inputs.map(valueInfo),
    output: g.outputs.map(valueInfo),
    valueInfo: withValueInfo ? intermediates.map(valueInfo) : [],
  });
}

export function toModelProto(g: Graph, options: SerializeOptions = {}) {
  return onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: PRODUCER,
    opsetImport: [{ domain: '', version: OPSET }],
    metadataProps: Object.keys(g.metadata)
      .sort()
      .map((key) => ({ key, value: g.metadata[key]! })),
    graph: graphProto(g, options.valueInfo !== false),
  });
}

/** The ONNX file contents of a graph. */
export function serialize(g: Graph, options?: SerializeOptions): Uint8Array {
  return onnx.ModelProto.encode(toModelProto(g, options)).finish();
}
