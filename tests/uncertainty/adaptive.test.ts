/**
 * The adaptive method as the trainer's ε schedule (src/uncertainty/adaptive.ts): the ε_1 it hands the
 * trainer is the ε_1 its trajectory records, unmeasured images get the policy's default, phases run
 * every M epochs, and a schedule started on a resumed fold drops the phases the checkpoint does not
 * cover and carries on with the ε_1 of the last phase kept.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { syntheticSet } from '../../src/data/synthetic.js';
import { presetConfig } from '../../src/graphBuilder/models.js';
import { paramLayout } from '../../src/graphBuilder/trainingModels.js';
import { type EpsFold, fixedEps, withWarmup } from '../../src/training/epsSchedule.js';
import { mcEpsSchedule } from '../../src/uncertainty/adaptive.js';
import { DEFAULT_DIFFICULTY } from '../../src/uncertainty/difficulty.js';
import type { EpsPolicy } from '../../src/uncertainty/epsilon.js';
import { readTrajectory } from '../../src/uncertainty/trajectory.js';

const config = presetConfig('tiny', { imageSize: 32, batch: 4 });
const params = paramLayout(config).values;
const samples = syntheticSet(10, 32, 5);
const train = [0, 2, 3, 5, 6, 8, 9];
const MC = { every: 2, samples: 3, p: 0.5, difficulty: DEFAULT_DIFFICULTY };
const LINEAR: EpsPolicy = { kind: 'linear', epsMin: 0, epsMax: 1, direction: 'up' };
const fold = (): EpsFold => {
  const dir = join(mkdtempSync(join(tmpdir(), 'adaptive-')), 'fold-0');
  return { dir, samples, train, config, providers: ['cpu'] };
};
// Other weights for a later phase: the same weights scaled (the difficulties change).
const scaled = (k: number): Float32Array => params.map((v) => v * k);

describe('mcEpsSchedule', () => {
  it('hands the trainer the ε_1 its trajectory records, after every M epochs only', async () => {
    const f = fold();
    const s = mcEpsSchedule(MC, LINEAR)(f);
    s.start(0);
    expect(train.map((i) => s.epsOf(i))).toEqual(train.map(() => 0.5)); // unmeasured: the midpoint
    await s.afterEpoch(1, params);
    expect(existsSync(f.dir)).toBe(false); // no phase after epoch 1 (M = 2)
    await s.afterEpoch(2, params);
    const phases = readTrajectory(f.dir);
    expect(phases.map((p) => [p.phase, p.epoch])).toEqual([[0, 2]]);
    const rows = phases[0]!.rows;
    expect(rows.map((r) => r.index)).toEqual(train);
    for (const r of rows) expect(s.epsOf(r.index)).toBe(r.eps);
    expect(Math.min(...rows.map((r) => r.eps))).toBe(0);
    expect(Math.max(...rows.map((r) => r.eps))).toBe(1);
    expect(s.epsOf(1)).toBe(0.5); // not a training image: never measured
  });

  it('started on a resumed fold, drops the phases after the checkpoint and goes on with the last kept', async () => {
    const f = fold();
    const first = mcEpsSchedule(MC, LINEAR)(f);
    first.start(0);
    await first.afterEpoch(2, params);
    const atTwo = train.map((i) => first.epsOf(i));
    await first.afterEpoch(4, scaled(0.5));
    expect(readTrajectory(f.dir).map((p) => p.epoch)).toEqual([2, 4]);
    expect(train.map((i) => first.epsOf(i))).not.toEqual(atTwo);

    // The checkpoint holds 3 epochs: the phase after epoch 4 is dropped and runs again.
    const resumed = mcEpsSchedule(MC, LINEAR)(f);
    resumed.start(3);
    expect(readTrajectory(f.dir).map((p) => p.epoch)).toEqual([2]);
    expect(train.map((i) => resumed.epsOf(i))).toEqual(atTwo);

    // A fresh start over the same folder drops every phase.
    const fresh = mcEpsSchedule(MC, LINEAR)(f);
    fresh.start(0);
    expect(readTrajectory(f.dir)).toEqual([]);
    expect(fresh.epsOf(train[0]!)).toBe(0.5);
  });

  it('a fixed policy keeps ε_1 and records it; the test images get their difficulty', async () => {
    const f = fold();
    const s = mcEpsSchedule(MC, { kind: 'fixed', eps: 0.3 })(f);
    s.start(0);
    await s.afterEpoch(2, params);
    const rows = readTrajectory(f.dir)[0]!.rows;
    expect(new Set(rows.map((r) => r.eps))).toEqual(new Set([0.3]));
    expect(train.map((i) => s.epsOf(i))).toEqual(train.map(() => 0.3));
    const test = await s.testDifficulty!(params, [1, 4, 7]);
    expect([...test.keys()]).toEqual([1, 4, 7]);
    for (const d of test.values()) expect(d).toBeGreaterThan(0);
  });

  it('shuffled control: the same ε_1 values per phase, permuted across images, recorded as used', async () => {
    const plain = fold();
    const p = mcEpsSchedule(MC, LINEAR)(plain);
    p.start(0);
    await p.afterEpoch(2, params);
    const shuffledFold = fold();
    const s = mcEpsSchedule(MC, LINEAR, { shuffleSeed: 7 })(shuffledFold);
    s.start(0);
    await s.afterEpoch(2, params);
    const a = readTrajectory(plain.dir)[0]!.rows;
    const b = readTrajectory(shuffledFold.dir)[0]!.rows;
    expect(b.map((r) => r.difficulty)).toEqual(a.map((r) => r.difficulty)); // the true difficulty
    expect([...b.map((r) => r.eps)].sort()).toEqual([...a.map((r) => r.eps)].sort()); // same values
    expect(b.map((r) => r.eps)).not.toEqual(a.map((r) => r.eps)); // other images get them
    for (const r of b) expect(s.epsOf(r.index)).toBe(r.eps);
    // Seeded: the same seed shuffles the same way.
    const again = fold();
    const s2 = mcEpsSchedule(MC, LINEAR, { shuffleSeed: 7 })(again);
    s2.start(0);
    await s2.afterEpoch(2, params);
    expect(readTrajectory(again.dir)[0]!.rows.map((r) => r.eps)).toEqual(b.map((r) => r.eps));
  });

  it('refuses an unusable policy or phase interval', () => {
    const reversed: EpsPolicy = { kind: 'linear', epsMin: 1, epsMax: 0, direction: 'up' };
    expect(() => mcEpsSchedule(MC, reversed)).toThrow(/--eps-min \(1\) must not exceed/);
    expect(() => mcEpsSchedule({ ...MC, every: 0 }, LINEAR)).toThrow(/every ≥ 1/);
  });
});

describe('withWarmup', () => {
  it('ε_1 = 0 for training images during the warm-up epochs, validation images unchanged, resumable', async () => {
    const f = fold();
    const s = withWarmup(fixedEps(0.3), 2)(f);
    s.start(0);
    expect(s.epsOf(train[0]!)).toBe(0); // epoch 1
    expect(s.epsOf(1)).toBe(0.3); // a validation image keeps the schedule's ε_1
    await s.afterEpoch(1, params);
    expect(s.epsOf(train[0]!)).toBe(0); // epoch 2
    await s.afterEpoch(2, params);
    expect(s.epsOf(train[0]!)).toBe(0.3); // epoch 3
    const resumedInWarmup = withWarmup(fixedEps(0.3), 2)(f);
    resumedInWarmup.start(1);
    expect(resumedInWarmup.epsOf(train[0]!)).toBe(0);
    const resumedAfter = withWarmup(fixedEps(0.3), 2)(f);
    resumedAfter.start(2);
    expect(resumedAfter.epsOf(train[0]!)).toBe(0.3);
    const inner = fixedEps(0.3);
    expect(withWarmup(inner, 0)).toBe(inner); // no warm-up: the schedule itself
    expect(() => withWarmup(fixedEps(0.3), 1.5)).toThrow(/--eps-warmup/);
  });

  it('until the first MC phase: the adaptive ε_1 takes over after it and the test difficulty passes through', async () => {
    const f = fold();
    const s = withWarmup(mcEpsSchedule(MC, LINEAR), MC.every)(f);
    s.start(0);
    expect(train.map((i) => s.epsOf(i))).toEqual(train.map(() => 0));
    await s.afterEpoch(1, params);
    await s.afterEpoch(2, params);
    const rows = readTrajectory(f.dir)[0]!.rows;
    for (const r of rows) expect(s.epsOf(r.index)).toBe(r.eps);
    expect(s.testDifficulty).toBeDefined();
  });
});

describe('fixedEps', () => {
  it('is the same ε_1 for every image and epoch, with no files and no test difficulty', async () => {
    const f = fold();
    const s = fixedEps(0.25)(f);
    s.start(0);
    await s.afterEpoch(2, params);
    expect([0, 5, 9].map((i) => s.epsOf(i))).toEqual([0.25, 0.25, 0.25]);
    expect(existsSync(f.dir)).toBe(false);
    expect(s.testDifficulty).toBeUndefined();
  });
});
