/**
 * Study v2's results from its run folders (docs/results/v2/DESIGN.md): every arm's models read back,
 * the pre-registered family of comparisons (model-level, Holm-adjusted per split), each arm's own
 * robustness and training Dice, as an object (results.json) and Markdown (results.md).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { prng } from '../common/prng.js';
import { mean, round } from '../common/stats.js';
import { lineChart } from '../common/svg.js';
import { markdownTable, fixed3 } from '../common/table.js';
import type { ImageRow } from '../training/metrics.js';
import {
  type ArmRobustness,
  MODEL_SCORES,
  type ModelResult,
  type PairedComparison,
  adjustFamily,
  areaTerciles,
  armRobustness,
  compareArms,
} from './comparisons.js';
import type { EpsChoice } from './configs.js';
import { type GridSettings, type Split, V2_ARMS, type V2Arm, armRunDir } from './grid.js';
import { type RunGroup, type RunRow, runGroups, runGroupsMarkdown } from './runTable.js';
import { readJsonFile } from '../common/files.js';

/** The comparisons the design names (A − B), each on mean Dice and on the model's own worst 10%. */
export const FAMILY: readonly (readonly [V2Arm, V2Arm])[] = [
  ['adaptive-up', 'polydice1-fixed'],
  ['adaptive-up', 'shuffled-up'],
  ['adaptive-up', 'mean-up'],
  ['adaptive-down', 'polydice1-fixed'],
  ['adaptive-up', 'dice'],
  ['polydice1-fixed', 'dice'],
];

interface MetricsFile {
  train?: { dice: number };
  images: ImageRow[];
}

/**
 * One trained model of the grid: its arm, seed, fold, per-image test rows, training Dice, and the epoch
 * model selection kept (from the run's summary.json; null where that is not written).
 */
export type ArmModel = ModelResult & { arm: V2Arm; trainDice: number | null; selectedEpoch: number | null };

interface SummaryFile {
  folds: { fold: number; bestEpoch: number }[];
}

/** Every arm's models of one split; `missing` lists the metrics.json files not there (yet). */
export function readModels(s: GridSettings, split: Split, epsStar: number): { models: ArmModel[]; missing: string[] } {
  const models: ArmModel[] = [];
  const missing: string[] = [];
  for (const arm of V2_ARMS)
    for (const seed of s.seeds)
      for (let fold = 0; fold < s.folds; fold++) {
        const runDir = armRunDir(s, split, arm, seed, fold, epsStar);
        const file = join(runDir, `fold-${fold}`, 'metrics.json');
        if (!existsSync(file)) {
          missing.push(file);
          continue;
        }
        const m = readJsonFile(file) as MetricsFile;
        const summary = join(runDir, 'summary.json');
        const selectedEpoch = existsSync(summary)
          ? ((readJsonFile(summary) as SummaryFile).folds.find((f) => f.fold === fold)?.bestEpoch ?? null)
          : null;
        models.push({ arm, seed, fold, images: m.images, trainDice: m.train?.dice ?? null, selectedEpoch });
      }
  return { models, missing };
}

export interface SplitResultsV2 {
  split: Split;
  /** the weights scored: each run's selected epoch (the design's), or its last (`--weights last`) */
  weights: 'selected' | 'last';
  epsStar: EpsChoice;
  models: number;
  arms: (ArmRobustness & { trainDice: number | null })[];
  comparisons: PairedComparison[];
  /** every run folder of the split (arms and ε₁ grid): selected epochs, training Dice, time */
  runs: RunGroup[];
  /** with `--weights last`: what the last epoch gains over the selected one, by when selection stopped */
  selection?: SelectionGain;
}

/** Models whose selected epoch fell before (`early`) or at/after (`late`) `epoch`, and their mean gain. */
export interface SelectionGain {
  epoch: number;
  early: { models: number; gain: number | null };
  late: { models: number; gain: number | null };
}

/**
 * Mean test Dice of each model's last-epoch weights minus that of its selected weights, averaged over the
 * models that selected an epoch before `epoch` and over the rest: whether the selection rule's cost comes
 * from runs it stopped early. `last` pairs with `selected` by (arm, seed, fold).
 */
export function selectionGain(selected: readonly ArmModel[], last: readonly ArmModel[], epoch: number): SelectionGain {
  const key = (m: ArmModel): string => `${m.arm}/${m.seed}/${m.fold}`;
  const modelDice = (m: ArmModel): number => mean(m.images.map((r) => r.dice));
  const lastOf = new Map(last.map((m) => [key(m), m]));
  const early: number[] = [];
  const late: number[] = [];
  for (const m of selected) {
    const l = lastOf.get(key(m));
    if (!l || m.selectedEpoch === null) continue;
    (m.selectedEpoch < epoch ? early : late).push(modelDice(l) - modelDice(m));
  }
  const group = (g: number[]) => ({ models: g.length, gain: g.length ? mean(g) : null });
  return { epoch, early: group(early), late: group(late) };
}

/**
 * The split's results. `videoOf` names each image's video (the bootstrap's clusters). With missing
 * models (`allowIncomplete`), comparisons use the pairs both arms have and say how many.
 */
export function splitResults(
  split: Split,
  epsStar: EpsChoice,
  models: readonly ArmModel[],
  videoOf: (name: string) => string,
  runs: readonly RunRow[] = [],
  seed = 1,
): SplitResultsV2 {
  const present = V2_ARMS.filter((a) => models.some((m) => m.arm === a));
  const areas = models.filter((m) => m.arm === present[0]).flatMap((m) => m.images.map((r) => r.area));
  const bounds = areas.every((a) => a !== undefined) && areas.length >= 3 ? areaTerciles(areas as number[]) : null;
  const arms = present.map((arm) => {
    const train = models.filter((m) => m.arm === arm && m.trainDice !== null).map((m) => m.trainDice!);
    return {
      ...armRobustness(models, arm, bounds),
      trainDice: train.length ? mean(train) : null,
    };
  });
  const rng = prng(seed);
  const family = FAMILY.filter(([a, b]) => present.includes(a) && present.includes(b)).flatMap(([a, b]) =>
    MODEL_SCORES.map((score) => compareArms(models, a, b, score, videoOf, rng, { allowUnpaired: true })),
  );
  return {
    split,
    weights: 'selected',
    epsStar,
    models: models.length,
    arms,
    comparisons: adjustFamily(family),
    runs: runGroups(runs),
  };
}

const selectionLine = (g: SelectionGain): string =>
  `Last-epoch minus selected weights, mean test Dice per model: ${g.early.models} model(s) that selected an epoch ` +
  `before ${g.epoch} gain ${fixed3(g.early.gain)}, the other ${g.late.models} gain ${fixed3(g.late.gain)}.`;

const pFmt = (p: number): string => (p < 0.001 ? p.toExponential(1) : p.toFixed(3));

/** Short arm names for crowded axes. */
const SHORT: Record<V2Arm, string> = {
  dice: 'dice',
  bce: 'bce',
  'polydice1-fixed': 'fixed',
  'adaptive-up': 'up',
  'adaptive-down': 'down',
  'shuffled-up': 'shuffled',
  'mean-up': 'mean',
};

/** Figures of a split: each arm's model-level numbers, and the mean-Dice comparisons with their intervals. */
export function splitFigures(r: SplitResultsV2): { id: string; title: string; svg: string }[] {
  const arms = r.arms.map((a) => a.arm);
  const of = r.weights === 'last' ? `${r.split} split, last-epoch weights` : `${r.split} split`;
  const at = (f: (a: SplitResultsV2['arms'][number]) => number | null) =>
    r.arms.map((a, i) => [i, f(a) ?? Number.NaN] as const);
  const armsSvg = lineChart({
    title: `Each arm's models (${of}): mean over (seed, fold)`,
    xLabel: 'arm',
    yLabel: 'Dice',
    xCategories: arms,
    width: 900,
    series: [
      { label: 'training Dice', color: '#7f7f7f', markersOnly: true, points: at((a) => a.trainDice) },
      {
        label: 'test Dice ± SD (models)',
        color: '#1f77b4',
        markersOnly: true,
        width: 3,
        points: at((a) => a.meanDice),
        errors: r.arms.map((a) => a.meanDiceSd),
      },
      { label: 'own worst 25%', color: '#ff7f0e', markersOnly: true, points: at((a) => a.worst25) },
      { label: 'own worst 10%', color: '#d62728', markersOnly: true, points: at((a) => a.worst10) },
    ],
  });
  const mean = r.comparisons.filter((c) => c.score === 'meanDice');
  const deltaSvg = lineChart({
    title: `Paired Δ mean Dice per comparison (${of}): mean over (seed, fold) with 95% t-interval`,
    xLabel: 'comparison (A − B; up/down = adaptive-up/down, fixed = polydice1-fixed, shuffled/mean = the controls)',
    yLabel: 'Δ mean Dice',
    xCategories: mean.map((c) => `${SHORT[c.a as V2Arm]} − ${SHORT[c.b as V2Arm]}`),
    width: 1100,
    hLines: [0],
    series: [
      {
        label: 'Δ ± 95% CI (models)',
        color: '#1f77b4',
        markersOnly: true,
        width: 3,
        points: mean.map((c, i) => [i, c.delta.estimate] as const),
        errors: mean.map((c) => c.delta.high - c.delta.estimate),
      },
    ],
  });
  return [
    { id: `${r.split}-arms.svg`, title: `Each arm's models, ${of}`, svg: armsSvg },
    { id: `${r.split}-comparisons.svg`, title: `Paired differences, ${of}`, svg: deltaSvg },
  ];
}

/** The split's tables: ε* choice, the arms, the family of comparisons. */
export function splitMarkdown(r: SplitResultsV2): string {
  const arms = markdownTable(
    [
      'arm',
      'models',
      'mean Dice (SD)',
      'worst 10%',
      'worst 25%',
      'p5',
      'small / medium / large polyps',
      'ρ(difficulty, Dice)',
      'ρ(difficulty, area)',
      'training Dice',
    ],
    r.arms.map((a) => [
      a.arm,
      String(a.models),
      `${fixed3(a.meanDice)} (${fixed3(a.meanDiceSd)})`,
      fixed3(a.worst10),
      fixed3(a.worst25),
      fixed3(a.p5),
      a.byAreaTercile
        ? `${fixed3(a.byAreaTercile.small)} / ${fixed3(a.byAreaTercile.medium)} / ${fixed3(a.byAreaTercile.large)}`
        : '–',
      a.difficultyVsDice
        ? `${fixed3(a.difficultyVsDice.mean)} (${fixed3(a.difficultyVsDice.min)} to ${fixed3(a.difficultyVsDice.max)})`
        : '–',
      a.difficultyVsArea
        ? `${fixed3(a.difficultyVsArea.mean)} (${fixed3(a.difficultyVsArea.min)} to ${fixed3(a.difficultyVsArea.max)})`
        : '–',
      fixed3(a.trainDice),
    ]),
  );
  const comparisons = markdownTable(
    ['A − B', 'score', 'pairs', 'mean Δ [95% CI]', 'Wilcoxon p', 'Holm p', 'video bootstrap Δ [95% CI]'],
    r.comparisons.map((c) => [
      `${c.a} − ${c.b}`,
      c.score === 'meanDice' ? 'mean Dice' : 'own worst 10%',
      String(c.pairs.length),
      `${c.delta.estimate >= 0 ? '+' : ''}${fixed3(c.delta.estimate)} [${fixed3(c.delta.low)}, ${fixed3(c.delta.high)}]`,
      pFmt(c.wilcoxonP),
      pFmt(c.pHolm!),
      c.videoBootstrap
        ? `${fixed3(c.videoBootstrap.estimate)} [${fixed3(c.videoBootstrap.low)}, ${fixed3(c.videoBootstrap.high)}] (${c.videoBootstrap.videos} videos)`
        : '–',
    ]),
  );
  const choice = r.epsStar.meanValDice.map((m) => `${m.eps}: ${round(m.meanValDice, 4)}`).join(', ');
  return [
    `## ${r.split} split`,
    '',
    `ε* = ${r.epsStar.eps} (mean validation Dice of the grid, seed-1 folds: ${choice}); adaptive range ε* ± 0.25.`,
    '',
    arms,
    '',
    comparisons,
    '',
    ...(r.selection ? [selectionLine(r.selection), ''] : []),
    ...(r.runs.length
      ? [
          `Every run folder of the split (per-run rows: ${r.split}-runs.csv). ε₁ of an adaptive arm is the mean it applied ` +
            'after the warm-up; `polydice1-fixed` lists the seeds that trained it, its grid seeds are the `eps-grid` row of ε*:',
          '',
          runGroupsMarkdown(r.runs),
          '',
        ]
      : []),
    ...splitFigures(r).map((f) => `![${f.title}](${f.id})`),
    '',
  ].join('\n');
}
