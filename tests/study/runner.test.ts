import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRunTiming } from '../../src/study/report.js';
import { wallTimeRecorder } from '../../src/study/runner.js';

describe('wall-time record of a run', () => {
  it('keeps an invocation killed between updates up to its last update, and sums resumed invocations', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wall-'));
    const read = () => JSON.parse(readFileSync(join(dir, 'wall-time.json'), 'utf8'));
    let clock = 1000;
    const first = wallTimeRecorder({ dir }, '1', () => clock);
    expect(read()).toEqual({ seconds: 0, invocations: 1, threads: '1' });
    clock += 30_000;
    expect(first.update()).toBe(30);
    clock += 7_000; // killed here: these 7 s are never written
    expect(read().seconds).toBe(30);
    const resumed = wallTimeRecorder({ dir }, '2', () => clock);
    clock += 12_500;
    expect(resumed.update()).toBe(12.5);
    expect(read()).toEqual({ seconds: 42.5, invocations: 2, threads: '2' });
    mkdirSync(join(dir, 'fold-0'));
    writeFileSync(join(dir, 'fold-0', 'epochs.jsonl'), '{"seconds":9}\n');
    expect(readRunTiming(dir, 0).wallSeconds).toBe(42.5);
  });
});
