import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type TrajectoryRow,
  appendTrajectory,
  latestDifficulties,
  readTrajectory,
  trimTrajectory,
} from '../../src/uncertainty/trajectory.js';

const row = (phase: number, epoch: number, index: number, difficulty: number, name = `img${index}`): TrajectoryRow => ({
  phase,
  epoch,
  index,
  name,
  difficulty,
  eps: 0.1 * index,
  dice: 0.9,
});

describe('trajectory files', () => {
  it('appends phases to jsonl and csv (header once) and reads phases back', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'traj-')), 'fold-0');
    appendTrajectory(dir, [row(0, 10, 1, 0.2), row(0, 10, 0, 0.1, 'a,"b"')]);
    appendTrajectory(dir, [row(1, 20, 0, 0.05, 'a,"b"'), row(1, 20, 1, Number.NaN)]);
    appendTrajectory(dir, []);
    const csv = readFileSync(join(dir, 'trajectory.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('phase,epoch,index,name,difficulty,eps,dice');
    expect(csv.filter((l) => l.startsWith('phase,'))).toHaveLength(1);
    expect(csv).toHaveLength(5);
    expect(csv[2]).toBe('0,10,0,"a,""b""",0.1,0,0.9');
    expect(csv[4]).toBe('1,20,1,img1,,0.1,0.9'); // NaN → empty cell

    const phases = readTrajectory(dir);
    expect(phases.map((p) => [p.phase, p.epoch, p.rows.map((r) => r.index)])).toEqual([
      [0, 10, [0, 1]],
      [1, 20, [0, 1]],
    ]);
    expect(phases[0]!.rows[0]!.name).toBe('a,"b"');
    expect(phases[1]!.rows[1]!.difficulty).toBeNaN();
    expect([...latestDifficulties(phases).entries()]).toEqual([
      [0, 0.05],
      [1, Number.NaN],
    ]);
    expect(readTrajectory(join(dir, 'trajectory.jsonl'))).toEqual(phases);
  });

  it('skips a torn last line, keeps the last copy of a repeated row, trims on resume', () => {
    const dir = mkdtempSync(join(tmpdir(), 'traj-'));
    appendTrajectory(dir, [row(0, 10, 0, 0.3), row(0, 10, 1, 0.4)]);
    appendTrajectory(dir, [row(1, 20, 0, 0.2), row(1, 20, 0, 0.25)]);
    appendFileSync(join(dir, 'trajectory.jsonl'), '{"phase":2,"epo');
    const phases = readTrajectory(dir);
    expect(phases).toHaveLength(2);
    expect(phases[1]!.rows.map((r) => r.difficulty)).toEqual([0.25]);

    trimTrajectory(dir, (r) => r.epoch <= 10);
    expect(readTrajectory(dir).map((p) => p.phase)).toEqual([0]);
    expect(readFileSync(join(dir, 'trajectory.csv'), 'utf8').trim().split('\n')).toHaveLength(3);
    expect(readTrajectory(join(dir, 'missing'))).toEqual([]);
  });

  it('a corrupt line that is not the last is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'traj-'));
    appendFileSync(join(dir, 'trajectory.jsonl'), 'garbage\n{"phase":0,"epoch":1,"index":0}\n');
    expect(() => readTrajectory(dir)).toThrow(/trajectory.jsonl:1: not JSON/);
  });
});
