import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { extremeImages, summarizePhases, writeReport } from '../../src/uncertainty/report.js';
import {
  type TrajectoryPhase,
  type TrajectoryRow,
  appendTrajectory,
  readTrajectory,
} from '../../src/uncertainty/trajectory.js';

/** 12 images, 4 MC phases every 10 epochs; image i's difficulty falls with epochs and grows with i; Dice falls with difficulty. */
function synthetic(dir: string, images = 12, phases = 4): void {
  for (let p = 0; p < phases; p++) {
    const rows: TrajectoryRow[] = [];
    for (let i = 0; i < images; i++) {
      const difficulty = (0.001 + 0.0005 * i) / (1 + p);
      rows.push({
        phase: p,
        epoch: 10 * (p + 1),
        index: i,
        name: `frame <${i}>`,
        difficulty,
        eps: i / images,
        dice: 1 - 100 * difficulty,
      });
    }
    appendTrajectory(dir, rows);
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('report statistics', () => {
  it('quartiles, Spearman and extremes per phase', () => {
    const dir = mkdtempSync(join(tmpdir(), 'report-'));
    synthetic(dir);
    const phases: TrajectoryPhase[] = readTrajectory(dir);
    const s = summarizePhases(phases);
    expect(s.map((p) => p.epoch)).toEqual([10, 20, 30, 40]);
    expect(s[0]!.median).toBeCloseTo(0.001 + 0.0005 * 5.5, 12);
    expect(s[0]!.q1).toBeCloseTo(0.001 + 0.0005 * 2.75, 12);
    expect(s.every((p) => Math.abs(p.spearman + 1) < 1e-12)).toBe(true); // Dice strictly decreasing in difficulty
    expect(extremeImages(phases)).toEqual({ hardest: [11, 10, 9, 8, 7], easiest: [0, 1, 2, 3, 4] });
    expect(extremeImages(phases.map((p) => ({ ...p, rows: p.rows.slice(0, 7) })))).toEqual({
      hardest: [6, 5, 4, 3, 2],
      easiest: [0, 1],
    });
  });
});

describe('writeReport', () => {
  it('writes a self-contained HTML with the three SVG plots per fold and valid PNG copies', async () => {
    const run = mkdtempSync(join(tmpdir(), 'report-'));
    synthetic(join(run, 'fold-0'));
    synthetic(join(run, 'fold-1'), 8, 1); // a single phase still draws
    const r = await writeReport(run);
    expect(r.html).toBe(join(run, 'report.html'));
    const html = readFileSync(r.html, 'utf8');
    for (const fold of ['fold-0', 'fold-1']) {
      for (const fig of ['difficulty', 'trajectories', 'spearman'])
        expect(html).toContain(`<figure id="${fold}-${fig}"><svg`);
    }
    expect(html.match(/<svg /g)).toHaveLength(6);
    expect(html).toContain('Spearman ρ(difficulty, Dice)');
    expect(html).toContain('frame &lt;11&gt;'); // names escaped
    expect(html).not.toMatch(/<(script|link|img)\b|\bsrc=|href=/); // no external assets
    expect(r.pngs).toHaveLength(6);
    for (const p of r.pngs) {
      expect(existsSync(p)).toBe(true);
      const bytes = readFileSync(p);
      expect(bytes.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
      const meta = await sharp(bytes).metadata();
      expect(meta.format).toBe('png');
      expect(meta.width).toBe(2 * 760);
    }
    expect(r.pngs[0]).toBe(join(run, 'report-png', 'fold-0-difficulty.png'));
  });

  it('npm run report: --help, missing RUN_DIR, --out', () => {
    const run = mkdtempSync(join(tmpdir(), 'report-'));
    synthetic(run, 6, 2);
    const cli = (...args: string[]) =>
      spawnSync('node_modules/.bin/tsx', ['src/cli/report.ts', ...args], { encoding: 'utf8' });
    const help = cli('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: npm run report -- RUN_DIR [--out FILE]');
    const none = cli();
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('RUN_DIR is required');
    const out = join(run, 'sub', 'r.html');
    const ok = cli(run, '--out', out);
    expect(ok.status, ok.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(existsSync(join(run, 'sub', 'r-png', 'run-spearman.png'))).toBe(true);
  });
});
