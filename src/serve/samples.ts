/**
 * The sample images the demo page offers. For a model inside a run folder that names its dataset
 * (runs/<run>/train.json: options.data, and fold-k/metrics.json beside the model), a few of that
 * fold's *test* images, which the model never trained on, with the model's test Dice; otherwise
 * synthetic images. Samples are served as PNG at their own resolution (a JPEG or TIFF frame is
 * decoded once here: PNG keeps the decoded pixels, and every browser decodes it).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { decodeImage, isDatasetFormat, listDataset } from '../data/datasets.js';
import { syntheticSample } from '../data/synthetic.js';
import { readJsonFile } from '../common/files.js';

export const SAMPLE_COUNT = 4;
/** Seed of the synthetic samples: not the training set's seed (0), so they are unseen images. */
export const SAMPLE_SEED = 2024;

export interface PageSample {
  name: string;
  png: Buffer;
}

export interface PageSamples {
  /** Where they come from, for the page: e.g. "CVC-ClinicDB, test fold 0" or "synthetic". */
  source: string;
  samples: PageSample[];
  /** The model's mean test Dice from its metrics.json, when there is one. */
  testDice: number | null;
}

interface RunFiles {
  data: string;
  format: string;
  fold: number | string;
  testNames: string[];
  testDice: number;
}

/** The dataset and test images of the run a model.onnx belongs to, or null (with why) when it names none. */
function runOf(modelPath: string): { run: RunFiles | null; why: string } {
  const foldDir = dirname(resolve(modelPath));
  const metricsPath = join(foldDir, 'metrics.json');
  const trainPath = join(dirname(foldDir), 'train.json');
  if (!existsSync(metricsPath) || !existsSync(trainPath))
    return { run: null, why: `no ${existsSync(metricsPath) ? trainPath : metricsPath}` };
  try {
    const train = readJsonFile(trainPath) as {
      options?: { data?: string | null; format?: string };
    };
    const metrics = readJsonFile(metricsPath) as {
      mean?: { dice?: number };
      images?: { name: string }[];
    };
    const data = train.options?.data;
    if (!data) return { run: null, why: `${trainPath} names no dataset (synthetic data)` };
    // options.data is as given on the command line, relative to where train ran: the project root,
    // which holds runs/; try the current folder, then the run folder's grandparent.
    const dir = [resolve(data), resolve(dirname(foldDir), '../..', data)].find((d) => existsSync(d));
    if (!dir) return { run: null, why: `the run's dataset ${data} is not here` };
    return {
      run: {
        data: dir,
        format: train.options?.format ?? 'auto',
        fold: basename(foldDir).replace(/^fold-/, ''),
        testNames: (metrics.images ?? []).map((i) => i.name),
        testDice: metrics.mean?.dice ?? NaN,
      },
      why: '',
    };
  } catch (e) {
    return { run: null, why: `unreadable run files: ${(e as Error).message}` };
  }
}

async function syntheticSamples(size: number): Promise<PageSample[]> {
  const out: PageSample[] = [];
  for (let i = 0; i < SAMPLE_COUNT; i++) {
    const s = syntheticSample(i, size, SAMPLE_SEED);
    out.push({
      name: `synthetic ${i}`,
      png: await sharp(s.image, { raw: { width: size, height: size, channels: 3 } })
        .png()
        .toBuffer(),
    });
  }
  return out;
}

/** The page's samples for `modelPath` (see the module comment); `log` says why real frames are not used. */
export async function pageSamples(
  modelPath: string,
  size: number,
  log: (line: string) => void = () => undefined,
): Promise<PageSamples> {
  const { run, why } = runOf(modelPath);
  if (run && isDatasetFormat(run.format)) {
    try {
      const listing = listDataset(run.data, run.format);
      const byName = new Map(listing.items.map((it) => [it.name, it]));
      // Spread over the test fold (its images are in listing order): first, ¼, ½, ¾ of the way.
      const names = run.testNames.filter((n) => byName.get(n)?.imagePath);
      const picked = [
        ...new Set(
          Array.from(
            { length: Math.min(SAMPLE_COUNT, names.length) },
            (_, i) => names[Math.floor((i * names.length) / SAMPLE_COUNT)]!,
          ),
        ),
      ];
      const samples: PageSample[] = [];
      for (const name of picked) {
        const img = await decodeImage(byName.get(name)!.imagePath!, size);
        samples.push({ name, png: await img.pipeline().removeAlpha().toColourspace('srgb').png().toBuffer() });
      }
      if (samples.length)
        return {
          source: `${basename(run.data)}, test fold ${run.fold}`,
          samples,
          testDice: Number.isFinite(run.testDice) ? run.testDice : null,
        };
      log(`serve: no test images of ${run.data} found: synthetic samples`);
    } catch (e) {
      log(`serve: the run's test images could not be read (${(e as Error).message}): synthetic samples`);
    }
  } else if (run) log(`serve: the run's dataset format "${run.format}" is unknown: synthetic samples`);
  else log(`serve: synthetic samples (${why})`);
  return { source: 'synthetic', samples: await syntheticSamples(size), testDice: null };
}
