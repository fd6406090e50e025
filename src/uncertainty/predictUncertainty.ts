/**
 * MC-Dropout prediction with a trained model (npm run uncertainty): load a trained inference model
 * (config from its metadata, weights from its initializers), rebuild the MC-Dropout graph for that
 * config with the trained weights copied in by name, decode and resize images as training does, and
 * turn the N samples of each image into a prediction mask, the mean probability, an uncertainty map
 * and the image difficulty.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import sharp from 'sharp';
import type { InferenceSession } from 'onnxruntime-node';
import { IMAGE_EXTENSIONS } from '../common/imageTypes.js';
import { INPUT, OUTPUT } from '../graphBuilder/graphIO.js';
import { type ModelConfig, buildMcModel } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { type ExecutionProvider, createSession, f32, scalar } from '../runtime/runtime.js';
import { decodeImage } from '../data/datasets.js';
import { nearestResize } from '../data/preprocess.js';
import { PredictError, type TrainedModel, copyWeightsByName } from '../runtime/modelFile.js';
import { FOREGROUND_THRESHOLD } from '../training/metrics.js';
import { type DifficultySpec, imageDifficulty } from './difficulty.js';
import { type UncertaintyKind, uncertaintyMap } from './pixel.js';

/** A file the batch tools read: one of the types decodeImage decodes. */
export const isImageFile = (path: string): boolean => IMAGE_EXTENSIONS.includes(extname(path).toLowerCase());

/**
 * Fixed PNG scale of each uncertainty kind: the map's largest possible value, written as 255.
 * Variance of values in [0, 1] is ≤ 1/4; binary entropy and mutual information are ≤ ln 2 nats.
 */
export const UNCERTAINTY_PNG_MAX: Record<UncertaintyKind, number> = {
  variance: 0.25,
  entropy: Math.LN2,
  'mutual-information': Math.LN2,
};

export interface McPredictor {
  config: ModelConfig;
  session: InferenceSession;
  size: number;
  samples: number;
}

/** The MC-Dropout graph (batch 1, N samples) of a trained model, with its weights, in a session. */
export async function createMcPredictor(
  model: TrainedModel,
  samples: number,
  providers: ExecutionProvider[] = ['cpu'],
): Promise<McPredictor> {
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
  if (!isImageFile(input))
    throw new PredictError(`--input ${input} is not an image file (expected ${IMAGE_EXTENSIONS.join(', ')})`);
  return [input];
}

/**
 * Output names for a list of inputs: the file name without its extension, or with it (dots as
 * underscores) where two inputs share a stem (a.png and a.jpg → a_png, a_jpg), so outputs never collide.
 */
export function outputStems(inputs: readonly string[]): string[] {
  const stems = inputs.map((path) => basename(path, extname(path)));
  return inputs.map((path, i) =>
    stems.filter((s) => s === stems[i]).length > 1 ? basename(path).replace(/\./g, '_') : stems[i]!,
  );
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
export async function predictImage(
  m: McPredictor,
  rgb: Uint8Array,
  p: number,
  spec: DifficultySpec,
): Promise<ImagePrediction> {
  const px = m.size * m.size;
  const planar = new Float32Array(3 * px);
  for (let i = 0; i < px; i++) for (let c = 0; c < 3; c++) planar[c * px + i] = rgb[i * 3 + c]! / 255;
  const out = await m.session.run({
    [INPUT.image]: f32(planar, [1, 3, m.size, m.size]),
    [INPUT.dropoutRatio]: scalar(p),
  });
  const samples = out[OUTPUT.samples]!.data as Float32Array;
  if (samples.length !== m.samples * px)
    throw new PredictError(`the MC model gave ${samples.length} values, expected ${m.samples}×${px}`);
  const d = imageDifficulty(samples, m.samples, spec);
  let fg = 0;
  let sum = 0;
  for (let i = 0; i < px; i++) {
    sum += d.meanProb[i]!;
    if (d.meanProb[i]! > FOREGROUND_THRESHOLD) fg++;
  }
  return {
    difficulty: d.difficulty,
    meanForeground: fg / px,
    meanProbability: sum / px,
    meanProb: d.meanProb,
    uncertainty: uncertaintyMap(d.pixels, spec.uncertainty),
  };
}

/** A map (values scaled by 255/max, clamped) as a grey PNG at width×height. */
export async function mapPng(
  map: ArrayLike<number>,
  size: number,
  max: number,
  width: number,
  height: number,
  kernel: 'nearest' | 'linear',
): Promise<Buffer> {
  const grey = new Uint8Array(size * size);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.max(0, Math.min(255, Math.round((map[i]! / max) * 255)));
  return sharp(grey, { raw: { width: size, height: size, channels: 1 } })
    .resize(width, height, { fit: 'fill', kernel })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

/**
 * The prediction mask (probability > FOREGROUND_THRESHOLD) at the image's size, one byte per pixel
 * (0/255), by the one nearest-neighbour rule (src/data/preprocess.ts). The mask PNGs of predict,
 * uncertainty and the server and predict's overlay all come from here.
 */
export function maskAtSize(prob: ArrayLike<number>, size: number, width: number, height: number): Uint8Array {
  const grey = Uint8Array.from({ length: size * size }, (_, i) => (prob[i]! > FOREGROUND_THRESHOLD ? 255 : 0));
  return nearestResize(grey, size, size, width, height);
}

/** maskAtSize as a grey PNG. */
export async function maskPng(prob: ArrayLike<number>, size: number, width: number, height: number): Promise<Buffer> {
  return sharp(maskAtSize(prob, size, width, height), { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}
