/**
 * MC-Dropout prediction with a trained model (npm run uncertainty): load a trained inference model
 * (config from its metadata, weights from its initializers), rebuild the MC-Dropout graph for that
 * config with the trained weights copied in by name, decode and resize images as training does, and
 * turn the N samples of each image into a prediction mask, the mean probability, an uncertainty map
 * and the image difficulty.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import type { InferenceSession } from 'onnxruntime-node';
import { IMAGE_EXTENSIONS } from '../common/imageTypes.js';
import { type Graph } from '../graphBuilder/graph.js';
import { INPUT, OUTPUT } from '../graphBuilder/graphIO.js';
import { type ModelConfig, buildMcModel } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { numel } from '../graphBuilder/types.js';
import { type ExecutionProvider, createSession, f32, scalar } from '../training/runtime.js';
import { decodeImage } from '../data/datasets.js';
import { FOREGROUND_THRESHOLD } from '../training/metrics.js';
import { type DifficultySpec, imageDifficulty } from './difficulty.js';
import { type UncertaintyKind, uncertaintyMap } from './pixel.js';

const { onnx } = onnxProto;

/** A file the batch tools read: one of the types decodeImage decodes. */
export const isImageFile = (path: string): boolean => IMAGE_EXTENSIONS.includes(extname(path).toLowerCase());

/**
 * Fixed PNG scale of each uncertainty kind: the map's largest possible value, written as 255.
 * Variance of values in [0, 1] is ≤ 1/4; binary entropy and mutual information are ≤ ln 2 nats.
 */
export const UNCERTAINTY_PNG_MAX: Record<UncertaintyKind, number> = { variance: 0.25, entropy: Math.LN2, 'mutual-information': Math.LN2 };

export class PredictError extends Error {
  override name = 'PredictError';
}

/** A trained model.onnx, a fold folder holding one, or a run folder (then fold-0/model.onnx). */
export function resolveModelPath(path: string): string {
  if (!existsSync(path)) throw new PredictError(`--model ${path} does not exist`);
  if (statSync(path).isFile()) return path;
  for (const candidate of [join(path, 'model.onnx'), join(path, 'fold-0', 'model.onnx')]) if (existsSync(candidate)) return candidate;
  throw new PredictError(`--model ${path} is a folder without model.onnx or fold-0/model.onnx`);
}

export interface TrainedModel {
  path: string;
  config: ModelConfig;
  /** Every float initializer of the file by name (trained weights and float constants). */
  weights: Map<string, { shape: number[]; data: Float32Array }>;
}

function floatData(t: onnxProto.onnx.ITensorProto, count: number, where: string): Float32Array {
  if (t.rawData && t.rawData.length) {
    if (t.rawData.length !== count * 4) throw new PredictError(`${where}: ${t.rawData.length} bytes of raw data for ${count} float32 values`);
    const bytes = Uint8Array.from(t.rawData); // aligned copy
    const view = new DataView(bytes.buffer);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  const values = t.floatData ?? [];
  if (values.length !== count) throw new PredictError(`${where}: ${values.length} float values for ${count}`);
  return Float32Array.from(values);
}

/** Read config (metadata_props `config`) and float initializers from a trained inference model. */
export function loadTrainedModel(path: string): TrainedModel {
  let proto: InstanceType<typeof onnx.ModelProto>;
  try {
    proto = onnx.ModelProto.decode(readFileSync(path));
  } catch (e) {
    throw new PredictError(`--model ${path} is not an ONNX model: ${(e as Error).message}`);
  }
  const entry = proto.metadataProps.find((m) => m.key === 'config');
  if (!entry?.value) throw new PredictError(`--model ${path} has no "config" in its metadata: not a model written by this project`);
  let config: ModelConfig;
  try {
    config = JSON.parse(entry.value) as ModelConfig;
  } catch (e) {
    throw new PredictError(`--model ${path}: its metadata "config" is not JSON: ${(e as Error).message}`);
  }
  if (!config?.unet || typeof config.imageSize !== 'number') throw new PredictError(`--model ${path}: its metadata "config" is not a model config`);
  const weights: TrainedModel['weights'] = new Map();
  for (const t of proto.graph?.initializer ?? []) {
    if (t.dataType !== 1 || !t.name) continue; // float32 only
    const shape = (t.dims ?? []).map(Number);
    weights.set(t.name, { shape, data: floatData(t, numel(shape), `--model ${path}: initializer ${t.name}`) });
  }
  return { path, config, weights };
}

/**
 * Copy weights into a graph's trainable initializers by name. Throws naming every parameter that is
 * missing from `weights` or whose shape differs.
 */
export function copyWeightsByName(g: Graph, weights: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>, source = 'the weights'): number {
  const problems: string[] = [];
  let copied = 0;
  for (const p of g.initializers.filter((i) => i.trainable)) {
    const w = weights.get(p.name);
    if (!w) problems.push(`${p.name} [${p.shape.join(',')}] is missing`);
    else if (w.shape.join() !== p.shape.join() || w.data.length !== numel(p.shape)) problems.push(`${p.name} is [${w.shape.join(',')}] in ${source}, [${p.shape.join(',')}] in ${g.name}`);
    else {
      (p.constant.data as Float32Array).set(w.data);
      copied++;
    }
  }
  if (problems.length) {
    const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; … (${problems.length} in all)` : '');
    throw new PredictError(`${source} do not fit ${g.name}: ${shown}`);
  }
  return copied;
}

export interface McPredictor {
  config: ModelConfig;
  session: InferenceSession;
  size: number;
  samples: number;
}

/** The MC-Dropout graph (batch 1, N samples) of a trained model, with its weights, in a session. */
export async function createMcPredictor(model: TrainedModel, samples: number, providers: ExecutionProvider[] = ['cpu']): Promise<McPredictor> {
  const config: ModelConfig = { ...model.config, batch: 1, samples };
  const g = buildMcModel(config);
  copyWeightsByName(g, model.weights, `the weights of ${model.path}`);
  const session = await createSession(serialize(g, { valueInfo: false }), { providers });
  return { config, session, size: config.imageSize, samples };
}

/** The image files named by --input: one file, or every image file of a folder (sorted). */
export function listInputs(input: string): string[] {
  if (!existsSync(input)) throw new PredictError(`--input ${input} does not exist`);
  if (statSync(input).isDirectory()) {
    const files = readdirSync(input)
      .filter((f) => isImageFile(f) && statSync(join(input, f)).isFile())
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (!files.length) throw new PredictError(`--input ${input} holds no image files (${IMAGE_EXTENSIONS.join(', ')})`);
    return files.map((f) => join(input, f));
  }
  if (!isImageFile(input)) throw new PredictError(`--input ${input} is not an image file (expected ${IMAGE_EXTENSIONS.join(', ')})`);
  return [input];
}

/**
 * Output names for a list of inputs: the file name without its extension, or with it (dots as
 * underscores) where two inputs share a stem (a.png and a.jpg → a_png, a_jpg), so outputs never collide.
 */
export function outputStems(inputs: readonly string[]): string[] {
  const stems = inputs.map((path) => basename(path, extname(path)));
  return inputs.map((path, i) => (stems.filter((s) => s === stems[i]).length > 1 ? basename(path).replace(/\./g, '_') : stems[i]!));
}

export type DecodedImage = Awaited<ReturnType<typeof decodeImage>>;
export { decodeImage };

export interface ImagePrediction {
  difficulty: number;
  /** Share of pixels predicted foreground (MC mean probability > FOREGROUND_THRESHOLD), at the model's resolution. */
  meanForeground: number;
  /** Mean of the MC mean probability over the image. */
  meanProbability: number;
  /** size×size maps at the model's resolution. */
  meanProb: Float64Array;
  uncertainty: Float64Array;
}

/** N MC-Dropout samples of one resized image at dropout ratio p → maps and difficulty. */
export async function predictImage(m: McPredictor, rgb: Uint8Array, p: number, spec: DifficultySpec): Promise<ImagePrediction> {
  const px = m.size * m.size;
  const planar = new Float32Array(3 * px);
  for (let i = 0; i < px; i++) for (let c = 0; c < 3; c++) planar[c * px + i] = rgb[i * 3 + c]! / 255;
  const out = await m.session.run({ [INPUT.image]: f32(planar, [1, 3, m.size, m.size]), [INPUT.dropoutRatio]: scalar(p) });
  const samples = out[OUTPUT.samples]!.data as Float32Array;
  if (samples.length !== m.samples * px) throw new PredictError(`the MC model gave ${samples.length} values, expected ${m.samples}×${px}`);
  const d = imageDifficulty(samples, m.samples, spec);
  let fg = 0;
  let sum = 0;
  for (let i = 0; i < px; i++) {
    sum += d.meanProb[i]!;
    if (d.meanProb[i]! > FOREGROUND_THRESHOLD) fg++;
  }
  return { difficulty: d.difficulty, meanForeground: fg / px, meanProbability: sum / px, meanProb: d.meanProb, uncertainty: uncertaintyMap(d.pixels, spec.uncertainty) };
}

/** A map (values scaled by 255/max, clamped) as a grey PNG at width×height. */
export async function mapPng(map: ArrayLike<number>, size: number, max: number, width: number, height: number, kernel: 'nearest' | 'linear'): Promise<Buffer> {
  const grey = new Uint8Array(size * size);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.max(0, Math.min(255, Math.round((map[i]! / max) * 255)));
  return sharp(grey, { raw: { width: size, height: size, channels: 1 } }).resize(width, height, { fit: 'fill', kernel }).toColourspace('b-w').png().toBuffer();
}

/** The 0/255 prediction mask (mean probability > FOREGROUND_THRESHOLD) at width×height, nearest neighbour. */
export async function maskPng(meanProb: ArrayLike<number>, size: number, width: number, height: number): Promise<Buffer> {
  const mask = Array.from({ length: size * size }, (_, i) => (meanProb[i]! > FOREGROUND_THRESHOLD ? 1 : 0));
  return mapPng(mask, size, 1, width, height, 'nearest');
}
