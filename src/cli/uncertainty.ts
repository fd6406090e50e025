/**
 * npm run uncertainty: MC-Dropout prediction and uncertainty maps for one image or a folder of images
 * with a trained model. Writes <name>-prediction.png, <name>-mean.png, <name>-uncertainty.png per image
 * (all at the image's own size) and prints a JSON summary on stdout; progress goes to stderr.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { IMAGE_EXTENSIONS } from '../common/imageTypes.js';
import { FOREGROUND_THRESHOLD } from '../training/metrics.js';
import { DEFAULT_QUANTILE, parseAggregate, parseUncertainty } from '../uncertainty/difficulty.js';
import { PredictError, loadTrainedModel, resolveModelPath } from '../runtime/modelFile.js';
import {
  UNCERTAINTY_PNG_MAX,
  createMcPredictor,
  decodeImage,
  listInputs,
  mapPng,
  maskPng,
  outputStems,
  predictImage,
} from '../uncertainty/predictUncertainty.js';
import { type ExecutionProvider, parseProviders } from '../runtime/runtime.js';
import { UsageError, asText, numberWhere, parseFlags, progress, runMain, usage, writeFileAtomic } from './cli.js';

runMain(async () => {
  const f = parseFlags(
    'uncertainty',
    `Runs a trained model with MC-Dropout on an image or on every image of a folder (${IMAGE_EXTENSIONS.join(' ')})\n` +
      'and writes, per image, the prediction mask, the mean probability and the uncertainty map as PNGs at the\n' +
      "image's size, plus a JSON summary (difficulty per image) on stdout. Uncertainty PNGs use a fixed scale:\n" +
      '255 = 0.25 for variance, ln 2 for entropy and mutual-information. A file that cannot be read is\n' +
      "skipped and reported (in the summary's failures); the exit status is then 1. Usage errors exit 2.",
    {
      model: {
        help: 'trained model.onnx, a fold folder or a run folder (uses fold-0/model.onnx)',
        parse: asText,
        default: '',
      },
      input: { help: 'an image file or a folder of images', parse: asText, default: '' },
      out: { help: 'output folder', parse: asText, default: '' },
      samples: {
        help: 'MC-Dropout samples per image',
        parse: numberWhere((n) => Number.isInteger(n) && n >= 1 && n <= 1000, 'an integer in 1..1000'),
        default: 10,
      },
      p: {
        help: 'dropout ratio at prediction time, in (0, 1)',
        parse: numberWhere(
          (v) => v > 0 && v < 1,
          'a number in (0, 1) (0 would make every sample equal: no uncertainty)',
        ),
        default: 0.5,
      },
      uncertainty: { help: 'variance, entropy or mutual-information', parse: parseUncertainty, default: 'variance' },
      aggregate: {
        help: `mean, max, sum, foreground-mean, quantile[:Q] (Q default ${DEFAULT_QUANTILE})`,
        parse: parseAggregate,
        default: { aggregate: 'mean', q: DEFAULT_QUANTILE },
        defaultHelp: 'mean',
      },
      ep: {
        help: 'execution providers: cpu, cuda, webgpu, or a fallback list such as cuda,cpu',
        parse: parseProviders,
        default: ['cpu'] as ExecutionProvider[],
        defaultHelp: 'cpu',
      },
    },
  );
  for (const name of ['model', 'input', 'out'] as const)
    if (!f[name]) throw new UsageError(`--${name} is required (see --help)`);
  const { samples, p, uncertainty: kind, ep: providers } = f;
  const { aggregate, q } = f.aggregate;
  if (existsSync(f.out) && !statSync(f.out).isDirectory())
    throw new UsageError(`--out ${f.out} exists and is not a folder`);

  const inputs = usage(() => listInputs(f.input));
  const modelPath = usage(() => resolveModelPath(f.model));
  const model = loadTrainedModel(modelPath);
  progress(
    `model ${modelPath}: ${model.config.imageSize}×${model.config.imageSize}, depth ${model.config.unet.depth}, base ${model.config.unet.base}; ${samples} samples at p = ${p}`,
  );
  const mc = await createMcPredictor(model, samples, providers);

  const names = outputStems(inputs);

  const scale = UNCERTAINTY_PNG_MAX[kind];
  const images = [];
  const failures: { input: string; error: string }[] = [];
  const t0 = performance.now();
  for (const [i, path] of inputs.entries()) {
    const name = names[i]!;
    let img: Awaited<ReturnType<typeof decodeImage>>;
    let r: Awaited<ReturnType<typeof predictImage>>;
    try {
      img = await decodeImage(path, mc.size);
      r = await predictImage(mc, img.rgb, p, { uncertainty: kind, aggregate, q });
      if (!Number.isFinite(r.difficulty))
        throw new PredictError(`image ${path}: difficulty is not finite (${r.difficulty})`);
    } catch (e) {
      failures.push({ input: path, error: (e as Error).message });
      progress(`[${i + 1}/${inputs.length}] ${name}: skipped: ${(e as Error).message}`);
      continue;
    }
    const files = {
      prediction: join(f.out, `${name}-prediction.png`),
      mean: join(f.out, `${name}-mean.png`),
      uncertainty: join(f.out, `${name}-uncertainty.png`),
    };
    writeFileAtomic(files.prediction, await maskPng(r.meanProb, mc.size, img.width, img.height));
    writeFileAtomic(files.mean, await mapPng(r.meanProb, mc.size, 1, img.width, img.height, 'linear'));
    writeFileAtomic(files.uncertainty, await mapPng(r.uncertainty, mc.size, scale, img.width, img.height, 'linear'));
    images.push({
      name,
      input: path,
      width: img.width,
      height: img.height,
      difficulty: r.difficulty,
      meanForeground: r.meanForeground,
      meanProbability: r.meanProbability,
      files,
    });
    progress(
      `[${i + 1}/${inputs.length}] ${name}: difficulty ${r.difficulty.toPrecision(4)}, foreground ${(100 * r.meanForeground).toFixed(1)}%`,
    );
  }
  progress(
    `${inputs.length} image${inputs.length === 1 ? '' : 's'} in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${resolve(f.out)}`,
  );

  const summary = {
    model: modelPath,
    imageSize: mc.size,
    samples,
    p,
    uncertainty: kind,
    aggregate: aggregate === 'quantile' ? `quantile:${q}` : aggregate,
    pngScale: {
      prediction: `0/255: MC mean probability > ${FOREGROUND_THRESHOLD}, nearest-neighbour resize to the image size`,
      mean: 'MC mean probability × 255',
      uncertainty: `${kind} × 255 / ${scale} (255 = ${scale}, the largest possible ${kind}); clamped`,
      uncertaintyMax: scale,
    },
    images,
    failures,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  if (failures.length)
    throw new Error(
      `${failures.length} of ${inputs.length} image(s) could not be processed (listed in the summary's failures)`,
    );
});
