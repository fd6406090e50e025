/**
 * npm run study (v2): a tiny synthetic grid run as two shards, stage by stage, as a job array would:
 * a shard trains its share, waits when an earlier stage is incomplete, and results are tabulated only
 * for a complete grid unless --allow-incomplete.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const study = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/study.ts', ...args], { encoding: 'utf8' });
const TINY = [
  ['--data', 'synthetic', '--synthetic-count', '40', '--preset', 'tiny', '--size', '32', '--epochs', '2'],
  [
    '--mc-every',
    '1',
    '--seeds',
    '1,2',
    '--folds',
    '2',
    '--eps-grid',
    '-0.25,0.25',
    '--split',
    'random',
    '--workers',
    '2',
  ],
].flat();

describe('npm run study', () => {
  it('--help names the design, the shards and the incomplete-grid switch', () => {
    const r = study('--help');
    expect(r.status).toBe(0);
    for (const s of [
      '--shard',
      '--allow-incomplete',
      '--results-only',
      '--status',
      '--seeds',
      '--weights',
      '--export-records',
      '--import-records',
      'DESIGN.md',
    ])
      expect(r.stdout).toContain(s);
  });

  it.each([
    [['--shard', '2/2'], /--shard must be i\/n with 0 ≤ i < n/],
    [['--seeds', '1,1'], /--seeds must be distinct integers/],
    [['--grid-seeds', '4'], /--grid-seeds: 4 is not one of --seeds/],
    [['--data', '/nonexistent'], /--data: \/nonexistent does not exist/],
  ])('%j is a usage error', (args, message) => {
    const r = study(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('a failed run does not stop the grid: the other split trains, then the call fails naming the run', () => {
    const out = mkdtempSync(join(tmpdir(), 'study-v2-fail-'));
    // A broken resume state (unreadable train.json and checkpoint) in one stage-1 run of each split.
    const broken = (split: string) => {
      const dir = join(out, split, 'dice', 'seed-1', 'run-0');
      mkdirSync(join(dir, 'fold-0', 'checkpoint'), { recursive: true });
      writeFileSync(join(dir, 'train.json'), 'not json');
      writeFileSync(join(dir, 'fold-0', 'checkpoint', 'manifest.json'), 'not json');
      return dir;
    };
    const dirs = ['sequence', 'random'].map(broken);
    const tiny = TINY.map((a) => (a === 'random' ? 'both' : a)).map((a, i, all) =>
      all[i - 1] === '--seeds' ? '1' : all[i - 1] === '--eps-grid' ? '0' : a,
    );
    const r = study(...tiny, '--out', out);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/sequence stage 2 waits for 1 unfinished run/);
    // The random split's stage 1 trained after the sequence split's failure.
    for (const fold of [0, 1])
      expect(existsSync(join(out, 'random', 'bce', 'seed-1', `run-${fold}`, `fold-${fold}`, 'metrics.json'))).toBe(
        true,
      );
    expect(r.stderr).toMatch(/2 run\(s\) failed \(the other runs went on/);
    for (const dir of dirs) {
      expect(r.stderr).toContain(join(dir, 'train.log'));
      expect(readFileSync(join(dir, 'train.log'), 'utf8')).toContain(`${join(dir, 'train.json')} is not valid JSON`);
    }
  });

  it('two shards finish the grid stage by stage; results wait for a complete grid', () => {
    const out = mkdtempSync(join(tmpdir(), 'study-v2-'));
    const run = (...extra: string[]) => {
      const r = study(...TINY, '--out', out, ...extra);
      expect(r.status, r.stderr).toBe(0);
      return r.stderr;
    };
    // Shard 0: half of stage 1; stage 2 waits for shard 1's half.
    expect(run('--shard', '0/2')).toMatch(/stage 1 .*: 12 runs, 6 in this shard, 6 to train[\s\S]*stage 2 waits for 6/);
    expect(existsSync(join(out, 'results.md'))).toBe(false);
    // Shard 1: the rest of stage 1, then ε* and its half of stage 2; stage 3 waits for shard 0's adaptive-up runs.
    const second = run('--shard', '1/2');
    expect(second).toMatch(/random: ε\* = -?0\.25 \(chosen on validation folds\)/);
    expect(second).toMatch(/stage 2 .*: 14 runs, 7 in this shard, 7 to train[\s\S]*stage 3 waits for/);
    // Shard 0 again: its half of stage 2 and of stage 3; shard 1's mean-up runs are missing, so no tables.
    expect(run('--shard', '0/2')).toMatch(/stage 3 .*: 4 runs, 2 in this shard[\s\S]*not tabulated: 2 run\(s\)/);
    expect(existsSync(join(out, 'results.md'))).toBe(false);
    const partial = join(out, 'partial');
    run('--results-only', '--allow-incomplete', '--results', partial);
    expect(readFileSync(join(partial, 'results.md'), 'utf8')).toMatch(/Incomplete grid: 2 run\(s\) missing/);
    // Shard 1 again: the grid is complete and tabulated.
    expect(run('--shard', '1/2')).toMatch(/study v2 complete/);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(json.complete).toBe(true);
    const split = json.splits[0];
    expect(split.arms.map((a: { arm: string }) => a.arm)).toEqual([
      'dice',
      'bce',
      'polydice1-fixed',
      'adaptive-up',
      'adaptive-down',
      'shuffled-up',
      'mean-up',
    ]);
    expect(split.weights).toBe('selected');
    expect(split.comparisons).toHaveLength(12);
    for (const c of split.comparisons) expect(c.pairs).toHaveLength(4);
    // The mean-up control trains at the mean ε₁ its adaptive-up run applied after the warm-up.
    const args = JSON.parse(
      readFileSync(join(out, 'random', 'mean-up', 'seed-2', 'run-1', 'study-run.json'), 'utf8'),
    ).args;
    const eps = Number(args[args.indexOf('--eps') + 1]);
    expect(args.slice(args.indexOf('--eps-warmup'), args.indexOf('--eps-warmup') + 2)).toEqual(['--eps-warmup', '1']);
    expect(eps).toBeGreaterThanOrEqual(split.epsStar.eps - 0.25);
    expect(eps).toBeLessThanOrEqual(split.epsStar.eps + 0.25);
    // Every run, grid runs included, is listed with the ε₁ it trained at; mean-up's is its flag.
    const csv = readFileSync(join(out, 'random-runs.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(1 + 12 + 14 + 4);
    const meanUp = csv.find((line) => line.startsWith('mean-up,3,2,1,'))?.split(',');
    expect(Number(meanUp?.[4])).toBe(eps);
    expect(split.runs.map((g: { folder: string }) => g.folder)).toContain('eps-grid/eps--0.25');
    // A second complete call trains nothing.
    expect(run()).not.toMatch(/^start /m);
    // --weights last: the same arms and pairs, scored with each run's final-epoch checkpoint, said so.
    const lastDir = join(out, 'last');
    expect(run('--results-only', '--weights', 'last', '--results', lastDir)).toMatch(
      /last-epoch weights scored for 28\/28/,
    );
    expect(readFileSync(join(lastDir, 'results.md'), 'utf8')).toContain("Weights scored: each run's last epoch (2,");
    const last = JSON.parse(readFileSync(join(lastDir, 'results.json'), 'utf8')).splits[0];
    expect(last.weights).toBe('last');
    expect(readFileSync(join(lastDir, 'random-comparisons.svg'), 'utf8')).toContain('random split, last-epoch weights');
    expect(last.comparisons).toHaveLength(12);
    for (const c of last.comparisons) expect(c.pairs).toHaveLength(4);
    // --status: every stage finished, nothing left.
    const status = study(...TINY, '--out', out, '--status');
    expect(status.status).toBe(0);
    for (const [stage, n] of [
      ['1', 12],
      ['2', 14],
      ['3', 4],
    ] as const)
      expect(status.stdout).toMatch(new RegExp(`random +${stage} +${n}/${n}`));
    expect(status.stdout).toMatch(/left: 0 run\(s\)/);
    // Records carry the finished grid to a study folder on another machine: restored there, nothing
    // trains and the results are the same tables.
    const records = join(out, 'records.jsonl');
    expect(run('--export-records', records)).toMatch(/records\.jsonl: 30 finished run\(s\)/);
    const moved = mkdtempSync(join(tmpdir(), 'study-v2-moved-'));
    const there = study(...TINY, '--out', moved, '--import-records', records);
    expect(there.status, there.stderr).toBe(0);
    expect(there.stderr).toMatch(/30 finished run\(s\) restored/);
    expect(there.stderr).not.toMatch(/^start /m);
    const movedJson = JSON.parse(readFileSync(join(moved, 'results.json'), 'utf8'));
    expect(movedJson.splits).toEqual(json.splits);
    expect(readFileSync(join(moved, 'random-runs.csv'), 'utf8')).toBe(
      readFileSync(join(out, 'random-runs.csv'), 'utf8'),
    );
    // 30 tiny runs, each a process of its own: 150–156 s on 2 cores beside a training grid (measured
    // 2026-12-03), over the suite's 120 s default; the bound is for a starved machine, not a timing.
  }, 400_000);
});
