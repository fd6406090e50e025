/**
 * A small, dependency-free reader and writer of the safetensors format
 * (https://github.com/huggingface/safetensors#format):
 *
 *   [8 bytes]  N, little-endian u64: the header's length in bytes
 *   [N bytes]  UTF-8 JSON: { "__metadata__"?: {string: string}, name: {dtype, shape, data_offsets: [begin, end]}, ... }
 *              data_offsets are byte offsets into the data section; padded with spaces so N % 8 === 0
 *   [rest]     the tensors' raw little-endian bytes, back to back, with no holes
 *
 * The writer is deterministic: tensors appear in the order given, each tensor's keys in a fixed order,
 * metadata first with its keys sorted, so the same content always gives the same bytes.
 * The reader checks everything the format promises and names the file and the problem when it doesn't hold.
 */

export type SafetensorsDType = 'F32' | 'I64' | 'U8';

/** A tensor's dtype, shape and contents; `data` is row-major and its type matches `dtype`. */
export type SafetensorsTensor =
  | { readonly dtype: 'F32'; readonly shape: readonly number[]; readonly data: Float32Array }
  | { readonly dtype: 'I64'; readonly shape: readonly number[]; readonly data: BigInt64Array }
  | { readonly dtype: 'U8'; readonly shape: readonly number[]; readonly data: Uint8Array };

export type NamedSafetensorsTensor = SafetensorsTensor & { readonly name: string };

export interface DecodedSafetensors {
  /** In data order (for files we write, the order they were given to encodeSafetensors). */
  tensors: Map<string, SafetensorsTensor>;
  /** The header's `__metadata__`, or {} when absent. */
  metadata: Record<string, string>;
}

const DTYPES: Record<SafetensorsDType, { bytes: number; array: string }> = {
  F32: { bytes: 4, array: 'Float32Array' },
  I64: { bytes: 8, array: 'BigInt64Array' },
  U8: { bytes: 1, array: 'Uint8Array' },
};
const isDType = (s: unknown): s is SafetensorsDType => typeof s === 'string' && Object.hasOwn(DTYPES, s);

/** Header larger than this is refused rather than parsed (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const validShape = (shape: unknown): shape is number[] =>
  Array.isArray(shape) &&
  shape.every((d) => Number.isSafeInteger(d) && d >= 0) &&
  Number.isSafeInteger(elementCount(shape as number[]));

function typedArrayMatches(dtype: SafetensorsDType, data: unknown): boolean {
  switch (dtype) {
    case 'F32':
      return data instanceof Float32Array;
    case 'I64':
      return data instanceof BigInt64Array;
    case 'U8':
      return data instanceof Uint8Array;
  }
}

/** The bytes of `data` in little-endian order (a view when the host is little-endian). */
function littleEndianBytes(t: SafetensorsTensor): Uint8Array {
  const view = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (LITTLE_ENDIAN_HOST || t.dtype === 'U8') return view;
  const out = new Uint8Array(view.length);
  const dv = new DataView(out.buffer);
  if (t.dtype === 'F32')
    t.data.forEach((x, i) => {
      dv.setFloat32(i * 4, x, true);
    });
  else
    t.data.forEach((x, i) => {
      dv.setBigInt64(i * 8, x, true);
    });
  return out;
}

/** A fresh, aligned typed array holding `bytes` (little-endian) as `dtype`. */
function fromLittleEndian(dtype: SafetensorsDType, bytes: Uint8Array): SafetensorsTensor['data'] {
  // An own, aligned buffer, independent of the file's. Not bytes.slice(): on a Node Buffer that is a view.
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (dtype === 'U8') return copy;
  if (LITTLE_ENDIAN_HOST) return dtype === 'F32' ? new Float32Array(copy.buffer) : new BigInt64Array(copy.buffer);
  const dv = new DataView(copy.buffer);
  if (dtype === 'F32') return Float32Array.from({ length: copy.length / 4 }, (_, i) => dv.getFloat32(i * 4, true));
  return BigInt64Array.from({ length: copy.length / 8 }, (_, i) => dv.getBigInt64(i * 8, true));
}

/** Serialize tensors (in the given order) and optional string metadata to safetensors bytes. */
export function encodeSafetensors(
  tensors: readonly NamedSafetensorsTensor[],
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const entries: string[] = [];
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    const keys = Object.keys(metadata).sort();
    for (const k of keys) {
      if (typeof metadata[k] !== 'string')
        throw new Error(`safetensors metadata "${k}" must be a string, got ${typeof metadata[k]}`);
    }
    entries.push(
      `${JSON.stringify(METADATA_KEY)}:{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`,
    );
  }

  const seen = new Set<string>();
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const where = `safetensors tensor "${t.name}"`;
    if (typeof t.name !== 'string' || t.name === '')
      throw new Error('safetensors tensor names must be non-empty strings');
    if (t.name === METADATA_KEY) throw new Error(`${where}: the name is reserved for metadata`);
    if (seen.has(t.name)) throw new Error(`${where}: duplicate name`);
    seen.add(t.name);
    if (!isDType(t.dtype))
      throw new Error(
        `${where}: unknown dtype ${JSON.stringify(t.dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`,
      );
    if (!validShape(t.shape)) throw new Error(`${where}: invalid shape ${JSON.stringify(t.shape)}`);
    if (!typedArrayMatches(t.dtype, t.data))
      throw new Error(`${where}: dtype ${t.dtype} needs a ${DTYPES[t.dtype].array}, got ${t.data?.constructor?.name}`);
    const n = elementCount(t.shape);
    if (t.data.length !== n)
      throw new Error(`${where}: shape [${t.shape.join(',')}] has ${n} elements but data has ${t.data.length}`);
    const bytes = littleEndianBytes(t);
    const info = `{"dtype":${JSON.stringify(t.dtype)},"shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + bytes.length}]}`;
    entries.push(`${JSON.stringify(t.name)}:${info}`);
    chunks.push(bytes);
    offset += bytes.length;
  }

  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // pad with spaces
  let at = 8 + headerLength;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Parse and validate safetensors bytes. `label` (usually the file's path) starts every error message.
 * The returned arrays are copies, so they are aligned and do not keep `bytes` alive.
 */
export function decodeSafetensors(bytes: Uint8Array, label: string): DecodedSafetensors {
  const fail = (problem: string): never => {
    throw new Error(`${label}: ${problem}`);
  };
  bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a Node Buffer's subarray/slice would stay a Buffer
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, need at least 8 for the header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8))
    fail(`header length ${n64} runs past the end of the file (${bytes.length} bytes, so at most ${bytes.length - 8})`);
  const n = Number(n64);
  if (n > MAX_HEADER_BYTES) fail(`header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header must be a JSON object');

  const data = bytes.subarray(8 + n);
  let metadata: Record<string, string> = {};
  const infos: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof info !== 'object' || info === null || Array.isArray(info))
        fail(`"${METADATA_KEY}" must be an object of strings`);
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`"${METADATA_KEY}" value "${k}" must be a string, got ${JSON.stringify(v)}`);
      }
      metadata = { ...(info as Record<string, string>) };
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(`${where}: entry must be an object`);
    const { dtype, shape, data_offsets: offsets, ...rest } = info as Record<string, unknown>;
    const unexpected = Object.keys(rest);
    if (unexpected.length > 0) fail(`${where}: unexpected field(s) ${unexpected.join(', ')}`);
    if (dtype === undefined) fail(`${where}: missing dtype`);
    if (!isDType(dtype))
      fail(`${where}: unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`);
    if (!validShape(shape))
      fail(`${where}: invalid shape ${JSON.stringify(shape)} (want an array of non-negative integers)`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(`${where}: invalid data_offsets ${JSON.stringify(offsets)} (want [begin, end] with 0 <= begin <= end)`);
    }
    const [begin, end] = offsets as [number, number];
    const d = dtype as SafetensorsDType;
    const s = shape as number[];
    if (end > data.length)
      fail(`${where}: data_offsets [${begin},${end}] out of range: the data section has ${data.length} bytes`);
    const want = elementCount(s) * DTYPES[d].bytes;
    if (end - begin !== want) {
      fail(`${where}: data_offsets [${begin},${end}] span ${end - begin} bytes but ${d}[${s.join(',')}] needs ${want}`);
    }
    infos.push({ name, dtype: d, shape: s, begin, end });
  }

  // The data section must be covered exactly: no overlaps, no holes, nothing left over.
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: string | undefined;
  for (const t of infos) {
    if (t.begin < covered)
      fail(
        `tensor "${t.name}": data_offsets [${t.begin},${t.end}] overlap tensor "${previous}" (which ends at ${covered})`,
      );
    if (t.begin > covered)
      fail(
        `tensor "${t.name}": data_offsets [${t.begin},${t.end}] leave a gap: bytes ${covered}..${t.begin} belong to no tensor`,
      );
    covered = t.end;
    previous = t.name;
  }
  if (covered !== data.length)
    fail(
      `${data.length - covered} trailing byte(s) after the last tensor (data section has ${data.length}, tensors cover ${covered})`,
    );

  const tensors = new Map<string, SafetensorsTensor>();
  for (const t of infos) {
    tensors.set(t.name, {
      dtype: t.dtype,
      shape: t.shape,
      data: fromLittleEndian(t.dtype, data.subarray(t.begin, t.end)),
    } as SafetensorsTensor);
  }
  return { tensors, metadata };
}
