/**
 * Node prediction shared by the HTTP API (POST /api/predict) and `npm run predict`: decode image
 * bytes (our strip-TIFF reader first, else sharp), resize to the model size with the one
 * preprocessing training and the browser use (src/data/preprocess.ts; fill, aspect ratio not kept), run the single-pass inference model with onnxruntime-node, and turn
 * the probability map into a mask PNG and an overlay PNG at the image's own resolution.
 */
import { type DecodedImage, decodeImageBytes as decodeDataset } from '../data/datasets.js';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { InferenceSession } from 'onnxruntime-node';
import { INPUT, OUTPUT } from '../graphBuilder/graphIO.js';
import { type ModelConfig, buildMcModel } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { FOREGROUND_THRESHOLD } from '../training/metrics.js';
import { createSession, f32 } from '../runtime/runtime.js';
import { toPlanar } from '../data/preprocess.js';
import { type TrainedModel, copyWeightsByName, loadTrainedModel, resolveModelPath } from '../runtime/modelFile.js';
import { maskAtSize } from '../uncertainty/predictUncertainty.js';

/** Bytes that are not a decodable image (empty, truncated, not an image format). */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

export class ModelNotFoundError extends Error {
  override name = 'ModelNotFoundError';
}

export const UNTRAINED_FALLBACK = 'artifacts/models/small-128/unet_inference.onnx';

/** The newest runs/<run>/fold-k/model.onnx by modification time, or undefined. */
export function newestTrainedModel(runsDir = 'runs'): string | undefined {
  if (!existsSync(runsDir)) return undefined;
  let best: { path: string; mtime: number } | undefined;
  for (const run of readdirSync(runsDir)) {
    const runPath = join(runsDir, run);
    if (!safeIsDir(runPath)) continue;
    for (const fold of readdirSync(runPath)) {
      if (!fold.startsWith('fold-')) continue;
      const p = join(runPath, fold, 'model.onnx');
      if (!existsSync(p)) continue;
      const mtime = statSync(p).mtimeMs;
      if (!best || mtime > best.mtime) best = { path: p, mtime };
    }
  }
  return best?.path;
}

function safeIsDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** --model as given (file, fold folder or run folder), else the newest trained model; a clear error when there is none. */
export function chooseModel(flag: string, runsDir = 'runs'): string {
  if (flag) return resolveModelPath(flag);
  const newest = newestTrainedModel(runsDir);
  if (newest) return newest;
  const fallback = existsSync(UNTRAINED_FALLBACK)
    ? ` An untrained model exists: pass --model ${UNTRAINED_FALLBACK} to try the pipeline with random weights.`
    : ` Or run \`npm run build-graphs\` and pass --model ${UNTRAINED_FALLBACK} (untrained, random weights) to try the pipeline.`;
  throw new ModelNotFoundError(
    `no trained model found under ${runsDir}/*/fold-*/model.onnx: run \`npm run train\` first, or pass --model PATH.${fallback}`,
  );
}

export interface Predictor {
  path: string;
  model: TrainedModel;
  config: ModelConfig;
  size: number;
  session: InferenceSession;
}

export async function loadPredictor(path: string): Promise<Predictor> {
  const model = loadTrainedModel(path);
  const session = await createSession(new Uint8Array(readFileSync(path)), { providers: ['cpu'] });
  if (!session.inputNames.includes(INPUT.image) || !session.outputNames.includes(OUTPUT.probability)) {
    throw new Error(
      `--model ${path}: expected an inference model with input "${INPUT.image}" and output "${OUTPUT.probability}", got inputs ${session.inputNames.join(', ')} and outputs ${session.outputNames.join(', ')}`,
    );
  }
  return { path, model, config: model.config, size: model.config.imageSize, session };
}

/**
 * The MC-Dropout model (batch 1, `samples` samples) with the predictor's trained weights, as ONNX
 * bytes; undefined when the config has no Dropout to sample.
 */
export function mcModelBytes(p: Predictor, samples = 10): Uint8Array | undefined {
  const d = p.config.unet.dropout;
  if (!d || (!d.bottleneck && !d.decoder)) return undefined;
  const g = buildMcModel({ ...p.config, batch: 1, samples });
  copyWeightsByName(g, p.model.weights, `the weights of ${p.path}`);
  return serialize(g, { valueInfo: false });
}

export type DecodedInput = DecodedImage;

/** Decode image bytes and resize to size×size RGB as training does. Throws DecodeError for anything that is not a readable image. */
export async function decodeImageBytes(bytes: Uint8Array, size: number): Promise<DecodedInput> {
  try {
    return await decodeDataset(bytes, size, 'the uploaded image');
  } catch (e) {
    throw new DecodeError((e as Error).message);
  }
}

/** size×size interleaved RGB → planar float [1,3,size,size] in [0,1]. */
export function planarInput(rgb: Uint8Array, size: number): Float32Array {
  const out = new Float32Array(3 * size * size);
  toPlanar(rgb, size * size, out);
  return out;
}

// onnxruntime sessions are not re-entrant in every provider: runs are queued, one at a time.
let queue: Promise<unknown> = Promise.resolve();

/** The probability map [size·size] of one planar input. */
export async function runProbability(p: Predictor, input: Float32Array): Promise<Float32Array> {
  const job = queue.then(async () => {
    const out = await p.session.run({ [INPUT.image]: f32(input, [1, 3, p.size, p.size]) });
    return new Float32Array(out[OUTPUT.probability]!.data as Float32Array);
  });
  queue = job.catch(() => undefined);
  return job;
}

/** The original image with predicted foreground tinted red (50%), PNG at the original resolution. */
export async function overlayPng(input: DecodedInput, prob: Float32Array, size: number): Promise<Buffer> {
  const { width, height } = input;
  const rgb = await input.pipeline().removeAlpha().toColourspace('srgb').raw().toBuffer();
  const mask = maskAtSize(prob, size, width, height);
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const on = mask[p]! > 127;
    for (let c = 0; c < 3; c++) {
      const v = rgb[p * 3 + c]!;
      out[p * 3 + c] = on ? Math.round(0.5 * v + 0.5 * (c === 0 ? 255 : 0)) : v;
    }
  }
  return sharp(out, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

export interface Prediction {
  width: number;
  height: number;
  size: number;
  probability: Float32Array;
  /** Share of model-resolution pixels predicted foreground. */
  foreground: number;
  /** Inference time (session.run) in milliseconds. */
  ms: number;
  input: DecodedInput;
}

/** Decode, preprocess, run: one image's probability map and its foreground fraction. */
export async function predictBytes(p: Predictor, bytes: Uint8Array): Promise<Prediction> {
  const input = await decodeImageBytes(bytes, p.size);
  const t0 = performance.now();
  const probability = await runProbability(p, planarInput(input.rgb, p.size));
  const ms = performance.now() - t0;
  let fg = 0;
  for (const v of probability) if (v > FOREGROUND_THRESHOLD) fg++;
  return {
    width: input.width,
    height: input.height,
    size: p.size,
    probability,
    foreground: fg / probability.length,
    ms,
    input,
  };
}
