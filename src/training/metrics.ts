/**
 * Per-image segmentation metrics from a probability map and a 0/1 mask. The hard prediction is
 * prob > threshold (FOREGROUND_THRESHOLD = 0.5 by default). With TP, FP, FN counted over the image's pixels:
 *   dice = 2TP / (2TP + FP + FN), iou = TP / (TP + FP + FN),
 *   precision = TP / (TP + FP), recall = TP / (TP + FN).
 * Undefined ratios (0/0) follow one rule: 0/0 := 1 when prediction and mask are both empty (the
 * image is entirely right, and an all-negative frame should not drag the mean down), else 0
 * (something was missed or invented, so no credit). So:
 *   - empty mask, empty prediction:         dice = iou = precision = recall = 1;
 *   - non-empty mask, empty prediction:     dice = iou = 0, precision = 0 (0/0), recall = 0;
 *   - empty mask, non-empty prediction:     dice = iou = 0, precision = 0, recall = 0 (0/0).
 * Only precision with an empty prediction and recall with an empty mask hit 0/0 while the other
 * side is non-empty; dice and iou are 0/0 only when both are empty.
 */
import { SMOOTH } from '../graphBuilder/losses.js';

/**
 * Probability above which a pixel is predicted foreground: the one threshold of training's metrics,
 * the MC phase's difficulty, prediction masks, the server and evaluation.
 */
export const FOREGROUND_THRESHOLD = 0.5;

export interface ImageMetrics {
  dice: number;
  iou: number;
  precision: number;
  recall: number;
}

/** The per-image metrics by name, in the order tables and CSV columns list them. */
export const METRICS = ['dice', 'iou', 'precision', 'recall'] as const satisfies readonly (keyof ImageMetrics)[];
export type MetricName = (typeof METRICS)[number];
/**
 * One image's metrics as metrics.json (the trainer's test fold) and evaluation list them;
 * `difficulty` is the final model's MC-Dropout difficulty when there is one; `area` the polyp's
 * share of the mask's pixels at the model's size (metrics.json written since study v2).
 */
export type ImageRow = { name: string; difficulty?: number; area?: number } & Record<MetricName, number>;

/** Share of a mask's pixels that are foreground (non-zero). */
export function foregroundShare(mask: Uint8Array): number {
  let n = 0;
  for (const v of mask) if (v !== 0) n++;
  return mask.length === 0 ? 0 : n / mask.length;
}

/**
 * The hardest `fraction` of images by per-image Dice: the names of the ceil(fraction · N) (at least
 * 1) lowest, ties broken by name so the set is deterministic.
 */
export function hardestImages(rows: readonly ImageRow[], fraction: number): string[] {
  const k = Math.max(1, Math.ceil(fraction * rows.length - 1e-9));
  return [...rows]
    .sort((a, b) => a.dice - b.dice || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, k)
    .map((r) => r.name);
}

function checkLengths(what: string, prob: Float32Array, mask: Uint8Array): void {
  if (prob.length !== mask.length)
    throw new Error(`${what}: ${prob.length} probabilities for ${mask.length} mask pixels`);
}

export function imageMetrics(prob: Float32Array, mask: Uint8Array, threshold = FOREGROUND_THRESHOLD): ImageMetrics {
  checkLengths('imageMetrics', prob, mask);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < mask.length; i++) {
    const p = prob[i]! > threshold;
    const m = mask[i]! !== 0;
    if (p && m) tp++;
    else if (p) fp++;
    else if (m) fn++;
  }
  const bothEmpty = tp + fp + fn === 0;
  const ratio = (num: number, den: number): number => (den === 0 ? (bothEmpty ? 1 : 0) : num / den);
  return {
    dice: ratio(2 * tp, 2 * tp + fp + fn),
    iou: ratio(tp, tp + fp + fn),
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
  };
}

/** Means over images (each image weighs the same, as in per-image mDice/mIoU). An empty list gives NaN for every metric. */
export function summarize(list: readonly ImageMetrics[]): ImageMetrics {
  const n = list.length;
  const mean = (key: keyof ImageMetrics): number => (n === 0 ? Number.NaN : list.reduce((s, m) => s + m[key], 0) / n);
  return { dice: mean('dice'), iou: mean('iou'), precision: mean('precision'), recall: mean('recall') };
}

/**
 * Soft (threshold-free) Dice of probabilities p against mask t, in the same form the Dice loss uses
 * (losses.ts: L_Dice = 1 − softDice): (2Σp·t + δ) / (Σp² + Σt² + δ), δ = SMOOTH. The smoothing makes
 * an empty prediction on an empty mask score 1 and keeps the value defined everywhere; set smooth = 0
 * for the unsmoothed ratio (then both empty gives 1 by the same rule as imageMetrics).
 */
export function softDice(prob: Float32Array, mask: Uint8Array, smooth = SMOOTH): number {
  checkLengths('softDice', prob, mask);
  let d = 0;
  let a2 = 0;
  let b2 = 0;
  for (let i = 0; i < mask.length; i++) {
    const p = prob[i]!;
    const t = mask[i]! !== 0 ? 1 : 0;
    d += p * t;
    a2 += p * p;
    b2 += t;
  }
  const den = a2 + b2 + smooth;
  return den === 0 ? 1 : (2 * d + smooth) / den;
}
