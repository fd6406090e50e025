/**
 * Study v2's statistics (docs/results/v2/DESIGN.md): comparisons whose unit is the trained model.
 * Two arms are paired by (seed, fold): same folds, same seed, same test images. For each pair the
 * model-level score (mean test Dice, or the model's own worst-10% mean Dice) gives one Δ; the Δs get
 * a t-interval and an exact Wilcoxon signed-rank test, and the family of comparisons a Holm
 * adjustment. A cluster bootstrap over videos adds the test-set sampling view for mean Dice.
 * Per-image pooled tests are not made here: frames of one video are not independent.
 */
import type { Prng } from '../common/prng.js';
import {
  type Interval,
  clusterBootstrapMean,
  holm,
  mean,
  type MeanRange,
  meanRange,
  meanStd,
  quantile,
  spearman,
  tInterval,
  wilcoxonSignedRank,
} from '../common/stats.js';
import type { ImageRow } from '../training/metrics.js';

/** One trained model's test-fold rows; `area` (foreground share of the mask) is optional. */
export interface ModelResult {
  arm: string;
  seed: number;
  fold: number;
  images: readonly (ImageRow & { area?: number })[];
}

export const MODEL_SCORES = ['meanDice', 'worst10'] as const;
export type ModelScore = (typeof MODEL_SCORES)[number];

/** Mean Dice of the lowest ceil(fraction · n) (at least 1) of a model's own per-image Dice. */
export function worstMean(dice: readonly number[], fraction: number): number {
  if (dice.length === 0) throw new Error('worstMean: no images');
  const k = Math.max(1, Math.ceil(fraction * dice.length - 1e-9));
  return mean([...dice].sort((a, b) => a - b).slice(0, k));
}

/** A model's score: its mean test Dice, or the mean Dice of its own worst 10% of test images. */
export function modelScore(m: ModelResult, score: ModelScore): number {
  const dice = m.images.map((r) => r.dice);
  return score === 'meanDice' ? mean(dice) : worstMean(dice, 0.1);
}

export interface PairedComparison {
  a: string;
  b: string;
  score: ModelScore;
  /** one Δ = score(a) − score(b) per (seed, fold) both arms have */
  pairs: { seed: number; fold: number; a: number; b: number; delta: number }[];
  /** models left out for want of their pair (only with allowUnpaired: an incomplete grid) */
  unpaired: number;
  /** mean Δ with its 95% t-interval (and the one-sample t-test's p, descriptive) */
  delta: Interval & { p: number };
  /** exact (n ≤ 25) two-sided Wilcoxon signed-rank p over the Δs: the p that is adjusted */
  wilcoxonP: number;
  /** Holm-adjusted wilcoxonP within the reported family (set by `adjustFamily`) */
  pHolm?: number;
  /**
   * Mean Dice only: the cluster-bootstrap 95% interval of the mean per-image Δ (each image's Δ
   * averaged over seeds), resampling whole videos.
   */
  videoBootstrap?: Interval & { videos: number; images: number };
}

const key = (seed: number, fold: number): string => `${seed}/${fold}`;

/**
 * Compare arm `a` with arm `b` on one split. Every (seed, fold) of `a` must have its `b` (a paired
 * design has no unpaired models) unless `allowUnpaired` (an incomplete grid, tabulated on request).
 * `videoOf` maps an image name to its video for the bootstrap.
 */
export function compareArms(
  models: readonly ModelResult[],
  a: string,
  b: string,
  score: ModelScore,
  videoOf: ((name: string) => string) | null,
  rng: Prng,
  options: { allowUnpaired?: boolean } = {},
): PairedComparison {
  const of = (arm: string): Map<string, ModelResult> =>
    new Map(models.filter((m) => m.arm === arm).map((m) => [key(m.seed, m.fold), m]));
  const ma = of(a);
  const mb = of(b);
  const missing = [...ma.keys()].filter((k) => !mb.has(k)).concat([...mb.keys()].filter((k) => !ma.has(k)));
  if (missing.length && !options.allowUnpaired) {
    throw new Error(`compareArms ${a} vs ${b}: unpaired (seed/fold) ${missing.join(', ')}`);
  }
  for (const k of missing) {
    ma.delete(k);
    mb.delete(k);
  }
  if (ma.size < 2) throw new Error(`compareArms ${a} vs ${b}: ${ma.size} paired model(s), need at least 2`);
  const pairs = [...ma.values()]
    .sort((x, y) => x.seed - y.seed || x.fold - y.fold)
    .map((m) => {
      const sa = modelScore(m, score);
      const sb = modelScore(mb.get(key(m.seed, m.fold))!, score);
      return { seed: m.seed, fold: m.fold, a: sa, b: sb, delta: sa - sb };
    });
  const deltas = pairs.map((p) => p.delta);
  const result: PairedComparison = {
    a,
    b,
    score,
    pairs,
    unpaired: missing.length,
    delta: tInterval(deltas),
    wilcoxonP: wilcoxonSignedRank(
      pairs.map((p) => p.a),
      pairs.map((p) => p.b),
    ).p,
  };
  if (score === 'meanDice' && videoOf) result.videoBootstrap = videoBootstrap(ma, mb, videoOf, rng);
  return result;
}

/** Per-image Δ Dice averaged over the seeds that tested the image, clustered by video. */
function videoBootstrap(
  ma: ReadonlyMap<string, ModelResult>,
  mb: ReadonlyMap<string, ModelResult>,
  videoOf: (name: string) => string,
  rng: Prng,
): Interval & { videos: number; images: number } {
  const perImage = new Map<string, number[]>();
  for (const [k, m] of ma) {
    const other = new Map(mb.get(k)!.images.map((r) => [r.name, r.dice]));
    for (const r of m.images) {
      const d = other.get(r.name);
      if (d === undefined) throw new Error(`compareArms: ${r.name} is in one arm's test fold ${k} only`);
      perImage.set(r.name, [...(perImage.get(r.name) ?? []), r.dice - d]);
    }
  }
  const byVideo = new Map<string, number[]>();
  for (const [name, ds] of perImage) {
    const v = videoOf(name);
    byVideo.set(v, [...(byVideo.get(v) ?? []), mean(ds)]);
  }
  const interval = clusterBootstrapMean([...byVideo.values()], rng);
  return { ...interval, videos: byVideo.size, images: perImage.size };
}

/** Holm over the family (the comparisons reported together), on each comparison's Wilcoxon p. */
export function adjustFamily(family: readonly PairedComparison[]): PairedComparison[] {
  const adjusted = holm(family.map((c) => c.wilcoxonP));
  return family.map((c, i) => ({ ...c, pHolm: adjusted[i]! }));
}

export interface ArmRobustness {
  arm: string;
  models: number;
  /** mean over models of each model's mean test Dice, and its standard deviation over the models */
  meanDice: number;
  meanDiceSd: number;
  worst10: number;
  worst25: number;
  /** mean over models of each model's 5th percentile of per-image Dice */
  p5: number;
  /** mean Dice of the images in each polyp-area tercile (boundaries shared by every arm), pooled */
  byAreaTercile: { small: number; medium: number; large: number } | null;
  /** Spearman ρ per model (mean, min, max) of MC difficulty with Dice and with polyp area */
  difficultyVsDice: MeanRange | null;
  difficultyVsArea: MeanRange | null;
}

/** Area boundaries (1/3 and 2/3 quantiles) over every image of a split, so that terciles are shared. */
export function areaTerciles(areas: readonly number[]): [number, number] {
  return [quantile(areas, 1 / 3), quantile(areas, 2 / 3)];
}

/** Each arm's own robustness numbers (descriptive; no test). */
export function armRobustness(
  models: readonly ModelResult[],
  arm: string,
  bounds: [number, number] | null,
): ArmRobustness {
  const ms = models.filter((m) => m.arm === arm);
  if (ms.length === 0) throw new Error(`armRobustness: no models of ${arm}`);
  const dice = (m: ModelResult) => m.images.map((r) => r.dice);
  const rows = ms.flatMap((m) => m.images);
  const withArea = rows.every((r) => r.area !== undefined);
  const tercile = (lo: number, hi: number) =>
    mean(rows.filter((r) => r.area! > lo && r.area! <= hi).map((r) => r.dice));
  const rho = (y: (r: ImageRow & { area?: number }) => number) =>
    meanRange(
      ms
        .filter((m) => m.images.every((r) => r.difficulty !== undefined))
        .map((m) =>
          spearman(
            m.images.map((r) => r.difficulty!),
            m.images.map(y),
          ),
        ),
    );
  return {
    arm,
    models: ms.length,
    meanDice: mean(ms.map((m) => modelScore(m, 'meanDice'))),
    meanDiceSd: meanStd(ms.map((m) => modelScore(m, 'meanDice'))).std,
    worst10: mean(ms.map((m) => worstMean(dice(m), 0.1))),
    worst25: mean(ms.map((m) => worstMean(dice(m), 0.25))),
    p5: mean(ms.map((m) => quantile(dice(m), 0.05))),
    byAreaTercile:
      withArea && bounds
        ? {
            small: tercile(-Infinity, bounds[0]),
            medium: tercile(bounds[0], bounds[1]),
            large: tercile(bounds[1], Infinity),
          }
        : null,
    difficultyVsDice: rho((r) => r.dice),
    difficultyVsArea: withArea ? rho((r) => r.area!) : null,
  };
}
