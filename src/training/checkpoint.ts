/**
 * Training checkpoints: a folder holding
 *
 *   checkpoint-<epoch>.safetensors  `params` (the flat F32 parameter vector, [P]), `adam.m` and `adam.v` ([P]
 *                           each), plus any extra named tensors (e.g. batch-norm running statistics)
 *   manifest.json           format, version, step, epoch, the run's config, seeds / PRNG states, the versions
 *                           of node, onnxruntime and this toolkit, the parameter layout (name, shape, offset
 *                           into the flat vector), and the name, size and sha256 of the tensor file
 *
 * One commit point per checkpoint: the tensors go to a new generation-named file (temporary file, fsync,
 * rename), then the manifest naming it replaces the old manifest in one rename; only after that are
 * the older generations deleted. A crash at any step leaves either the previous checkpoint (its manifest
 * and its tensor file, untouched) or the new one, never a mix; stray files of an interrupted save are
 * removed by the next save. tests/training/checkpointCrash.test.ts kills the writer at every step.
 * Version 1 checkpoints (one file called checkpoint.safetensors, replaced in place) still load.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type FileOps, NODE_FS, syncDir, writeFileAtomic, parseJsonFile, readJsonFile } from '../common/files.js';
import type { ParamSlot } from '../graphBuilder/graph.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  type NamedSafetensorsTensor,
  type SafetensorsTensor,
} from './safetensors.js';

export const CHECKPOINT_FORMAT = 'polyseg-checkpoint';
export const CHECKPOINT_VERSION = 2;
/** Versions this toolkit reads: 1 wrote its tensors to one fixed name (LEGACY_TENSORS_FILE). */
const READABLE_VERSIONS: readonly number[] = [1, 2];
export const LEGACY_TENSORS_FILE = 'checkpoint.safetensors';
/** The tensor file of the checkpoint after `epoch` epochs (its generation). */
export const tensorsFile = (epoch: number): string => `checkpoint-${epoch}.safetensors`;
const TENSORS_FILE_PATTERN = /^checkpoint(-\d+)?\.safetensors$/;
export const MANIFEST_FILE = 'manifest.json';
/** Tensor names the checkpoint itself uses; extra tensors may not take them. */
export const RESERVED_TENSORS = ['params', 'adam.m', 'adam.v'] as const;

/** Where one named weight lives in the flat parameter vector: params[offset, offset + numel(shape)). */
export type ParamLayoutEntry = ParamSlot;

/** What a training loop saves and resumes from. */
export interface CheckpointState {
  /** Optimizer steps taken so far. */
  readonly step: number;
  /** Epochs completed so far. */
  readonly epoch: number;
  /** The run's configuration: any JSON value. */
  readonly config: unknown;
  /** Seeds and PRNG states (e.g. `prng().state()` words): any JSON value. */
  readonly rng: unknown;
  /** Must cover params exactly: contiguous from 0 to P, no overlaps. */
  readonly layout: readonly ParamLayoutEntry[];
  readonly params: Float32Array;
  /** Adam first and second moment estimates, one per parameter. */
  readonly adam: { readonly m: Float32Array; readonly v: Float32Array };
  /** Any further tensors, by name (not one of RESERVED_TENSORS). */
  readonly extra?: Readonly<Record<string, SafetensorsTensor>>;
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  step: number;
  epoch: number;
  createdAt: string;
  versions: { node: string; onnxruntime: string; toolkit: string };
  tensors: { file: string; bytes: number; sha256: string };
  paramCount: number;
  layout: ParamLayoutEntry[];
  config: unknown;
  rng: unknown;
}

export interface LoadedCheckpoint extends CheckpointState {
  readonly extra: Readonly<Record<string, SafetensorsTensor>>;
  readonly manifest: CheckpointManifest;
}

/** Cut a flat vector back into named weights (views into `params`, not copies). */
export function splitParams(
  params: Float32Array,
  layout: readonly ParamLayoutEntry[],
): Map<string, { shape: readonly number[]; data: Float32Array }> {
  checkLayout(layout, params.length, 'parameter layout');
  return new Map(
    layout.map((e) => [
      e.name,
      { shape: e.shape, data: params.subarray(e.offset, e.offset + e.shape.reduce((a, b) => a * b, 1)) },
    ]),
  );
}

/** Throws `${label}: ...` unless `layout` covers [0, count) exactly with unique names and valid shapes. */
function checkLayout(layout: unknown, count: number, label: string): asserts layout is ParamLayoutEntry[] {
  if (!Array.isArray(layout)) throw new Error(`${label}: layout must be an array`);
  const names = new Set<string>();
  const spans: { name: string; begin: number; end: number }[] = [];
  layout.forEach((e: unknown, i) => {
    const where = `${label}: layout[${i}]`;
    if (typeof e !== 'object' || e === null) throw new Error(`${where} must be {name, shape, offset}`);
    const { name, shape, offset } = e as Record<string, unknown>;
    if (typeof name !== 'string' || name === '') throw new Error(`${where}: name must be a non-empty string`);
    if (names.has(name)) throw new Error(`${where}: duplicate name "${name}"`);
    names.add(name);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`${where} ("${name}"): invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Number.isSafeInteger(offset) || (offset as number) < 0)
      throw new Error(`${where} ("${name}"): invalid offset ${JSON.stringify(offset)}`);
    const begin = offset as number;
    spans.push({ name, begin, end: begin + (shape as number[]).reduce((a: number, b: number) => a * b, 1) });
  });
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const s of spans) {
    if (s.begin < covered)
      throw new Error(
        `${label}: layout entry "${s.name}" at offset ${s.begin} overlaps the previous entry (which ends at ${covered})`,
      );
    if (s.begin > covered)
      throw new Error(`${label}: layout leaves parameters ${covered}..${s.begin} unnamed (before "${s.name}")`);
    covered = s.end;
  }
  if (covered !== count) throw new Error(`${label}: layout covers ${covered} values but there are ${count} parameters`);
}

/** Throws unless `value` survives a JSON round trip unchanged (undefined object properties are dropped, as JSON does). */
function checkJson(value: unknown, path: string, stack = new Set<object>()): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${path} is ${value}, which JSON cannot hold`);
    return;
  }
  if (typeof value !== 'object') throw new Error(`${path} is a ${typeof value}, which JSON cannot hold`);
  if (stack.has(value)) throw new Error(`${path} is a circular reference`);
  stack.add(value);
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (v === undefined) throw new Error(`${path}[${i}] is undefined, which JSON cannot hold`);
      checkJson(v, `${path}[${i}]`, stack);
    });
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null)
      throw new Error(`${path} is a ${value.constructor?.name ?? 'non-plain object'}, not a plain JSON object`);
    for (const [k, v] of Object.entries(value)) if (v !== undefined) checkJson(v, `${path}.${k}`, stack);
  }
  stack.delete(value);
}

let cachedVersions: { onnxruntime: string; toolkit: string } | undefined;
function toolVersions(): CheckpointManifest['versions'] {
  const read = (path: string | URL): string => {
    try {
      const v = (readJsonFile(path) as { version?: unknown }).version;
      return typeof v === 'string' ? v : 'unknown';
    } catch {
      return 'unknown';
    }
  };
  if (!cachedVersions) {
    let ort = 'unknown';
    try {
      ort = read(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    } catch {
      // not installed: record "unknown" rather than refuse to save
    }
    cachedVersions = { onnxruntime: ort, toolkit: read(new URL('../../package.json', import.meta.url)) };
  }
  return { node: process.version, ...cachedVersions };
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/**
 * Save a checkpoint into `dir` (created if needed; an existing checkpoint there is replaced).
 * Returns the manifest written. `now` fixes createdAt (for reproducible output in tests).
 */
export function saveCheckpoint(
  dir: string,
  ckpt: CheckpointState,
  options: { now?: Date; fs?: FileOps } = {},
): CheckpointManifest {
  const fs = options.fs ?? NODE_FS;
  const label = `checkpoint ${dir}`;
  for (const [k, v] of [
    ['step', ckpt.step],
    ['epoch', ckpt.epoch],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${label}: ${k} must be a non-negative integer, got ${v}`);
  }
  if (!(ckpt.params instanceof Float32Array)) throw new Error(`${label}: params must be a Float32Array`);
  const P = ckpt.params.length;
  for (const [k, a] of [
    ['adam.m', ckpt.adam.m],
    ['adam.v', ckpt.adam.v],
  ] as const) {
    if (!(a instanceof Float32Array)) throw new Error(`${label}: ${k} must be a Float32Array`);
    if (a.length !== P) throw new Error(`${label}: ${k} has ${a.length} values but params has ${P}`);
  }
  checkLayout(ckpt.layout, P, label);
  if (ckpt.config === undefined) throw new Error(`${label}: config is undefined, which JSON cannot hold`);
  if (ckpt.rng === undefined) throw new Error(`${label}: rng is undefined, which JSON cannot hold`);
  checkJson(ckpt.config, 'config');
  checkJson(ckpt.rng, 'rng');
  const extra = Object.entries(ckpt.extra ?? {});
  for (const [name] of extra) {
    if ((RESERVED_TENSORS as readonly string[]).includes(name))
      throw new Error(`${label}: extra tensor "${name}" uses a reserved name`);
  }

  const tensors: NamedSafetensorsTensor[] = [
    { name: 'params', dtype: 'F32', shape: [P], data: ckpt.params },
    { name: 'adam.m', dtype: 'F32', shape: [P], data: ckpt.adam.m },
    { name: 'adam.v', dtype: 'F32', shape: [P], data: ckpt.adam.v },
    ...extra.map(([name, t]) => ({ name, ...t }) as NamedSafetensorsTensor),
  ];
  const bytes = encodeSafetensors(tensors, {
    format: CHECKPOINT_FORMAT,
    version: String(CHECKPOINT_VERSION),
    step: String(ckpt.step),
  });

  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step: ckpt.step,
    epoch: ckpt.epoch,
    createdAt: (options.now ?? new Date()).toISOString(),
    versions: toolVersions(),
    tensors: { file: tensorsFile(ckpt.epoch), bytes: bytes.length, sha256: sha256(bytes) },
    paramCount: P,
    layout: ckpt.layout.map((e) => ({ name: e.name, shape: [...e.shape], offset: e.offset })),
    config: ckpt.config,
    rng: ckpt.rng,
  };

  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, manifest.tensors.file), bytes, fs);
  syncDir(dir, fs);
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, fs); // the commit point
  syncDir(dir, fs);
  // Committed: older generations and leftovers of interrupted saves can go.
  for (const f of fs.readdirSync(dir)) {
    if (f !== manifest.tensors.file && (TENSORS_FILE_PATTERN.test(f) || f.includes('.tmp-')))
      fs.rmSync(join(dir, f), { force: true });
  }
  return manifest;
}

function readOrFail(path: string, why: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read${code ? ` (${code})` : ''}${why}`);
  }
}

function checkManifest(m: unknown, file: string): asserts m is CheckpointManifest {
  const fail = (problem: string): never => {
    throw new Error(`${file}: ${problem}`);
  };
  if (typeof m !== 'object' || m === null || Array.isArray(m)) fail('must be a JSON object');
  const r = m as Record<string, unknown>;
  if (r.format !== CHECKPOINT_FORMAT) fail(`format is ${JSON.stringify(r.format)}, expected "${CHECKPOINT_FORMAT}"`);
  if (!READABLE_VERSIONS.includes(r.version as number))
    fail(
      `unsupported version ${JSON.stringify(r.version)} (this toolkit reads versions ${READABLE_VERSIONS.join(', ')})`,
    );
  for (const k of ['step', 'epoch', 'paramCount']) {
    if (!Number.isSafeInteger(r[k]) || (r[k] as number) < 0)
      fail(`${k} must be a non-negative integer, got ${JSON.stringify(r[k])}`);
  }
  if (typeof r.createdAt !== 'string') fail('createdAt must be a string');
  const v = r.versions as Record<string, unknown> | null;
  if (
    typeof v !== 'object' ||
    v === null ||
    !['node', 'onnxruntime', 'toolkit'].every((k) => typeof v[k] === 'string')
  ) {
    fail('versions must be {node, onnxruntime, toolkit} strings');
  }
  const t = r.tensors as Record<string, unknown> | null;
  if (typeof t !== 'object' || t === null) fail('tensors must be {file, bytes, sha256}');
  const expected = r.version === 1 ? `"${LEGACY_TENSORS_FILE}"` : 'checkpoint-<epoch>.safetensors';
  if (
    typeof t!.file !== 'string' ||
    !TENSORS_FILE_PATTERN.test(t!.file) ||
    (r.version === 1 && t!.file !== LEGACY_TENSORS_FILE)
  )
    fail(`tensors.file is ${JSON.stringify(t!.file)}, expected ${expected}`);
  if (!Number.isSafeInteger(t!.bytes) || (t!.bytes as number) < 0) fail('tensors.bytes must be a non-negative integer');
  if (typeof t!.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(t!.sha256))
    fail('tensors.sha256 must be 64 lowercase hex digits');
  if (!('config' in r)) fail('config is missing');
  if (!('rng' in r)) fail('rng is missing');
  checkLayout(r.layout, r.paramCount as number, file);
}

/** Load and validate the checkpoint in `dir`; every error names the file at fault. */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const manifestPath = join(dir, MANIFEST_FILE);
  const text = readOrFail(manifestPath, ': not a checkpoint folder, or its save never finished').toString('utf8');
  const manifest = parseJsonFile(text, manifestPath);
  checkManifest(manifest, manifestPath);

  const tensorPath = join(dir, manifest.tensors.file);
  const bytes = readOrFail(tensorPath, ` (${MANIFEST_FILE} refers to it)`);
  const digest = sha256(bytes);
  if (bytes.length !== manifest.tensors.bytes || digest !== manifest.tensors.sha256) {
    throw new Error(
      `${tensorPath}: does not match ${MANIFEST_FILE} (${bytes.length} bytes, sha256 ${digest}; ` +
        `the manifest expects ${manifest.tensors.bytes} bytes, sha256 ${manifest.tensors.sha256}): ` +
        'the pair is torn (interrupted save) or the file was changed',
    );
  }
  const { tensors } = decodeSafetensors(bytes, tensorPath);

  const P = manifest.paramCount;
  const f32 = (name: string): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${tensorPath}: missing tensor "${name}"`);
    if (t.dtype !== 'F32' || t.shape.length !== 1)
      throw new Error(`${tensorPath}: tensor "${name}" must be F32 [P], got ${t.dtype}[${t.shape.join(',')}]`);
    if (t.data.length !== P)
      throw new Error(
        `${tensorPath}: tensor "${name}" has ${t.data.length} values but ${MANIFEST_FILE} says ${P} parameters`,
      );
    return t.data;
  };
  const params = f32('params');
  const m = f32('adam.m');
  const v = f32('adam.v');

  const extra: Record<string, SafetensorsTensor> = {};
  for (const [name, t] of tensors) if (!(RESERVED_TENSORS as readonly string[]).includes(name)) extra[name] = t;

  return {
    step: manifest.step,
    epoch: manifest.epoch,
    config: manifest.config,
    rng: manifest.rng,
    layout: manifest.layout,
    params,
    adam: { m, v },
    extra,
    manifest,
  };
}
