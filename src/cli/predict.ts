/** npm run predict: masks and overlays for one image or a folder, with onnxruntime-node. */
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { asText, parseFlags, progress, runMain, UsageError, writeFileAtomic } from './cli.js';
import { ModelNotFoundError, chooseModel, loadPredictor, overlayPng, predictBytes } from '../serve/predictNode.js';
import { maskPng } from '../uncertainty/predictUncertainty.js';
import { PredictError } from '../runtime/modelFile.js';
import { listInputs, outputStems } from '../uncertainty/predictUncertainty.js';

runMain(async () => {
  const flags = parseFlags(
    'predict',
    'Predict polyp masks: writes <name>-mask.png (0/255) and <name>-overlay.png for each image\n(a.png and a.jpg in one folder: a_png-…, a_jpg-…). Unreadable files are skipped and reported; the exit status is then 1.\nUsage errors exit 2.',
    {
      model: {
        help: 'model.onnx, fold or run folder (default: newest runs/*/fold-*/model.onnx)',
        parse: asText,
        default: '',
      },
      input: { help: 'an image file or a folder of images', parse: asText, default: '' },
      out: { help: 'output folder', parse: asText, default: 'predictions' },
    },
  );
  if (!flags.input) throw new UsageError('--input is required (an image file or a folder)');
  let modelPath: string;
  let inputs: string[];
  try {
    modelPath = chooseModel(flags.model);
    inputs = listInputs(flags.input);
  } catch (e) {
    if (e instanceof ModelNotFoundError || e instanceof PredictError) throw new UsageError(e.message);
    throw e;
  }
  const p = await loadPredictor(modelPath);
  progress(`predict: ${modelPath} (${p.size}×${p.size}), ${inputs.length} image(s) → ${flags.out}`);
  mkdirSync(flags.out, { recursive: true });
  let failed = 0;
  const names = outputStems(inputs);
  for (const [i, file] of inputs.entries()) {
    const name = names[i]!;
    try {
      const pred = await predictBytes(p, await readFile(file));
      writeFileAtomic(
        join(flags.out, `${name}-mask.png`),
        await maskPng(pred.probability, pred.size, pred.width, pred.height),
      );
      writeFileAtomic(
        join(flags.out, `${name}-overlay.png`),
        await overlayPng(pred.input, pred.probability, pred.size),
      );
      progress(
        `  ${basename(file)}: ${pred.width}×${pred.height}, foreground ${(100 * pred.foreground).toFixed(1)} %, ${pred.ms.toFixed(1)} ms`,
      );
    } catch (e) {
      failed++;
      progress(`  ${basename(file)}: ${(e as Error).message}`);
    }
  }
  if (failed) throw new Error(`${failed} of ${inputs.length} image(s) failed`);
});
