/**
 * npm run evaluate: score a trained model on a labelled dataset (any layout `train` reads). Writes
 * evaluation.json (options, model, dataset, summary, per-image rows, failures) and per-image.csv, prints
 * a summary table on stdout; progress and failures go to stderr.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  type EvalSummary,
  type EvaluateOptions,
  type Group,
  type SummaryMetric,
  evaluateItems,
  perImageCsv,
  summarizeEvaluation,
} from '../evaluate/evaluate.js';
import { ModelNotFoundError, chooseModel, loadPredictor, mcModelBytes } from '../serve/predictNode.js';
import { DATASET_FORMATS, MASK_THRESHOLD, listDataset } from '../data/datasets.js';
import { FOREGROUND_THRESHOLD, METRICS } from '../training/metrics.js';
import { createSession } from '../runtime/runtime.js';
import { DEFAULT_QUANTILE, parseAggregate, parseUncertainty } from '../uncertainty/difficulty.js';
import { PredictError } from '../runtime/modelFile.js';
import { textTable } from '../common/table.js';
import {
  UsageError,
  asText,
  integerFrom,
  numberWhere,
  oneOf,
  orWord,
  parseFlags,
  progress,
  runMain,
  writeFileAtomic,
} from './cli.js';

const FORMATS = DATASET_FORMATS.filter((f) => f !== 'synthetic');
const COLUMN: Record<SummaryMetric, string> = {
  dice: 'Dice',
  iou: 'IoU',
  precision: 'precision',
  recall: 'recall',
  difficulty: 'difficulty',
};
const pct = (v: number): string => `${(100 * v).toFixed(v < 0.1 ? 2 : 1)}%`;

/** The printed summary: one row for all images, the worst 10% and each foreground tercile. */
function summaryTable(s: EvalSummary, mc: boolean): string {
  const keys: SummaryMetric[] = mc ? [...METRICS, 'difficulty'] : [...METRICS];
  const cells = (g: Group): string[] =>
    keys.map((k) => {
      const m = g.metrics[k];
      if (!m) return '–';
      const f = (v: number): string => (k === 'difficulty' ? v.toPrecision(3) : v.toFixed(3));
      return `${f(m.mean)} ± ${f(m.std)}`;
    });
  const rows = [
    ['all', String(s.all.images), ...cells(s.all)],
    ['worst 10% by Dice', String(s.worst10.images), ...cells(s.worst10)],
    ...s.terciles.map((t) => [
      `${t.tercile} foreground${t.coverage ? ` (${pct(t.coverage.min)}–${pct(t.coverage.max)})` : ''}`,
      String(t.images),
      ...cells(t),
    ]),
  ];
  const out = textTable(['group', 'images', ...keys.map((k) => COLUMN[k])], rows);
  return s.spearmanDifficultyDice === null && !mc
    ? out
    : `${out}\nSpearman ρ(difficulty, Dice) = ${s.spearmanDifficultyDice === null ? 'undefined' : s.spearmanDifficultyDice.toFixed(3)}`;
}

runMain(async () => {
  const f = parseFlags(
    'evaluate',
    'Scores a trained model on a labelled dataset: per-image Dice, IoU, precision and recall (and the MC-Dropout\n' +
      'difficulty with --mc), their mean ± std (n − 1), the worst 10% of images by Dice and the three terciles of\n' +
      `ground-truth foreground size. Images are scored at their own resolution (the model's mask, probability > ${FOREGROUND_THRESHOLD},\n` +
      `upsampled with nearest neighbour as \`predict\` draws it; the ground truth thresholded at ${MASK_THRESHOLD} as training\n` +
      "reads it), or at the model's with --at-model-size (the ground truth resized as training resizes it).\n" +
      'Writes evaluation.json and per-image.csv, prints a table. A pair that cannot be read is skipped and\n' +
      'reported; the exit status is then 1.',
    {
      model: {
        help: 'model.onnx, a fold folder or a run folder (uses fold-0) (default: newest runs/*/fold-*/model.onnx)',
        parse: asText,
        default: '',
      },
      data: {
        help: 'dataset folder (CVC-ClinicDB PNG or original TIFF, Kvasir-SEG, image/mask pairs)',
        parse: asText,
        default: '',
      },
      format: { help: FORMATS.join(', '), parse: oneOf(FORMATS), default: 'auto' },
      out: {
        help:
          "output folder (default: <the model's folder>/eval-<dataset folder name>, " +
          '-model-size appended with --at-model-size)',
        parse: asText,
        default: '',
      },
      'at-model-size': { help: "score at the model's input size instead of each image's own", switch: true },
      limit: {
        help: 'score only the first N pairs (quick trials)',
        parse: orWord('all', undefined, integerFrom(1, 'a positive integer or "all"')),
        default: undefined,
        defaultHelp: 'all',
      },
      mc: { help: 'also the MC-Dropout difficulty of each image and its Spearman ρ with Dice', switch: true },
      'mc-samples': {
        help: 'with --mc: samples per image',
        parse: numberWhere(
          (n) => Number.isInteger(n) && n >= 2 && n <= 1000,
          'an integer in 2..1000 (one sample has no variance)',
        ),
        default: 10,
      },
      'mc-p': {
        help: 'with --mc: dropout ratio, in (0, 1)',
        parse: numberWhere((p) => p > 0 && p < 1, 'a number in (0, 1)'),
        default: 0.5,
      },
      uncertainty: {
        help: 'with --mc: variance, entropy or mutual-information',
        parse: parseUncertainty,
        default: 'variance',
      },
      aggregate: {
        help: `with --mc: mean, max, sum, foreground-mean, quantile[:Q] (Q default ${DEFAULT_QUANTILE})`,
        parse: parseAggregate,
        default: { aggregate: 'mean', q: DEFAULT_QUANTILE },
        defaultHelp: 'mean',
      },
    },
  );
  if (!f.data) throw new UsageError('--data is required (a dataset folder; see --help)');
  if (!existsSync(f.data)) throw new UsageError(`--data ${f.data} does not exist`);
  const { limit, uncertainty } = f;
  const samples = f['mc-samples'];
  const mcP = f['mc-p'];
  const { aggregate, q } = f.aggregate;
  const atModelSize = f['at-model-size'];

  let modelPath: string;
  try {
    modelPath = chooseModel(f.model);
  } catch (e) {
    if (e instanceof ModelNotFoundError || e instanceof PredictError) throw new UsageError(e.message);
    throw e;
  }
  const datasetName = basename(resolve(f.data));
  const out = !f.out ? join(dirname(modelPath), `eval-${datasetName}${atModelSize ? '-model-size' : ''}`) : f.out;
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UsageError(`--out ${out} exists and is not a folder`);

  const listing = listDataset(f.data, f.format);
  const items = limit === undefined ? listing.items : listing.items.slice(0, limit);
  const p = await loadPredictor(modelPath);
  let mc: EvaluateOptions['mc'];
  if (f.mc) {
    const bytes = mcModelBytes(p, samples);
    if (!bytes) throw new UsageError(`--mc: the model ${modelPath} has no Dropout layer to sample`);
    mc = {
      predictor: {
        config: { ...p.config, batch: 1, samples },
        session: await createSession(bytes, { providers: ['cpu'] }),
        size: p.size,
        samples,
      },
      p: mcP,
      spec: { uncertainty, aggregate, q },
    };
  }
  const resolution = atModelSize ? `the model's ${p.size}×${p.size}` : "each image's own resolution";
  progress(
    `evaluate: ${modelPath} (${p.size}×${p.size}) on ${f.data} (${listing.format}, ${items.length} of ${listing.items.length} pairs) at ${resolution}${f.mc ? `, MC-Dropout difficulty (${samples} samples, p = ${mcP})` : ''} → ${out}`,
  );
  for (const problem of listing.problems) progress(`  note: ${problem}`);

  const t0 = performance.now();
  let last = t0;
  const { rows, failures } = await evaluateItems(p, items, {
    atModelSize,
    mc,
    onItem: (done, total, r) => {
      const now = performance.now();
      if ('error' in r) progress(`  ! ${r.name}: ${r.error}`);
      if (done === total || now - last > 2000) {
        last = now;
        progress(`scored ${done}/${total} (${((1000 * done) / (now - t0)).toFixed(1)} pairs/s)`);
      }
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  if (!rows.length) throw new Error(`none of the ${items.length} pairs could be scored; first: ${failures[0]?.error}`);
  const summary = summarizeEvaluation(rows);

  const report = {
    config: {
      data: f.data,
      format: f.format,
      limit: limit ?? null,
      atModelSize,
      resolution: atModelSize
        ? `model size (${p.size}×${p.size}): ground truth thresholded at full resolution, then nearest-neighbour resized as in training`
        : `image size: the prediction (probability > ${FOREGROUND_THRESHOLD}) nearest-neighbour upsampled from ${p.size}×${p.size}`,
      threshold: FOREGROUND_THRESHOLD,
      maskThreshold: `${MASK_THRESHOLD} on the max of R, G, B (1 in a 0/1 mask)`,
      mc: f.mc
        ? { samples, p: mcP, uncertainty, aggregate: aggregate === 'quantile' ? `quantile:${q}` : aggregate }
        : null,
    },
    model: { path: resolve(modelPath), imageSize: p.size, depth: p.config.unet.depth, base: p.config.unet.base },
    dataset: {
      dir: resolve(f.data),
      name: datasetName,
      format: listing.format,
      pairs: listing.items.length,
      evaluated: items.length,
      scored: rows.length,
      failed: failures.length,
      problems: listing.problems,
    },
    seconds,
    summary,
    images: rows,
    failures,
  };
  writeFileAtomic(join(out, 'evaluation.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileAtomic(join(out, 'per-image.csv'), perImageCsv(rows));
  progress(`wrote ${join(out, 'evaluation.json')} and per-image.csv`);

  process.stdout.write(
    `${datasetName}: ${rows.length} of ${items.length} pairs scored at ${resolution} (${listing.format}), ${failures.length} failed; model ${modelPath}; ${seconds.toFixed(1)} s\n\n` +
      `${summaryTable(summary, f.mc)}\n`,
  );
  if (failures.length)
    throw new Error(
      `${failures.length} of ${items.length} pairs could not be scored (listed in evaluation.json's failures); first: ${failures[0]!.error}`,
    );
});
