/**
 * The difficulty report of a training run (METHOD.md §3–4, the note's first experimental step: how
 * the per-image difficulty evolves as training goes on). For each trajectory found (RUN_DIR's own
 * trajectory.jsonl, then every fold-*\/trajectory.jsonl) it draws three plots over epochs:
 *   1. difficulty distribution per MC phase: median line and interquartile band (q25–q75, type-7
 *      quantiles, see stats.ts);
 *   2. difficulty trajectories of the 5 hardest and 5 easiest images, ranked by their difficulty at
 *      the final phase (ties broken by image index);
 *   3. Spearman rank correlation (average ranks for ties) between difficulty and Dice at each phase
 *      (NaN where fewer than two images or one side is constant: drawn as a gap).
 * Output: one self-contained HTML file (inline SVG and CSS, no external assets) and a PNG copy of each
 * SVG (rasterized by sharp) in a folder next to it, `<name>-png/`.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../common/files.js';
import { escapeXml, lineChart } from '../common/svg.js';
import { quantileSorted, spearman } from '../common/stats.js';
import { TRAJECTORY_JSONL, type TrajectoryPhase, readTrajectory } from './trajectory.js';

export interface ReportSection {
  /** 'run' for RUN_DIR/trajectory.jsonl, else the fold folder's name (fold-0, …). */
  label: string;
  file: string;
  phases: TrajectoryPhase[];
}

export interface PhaseSummary {
  phase: number;
  epoch: number;
  images: number;
  q1: number;
  median: number;
  q3: number;
  meanDice: number;
  meanEps: number;
  /** Spearman ρ(difficulty, Dice) over the phase's images with both values finite. */
  spearman: number;
}

export interface Figure {
  /** File-name-safe id, e.g. fold-0-difficulty. */
  id: string;
  title: string;
  svg: string;
}

/** RUN_DIR/trajectory.jsonl (if any) and fold-*\/trajectory.jsonl in fold order; RUN_DIR may also be the file itself. */
export function findTrajectories(runDir: string): ReportSection[] {
  if (!existsSync(runDir)) throw new Error(`${runDir} does not exist`);
  if (statSync(runDir).isFile())
    return [{ label: basename(dirname(resolve(runDir))), file: runDir, phases: readTrajectory(runDir) }];
  const out: ReportSection[] = [];
  const own = join(runDir, TRAJECTORY_JSONL);
  if (existsSync(own)) out.push({ label: 'run', file: own, phases: readTrajectory(own) });
  const folds = readdirSync(runDir)
    .filter((d) => /^fold-/.test(d) && existsSync(join(runDir, d, TRAJECTORY_JSONL)))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  for (const d of folds)
    out.push({ label: d, file: join(runDir, d, TRAJECTORY_JSONL), phases: readTrajectory(join(runDir, d)) });
  if (out.length === 0)
    throw new Error(
      `no ${TRAJECTORY_JSONL} in ${runDir} or in its fold-*/ folders (runs record one when MC phases are on)`,
    );
  return out;
}

const meanOf = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

export function summarizePhases(phases: readonly TrajectoryPhase[]): PhaseSummary[] {
  return phases.map((p) => {
    const d = p.rows
      .map((r) => r.difficulty)
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const both = p.rows.filter((r) => Number.isFinite(r.difficulty) && Number.isFinite(r.dice));
    return {
      phase: p.phase,
      epoch: p.epoch,
      images: p.rows.length,
      q1: quantileSorted(d, 0.25),
      median: quantileSorted(d, 0.5),
      q3: quantileSorted(d, 0.75),
      meanDice: meanOf(p.rows.map((r) => r.dice).filter(Number.isFinite)),
      meanEps: meanOf(p.rows.map((r) => r.eps).filter(Number.isFinite)),
      spearman: spearman(
        both.map((r) => r.difficulty),
        both.map((r) => r.dice),
      ),
    };
  });
}

/**
 * The k hardest and k easiest images by difficulty at the final phase (indices, hardest first /
 * easiest first). With fewer than 2k images the two lists do not overlap: hardest are taken first.
 */
export function extremeImages(phases: readonly TrajectoryPhase[], k = 5): { hardest: number[]; easiest: number[] } {
  const last = phases.at(-1);
  if (!last) return { hardest: [], easiest: [] };
  const rows = last.rows
    .filter((r) => Number.isFinite(r.difficulty))
    .sort((a, b) => a.difficulty - b.difficulty || a.index - b.index);
  const hardest = rows
    .slice(-k)
    .reverse()
    .map((r) => r.index);
  const easiest = rows.slice(0, Math.max(0, Math.min(k, rows.length - hardest.length))).map((r) => r.index);
  return { hardest, easiest };
}

const HARD = ['#b2182b', '#d6604d', '#e08214', '#f4a582', '#8c510a'];
const EASY = ['#2166ac', '#4393c3', '#1b7837', '#5aae61', '#92c5de'];

export function sectionFigures(section: ReportSection): Figure[] {
  const { label, phases } = section;
  const sum = summarizePhases(phases);
  const band = lineChart({
    title: `Difficulty per MC phase (${label})`,
    xLabel: 'epoch',
    yLabel: 'image difficulty',
    integerX: true,
    bands: [{ label: 'interquartile range', color: '#4393c3', points: sum.map((s) => [s.epoch, s.q1, s.q3] as const) }],
    series: [{ label: 'median', color: '#08306b', points: sum.map((s) => [s.epoch, s.median] as const) }],
  });
  const { hardest, easiest } = extremeImages(phases);
  const nameOf = new Map<number, string>();
  for (const p of phases) for (const r of p.rows) nameOf.set(r.index, r.name);
  const track = (index: number): [number, number][] =>
    phases.map((p) => [p.epoch, p.rows.find((r) => r.index === index)?.difficulty ?? Number.NaN]);
  const traj = lineChart({
    title: `Hardest and easiest images at the final phase (${label})`,
    xLabel: 'epoch',
    yLabel: 'image difficulty',
    integerX: true,
    series: [
      ...hardest.map((i, k) => ({
        label: `hard: ${nameOf.get(i) ?? i}`,
        color: HARD[k % HARD.length]!,
        points: track(i),
      })),
      ...easiest.map((i, k) => ({
        label: `easy: ${nameOf.get(i) ?? i}`,
        color: EASY[k % EASY.length]!,
        points: track(i),
        dash: '5 3',
      })),
    ],
  });
  const rho = lineChart({
    title: `Spearman ρ(difficulty, Dice) per MC phase (${label})`,
    xLabel: 'epoch',
    yLabel: 'Spearman ρ',
    integerX: true,
    yDomain: [-1, 1],
    hLines: [0],
    series: [
      { label: 'ρ(difficulty, Dice)', color: '#762a83', points: sum.map((s) => [s.epoch, s.spearman] as const) },
    ],
  });
  const slug = label.replace(/[^A-Za-z0-9._-]+/g, '_');
  return [
    { id: `${slug}-difficulty`, title: 'Difficulty distribution', svg: band },
    { id: `${slug}-trajectories`, title: 'Hardest and easiest images', svg: traj },
    { id: `${slug}-spearman`, title: 'Difficulty vs Dice (Spearman)', svg: rho },
  ];
}

/** Table number: `digits` significant digits, exponent form below 1e-3 or from 1e5, '—' for NaN. */
const fmt = (v: number, digits = 4): string => {
  if (!Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(digits - 1) : String(Number(v.toPrecision(digits)));
};

const CSS = `body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f6f6f6}
td.l,th.l{text-align:left}figure{margin:12px 0}figcaption{font-size:13px;color:#555}svg{max-width:100%;height:auto}p.note{color:#555;font-size:13px}`;

export interface RenderedReport {
  html: string;
  figures: Figure[];
}

export function renderReport(runDir: string, sections: readonly ReportSection[]): RenderedReport {
  const figures: Figure[] = [];
  const body: string[] = [];
  body.push(`<h1>Difficulty report</h1>`);
  body.push(
    `<p>Run: <code>${escapeXml(runDir)}</code>. ${sections.length} trajectory file${sections.length === 1 ? '' : 's'}. ` +
      `Difficulty is the per-image aggregate of MC-Dropout pixel uncertainty recorded at each MC phase (METHOD.md §3); ` +
      `ε is the PolyDice-1 ε<sub>1</sub> it was mapped to (§4); Dice is the per-image Dice recorded with it. ` +
      `Quartiles use linear interpolation (type 7); Spearman ρ uses average ranks for ties. A negative ρ means harder images are segmented worse.</p>`,
  );
  for (const s of sections) {
    body.push(
      `<h2>${escapeXml(s.label)}</h2><p class="note"><code>${escapeXml(s.file)}</code>: ${s.phases.length} MC phase${s.phases.length === 1 ? '' : 's'}</p>`,
    );
    if (s.phases.length === 0) {
      body.push('<p>No MC phase recorded yet.</p>');
      continue;
    }
    const figs = sectionFigures(s);
    figures.push(...figs);
    for (const f of figs)
      body.push(
        `<figure id="${escapeXml(f.id)}">${f.svg}<figcaption>${escapeXml(f.title)} — PNG copy: ${escapeXml(f.id)}.png</figcaption></figure>`,
      );
    const sum = summarizePhases(s.phases);
    body.push(
      '<h3>Per phase</h3><table><tr><th>phase</th><th>epoch</th><th>images</th><th>q25</th><th>median</th><th>q75</th><th>mean ε</th><th>mean Dice</th><th>Spearman ρ</th></tr>',
    );
    for (const p of sum) {
      body.push(
        `<tr><td>${p.phase}</td><td>${p.epoch}</td><td>${p.images}</td><td>${fmt(p.q1)}</td><td>${fmt(p.median)}</td><td>${fmt(p.q3)}</td><td>${fmt(p.meanEps)}</td><td>${fmt(p.meanDice)}</td><td>${fmt(p.spearman, 3)}</td></tr>`,
      );
    }
    body.push('</table>');
    const { hardest, easiest } = extremeImages(s.phases);
    const last = s.phases.at(-1)!;
    const row = (i: number, kind: string): string => {
      const r = last.rows.find((x) => x.index === i)!;
      return `<tr><td class="l">${kind}</td><td class="l">${escapeXml(r.name)}</td><td>${r.index}</td><td>${fmt(r.difficulty)}</td><td>${fmt(r.eps)}</td><td>${fmt(r.dice)}</td></tr>`;
    };
    body.push(
      `<h3>Final phase (epoch ${last.epoch}): hardest and easiest images</h3><table><tr><th class="l"></th><th class="l">name</th><th>index</th><th>difficulty</th><th>ε</th><th>Dice</th></tr>`,
    );
    body.push(...hardest.map((i) => row(i, 'hard')), ...easiest.map((i) => row(i, 'easy')), '</table>');
  }
  const html = `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Difficulty report: ${escapeXml(basename(resolve(runDir)))}</title><style>${CSS}</style></head><body>\n${body.join('\n')}\n</body></html>\n`;
  return { html, figures };
}

/** PNG bytes of an SVG string (sharp/librsvg; density 144 = 2× the SVG's pixel size). */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
}

/**
 * Write the report for runDir to `out` (default RUN_DIR/report.html) and each figure's PNG to
 * `<out without .html>-png/<figure id>.png`. Returns the paths written.
 */
export async function writeReport(
  runDir: string,
  out?: string,
): Promise<{ html: string; pngs: string[]; sections: number }> {
  const sections = findTrajectories(runDir);
  const htmlPath = out ?? join(statSync(runDir).isFile() ? dirname(runDir) : runDir, 'report.html');
  const { html, figures } = renderReport(runDir, sections);
  const pngDir = join(dirname(htmlPath), `${basename(htmlPath, extname(htmlPath))}-png`);
  mkdirSync(pngDir, { recursive: true });
  const pngs: string[] = [];
  for (const f of figures) {
    const p = join(pngDir, `${f.id}.png`);
    writeFileAtomic(p, await svgToPng(f.svg));
    pngs.push(p);
  }
  writeFileAtomic(htmlPath, html);
  return { html: htmlPath, pngs, sections: sections.length };
}
