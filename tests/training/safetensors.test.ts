import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, type NamedSafetensorsTensor } from '../../src/training/safetensors.js';

const latin1 = (s: string): number[] => [...Buffer.from(s, 'latin1')];

/** A safetensors file from a raw header (object or exact text) and data section, padded like the writer pads. */
function build(header: object | string, data: number[] | Uint8Array = [], headerLength?: bigint): Uint8Array {
  let json = typeof header === 'string' ? header : JSON.stringify(header);
  while (json.length % 8 !== 0) json += ' ';
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

const sample = (): NamedSafetensorsTensor[] => [
  { name: 'w', dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2.5, 3e-8, Number.NaN, -0, Infinity]) },
  { name: 'step', dtype: 'I64', shape: [], data: new BigInt64Array([-(2n ** 62n) + 7n]) },
  { name: 'mask', dtype: 'U8', shape: [3], data: new Uint8Array([0, 255, 7]) },
  { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
  { name: '10', dtype: 'U8', shape: [1], data: new Uint8Array([9]) }, // an integer-like name must keep its place
];

describe('safetensors', () => {
  it('golden bytes: one F32 tensor [2] = [1, 2], worked out by hand', () => {
    // Header JSON is 54 bytes: {"t": (5) + {"dtype":"F32", (15) + "shape":[2], (12) + "data_offsets":[0,8] (20) + }} (2).
    // Padded with 2 spaces to 56 = 0x38. Data: 1.0f = 0x3f800000, 2.0f = 0x40000000, little-endian.
    const header = '{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(header.length).toBe(54);
    const expected = [
      ...[0x38, 0, 0, 0, 0, 0, 0, 0],
      ...latin1(header),
      ...[0x20, 0x20],
      ...[0x00, 0x00, 0x80, 0x3f],
      ...[0x00, 0x00, 0x00, 0x40],
    ];
    expect(expected.length).toBe(72);
    const bytes = encodeSafetensors([{ name: 't', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]);
    expect([...bytes]).toEqual(expected);
    const back = decodeSafetensors(bytes, 'golden.safetensors');
    expect([...back.tensors.keys()]).toEqual(['t']);
    expect(back.tensors.get('t')).toEqual({ dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) });
    expect(back.metadata).toEqual({});
  });

  it('golden bytes with metadata (first, keys sorted) and an I64 and a U8 tensor', () => {
    const header =
      '{"__metadata__":{"a":"1","b":"x"},' +
      '"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
      '"u":{"dtype":"U8","shape":[2,1],"data_offsets":[8,10]}}';
    // {"__metadata__": (16) + {"a":"1","b":"x"}, (18) + "i":{...[0,8]}, (4 + 15 + 12 + 20 + 2 = 53)
    // + "u":{"dtype":"U8","shape":[2,1],"data_offsets":[8,10]}} (4 + 14 + 14 + 21 + 2 = 55) = 142
    expect(header.length).toBe(142); // → padded with 2 spaces to 144 = 0x90
    const expected = [
      ...[0x90, 0, 0, 0, 0, 0, 0, 0],
      ...latin1(header),
      ...[0x20, 0x20],
      ...[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // -2n as a little-endian two's-complement i64
      ...[5, 6],
    ];
    const bytes = encodeSafetensors(
      [
        { name: 'i', dtype: 'I64', shape: [1], data: new BigInt64Array([-2n]) },
        { name: 'u', dtype: 'U8', shape: [2, 1], data: new Uint8Array([5, 6]) },
      ],
      { b: 'x', a: '1' },
    );
    expect([...bytes]).toEqual(expected);
  });

  it('round trips every dtype, NaN/-0/Infinity, scalars, empty tensors and metadata, in order', () => {
    const tensors = sample();
    const bytes = encodeSafetensors(tensors, { run: 'r1', note: 'ünïcödé ✓' });
    const header = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(header % 8).toBe(0);
    const back = decodeSafetensors(bytes, 'x.safetensors');
    expect([...back.tensors.keys()]).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      const got = back.tensors.get(t.name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(got.data.constructor).toBe(t.data.constructor);
      expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength)).toEqual(
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      ); // bit-exact, NaN and -0 included
    }
    expect(back.metadata).toEqual({ run: 'r1', note: 'ünïcödé ✓' });
  });

  it('decodes from an unaligned view and returns independent, aligned copies', () => {
    const bytes = encodeSafetensors([
      { name: 'u', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
      { name: 'f', dtype: 'F32', shape: [2], data: new Float32Array([0.5, 4]) }, // starts at data offset 3
    ]);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const back = decodeSafetensors(shifted.subarray(1), 'shifted');
    expect([...back.tensors.get('f')!.data]).toEqual([0.5, 4]);
    shifted.fill(0);
    expect([...back.tensors.get('u')!.data]).toEqual([1, 2, 3]);
  });

  it('decodes a pooled Node Buffer (nonzero byteOffset into a larger ArrayBuffer) into plain, exact-size arrays', () => {
    const bytes = encodeSafetensors([
      { name: 'f', dtype: 'F32', shape: [2], data: new Float32Array([1.5, -3]) },
      { name: 'u', dtype: 'U8', shape: [2], data: new Uint8Array([4, 5]) },
    ]);
    const pooled = Buffer.from(bytes); // small Buffers share Node's 8 KiB pool
    expect(pooled.buffer.byteLength).toBeGreaterThan(bytes.length);
    const back = decodeSafetensors(pooled, 'pooled');
    const f = back.tensors.get('f')!.data;
    const u = back.tensors.get('u')!.data;
    expect(f).toEqual(new Float32Array([1.5, -3]));
    expect(f.buffer.byteLength).toBe(8);
    expect(u.constructor).toBe(Uint8Array);
    expect(u.buffer.byteLength).toBe(2);
  });

  it('encodes a subarray view of a larger buffer (only its own elements)', () => {
    const big = new Float32Array([9, 1, 2, 9]);
    const a = encodeSafetensors([{ name: 't', dtype: 'F32', shape: [2], data: big.subarray(1, 3) }]);
    const b = encodeSafetensors([{ name: 't', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]);
    expect(a).toEqual(b);
  });

  it('same content gives byte-identical output; metadata order does not matter, tensor order does', () => {
    const a = encodeSafetensors(sample(), { x: '1', y: '2' });
    const b = encodeSafetensors(sample(), { y: '2', x: '1' });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const reordered = encodeSafetensors([...sample()].reverse(), { x: '1', y: '2' });
    expect(Buffer.from(a).equals(Buffer.from(reordered))).toBe(false);
    expect(encodeSafetensors([], {})).toEqual(encodeSafetensors([]));
  });

  it.each<[string, NamedSafetensorsTensor[], RegExp]>([
    [
      'duplicate names',
      [
        { name: 'a', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
        { name: 'a', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
      ],
      /"a": duplicate name/,
    ],
    ['reserved name', [{ name: '__metadata__', dtype: 'U8', shape: [1], data: new Uint8Array(1) }], /reserved/],
    [
      'length mismatch',
      [{ name: 'a', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }],
      /shape \[2,2\] has 4 elements but data has 3/,
    ],
    [
      'array type mismatch',
      [{ name: 'a', dtype: 'F32', data: new Uint8Array(1), shape: [1] } as unknown as NamedSafetensorsTensor],
      /F32 needs a Float32Array, got Uint8Array/,
    ],
    [
      'unknown dtype',
      [{ name: 'a', dtype: 'BF16', shape: [1], data: new Uint8Array(2) } as unknown as NamedSafetensorsTensor],
      /unknown dtype "BF16"/,
    ],
    ['bad shape', [{ name: 'a', dtype: 'U8', shape: [-1], data: new Uint8Array(1) }], /invalid shape \[-1\]/],
  ])('encode refuses %s', (_, tensors, message) => {
    expect(() => encodeSafetensors(tensors)).toThrow(message);
  });

  const f32 = (name: string, shape: number[], offsets: [number, number]) => ({
    [name]: { dtype: 'F32', shape, data_offsets: offsets },
  });

  it.each<[string, () => Uint8Array, RegExp]>([
    ['an empty file', () => new Uint8Array(0), /bad\.st: truncated: 0 bytes, need at least 8/],
    ['a file shorter than the length prefix', () => new Uint8Array(5), /bad\.st: truncated: 5 bytes/],
    [
      'a header length past the end',
      () => build(f32('t', [1], [0, 4]), [0, 0, 0, 0], 1000n),
      /bad\.st: header length 1000 runs past the end of the file \(68 bytes, so at most 60\)/,
    ],
    [
      'a header length near 2^64',
      () => build({}, [], 2n ** 64n - 1n),
      /bad\.st: header length 18446744073709551615 runs past the end/,
    ],
    [
      'a file cut inside the header',
      () => build(f32('t', [1], [0, 4]), [0, 0, 0, 0]).subarray(0, 30),
      /bad\.st: header length 56 runs past the end of the file \(30 bytes/,
    ],
    [
      'a file cut inside the data',
      () => build(f32('t', [2], [0, 8]), [0, 0, 0, 0, 0, 0, 0, 0]).subarray(0, 70),
      /bad\.st: tensor "t": data_offsets \[0,8\] out of range: the data section has 6 bytes/,
    ],
    ['invalid JSON', () => build('{"t": {"dtype": "F32",'), /bad\.st: header is not valid JSON/],
    ['an empty header', () => build(''), /bad\.st: header is not valid JSON/],
    [
      'invalid UTF-8',
      () => build('{"ab":1}').map((b, i) => (i === 10 ? 0xff : b)),
      /bad\.st: header is not valid UTF-8/,
    ], // 'a' → 0xff
    ['a JSON array header', () => build('[1,2]'), /bad\.st: header must be a JSON object/],
    ['a non-object tensor entry', () => build({ t: 5 }), /tensor "t": entry must be an object/],
    [
      'an unknown dtype',
      () => build({ t: { dtype: 'BF16', shape: [1], data_offsets: [0, 2] } }, [0, 0]),
      /bad\.st: tensor "t": unknown dtype "BF16" \(supported: F32, I64, U8\)/,
    ],
    ['a missing dtype', () => build({ t: { shape: [1], data_offsets: [0, 2] } }, [0, 0]), /tensor "t": missing dtype/],
    [
      'a bad shape',
      () => build({ t: { dtype: 'U8', shape: [1.5], data_offsets: [0, 1] } }, [0]),
      /tensor "t": invalid shape \[1.5\]/,
    ],
    [
      'bad data_offsets',
      () => build({ t: { dtype: 'U8', shape: [1], data_offsets: [1, 0] } }, [0]),
      /tensor "t": invalid data_offsets \[1,0\]/,
    ],
    [
      'missing data_offsets',
      () => build({ t: { dtype: 'U8', shape: [1] } }, [0]),
      /tensor "t": invalid data_offsets undefined/,
    ],
    [
      'an unexpected field',
      () => build({ t: { dtype: 'U8', shape: [1], data_offsets: [0, 1], extra: 1 } }, [0]),
      /tensor "t": unexpected field\(s\) extra/,
    ],
    [
      'offsets out of range',
      () => build(f32('t', [2], [4, 12]), new Uint8Array(8)),
      /bad\.st: tensor "t": data_offsets \[4,12\] out of range: the data section has 8 bytes/,
    ],
    [
      'offsets not matching dtype × shape',
      () => build(f32('t', [3], [0, 8]), new Uint8Array(8)),
      /bad\.st: tensor "t": data_offsets \[0,8\] span 8 bytes but F32\[3\] needs 12/,
    ],
    [
      'I64 offsets not matching',
      () => build({ t: { dtype: 'I64', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /span 4 bytes but I64\[1\] needs 8/,
    ],
    [
      'overlapping tensors',
      () => build({ ...f32('a', [2], [0, 8]), ...f32('b', [2], [4, 12]) }, new Uint8Array(12)),
      /bad\.st: tensor "b": data_offsets \[4,12\] overlap tensor "a" \(which ends at 8\)/,
    ],
    [
      'a gap between tensors',
      () => build({ ...f32('a', [1], [0, 4]), ...f32('b', [1], [8, 12]) }, new Uint8Array(12)),
      /bad\.st: tensor "b": data_offsets \[8,12\] leave a gap: bytes 4\.\.8/,
    ],
    [
      'trailing bytes',
      () => build(f32('a', [1], [0, 4]), new Uint8Array(6)),
      /bad\.st: 2 trailing byte\(s\) after the last tensor/,
    ],
    [
      'non-string metadata',
      () => build({ __metadata__: { n: 1 } }),
      /bad\.st: "__metadata__" value "n" must be a string, got 1/,
    ],
    ['non-object metadata', () => build({ __metadata__: 'x' }), /"__metadata__" must be an object of strings/],
  ])('decode rejects %s, naming the file', (_, bytes, message) => {
    expect(() => decodeSafetensors(bytes(), 'bad.st')).toThrow(message);
  });

  it('accepts a hand-built file whose tensors are listed out of data order, and returns them in data order', () => {
    const data = [...new Uint8Array(new Float32Array([3]).buffer), 7];
    const back = decodeSafetensors(
      build({ u: { dtype: 'U8', shape: [1], data_offsets: [4, 5] }, ...f32('f', [1], [0, 4]) }, data),
      'ok.st',
    );
    expect([...back.tensors.keys()]).toEqual(['f', 'u']);
    expect([...back.tensors.get('u')!.data]).toEqual([7]);
  });
});
