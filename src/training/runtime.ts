/**
 * The one module that talks to onnxruntime-node for training and evaluation: session creation with
 * the chosen execution providers, and typed feeds. Swapping CPU / CUDA / WebGPU touches only this.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';

export const PROVIDERS = ['cpu', 'cuda', 'webgpu'] as const;
export type ExecutionProvider = (typeof PROVIDERS)[number];

/** Parse `--ep cpu`, `--ep cuda,cpu` (a fallback list): known names, no repeats. */
export function parseProviders(spec: string): ExecutionProvider[] {
  const list = spec.split(',').map((s) => s.trim()).filter(Boolean);
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
  if (process.platform !== 'linux' && process.platform !== 'win32') return `CUDA is not available on ${process.platform}`;
  const lib = join(bindingDir(), process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so');
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
  /** Called when a provider in the list fails and the next one is used. */
  onFallback?: (provider: ExecutionProvider, why: string) => void;
}

/** A session on the first provider of the list that works; no silent fallback. */
export async function createSession(model: Uint8Array, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  const providers = options.providers ?? ['cpu'];
  const failures: string[] = [];
  for (const [i, p] of providers.entries()) {
    const problem = providerProblem(p);
    try {
      if (problem) throw new Error(problem);
      return await ort.InferenceSession.create(model, {
        executionProviders: [p],
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
    } catch (e) {
      const why = (e as Error).message;
      failures.push(`${p}: ${why}`);
      if (i < providers.length - 1) options.onFallback?.(p, why);
    }
  }
  throw new Error(`no execution provider could run the model:\n  ${failures.join('\n  ')}`);
}

export const f32 = (data: Float32Array, dims: readonly number[]): ort.Tensor => new ort.Tensor('float32', data, dims as number[]);
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
  return { image: f32(b.image, b.dims), target: f32(b.target, [n, 1, h, w]), eps: f32(b.eps, [n]) };
};

/** One fused train step (forward + backward + Adam in one run of the train-step model). */
export async function trainStep(session: ort.InferenceSession, s: TrainState, b: Batch, lr: number, dropoutRatio: number): Promise<StepResult> {
  const P = s.params.length;
  const feeds: Record<string, ort.Tensor> = {
    ...batchFeeds(b),
    params: f32(s.params, [P]),
    adam_m: f32(s.m, [P]),
    adam_v: f32(s.v, [P]),
    step: scalar(s.step + 1),
    lr: scalar(lr),
  };
  if (session.inputNames.includes('dropout_ratio')) feeds.dropout_ratio = scalar(dropoutRatio);
  const out = await session.run(feeds);
  return {
    state: {
      params: out.params_out!.data as Float32Array,
      m: out.adam_m_out!.data as Float32Array,
      v: out.adam_v_out!.data as Float32Array,
      step: s.step + 1,
    },
    loss: (out.loss!.data as Float32Array)[0]!,
    perImage: out.per_image_loss!.data as Float32Array,
  };
}

/** Loss, per-image losses and probabilities with dropout off (eval model). */
export async function evaluate(session: ort.InferenceSession, params: Float32Array, b: Batch) {
  const out = await session.run({ ...batchFeeds(b), params: f32(params, [params.length]) });
  return {
    loss: (out.loss!.data as Float32Array)[0]!,
    perImage: out.per_image_loss!.data as Float32Array,
    probability: out.probability!.data as Float32Array,
  };
}
