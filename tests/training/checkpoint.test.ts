import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loadCheckpoint,
  saveCheckpoint,
  splitParams,
  type CheckpointManifest,
  type CheckpointState,
} from '../../src/training/checkpoint.js';
import { packSlots } from '../../src/graphBuilder/graph.js';
import { decodeSafetensors, encodeSafetensors, type NamedSafetensorsTensor } from '../../src/training/safetensors.js';
import { prng } from '../../src/common/prng.js';

const made: string[] = [];
const tmp = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
const NOW = new Date('2025-01-02T03:04:05.000Z');
const ortVersion = (
  JSON.parse(readFileSync('node_modules/onnxruntime-node/package.json', 'utf8')) as { version: string }
).version;
const toolkitVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

function state(seed = 1): CheckpointState {
  const layout = packSlots([
    { name: 'enc.conv.weight', shape: [4, 1, 3, 3] },
    { name: 'enc.conv.bias', shape: [4] },
    { name: 'head.weight', shape: [2, 4, 1, 1] },
  ]);
  const P = 36 + 4 + 8;
  const r = prng(seed);
  const fill = (): Float32Array => Float32Array.from({ length: P }, () => r.next() - 0.5);
  return {
    step: 120,
    epoch: 3,
    config: { preset: 'tiny', lr: 1e-3, dropout: { p: 0.1, where: ['decoder'] }, size: 32 },
    rng: { seed: 42, shuffle: r.state(), dropout: [1, 2, 3, 4] },
    layout,
    params: fill(),
    adam: { m: fill(), v: fill().map(Math.abs) },
    extra: {
      'bn.running_mean': { dtype: 'F32', shape: [4], data: new Float32Array([0.1, 0.2, 0.3, 0.4]) },
      'sampler.order': { dtype: 'I64', shape: [3], data: new BigInt64Array([2n, 0n, 1n]) },
      'fold.mask': { dtype: 'U8', shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
    },
  };
}

/** A RegExp matching `text` literally. */
const re = (text: string): RegExp => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
const files = (dir: string): string[] => readdirSync(dir).sort();
const manifestOf = (dir: string): CheckpointManifest =>
  JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CheckpointManifest;

/** Replace the tensor file and make the manifest agree with it (sha256, bytes), to reach checks behind the hash. */
function forgeTensors(dir: string, tensors: NamedSafetensorsTensor[], patch: Partial<CheckpointManifest> = {}): void {
  const bytes = encodeSafetensors(tensors);
  writeFileSync(join(dir, 'checkpoint-3.safetensors'), bytes);
  const m = manifestOf(dir);
  const next = {
    ...m,
    ...patch,
    tensors: { ...m.tensors, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') },
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(next));
}

function patchManifest(dir: string, edit: (m: Record<string, unknown>) => void): void {
  const m = manifestOf(dir) as unknown as Record<string, unknown>;
  edit(m);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
}

describe('training checkpoints', () => {
  it('round trips params, Adam moments, extra tensors, config, rng and layout', () => {
    const dir = join(tmp(), 'nested', 'ckpt');
    const s = state();
    const written = saveCheckpoint(dir, s, { now: NOW });
    expect(files(dir)).toEqual(['checkpoint-3.safetensors', 'manifest.json']);

    const back = loadCheckpoint(dir);
    expect(back.step).toBe(120);
    expect(back.epoch).toBe(3);
    expect(back.config).toEqual(s.config);
    expect(back.rng).toEqual(s.rng);
    expect(back.layout).toEqual(s.layout);
    expect(back.params).toEqual(s.params);
    expect(back.adam.m).toEqual(s.adam.m);
    expect(back.adam.v).toEqual(s.adam.v);
    expect(back.extra).toEqual(s.extra);
    expect(Object.keys(back.extra)).toEqual(Object.keys(s.extra!));
    expect(back.manifest).toEqual(written);

    const m = manifestOf(dir);
    expect(m).toMatchObject({
      format: 'polyseg-checkpoint',
      version: 2,
      step: 120,
      epoch: 3,
      paramCount: 48,
      createdAt: '2025-01-02T03:04:05.000Z',
    });
    expect(m.versions).toEqual({ node: process.version, onnxruntime: ortVersion, toolkit: toolkitVersion });
    const tensorBytes = readFileSync(join(dir, 'checkpoint-3.safetensors'));
    expect(m.tensors).toEqual({
      file: 'checkpoint-3.safetensors',
      bytes: tensorBytes.length,
      sha256: createHash('sha256').update(tensorBytes).digest('hex'),
    });
    // The tensor file is plain safetensors: params first, then the moments, then the extras.
    const st = decodeSafetensors(tensorBytes, 'x');
    expect([...st.tensors.keys()]).toEqual([
      'params',
      'adam.m',
      'adam.v',
      'bn.running_mean',
      'sampler.order',
      'fold.mask',
    ]);
    expect(st.tensors.get('params')!.shape).toEqual([48]);
    expect(st.metadata).toEqual({ format: 'polyseg-checkpoint', version: '2', step: '120' });
  });

  it('without extras, with an empty config, and with zero parameters', () => {
    const dir = tmp();
    saveCheckpoint(dir, {
      step: 0,
      epoch: 0,
      config: {},
      rng: null,
      layout: [],
      params: new Float32Array(0),
      adam: { m: new Float32Array(0), v: new Float32Array(0) },
    });
    const back = loadCheckpoint(dir);
    expect(back.params.length).toBe(0);
    expect(back.extra).toEqual({});
    expect(back.rng).toBeNull();
  });

  it('the same state saved twice gives byte-identical files', () => {
    const a = tmp();
    const b = tmp();
    saveCheckpoint(a, state(), { now: NOW });
    saveCheckpoint(b, state(), { now: NOW });
    for (const f of ['checkpoint-3.safetensors', 'manifest.json'])
      expect(readFileSync(join(a, f)).equals(readFileSync(join(b, f)))).toBe(true);
  });

  it('overwrites an earlier checkpoint in the same folder, leaving no temporary files', () => {
    const dir = tmp();
    saveCheckpoint(dir, state(1));
    saveCheckpoint(dir, { ...state(2), step: 121 });
    expect(files(dir)).toEqual(['checkpoint-3.safetensors', 'manifest.json']);
    expect(loadCheckpoint(dir).step).toBe(121);
    expect(loadCheckpoint(dir).params).toEqual(state(2).params);
  });

  it('the layout cuts the flat vector back into named weights', () => {
    const s = state();
    const w = splitParams(s.params, s.layout);
    expect([...w.keys()]).toEqual(['enc.conv.weight', 'enc.conv.bias', 'head.weight']);
    expect(w.get('enc.conv.bias')!.shape).toEqual([4]);
    expect(w.get('enc.conv.bias')!.data).toEqual(s.params.subarray(36, 40));
    expect(w.get('head.weight')!.data.length).toBe(8);
    expect(() => splitParams(new Float32Array(47), s.layout)).toThrow(
      /layout covers 48 values but there are 47 parameters/,
    );
  });

  it('rejects a torn checkpoint: tensor file replaced after the manifest was written', () => {
    const a = tmp();
    const b = tmp();
    saveCheckpoint(a, state(1));
    saveCheckpoint(b, { ...state(2), step: 121 });
    // Simulate a crash between the two renames of the next save: new tensors, old manifest.
    writeFileSync(join(a, 'checkpoint-3.safetensors'), readFileSync(join(b, 'checkpoint-3.safetensors')));
    expect(() => loadCheckpoint(a)).toThrow(re(`${join(a, 'checkpoint-3.safetensors')}: does not match manifest.json`));
    expect(() => loadCheckpoint(a)).toThrow(/the pair is torn/);
  });

  it('rejects a tensor file changed in place by one bit (same length)', () => {
    const dir = tmp();
    saveCheckpoint(dir, state());
    const path = join(dir, 'checkpoint-3.safetensors');
    const bytes = readFileSync(path);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(path, bytes);
    expect(() => loadCheckpoint(dir)).toThrow(/checkpoint-3\.safetensors: does not match manifest\.json .*sha256/);
  });

  it.each<[string, (dir: string) => void, (dir: string) => RegExp]>([
    [
      'a missing manifest',
      (d) => unlinkSync(join(d, 'manifest.json')),
      (d) => re(`${join(d, 'manifest.json')}: cannot read (ENOENT): not a checkpoint folder`),
    ],
    [
      'a missing tensor file',
      (d) => unlinkSync(join(d, 'checkpoint-3.safetensors')),
      (d) => re(`${join(d, 'checkpoint-3.safetensors')}: cannot read (ENOENT) (manifest.json refers to it)`),
    ],
    [
      'a manifest that is not JSON',
      (d) => writeFileSync(join(d, 'manifest.json'), '{"format":'),
      (d) => re(`${join(d, 'manifest.json')} is not valid JSON`),
    ],
    [
      'a wrong format',
      (d) => patchManifest(d, (m) => (m.format = 'other')),
      () => /manifest\.json: format is "other", expected "polyseg-checkpoint"/,
    ],
    ['a newer version', (d) => patchManifest(d, (m) => (m.version = 3)), () => /manifest\.json: unsupported version 3/],
    [
      'a bad step',
      (d) => patchManifest(d, (m) => (m.step = -1)),
      () => /manifest\.json: step must be a non-negative integer, got -1/,
    ],
    [
      'a bad sha256',
      (d) => patchManifest(d, (m) => (m.tensors = { file: 'checkpoint-3.safetensors', bytes: 1, sha256: 'xyz' })),
      () => /manifest\.json: tensors\.sha256 must be 64 lowercase hex digits/,
    ],
    ['missing versions', (d) => patchManifest(d, (m) => delete m.versions), () => /manifest\.json: versions must be/],
    [
      'a layout short of P',
      (d) => patchManifest(d, (m) => (m.layout = (m.layout as unknown[]).slice(0, 2))),
      () => /manifest\.json: layout covers 40 values but there are 48 parameters/,
    ],
    [
      'a layout with a gap',
      (d) => patchManifest(d, (m) => ((m.layout as { offset: number }[])[2]!.offset = 41)),
      () => /manifest\.json: layout leaves parameters 40\.\.41 unnamed \(before "head\.weight"\)/,
    ],
    [
      'overlapping layout entries',
      (d) => patchManifest(d, (m) => ((m.layout as { offset: number }[])[1]!.offset = 35)),
      () => /manifest\.json: layout entry "enc\.conv\.bias" at offset 35 overlaps/,
    ],
    [
      'duplicate layout names',
      (d) => patchManifest(d, (m) => ((m.layout as { name: string }[])[1]!.name = 'enc.conv.weight')),
      () => /manifest\.json: layout\[1\]: duplicate name "enc\.conv\.weight"/,
    ],
  ])('rejects %s, naming the file', (_, corrupt, message) => {
    const dir = tmp();
    saveCheckpoint(dir, state());
    corrupt(dir);
    expect(() => loadCheckpoint(dir)).toThrow(message(dir));
  });

  it.each<[string, (s: CheckpointState) => NamedSafetensorsTensor[], RegExp]>([
    [
      'adam.m shorter than params',
      (s) => [
        { name: 'params', dtype: 'F32', shape: [48], data: s.params },
        { name: 'adam.m', dtype: 'F32', shape: [47], data: s.adam.m.subarray(1) },
        { name: 'adam.v', dtype: 'F32', shape: [48], data: s.adam.v },
      ],
      /checkpoint-3\.safetensors: tensor "adam\.m" has 47 values but manifest\.json says 48 parameters/,
    ],
    [
      'a missing adam.v',
      (s) => [
        { name: 'params', dtype: 'F32', shape: [48], data: s.params },
        { name: 'adam.m', dtype: 'F32', shape: [48], data: s.adam.m },
      ],
      /checkpoint-3\.safetensors: missing tensor "adam\.v"/,
    ],
    [
      'params of the wrong dtype',
      (s) => [
        { name: 'params', dtype: 'U8', shape: [48], data: new Uint8Array(48) },
        { name: 'adam.m', dtype: 'F32', shape: [48], data: s.adam.m },
        { name: 'adam.v', dtype: 'F32', shape: [48], data: s.adam.v },
      ],
      /checkpoint-3\.safetensors: tensor "params" must be F32 \[P\], got U8\[48\]/,
    ],
    [
      'params not flat',
      (s) => [
        { name: 'params', dtype: 'F32', shape: [6, 8], data: s.params },
        { name: 'adam.m', dtype: 'F32', shape: [48], data: s.adam.m },
        { name: 'adam.v', dtype: 'F32', shape: [48], data: s.adam.v },
      ],
      /tensor "params" must be F32 \[P\], got F32\[6,8\]/,
    ],
  ])('rejects a consistent pair whose tensors are wrong: %s', (_, tensors, message) => {
    const dir = tmp();
    const s = state();
    saveCheckpoint(dir, s);
    forgeTensors(dir, tensors(s));
    expect(() => loadCheckpoint(dir)).toThrow(message);
  });

  it('rejects a consistent pair whose tensor file is not valid safetensors, naming it', () => {
    const dir = tmp();
    saveCheckpoint(dir, state());
    const junk = new Uint8Array([1, 2, 3]);
    writeFileSync(join(dir, 'checkpoint-3.safetensors'), junk);
    patchManifest(
      dir,
      (m) =>
        (m.tensors = {
          file: 'checkpoint-3.safetensors',
          bytes: 3,
          sha256: createHash('sha256').update(junk).digest('hex'),
        }),
    );
    expect(() => loadCheckpoint(dir)).toThrow(re(`${join(dir, 'checkpoint-3.safetensors')}: truncated: 3 bytes`));
  });

  it.each<[string, (s: CheckpointState) => CheckpointState, RegExp]>([
    [
      'adam.v of the wrong length',
      (s) => ({ ...s, adam: { m: s.adam.m, v: new Float32Array(3) } }),
      /adam\.v has 3 values but params has 48/,
    ],
    [
      'a layout that does not cover params',
      (s) => ({ ...s, layout: s.layout.slice(1) }),
      /layout leaves parameters 0\.\.36 unnamed/,
    ],
    ['a fractional step', (s) => ({ ...s, step: 1.5 }), /step must be a non-negative integer, got 1\.5/],
    ['a NaN in the config', (s) => ({ ...s, config: { lr: Number.NaN } }), /config\.lr is NaN, which JSON cannot hold/],
    [
      'a Map in the rng state',
      (s) => ({ ...s, rng: { streams: new Map() } }),
      /rng\.streams is a Map, not a plain JSON object/,
    ],
    ['a bigint in the config', (s) => ({ ...s, config: { n: 1n } }), /config\.n is a bigint/],
    [
      'an extra tensor named params',
      (s) => ({ ...s, extra: { params: { dtype: 'U8', shape: [1], data: new Uint8Array(1) } } }),
      /extra tensor "params" uses a reserved name/,
    ],
  ])('refuses to save %s, writing nothing', (_, edit, message) => {
    const dir = join(tmp(), 'ckpt');
    expect(() => saveCheckpoint(dir, edit(state()))).toThrow(message);
    expect(existsSync(dir)).toBe(false);
  });

  it('writes atomically: a folder whose parent is a file fails and leaves nothing behind', () => {
    const root = tmp();
    writeFileSync(join(root, 'blocker'), 'not a folder');
    expect(() => saveCheckpoint(join(root, 'blocker', 'ckpt'), state())).toThrow(/ENOTDIR|EEXIST/);
    expect(files(root)).toEqual(['blocker']);
    expect(readFileSync(join(root, 'blocker'), 'utf8')).toBe('not a folder');
  });

  it('writes atomically: a failed rename of the tensor file leaves no temporary file and no manifest', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'checkpoint-3.safetensors')); // renaming a file onto a folder fails after the temp file is written
    expect(() => saveCheckpoint(dir, state())).toThrow(/EISDIR|EEXIST|EPERM|ENOTEMPTY/);
    expect(files(dir)).toEqual(['checkpoint-3.safetensors']);
  });

  it('writes atomically: a failed manifest write leaves no temporary file, and the folder does not load', () => {
    // The tensors land, the manifest (written last) does not: nothing vouches for the tensor file.
    const blocked = join(tmp(), 'ckpt');
    mkdirSync(join(blocked, 'manifest.json'), { recursive: true });
    expect(() => saveCheckpoint(blocked, state(2))).toThrow(/EISDIR|EEXIST|EPERM|ENOTEMPTY/);
    expect(files(blocked)).toEqual(['checkpoint-3.safetensors', 'manifest.json']);
    expect(() => loadCheckpoint(blocked)).toThrow(/manifest\.json: cannot read \(EISDIR\)/);
  });
});
