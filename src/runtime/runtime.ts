/**
 * The one module that talks to onnxruntime-node for training and evaluation: session creation with
 * the chosen execution providers, and typed feeds. Swapping CPU / CUDA / WebGPU touches only this.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { addInput, addOutput, createGraph, op1 } from '../graphBuilder/graph.js';
import { INPUT, OUTPUT } from '../graphBuilder/graphIO.js';
import { serialize } from '../graphBuilder/serialize.js';

export const PROVIDERS = ['cpu', 'cuda', 'webgpu'] as const;
export type ExecutionProvider = (typeof PROVIDERS)[number];

/** Parse `--ep cpu`, `--ep cuda,cpu` (a fallback list): known names, no repeats. */
export function parseProviders(spec: string): ExecutionProvider[] {
  const list = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((p) => !(PROVIDERS as readonly string[]).includes(p));
  if (list.length === 0 || bad.length || new Set(list).size !== list.length) {
    throw new Error(`--ep must be a comma-separated list of ${PROVIDERS.join(', ')} without repeats, got "${spec}"`);
  }
  return list as ExecutionProvider[];
}

const bindingDir = (): string => {
  const main = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(main), '..', 'bin', `napi-v6`, process.platform, process.arch);
};

/** Why a provider cannot be used here, with how to fix it; undefined when it can be tried. */
export function providerProblem(p: ExecutionProvider): string | undefined {
  if (p !== 'cuda') return undefined;
  if (process.platform !== 'linux' && process.platform !== 'win32')
    return `CUDA is not available on ${process.platform}`;
  const lib = join(
    bindingDir(),
    process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so',
  );
  if (existsSync(lib)) return undefined;
  return (
    `onnxruntime-node's CUDA provider library is not installed (${lib} is missing). It is not in the npm ` +
    'package; on a machine with internet access run `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js` ' +
    '(see README, "CUDA"), and make the CUDA runtime, cuBLAS and cuDNN 9 libraries findable (LD_LIBRARY_PATH).'
  );
}

export interface SessionOptions {
  /** Providers in order of preference: each must work, unless a later one is listed as a fallback. */
  providers?: ExecutionProvider[];
  /**
   * Outputs to leave in device memory when the provider allows it (WebGPU's 'gpu-buffer'): the train
   * state then stays on the GPU between steps instead of crossing the bus twice per step. The CUDA
   * provider of onnxruntime-node has no such option.
   */
  deviceOutputs?: readonly string[];
  /** Called when a provider in the list fails and the next one is tried; default: a line on stderr. */
  onFallback?: (provider: ExecutionProvider, why: string) => void;
}

/**
 * Session settings every session of ours gets (the bench uses them too, so it measures what
 * training runs). enableMemPattern off: with onnxruntime's memory pattern, the first run plans one
 * block for all intermediate tensors and keeps it; without it, tensors come from the arena and are
 * reused as they die. Measured on the train step (2-core EPYC, 2026-12-03): peak RSS 1878 → 1176 MiB
 * at base 32, 224², batch 4 and 735 → 495 MiB at base 16, 128², batch 8, step time unchanged within
 * noise. (Disabling the arena instead doubles the step time: 396 → 940 ms.)
 */
export const SESSION_DEFAULTS = {
  graphOptimizationLevel: 'all',
  enableMemPattern: false,
  logSeverityLevel: 3,
} as const;

/**
 * POLYSEG_THREADS=N caps onnxruntime's intra-op threads (default: one per core). The study sets it
 * for its child processes so that K runs at once share the cores instead of oversubscribing them.
 */
function threadOptions(): { intraOpNumThreads?: number; interOpNumThreads?: number } {
  const v = process.env.POLYSEG_THREADS;
  if (v === undefined || v === '') return {};
  const n = Number(v);
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`POLYSEG_THREADS must be a positive integer, got "${v}"`);
  return { intraOpNumThreads: n, interOpNumThreads: 1 };
}

/**
 * The first provider of a fallback list that can run a session here, tried with a one-node model
 * before any data is loaded or file written, and why each earlier one could not. The run then uses
 * that one provider for every session (no per-session fallback that could mix providers).
 */
export async function resolveProvider(
  list: readonly ExecutionProvider[],
): Promise<{ provider: ExecutionProvider; skipped: { provider: ExecutionProvider; why: string }[] }> {
  const skipped: { provider: ExecutionProvider; why: string }[] = [];
  const probe = identityModel(4);
  for (const p of list) {
    try {
      const problem = providerProblem(p);
      if (problem) throw new Error(problem);
      const session = await ort.InferenceSession.create(probe, { executionProviders: [p], logSeverityLevel: 3 });
      await session.release();
      return { provider: p, skipped };
    } catch (e) {
      skipped.push({ provider: p, why: (e as Error).message });
    }
  }
  throw new Error(
    `none of the execution providers ${list.join(', ')} can run here:\n  ${skipped.map((x) => `${x.provider}: ${x.why}`).join('\n  ')}`,
  );
}

/** The one line that says a provider in an --ep list was skipped (sessions here, the train CLI's choice). */
export const fallbackNote = (p: ExecutionProvider, why: string): string =>
  `--ep: ${p} is not available (${why.split('\n')[0]}); trying the next`;

const reportFallback = (p: ExecutionProvider, why: string): void =>
  void process.stderr.write(`${fallbackNote(p, why)}\n`);

export async function createSession(model: Uint8Array, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  const providers = options.providers ?? ['cpu'];
  const failures: string[] = [];
  for (const [i, p] of providers.entries()) {
    const problem = providerProblem(p);
    try {
      if (problem) throw new Error(problem);
      const onDevice = p === 'webgpu' && options.deviceOutputs?.length;
      const session = await ort.InferenceSession.create(model, {
        executionProviders: [p],
        ...threadOptions(),
        ...SESSION_DEFAULTS,
        ...(onDevice
          ? {
              preferredOutputLocation: Object.fromEntries(
                options.deviceOutputs!.map((o) => [o, 'gpu-buffer' as const]),
              ),
            }
          : {}),
      });
      if (failures.length && !options.onFallback) process.stderr.write(`execution provider: using ${p}\n`);
      return session;
    } catch (e) {
      const why = (e as Error).message;
      failures.push(`${p}: ${why}`);
      if (i < providers.length - 1) (options.onFallback ?? reportFallback)(p, why);
    }
  }
  throw new Error(`no execution provider could run the model:\n  ${failures.join('\n  ')}`);
}

export const f32 = (data: Float32Array, dims: readonly number[]): ort.Tensor =>
  new ort.Tensor('float32', data, dims as number[]);
export const scalar = (v: number): ort.Tensor => new ort.Tensor('float32', Float32Array.of(v), []);

/** Parameters and Adam moments as flat vectors, plus the update count. */
export interface TrainState {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  step: number;
}

export const initialState = (params: Float32Array): TrainState => ({
  params: params.slice(),
  m: new Float32Array(params.length),
  v: new Float32Array(params.length),
  step: 0,
});

export interface Batch {
  image: Float32Array; // [B,3,H,W]
  target: Float32Array; // [B,1,H,W]
  eps: Float32Array; // [B]
  dims: readonly number[]; // image dims [B,3,H,W]
}

export interface StepResult {
  state: TrainState;
  loss: number;
  perImage: Float32Array;
}

const batchFeeds = (b: Batch): Record<string, ort.Tensor> => {
  const [n, , h, w] = b.dims as [number, number, number, number];
  return {
    [INPUT.image]: f32(b.image, b.dims),
    [INPUT.target]: f32(b.target, [n, 1, h, w]),
    [INPUT.eps]: f32(b.eps, [n]),
  };
};

/** The train-step outputs that carry the state, kept on the device where the provider allows it. */
export const STATE_OUTPUTS = [OUTPUT.params, OUTPUT.adamM, OUTPUT.adamV] as const;

/** A state vector on the host, or a tensor left in device memory by the previous step. */
export type Vector = Float32Array | ort.Tensor;
export interface DeviceState {
  params: Vector;
  m: Vector;
  v: Vector;
  step: number;
}

const asTensor = (x: Vector, P: number): ort.Tensor => (x instanceof Float32Array ? f32(x, [P]) : x);
const keep = (t: ort.Tensor): Vector => (t.location === 'gpu-buffer' ? t : (t.data as Float32Array));
const length = (x: Vector): number => (x instanceof Float32Array ? x.length : x.dims[0]!);

/** One fused train step (forward + backward + Adam in one run of the train-step model). */
export async function trainStepOnDevice(
  session: ort.InferenceSession,
  s: DeviceState,
  b: Batch,
  lr: number,
  dropoutRatio: number,
) {
  const P = length(s.params);
  const feeds: Record<string, ort.Tensor> = {
    ...batchFeeds(b),
    [INPUT.params]: asTensor(s.params, P),
    [INPUT.adamM]: asTensor(s.m, P),
    [INPUT.adamV]: asTensor(s.v, P),
    [INPUT.step]: scalar(s.step + 1),
    [INPUT.lr]: scalar(lr),
  };
  if (session.inputNames.includes(INPUT.dropoutRatio)) feeds[INPUT.dropoutRatio] = scalar(dropoutRatio);
  const out = await session.run(feeds);
  const state: DeviceState = {
    params: keep(out[OUTPUT.params]!),
    m: keep(out[OUTPUT.adamM]!),
    v: keep(out[OUTPUT.adamV]!),
    step: s.step + 1,
  };
  return {
    state,
    loss: (out[OUTPUT.loss]!.data as Float32Array)[0]!,
    perImage: out[OUTPUT.perImageLoss]!.data as Float32Array,
  };
}

export interface StepsResult {
  state: TrainState;
  /** Batch loss of each step run, and each step's per-image losses. */
  losses: Float32Array;
  perImage: Float32Array[];
}

/**
 * Up to K fused train steps in one run of the K-step Loop model (buildTrainLoopModel): the state
 * goes in and comes out once. `batches.length` ≤ K steps are run; the rest of the stacked inputs is
 * left at zero and ignored.
 */
export async function trainSteps(
  session: ort.InferenceSession,
  s: TrainState,
  batches: readonly Batch[],
  k: number,
  lr: number,
  dropoutRatio: number,
): Promise<StepsResult> {
  if (batches.length < 1 || batches.length > k)
    throw new Error(`trainSteps: ${batches.length} batches for a ${k}-step model`);
  const [n, ch, h, w] = batches[0]!.dims as [number, number, number, number];
  const perImage = ch * h * w;
  const images = new Float32Array(k * n * perImage);
  const targets = new Float32Array(k * n * h * w);
  const eps = new Float32Array(k * n);
  batches.forEach((b, i) => {
    images.set(b.image, i * n * perImage);
    targets.set(b.target, i * n * h * w);
    eps.set(b.eps, i * n);
  });
  const P = s.params.length;
  const feeds: Record<string, ort.Tensor> = {
    [INPUT.params]: f32(s.params, [P]),
    [INPUT.adamM]: f32(s.m, [P]),
    [INPUT.adamV]: f32(s.v, [P]),
    [INPUT.step]: scalar(s.step),
    [INPUT.lr]: scalar(lr),
    [INPUT.images]: f32(images, [k, n, ch, h, w]),
    [INPUT.targets]: f32(targets, [k, n, 1, h, w]),
    [INPUT.epsSteps]: f32(eps, [k, n]),
    [INPUT.steps]: new ort.Tensor('int64', BigInt64Array.of(BigInt(batches.length)), []),
  };
  if (session.inputNames.includes(INPUT.dropoutRatio)) feeds[INPUT.dropoutRatio] = scalar(dropoutRatio);
  const out = await session.run(feeds);
  const run = batches.length;
  const all = out[OUTPUT.perImageLosses]!.data as Float32Array;
  return {
    state: {
      params: out[OUTPUT.params]!.data as Float32Array,
      m: out[OUTPUT.adamM]!.data as Float32Array,
      v: out[OUTPUT.adamV]!.data as Float32Array,
      step: s.step + run,
    },
    losses: (out[OUTPUT.losses]!.data as Float32Array).slice(0, run),
    perImage: Array.from({ length: run }, (_, i) => all.slice(i * n, (i + 1) * n)),
  };
}

/** One fused train step with the state on the host. */
export async function trainStep(
  session: ort.InferenceSession,
  s: TrainState,
  b: Batch,
  lr: number,
  dropoutRatio: number,
): Promise<StepResult> {
  const r = await trainStepOnDevice(session, s, b, lr, dropoutRatio);
  if (
    !(r.state.params instanceof Float32Array && r.state.m instanceof Float32Array && r.state.v instanceof Float32Array)
  ) {
    throw new Error('trainStep: the session keeps its outputs on the device; use trainStepOnDevice and toHost');
  }
  return { ...r, state: r.state as TrainState };
}

const fetchSessions = new Map<number, Promise<ort.InferenceSession>>();

/**
 * Bring device-resident vectors back to the host (checkpoints, validation, MC phase: once per
 * epoch). Tensor.getData() aborts the process for WebGPU buffers in onnxruntime-node 1.30, so a
 * one-node Identity session on the same provider copies them out instead.
 */
export async function toHost(s: DeviceState): Promise<TrainState> {
  const host = async (x: Vector): Promise<Float32Array> => {
    if (x instanceof Float32Array) return x;
    const P = x.dims[0]!;
    if (!fetchSessions.has(P))
      fetchSessions.set(
        P,
        ort.InferenceSession.create(identityModel(P), { executionProviders: ['webgpu'], logSeverityLevel: 3 }),
      );
    const out = await (await fetchSessions.get(P)!).run({ x });
    return out.y!.data as Float32Array;
  };
  return { params: await host(s.params), m: await host(s.m), v: await host(s.v), step: s.step };
}

/** Loss, per-image losses and probabilities with dropout off (eval model). */
export async function evaluate(session: ort.InferenceSession, params: Float32Array, b: Batch) {
  const out = await session.run({ ...batchFeeds(b), [INPUT.params]: f32(params, [params.length]) });
  return {
    loss: (out[OUTPUT.loss]!.data as Float32Array)[0]!,
    perImage: out[OUTPUT.perImageLoss]!.data as Float32Array,
    probability: out[OUTPUT.probability]!.data as Float32Array,
  };
}

/** y = x for a float [P] vector. */
function identityModel(P: number): Uint8Array {
  const g = createGraph('fetch');
  addOutput(g, 'y', op1(g, 'Identity', [addInput(g, 'x', 'float32', [P])]));
  return serialize(g);
}
