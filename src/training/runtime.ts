/**
 * The one module that talks to onnxruntime-node for training and evaluation: session creation with
 * the chosen execution providers, and typed feeds. Swapping CPU / CUDA / WebGPU touches only this.
 */
import * as ort from 'onnxruntime-node';

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';

export interface SessionOptions {
  /** Providers in order of preference; an unavailable one is an error unless a later one is listed. */
  providers?: ExecutionProvider[];
}

export async function createSession(model: Uint8Array | string, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model as Uint8Array, {
    executionProviders: options.providers ?? ['cpu'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
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
