/**
 * The study's results from each run's test-fold metrics.json: summary statistics per configuration,
 * robustness on the hardest test images, and paired Wilcoxon comparisons. Pure functions (apart
 * from `readFoldMetrics`), returning objects and Markdown.
 */
import { type MeanStd, type WilcoxonResult, mean, meanStd, quantile, wilcoxonSignedRank } from '../common/stats.js';
import { fixed3 } from '../common/table.js';
import { type ImageRow, METRICS, type MetricName, hardestImages } from '../training/metrics.js';
import { readJsonFile } from '../common/files.js';

/** One fold's metrics.json, as written by the trainer. */
export interface FoldMetrics {
  fold: number;
  mean: Record<MetricName, number>;
  images: ImageRow[];
}

export function readFoldMetrics(file: string, fold: number): FoldMetrics {
  const m = readJsonFile(file) as Omit<FoldMetrics, 'fold'>;
  return { fold, mean: m.mean, images: m.images };
}

export interface ConfigSummary {
  config: string;
  folds: number;
  images: number;
  /** mean ± std over folds of each fold's mean */
  perFold: Record<MetricName, MeanStd>;
  /** mean over all test images (pooled over folds) */
  pooled: Record<MetricName, number>;
  /** mean Dice over the hardest 10% / 25% of test images (by the baseline's Dice); null without a baseline */
  hardest10: number | null;
  hardest25: number | null;
  /** 5th percentile of per-image Dice */
  diceP5: number;
}

export interface Comparison {
  config: string;
  against: string;
  metric: 'dice';
  /** mean per-image Dice difference config − against */
  meanDifference: number;
  test: WilcoxonResult;
}

export interface StudyResults {
  baseline: string;
  hardness: string;
  summaries: ConfigSummary[];
  comparisons: Comparison[];
  notes: string[];
}

export interface ResultsOptions {
  /** configuration whose per-image Dice ranks hardness (default `dice`) */
  baseline?: string;
  /** configurations compared (default: every name starting with `adaptive`) */
  compare?: (config: string) => boolean;
  /** what they are compared against, where present (default `dice`, `polydice1-fixed`) */
  references?: readonly string[];
}

function pooledImages(folds: readonly FoldMetrics[], config: string): Map<string, ImageRow> {
  const map = new Map<string, ImageRow>();
  for (const f of folds)
    for (const img of f.images) {
      if (map.has(img.name)) throw new Error(`${config}: test image "${img.name}" appears in more than one fold`);
      map.set(img.name, img);
    }
  return map;
}

function paired(
  a: Map<string, ImageRow>,
  b: Map<string, ImageRow>,
  aName: string,
  bName: string,
): { x: number[]; y: number[] } {
  const names = [...a.keys()].sort();
  const missing = names.filter((n) => !b.has(n)).concat([...b.keys()].filter((n) => !a.has(n)));
  if (missing.length)
    throw new Error(`${aName} and ${bName} have different test images (e.g. "${missing[0]}"): runs are not paired`);
  return { x: names.map((n) => a.get(n)!.dice), y: names.map((n) => b.get(n)!.dice) };
}

/** Results of a study: `runs` maps configuration name → its folds' metrics. */
export function computeResults(
  runs: ReadonlyMap<string, readonly FoldMetrics[]>,
  options: ResultsOptions = {},
): StudyResults {
  const baseline = options.baseline ?? 'dice';
  const compare = options.compare ?? ((c: string) => c.startsWith('adaptive'));
  const references = options.references ?? ['dice', 'polydice1-fixed'];
  const notes: string[] = [];
  const images = new Map([...runs].map(([c, folds]) => [c, pooledImages(folds, c)]));
  const base = images.get(baseline);
  const hard10 = base ? hardestImages([...base.values()], 0.1) : null;
  const hard25 = base ? hardestImages([...base.values()], 0.25) : null;
  if (!base) notes.push(`no \`${baseline}\` runs: the hardest-image columns are empty`);

  const summaries: ConfigSummary[] = [...runs].map(([config, folds]) => {
    if (folds.length === 0) throw new Error(`${config}: no folds`);
    const imgs = images.get(config)!;
    const rows = [...imgs.values()];
    const hardMean = (names: string[] | null): number | null => {
      if (!names) return null;
      return mean(
        names.map((n) => {
          const r = imgs.get(n);
          if (!r) throw new Error(`${config} has no test image "${n}" of the ${baseline} runs: runs are not paired`);
          return r.dice;
        }),
      );
    };
    const hardest10 = hardMean(hard10);
    const hardest25 = hardMean(hard25);
    if (rows.length === 0) throw new Error(`${config}: no test images`);
    return {
      config,
      folds: folds.length,
      images: rows.length,
      perFold: Object.fromEntries(METRICS.map((m) => [m, meanStd(folds.map((f) => f.mean[m]))])) as Record<
        MetricName,
        MeanStd
      >,
      pooled: Object.fromEntries(METRICS.map((m) => [m, mean(rows.map((r) => r[m]))])) as Record<MetricName, number>,
      hardest10,
      hardest25,
      diceP5: quantile(
        rows.map((r) => r.dice),
        0.05,
      ),
    };
  });

  const comparisons: Comparison[] = [];
  for (const config of runs.keys()) {
    if (!compare(config)) continue;
    for (const against of references) {
      if (against === config) continue;
      if (!runs.has(against)) {
        notes.push(`${config} not compared with ${against}: no ${against} runs`);
        continue;
      }
      const { x, y } = paired(images.get(config)!, images.get(against)!, config, against);
      comparisons.push({
        config,
        against,
        metric: 'dice',
        meanDifference: mean(x.map((v, i) => v - y[i]!)),
        test: wilcoxonSignedRank(x, y),
      });
    }
  }
  return {
    baseline,
    hardness: `hardest images ranked by ${baseline}'s per-image test Dice`,
    summaries,
    comparisons,
    notes,
  };
}

const pm = (s: MeanStd): string => `${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}`;
const pFmt = (p: number): string => (p < 1e-4 ? p.toExponential(1) : p.toPrecision(3));

/** Markdown tables of one split's results. */
export function resultsMarkdown(r: StudyResults, title = 'Results'): string {
  const out: string[] = [`## ${title}`, ''];
  out.push("Per configuration, mean ± standard deviation (n − 1) over folds of each fold's mean test metric:", '');
  out.push('| config | folds | mDice | mIoU | precision | recall |', '| --- | --: | --: | --: | --: | --: |');
  for (const s of r.summaries)
    out.push(
      `| ${s.config} | ${s.folds} | ${pm(s.perFold.dice)} | ${pm(s.perFold.iou)} | ${pm(s.perFold.precision)} | ${pm(s.perFold.recall)} |`,
    );
  out.push(
    '',
    `Over all test images (pooled over folds) and robustness (${r.hardness}; 5th percentile with linear interpolation):`,
    '',
  );
  out.push(
    '| config | images | Dice | IoU | precision | recall | Dice, hardest 10% | Dice, hardest 25% | Dice, 5th percentile |',
    '| --- | --: | --: | --: | --: | --: | --: | --: | --: |',
  );
  for (const s of r.summaries)
    out.push(
      `| ${s.config} | ${s.images} | ${fixed3(s.pooled.dice)} | ${fixed3(s.pooled.iou)} | ${fixed3(s.pooled.precision)} | ${fixed3(s.pooled.recall)} | ${fixed3(s.hardest10)} | ${fixed3(s.hardest25)} | ${fixed3(s.diceP5)} |`,
    );
  if (r.comparisons.length) {
    out.push(
      '',
      'Paired per-image test Dice, Wilcoxon signed-rank test (two-sided; zero differences dropped; exact for n ≤ 25, else normal approximation with tie and continuity correction). r = Z/√n; rank-biserial = (W+ − W−)/(W+ + W−); positive = the first config is better:',
      '',
    );
    out.push(
      '| config | vs | n | mean ΔDice | median ΔDice | W+ | W− | p | method | r | rank-biserial |',
      '| --- | --- | --: | --: | --: | --: | --: | --: | --- | --: | --: |',
    );
    for (const c of r.comparisons) {
      const t = c.test;
      out.push(
        `| ${c.config} | ${c.against} | ${t.n} | ${c.meanDifference.toFixed(4)} | ${t.medianDifference.toFixed(4)} | ${t.wPlus} | ${t.wMinus} | ${pFmt(t.p)} | ${t.method} | ${t.r.toFixed(3)} | ${t.rankBiserial.toFixed(3)} |`,
      );
    }
  }
  if (r.notes.length) out.push('', ...r.notes.map((n) => `- ${n}`));
  return `${out.join('\n')}\n`;
}
