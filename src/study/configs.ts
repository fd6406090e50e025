/**
 * The study's named training configurations (issue 9) as `npm run train` flags. Everything else
 * (seed, folds, split, epochs, preset, size, provider) is common to all configurations and added by
 * the study command, so comparisons are paired: same folds, same seeds, same test images.
 */

export interface StudyConfig {
  name: string;
  description: string;
  /** train.ts flags of this configuration (the fixed-ε one gets its ε from `configFlags`) */
  flags: readonly string[];
  /** a follow-up, not one of issue 9's six: run only when --configs names it */
  followUp?: boolean;
}

export const CONFIGS: readonly StudyConfig[] = [
  { name: 'bce', description: 'binary cross-entropy', flags: ['--loss', 'bce'] },
  { name: 'dice', description: 'Dice loss (squared denominator, METHOD.md)', flags: ['--loss', 'dice'] },
  { name: 'polydice1-e0', description: 'PolyDice-1 with ε₁ = 0', flags: ['--loss', 'polydice1', '--eps', '0'] },
  {
    name: 'polydice1-fixed',
    description: 'PolyDice-1 with one fixed ε₁ chosen on validation folds (chooseFixedEps)',
    flags: ['--loss', 'polydice1'],
  },
  {
    name: 'adaptive-up',
    description: 'PolyDice-1, ε₁ from MC-Dropout difficulty, harder images get a larger ε₁ (linear 0..1)',
    flags: ['--loss', 'polydice1', '--adaptive', '--eps-map', 'linear:0,1:up'],
  },
  {
    name: 'adaptive-down',
    description: 'PolyDice-1, ε₁ from MC-Dropout difficulty, harder images get a smaller ε₁ (linear 0..1)',
    flags: ['--loss', 'polydice1', '--adaptive', '--eps-map', 'linear:0,1:down'],
  },
  // Follow-up to the first CPU study (docs/results/v1): ε₁ ≥ 1 collapsed training, so the same
  // mappings over [0, 0.25], which lowers the exposure without avoiding it: at ε₁ = 0.25 the background
  // of frames whose polyp covers under ~3% of the frame is still pushed up at the start
  // (docs/results/collapse.md).
  {
    name: 'adaptive-up-0.25',
    description: 'as adaptive-up with ε₁ in 0..0.25 (follow-up)',
    flags: ['--loss', 'polydice1', '--adaptive', '--eps-map', 'linear:0,0.25:up'],
    followUp: true,
  },
  {
    name: 'adaptive-down-0.25',
    description: 'as adaptive-down with ε₁ in 0..0.25 (follow-up)',
    flags: ['--loss', 'polydice1', '--adaptive', '--eps-map', 'linear:0,0.25:down'],
    followUp: true,
  },
];

export const CONFIG_NAMES = CONFIGS.map((c) => c.name);
/** What --configs all means: issue 9's six configurations. */
export const MAIN_CONFIG_NAMES = CONFIGS.filter((c) => !c.followUp).map((c) => c.name);

/**
 * The ε₁ values tried for `polydice1-fixed` unless the study is told otherwise: ε = 0 is the
 * `polydice1-e0` run itself, so the grid costs 3 extra runs per fold; the ε range of the adaptive
 * mappings (0..1) and one value beyond it.
 */
export const DEFAULT_EPS_GRID: readonly number[] = [0, 0.5, 1, 2];

export function getConfig(name: string): StudyConfig {
  const c = CONFIGS.find((k) => k.name === name);
  if (!c) throw new Error(`unknown configuration "${name}" (known: ${CONFIG_NAMES.join(', ')})`);
  return c;
}

/** Parse a --configs list; every name must be known, no duplicates. */
export function parseConfigList(list: string): StudyConfig[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw new Error('--configs is empty');
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`--configs names "${dup}" twice`);
  return names.map(getConfig);
}

/** The train.ts flags of a configuration; `polydice1-fixed` needs the chosen ε. */
export function configFlags(config: StudyConfig, fixedEps?: number): string[] {
  if (config.name === 'polydice1-fixed') {
    if (fixedEps === undefined)
      throw new Error('polydice1-fixed needs its ε₁ (chosen on validation folds with chooseFixedEps)');
    if (!(fixedEps > -0.5)) throw new Error(`ε₁ must be greater than -0.5, got ${fixedEps}`);
    return [...config.flags, '--eps', String(fixedEps)];
  }
  return [...config.flags];
}

/** The flags of one candidate run of the ε selection grid (PolyDice-1 with fixed ε). */
export function epsCandidateFlags(eps: number): string[] {
  return ['--loss', 'polydice1', '--eps', String(eps)];
}

/** Folder name of the selection-grid run for ε (e.g. `eps-grid/eps-0.5`). */
export const epsCandidateName = (eps: number): string => `eps-${eps}`;

interface EpochLine {
  epoch: number;
  valLoss: number;
  valDice: number;
  best: boolean;
}

/**
 * The validation Dice at the model-selection epoch of one fold, from its `epochs.jsonl` text: the
 * epoch with the lowest validation loss (the weights the fold ships), i.e. the last line marked
 * `best` (the trainer marks an epoch best when its loss is strictly lower than every earlier one).
 */
export function selectedValDice(epochsJsonl: string): number {
  const lines = epochsJsonl
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EpochLine);
  const best = lines.filter((l) => l.best).at(-1);
  if (!best) throw new Error('epochs.jsonl has no epoch marked best');
  return best.valDice;
}

export interface EpsChoice {
  eps: number;
  /** mean validation Dice over folds at each fold's selected epoch, per candidate */
  meanValDice: { eps: number; meanValDice: number; folds: number }[];
  rule: string;
}

/**
 * Choose the fixed ε₁ of `polydice1-fixed` from validation data only (the test folds are never
 * read). `valDiceByEps` maps each candidate ε to the validation Dice of each fold at that fold's
 * selected epoch (lowest validation loss; see `selectedValDice`).
 *
 * The criterion is the mean over folds of that validation Dice, highest wins. Not the validation
 * loss: the best validation loss is not comparable across ε, because the loss itself changes with ε
 * (a larger ε₁ adds a larger s·ε₁·θ² term), so a lower loss at one ε says nothing about a better
 * segmentation than a higher loss at another ε. Dice is the same measure for every candidate.
 * Ties (equal means) go to the ε closest to 0 (PolyDice-1 closest to Dice), then to the smaller ε.
 * Every candidate must have the same number of folds (≥ 1).
 */
export function chooseFixedEps(
  candidates: readonly number[],
  valDiceByEps: ReadonlyMap<number, readonly number[]>,
): EpsChoice {
  if (candidates.length === 0) throw new Error('chooseFixedEps: no candidate ε');
  const rows = candidates.map((eps) => {
    const v = valDiceByEps.get(eps);
    if (!v || v.length === 0) throw new Error(`chooseFixedEps: no validation Dice for ε = ${eps}`);
    if (v.some((x) => !Number.isFinite(x)))
      throw new Error(`chooseFixedEps: non-finite validation Dice for ε = ${eps}`);
    return { eps, meanValDice: v.reduce((a, b) => a + b, 0) / v.length, folds: v.length };
  });
  if (rows.some((r) => r.folds !== rows[0]!.folds))
    throw new Error('chooseFixedEps: candidates have different numbers of folds');
  const sorted = [...rows].sort(
    (a, b) => b.meanValDice - a.meanValDice || Math.abs(a.eps) - Math.abs(b.eps) || a.eps - b.eps,
  );
  return {
    eps: sorted[0]!.eps,
    meanValDice: rows,
    rule: "highest mean over folds of the validation Dice at each fold's lowest-validation-loss epoch; ties → ε closest to 0",
  };
}
