/** Element types we emit, with their ONNX TensorProto.DataType codes. */
export const DTYPE_CODE = { float32: 1, bool: 9, int64: 7 } as const;
export type DType = keyof typeof DTYPE_CODE;

/** Static shapes only: every graph is built for one image size and batch size. */
export type Shape = readonly number[];

export type TensorArray = Float32Array | BigInt64Array | Uint8Array;

/** A constant tensor: an initializer's contents, known while building. */
export interface TensorData {
  readonly dtype: DType;
  readonly shape: Shape;
  readonly data: TensorArray;
}

/** A value in a graph: a graph input, an initializer or a node output. */
export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
  /** Present for initializers: lets shape inference read shape/axes operands. */
  readonly constant?: TensorData;
}

/** The contents of an int64 constant as numbers; undefined if `v` is not an int64 constant. */
export const constantInts = (v: Value): number[] | undefined =>
  v.constant?.data instanceof BigInt64Array ? Array.from(v.constant.data, Number) : undefined;

export const numel = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);
export const fmtShape = (s: Shape): string => `[${s.join(',')}]`;
export const fmtValue = (v: Value): string => `${v.name}: ${v.dtype}${fmtShape(v.shape)}`;
