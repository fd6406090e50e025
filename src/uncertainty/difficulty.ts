/**
 * Image difficulty: one number per image, an aggregate of its pixel-uncertainty map (METHOD.md §3;
 * the statistic is **open** in the note, so every one below is offered and 'mean' is the default).
 *
 *   mean             (1/P) Σ u_i over all P pixels
 *   max              max_i u_i
 *   quantile         the q-quantile of u (q in [0, 1], default 0.9), linear interpolation between
 *                    closest ranks (type 7, numpy/R default; see stats.ts), not nearest-rank
 *   foreground-mean  mean of u over the predicted foreground, the pixels whose MC mean probability
 *                    p̄ > 0.5. An image with no such pixel (nothing predicted) falls back to the mean
 *                    over all pixels: its uncertainty is then spread over the background, and giving
 *                    it 0 (or NaN) would make "nothing found" look like the easiest image of all.
 *   sum              Σ u_i (scales with image size; comparable only at one input size)
 *
 * Why in TypeScript and not in the ONNX graph: the MC graph already outputs the N samples, and the
 * pixel maps plus one reduction over H·W per image take microseconds here next to the N forward
 * passes. Keeping the statistic out of the graph lets one MC graph serve every uncertainty kind and
 * every aggregate — switching statistic (or computing several for a study) needs no graph rebuild.
 */
import { FOREGROUND_THRESHOLD } from '../training/metrics.js';
import {
  DEFAULT_UNCERTAINTY,
  type PixelUncertainty,
  type UncertaintyKind,
  isUncertaintyKind,
  pixelUncertainty,
  uncertaintyMap,
  UNCERTAINTY_KINDS,
} from './pixel.js';
import { quantile } from '../common/stats.js';

export const AGGREGATES = ['mean', 'max', 'quantile', 'foreground-mean', 'sum'] as const;
export type Aggregate = (typeof AGGREGATES)[number];
export const DEFAULT_QUANTILE = 0.9;

export interface DifficultySpec {
  uncertainty: UncertaintyKind;
  aggregate: Aggregate;
  /** Only for aggregate 'quantile'. */
  q: number;
}

export const DEFAULT_DIFFICULTY: DifficultySpec = {
  uncertainty: DEFAULT_UNCERTAINTY,
  aggregate: 'mean',
  q: DEFAULT_QUANTILE,
};

/**
 * Aggregate a pixel map into one difficulty. `meanProb` (the MC mean probability map, same length)
 * is needed only for 'foreground-mean'. An empty map gives NaN.
 */
export function aggregateMap(
  map: ArrayLike<number>,
  aggregate: Aggregate,
  options: { q?: number; meanProb?: ArrayLike<number> } = {},
): number {
  const n = map.length;
  if (n === 0) return Number.NaN;
  switch (aggregate) {
    case 'mean': {
      let s = 0;
      for (let i = 0; i < n; i++) s += map[i]!;
      return s / n;
    }
    case 'sum': {
      let s = 0;
      for (let i = 0; i < n; i++) s += map[i]!;
      return s;
    }
    case 'max': {
      let m = -Infinity;
      for (let i = 0; i < n; i++) if (map[i]! > m) m = map[i]!;
      return m;
    }
    case 'quantile':
      return quantile(map, options.q ?? DEFAULT_QUANTILE);
    case 'foreground-mean': {
      const p = options.meanProb;
      if (!p) throw new Error("aggregateMap: 'foreground-mean' needs the mean probability map (meanProb)");
      if (p.length !== n) throw new Error(`aggregateMap: meanProb has ${p.length} pixels, the map ${n}`);
      let s = 0;
      let c = 0;
      for (let i = 0; i < n; i++) {
        if (p[i]! > FOREGROUND_THRESHOLD) {
          s += map[i]!;
          c++;
        }
      }
      // No predicted foreground: fall back to the mean over the whole image (see the header).
      return c > 0 ? s / c : aggregateMap(map, 'mean');
    }
  }
}

export interface ImageDifficulty {
  difficulty: number;
  /** The MC mean probability map (useful for the per-image Dice recorded with the difficulty). */
  meanProb: Float64Array;
  pixels: PixelUncertainty;
}

/** Difficulty of one image from its N MC samples (N·H·W values, sample-major; see pixel.ts). */
export function imageDifficulty(
  samples: ArrayLike<number>,
  n: number,
  spec: DifficultySpec = DEFAULT_DIFFICULTY,
): ImageDifficulty {
  const pixels = pixelUncertainty(samples, n);
  const difficulty = aggregateMap(uncertaintyMap(pixels, spec.uncertainty), spec.aggregate, {
    q: spec.q,
    meanProb: pixels.mean,
  });
  return { difficulty, meanProb: pixels.mean, pixels };
}

/**
 * Parse `--aggregate` values: 'mean', 'max', 'sum', 'foreground-mean', 'quantile' (q = 0.9) or
 * 'quantile:Q' with Q in [0, 1]. Errors name the flag.
 */
export function parseAggregate(spec: string, flag = 'aggregate'): { aggregate: Aggregate; q: number } {
  const [name, arg, ...rest] = spec.trim().split(':');
  if (
    !(AGGREGATES as readonly string[]).includes(name!) ||
    rest.length > 0 ||
    (arg !== undefined && name !== 'quantile')
  ) {
    throw new Error(
      `--${flag} must be one of ${AGGREGATES.join(', ')} (quantile may be written quantile:Q), got "${spec}"`,
    );
  }
  const q = arg === undefined ? DEFAULT_QUANTILE : Number(arg);
  if (arg !== undefined && (arg.trim() === '' || !(q >= 0 && q <= 1)))
    throw new Error(`--${flag}: the quantile must be a number in [0, 1], got "${arg}"`);
  return { aggregate: name as Aggregate, q };
}

/** Parse `--uncertainty` values. */
export function parseUncertainty(spec: string, flag = 'uncertainty'): UncertaintyKind {
  const s = spec.trim();
  if (!isUncertaintyKind(s)) throw new Error(`--${flag} must be one of ${UNCERTAINTY_KINDS.join(', ')}, got "${spec}"`);
  return s;
}
