import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const study = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/study-v1.ts', ...args], { encoding: 'utf8' });
const tiny = [
  '--data',
  'synthetic',
  '--preset',
  'tiny',
  '--size',
  '32',
  '--epochs',
  '2',
  '--synthetic-count',
  '40',
  '--folds',
  '2',
  '--configs',
  'dice,adaptive-up',
  '--mc-every',
  '1',
  '--workers',
  '2',
];

describe('npm run study-v1', () => {
  it('--help lists the options and configurations', () => {
    const r = study('--help');
    expect(r.status).toBe(0);
    for (const s of ['--split', '--configs', '--workers', '--eps-grid', 'adaptive-down', 'polydice1-fixed'])
      expect(r.stdout).toContain(s);
  });

  it('rejects an unknown configuration', () => {
    const r = study('--configs', 'dice,focal');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown configuration "focal"/);
  });

  it('runs a 2-config × 2-fold study, skips finished runs, resumes an interrupted one', () => {
    const out = mkdtempSync(join(tmpdir(), 'study-'));
    const res = join(out, 'results');
    const first = study(...tiny, '--out', out, '--results', res);
    expect(first.status, first.stderr).toBe(0);
    for (const c of ['dice', 'adaptive-up'])
      for (const k of [0, 1]) {
        expect(existsSync(join(out, 'random', c, `run-${k}`, `fold-${k}`, 'metrics.json'))).toBe(true);
        expect(JSON.parse(readFileSync(join(out, 'random', c, `run-${k}`, 'train.json'), 'utf8')).options.fold).toBe(k);
      }
    expect(existsSync(join(out, 'results.md'))).toBe(false); // results went to --results
    const md = readFileSync(join(res, 'results.md'), 'utf8');
    expect(md).toMatch(/\| dice \| 2 \|/);
    expect(md).toMatch(/\| adaptive-up \| dice \| 40 \|/);
    const json = JSON.parse(readFileSync(join(res, 'results.json'), 'utf8'));
    const random = json.splits.random;
    expect(random.results.summaries.map((s: { config: string }) => s.config)).toEqual(['dice', 'adaptive-up']);
    // Run times, machine and commit, the trajectory of adaptive-up fold 0 (an MC phase after each of 2 epochs),
    // and the test-image difficulty of every test image of the adaptive runs (none for dice: no MC phases).
    expect(json.machine.cpuModel).toBeTruthy();
    expect(json.machine.gitCommit).toMatch(/^[0-9a-f]{7,}$/);
    for (const t of random.timing) {
      expect(t.runs).toBe(2);
      expect(t.secondsPerEpoch).toBeGreaterThan(0);
      expect(t.wallSecondsPerRun).toBeGreaterThan(t.secondsPerEpoch);
    }
    expect(random.trajectory.phases.map((p: { epoch: number }) => p.epoch)).toEqual([1, 2]);
    expect(random.difficultyVsTestDice.map((d: { config: string }) => d.config)).toEqual(['adaptive-up']);
    expect(random.difficultyVsTestDice[0].pooled.images).toBe(40);
    for (const svg of [
      'random-dice.svg',
      'random-adaptive-up-difficulty-vs-dice.svg',
      'random-adaptive-up-fold-0-difficulty.svg',
    ])
      expect(readFileSync(join(res, svg), 'utf8')).toMatch(/^<svg [\s\S]*<\/svg>$/);
    expect(md).toContain('](random-adaptive-up-fold-0-difficulty.svg)');

    const second = study(...tiny, '--out', out);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr.match(/^skip /gm)).toHaveLength(4);
    expect(second.stderr).not.toMatch(/^start /m);

    // An interrupted run: its checkpoint is there, its metrics are not.
    const fold = join(out, 'random', 'dice', 'run-1', 'fold-1');
    rmSync(join(fold, 'metrics.json'));
    rmSync(join(fold, 'model.onnx'));
    const third = study(...tiny, '--out', out);
    expect(third.status, third.stderr).toBe(0);
    expect(third.stderr).toMatch(/^resume random\/dice fold 1/m);
    expect(third.stderr.match(/^skip /gm)).toHaveLength(3);
    expect(readFileSync(join(out, 'random', 'dice', 'run-1', 'train.log'), 'utf8')).toMatch(/--resume/);
    expect(existsSync(join(fold, 'metrics.json'))).toBe(true);

    // The same --out with other training options is refused instead of mixing two studies.
    const other = study(...tiny.map((a, i) => (tiny[i - 1] === '--epochs' ? '3' : a)), '--out', out);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/holds a run with other options/);
  });

  it('chooses polydice1-fixed on validation folds from the ε grid', () => {
    const out = mkdtempSync(join(tmpdir(), 'study-'));
    const r = study(
      ...tiny.slice(0, -4),
      '--configs',
      'polydice1-fixed',
      '--eps-grid',
      '0,1',
      '--workers',
      '2',
      '--out',
      out,
    );
    expect(r.status, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const choice = json.splits.random.polydice1Fixed;
    expect([0, 1]).toContain(choice.eps);
    expect(choice.meanValDice).toHaveLength(2);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toMatch(/polydice1-fixed: ε₁ = /);
  });
});
