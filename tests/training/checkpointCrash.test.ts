/**
 * A checkpoint write killed at every one of its file-system steps (mkdir, open, write, fsync, close,
 * each rename, each directory fsync, each delete) never loses the last complete checkpoint: the
 * folder then loads as exactly the previous checkpoint or exactly the new one, and the next save
 * cleans up what the killed one left. The kill is simulated by a file layer that fails the chosen
 * call and every later one without effect, so no cleanup code of the writer runs (as with kill -9).
 * Resuming from a loaded checkpoint is exact (trainer.test.ts, kill -9 mid-epoch), so together a
 * crash at any point resumes from the last complete epoch to the uninterrupted result.
 * Also: version-1 folders (checkpoint.safetensors replaced in place) still load.
 */
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prng } from '../../src/common/prng.js';
import { type FileOps, NODE_FS } from '../../src/common/files.js';
import { packSlots } from '../../src/graphBuilder/graph.js';
import {
  type CheckpointState,
  LEGACY_TENSORS_FILE,
  loadCheckpoint,
  saveCheckpoint,
} from '../../src/training/checkpoint.js';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ckpt-crash-'));
  made.push(d);
  return d;
};

const layout = packSlots([{ name: 'w', shape: [6, 5] }]);
function state(epoch: number): CheckpointState {
  const r = prng(epoch);
  const fill = (): Float32Array => Float32Array.from({ length: 30 }, () => r.next());
  return {
    step: 10 * epoch,
    epoch,
    config: { epoch },
    rng: { words: [epoch] },
    layout,
    params: fill(),
    adam: { m: fill(), v: fill() },
  };
}

class Killed extends Error {}

/** node:fs, except that call number `killAt` and everything after it fails without effect. */
function dyingFs(killAt: number): FileOps & { calls: number } {
  const layer = { calls: 0 } as FileOps & { calls: number };
  for (const name of Object.keys(NODE_FS) as (keyof FileOps)[]) {
    (layer as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      if (layer.calls++ >= killAt) throw new Killed(`killed at call ${killAt} (${name})`);
      return (NODE_FS[name] as (...a: unknown[]) => unknown)(...args);
    };
  }
  return layer;
}

const same = (a: CheckpointState, b: CheckpointState): boolean =>
  a.epoch === b.epoch &&
  a.step === b.step &&
  [a.params, a.adam.m, a.adam.v].every((x, i) =>
    Buffer.from(x.buffer).equals(Buffer.from([b.params, b.adam.m, b.adam.v][i]!.buffer)),
  );

describe('checkpoint writes killed at every step', () => {
  const count = dyingFs(Number.POSITIVE_INFINITY);
  saveCheckpoint(join(tmp(), 'probe'), state(1), { fs: count }); // a first save into an empty folder
  const steps = (() => {
    const dir = join(tmp(), 'probe2');
    saveCheckpoint(dir, state(1));
    const fs = dyingFs(Number.POSITIVE_INFINITY);
    saveCheckpoint(dir, state(2), { fs });
    return fs.calls;
  })();

  it('a save over an existing checkpoint takes a dozen or more file-system calls (the test covers each)', () => {
    expect(steps).toBeGreaterThanOrEqual(12);
    expect(count.calls).toBeGreaterThanOrEqual(10);
  });

  for (let k = 0; k < steps; k++) {
    it(`killed at call ${k + 1} of ${steps}: the folder loads as epoch 1 or epoch 2, whole, and the next save recovers`, () => {
      const dir = join(tmp(), `ckpt-${k}`);
      saveCheckpoint(dir, state(1));
      expect(() => saveCheckpoint(dir, state(2), { fs: dyingFs(k) })).toThrow(Killed);
      const loaded = loadCheckpoint(dir);
      expect(same(loaded, state(1)) || same(loaded, state(2))).toBe(true);
      // The next save (epoch 2 again, as a resumed run would write it) leaves one clean checkpoint.
      saveCheckpoint(dir, state(2));
      expect(same(loadCheckpoint(dir), state(2))).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(['checkpoint-2.safetensors', 'manifest.json']);
    });
  }

  it('a version-1 folder (one tensor file replaced in place) still loads, and the next save moves it to generations', () => {
    const dir = join(tmp(), 'v1');
    saveCheckpoint(dir, state(3));
    renameSync(join(dir, 'checkpoint-3.safetensors'), join(dir, LEGACY_TENSORS_FILE));
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown> & {
      tensors: { file: string };
    };
    manifest.version = 1;
    manifest.tensors.file = LEGACY_TENSORS_FILE;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    expect(same(loadCheckpoint(dir), state(3))).toBe(true);
    saveCheckpoint(dir, state(4));
    expect(readdirSync(dir).sort()).toEqual(['checkpoint-4.safetensors', 'manifest.json']);
  });
});
