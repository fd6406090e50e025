/**
 * Scoring a trained model on a labelled dataset (npm run evaluate): per-image Dice, IoU, precision and
 * recall, optionally the MC-Dropout difficulty, and their summary (mean ± std, the worst 10% by Dice,
 * the three foreground-size terciles, Spearman ρ of difficulty and Dice).
 *
 * Two resolutions:
 * - the image's own (default): the model-size prediction (probability > FOREGROUND_THRESHOLD) is upsampled to the
 *   image size with nearest neighbour, as `predict` draws its mask, and compared with the ground truth
 *   at full resolution, thresholded as training thresholds it (max of R, G, B ≥ 128, or 1 in a 0/1 mask);
 * - the model's (`atModelSize`): the thresholded ground truth is resized to the model size with nearest
 *   neighbour, as training resizes it (datasets.ts, decodePair), and compared with the prediction there.
 * Images are decoded and resized exactly as training decodes them (datasets.ts decodeImage).
 */
import { nearestResize } from '../data/preprocess.js';
import { DatasetError, decodeImage, decodeMask, type DatasetItem, type FullMask } from '../data/datasets.js';
import {
  FOREGROUND_THRESHOLD,
  type ImageMetrics,
  type ImageRow,
  METRICS,
  type MetricName,
  hardestImages,
  imageMetrics,
} from '../training/metrics.js';
import { type Predictor, planarInput, runProbability } from '../serve/predictNode.js';
import { type McPredictor, predictImage } from '../uncertainty/predictUncertainty.js';
import type { DifficultySpec } from '../uncertainty/difficulty.js';
import { type MeanStd, meanStd, spearman } from '../common/stats.js';
import { csvCell } from '../common/table.js';

// ---------------------------------------------------------------------------------------------------------
// Scoring one image

export interface Scored {
  metrics: ImageMetrics;
  /** Foreground fraction of the ground truth at the resolution scored. */
  coverage: number;
}

/**
 * Metrics of one model-size probability map against a full-resolution 0/1 ground truth: at the
 * image's resolution (the thresholded prediction upsampled, nearest) or, with `atModelSize`, at the
 * model's (the ground truth resized, nearest).
 */
export function scoreImage(prob: Float32Array, size: number, truth: FullMask, atModelSize = false): Scored {
  if (prob.length !== size * size) throw new Error(`scoreImage: ${prob.length} probabilities for ${size}×${size}`);
  const { width, height } = truth;
  if (atModelSize) {
    const small = nearestResize(truth.mask, width, height, size, size);
    return {
      metrics: imageMetrics(prob, small, FOREGROUND_THRESHOLD),
      coverage: small.reduce((a, v) => a + v, 0) / small.length,
    };
  }
  const predicted = Uint8Array.from(prob, (v) => (v > FOREGROUND_THRESHOLD ? 1 : 0));
  const up = Float32Array.from(nearestResize(predicted, size, size, width, height));
  return { metrics: imageMetrics(up, truth.mask, FOREGROUND_THRESHOLD), coverage: truth.foreground / (width * height) };
}

// ---------------------------------------------------------------------------------------------------------
// Scoring a dataset

export const TERCILES = ['small', 'medium', 'large'] as const;
export type Tercile = (typeof TERCILES)[number];

/** One scored image. `coverage` is the ground truth's foreground fraction at the resolution scored. */
export type EvalRow = ImageRow & {
  image: string;
  mask: string;
  width: number;
  height: number;
  coverage: number;
  tercile?: Tercile;
};

export interface EvalFailure {
  name: string;
  image?: string;
  mask?: string;
  error: string;
}

export interface EvaluateOptions {
  atModelSize?: boolean;
  /** MC-Dropout difficulty per image: the MC model, its dropout ratio and the difficulty statistic. */
  mc?: { predictor: McPredictor; p: number; spec: DifficultySpec };
  /** Called after each pair, scored or failed. */
  onItem?: (done: number, total: number, result: EvalRow | EvalFailure) => void;
}

/** Score one pair: decode both files, check their sizes agree, predict, compare. Throws on a bad pair. */
async function scorePair(p: Predictor, item: DatasetItem, options: EvaluateOptions): Promise<EvalRow> {
  const imagePath = item.imagePath!;
  const maskPath = item.maskPath!;
  const [img, truth] = await Promise.all([decodeImage(imagePath, p.size), decodeMask(maskPath)]);
  if (img.width !== truth.width || img.height !== truth.height) {
    throw new DatasetError(
      `mask ${maskPath} is ${truth.width}×${truth.height} but its image ${imagePath} is ${img.width}×${img.height}`,
      maskPath,
    );
  }
  const prob = await runProbability(p, planarInput(img.rgb, p.size));
  const { metrics, coverage } = scoreImage(prob, p.size, truth, options.atModelSize);
  const row: EvalRow = {
    name: item.name,
    image: imagePath,
    mask: maskPath,
    width: img.width,
    height: img.height,
    coverage,
    ...metrics,
  };
  if (options.mc) {
    const d = await predictImage(options.mc.predictor, img.rgb, options.mc.p, options.mc.spec);
    if (!Number.isFinite(d.difficulty))
      throw new Error(`image ${imagePath}: MC-Dropout difficulty is not finite (${d.difficulty})`);
    row.difficulty = d.difficulty;
  }
  return row;
}

/**
 * Score every listed pair in order. A pair that cannot be decoded or whose sizes disagree is recorded
 * in `failures` (its message names the file) and skipped. Rows get their foreground tercile.
 */
export async function evaluateItems(
  p: Predictor,
  items: readonly DatasetItem[],
  options: EvaluateOptions = {},
): Promise<{ rows: EvalRow[]; failures: EvalFailure[] }> {
  const rows: EvalRow[] = [];
  const failures: EvalFailure[] = [];
  for (const [i, item] of items.entries()) {
    let result: EvalRow | EvalFailure;
    try {
      result = await scorePair(p, item, options);
      rows.push(result);
    } catch (e) {
      result = { name: item.name, image: item.imagePath, mask: item.maskPath, error: (e as Error).message };
      failures.push(result);
    }
    options.onItem?.(i + 1, items.length, result);
  }
  const terciles = foregroundTerciles(rows);
  rows.forEach((r, i) => {
    r.tercile = terciles[i];
  });
  return { rows, failures };
}

// ---------------------------------------------------------------------------------------------------------
// Summary

/**
 * Foreground-size tercile of each row: rows ranked by coverage (ties by name), the first third
 * `small`, the next `medium`, the rest `large` (rank r of n goes to ⌊3r/n⌋; 10 rows split 4, 3, 3).
 */
export function foregroundTerciles(rows: readonly { name: string; coverage: number }[]): Tercile[] {
  const order = rows
    .map((_, i) => i)
    .sort(
      (a, b) =>
        rows[a]!.coverage - rows[b]!.coverage ||
        (rows[a]!.name < rows[b]!.name ? -1 : rows[a]!.name > rows[b]!.name ? 1 : 0),
    );
  const out = new Array<Tercile>(rows.length);
  order.forEach((row, rank) => {
    out[row] = TERCILES[Math.floor((3 * rank) / rows.length)]!;
  });
  return out;
}

export type SummaryMetric = MetricName | 'difficulty';

export interface Group {
  images: number;
  /** mean ± std (n − 1) of each metric over the group's images; difficulty only when every row has one. */
  metrics: Partial<Record<SummaryMetric, MeanStd>>;
}

export interface EvalSummary {
  all: Group;
  /** The ⌈10%⌉ (at least 1) lowest-Dice images, ties by name. */
  worst10: Group & { names: string[] };
  /** By ground-truth foreground size; coverage range of each; null metrics where a tercile is empty (under 3 images). */
  terciles: (Group & { tercile: Tercile; coverage: { min: number; max: number } | null })[];
  /** Spearman ρ of difficulty and Dice over all images (--mc); null without difficulties or when undefined. */
  spearmanDifficultyDice: number | null;
}

function group(rows: readonly EvalRow[]): Group {
  const withDifficulty = rows.length > 0 && rows.every((r) => typeof r.difficulty === 'number');
  const keys: SummaryMetric[] = withDifficulty ? [...METRICS, 'difficulty'] : [...METRICS];
  const metrics = rows.length ? Object.fromEntries(keys.map((k) => [k, meanStd(rows.map((r) => r[k]!))])) : {};
  return { images: rows.length, metrics };
}

/** Mean ± std over all rows, over the worst 10% by Dice and per foreground tercile (rows need `tercile`). */
export function summarizeEvaluation(rows: readonly EvalRow[]): EvalSummary {
  if (!rows.length) throw new Error('summarizeEvaluation: no scored images');
  const worst = hardestImages(rows, 0.1);
  const byName = new Map(rows.map((r) => [r.name, r]));
  const terciles = TERCILES.map((tercile) => {
    const members = rows.filter((r) => r.tercile === tercile);
    const cov = members.map((r) => r.coverage);
    return {
      tercile,
      ...group(members),
      coverage: members.length ? { min: Math.min(...cov), max: Math.max(...cov) } : null,
    };
  });
  const withD = rows.filter((r) => typeof r.difficulty === 'number');
  const rho =
    withD.length === rows.length
      ? spearman(
          withD.map((r) => r.difficulty!),
          withD.map((r) => r.dice),
        )
      : Number.NaN;
  return {
    all: group(rows),
    worst10: { ...group(worst.map((n) => byName.get(n)!)), names: worst },
    terciles,
    spearmanDifficultyDice: Number.isFinite(rho) ? rho : null,
  };
}

const CSV_COLUMNS = ['name', 'width', 'height', 'coverage', 'tercile', ...METRICS] as const;

/** per-image.csv: one row per scored image (difficulty last, when there is one), RFC 4180 quoting. */
export function perImageCsv(rows: readonly EvalRow[]): string {
  const columns: (keyof EvalRow)[] = rows.some((r) => typeof r.difficulty === 'number')
    ? [...CSV_COLUMNS, 'difficulty']
    : [...CSV_COLUMNS];
  const lines = rows.map((r) => columns.map((c) => csvCell((r[c] ?? '') as string | number)).join(','));
  return `${[columns.join(','), ...lines].join('\n')}\n`;
}
