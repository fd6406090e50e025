import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportRecords, importRecords, readRecordsFile, writeRecordsFile } from '../../src/study/records.js';
import { isFinished } from '../../src/study/runner.js';
import { appendTrajectory } from '../../src/uncertainty/trajectory.js';

const claim = (args: string[]) => `${JSON.stringify({ args })}\n`;

/** A run folder as the runner and train leave it; `finished` adds the fold's metrics.json. */
function fakeRun(out: string, rel: string, fold: number, args: string[], finished: boolean): string {
  const dir = join(out, ...rel.split('/'));
  const f = join(dir, `fold-${fold}`);
  mkdirSync(join(f, 'checkpoint'), { recursive: true });
  writeFileSync(join(dir, 'study-run.json'), claim(args));
  writeFileSync(join(dir, 'wall-time.json'), '{"seconds":12.5,"invocations":1,"threads":"1"}\n');
  writeFileSync(join(dir, 'train.log'), 'epoch 1/2 …\n');
  writeFileSync(join(f, 'epochs.jsonl'), `{"epoch":1,"valDice":0.${fold}1}\n`);
  // Two MC phases as training appends them (jsonl and csv), with a non-finite value and an awkward name.
  const row = { phase: 0, epoch: 5, index: 0, name: 'a,"b"', difficulty: 0.1 / 3, eps: Number.NaN, dice: 0 };
  appendTrajectory(f, [row, { ...row, index: 1, name: '2', eps: 0.25 }]);
  appendTrajectory(f, [{ ...row, phase: 1, epoch: 10, eps: -0.123456789012345 }]);
  writeFileSync(join(f, 'model.onnx'), new Uint8Array([8, 1, 2, 3]));
  writeFileSync(join(f, 'checkpoint', 'manifest.json'), '{"epoch":2}');
  writeFileSync(join(f, 'checkpoint', 'checkpoint-2.safetensors'), new Uint8Array(64));
  if (finished) writeFileSync(join(f, 'metrics.json'), `{"mean":{"dice":0.${fold}5}}\n`);
  return dir;
}

describe('run records', () => {
  it('carry finished runs (result files, no weights or logs) to another study folder, byte for byte', () => {
    const out = mkdtempSync(join(tmpdir(), 'records-'));
    fakeRun(out, 'random/dice/seed-1/run-0', 0, ['--loss', 'dice', '--fold', '0'], true);
    fakeRun(out, 'random/dice/seed-1/run-1', 1, ['--loss', 'dice', '--fold', '1'], false);
    fakeRun(out, 'random/eps-grid/eps--0.25/seed-1/run-1', 1, ['--eps', '-0.25', '--fold', '1'], true);
    fakeRun(out, 'sequence/bce/seed-1/run-0', 0, ['--loss', 'bce', '--fold', '0'], true);

    const text = exportRecords(out, ['random']);
    const records = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // Finished runs of the asked folders only, in sorted order; the unfinished run-1 is not exported.
    expect(records.map((r) => r.run)).toEqual(['random/dice/seed-1/run-0', 'random/eps-grid/eps--0.25/seed-1/run-1']);
    expect(Object.keys(records[0].files)).toEqual([
      'fold-0/epochs.jsonl',
      'fold-0/metrics.json',
      'fold-0/trajectory.jsonl',
      'study-run.json',
      'wall-time.json',
    ]);

    const other = mkdtempSync(join(tmpdir(), 'records-import-'));
    expect(importRecords(text, other, 'r.jsonl')).toEqual({ restored: 2, present: 0 });
    const src = join(out, 'random', 'dice', 'seed-1', 'run-0');
    const dst = join(other, 'random', 'dice', 'seed-1', 'run-0');
    // trajectory.csv is not in the record: import derives it from trajectory.jsonl, equal to training's.
    for (const f of [
      'study-run.json',
      'wall-time.json',
      'fold-0/metrics.json',
      'fold-0/trajectory.jsonl',
      'fold-0/trajectory.csv',
    ])
      expect(readFileSync(join(dst, f), 'utf8')).toBe(readFileSync(join(src, f), 'utf8'));
    expect(existsSync(join(dst, 'fold-0', 'model.onnx'))).toBe(false);
    expect(isFinished({ label: '', dir: dst, fold: 0, flags: [] })).toBe(true);
    // The same runs give the same records file; importing again changes nothing.
    expect(exportRecords(other, ['random'])).toBe(text);
    expect(importRecords(text, other, 'r.jsonl')).toEqual({ restored: 0, present: 2 });
  });

  it('write gzipped to a .gz file and read back from either form', () => {
    const out = mkdtempSync(join(tmpdir(), 'records-'));
    fakeRun(out, 'random/dice/seed-1/run-0', 0, ['--loss', 'dice', '--fold', '0'], true);
    const text = exportRecords(out, ['random']);
    const gz = join(out, 'r.jsonl.gz');
    const plain = join(out, 'r.jsonl');
    writeRecordsFile(gz, text);
    writeRecordsFile(plain, text);
    expect([...readFileSync(gz).subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    expect(readFileSync(plain, 'utf8')).toBe(text);
    expect(readRecordsFile(gz)).toBe(text);
    expect(readRecordsFile(plain)).toBe(text);
  });

  it('completes a folder claimed with the same flags (dropping its partial weights), refuses other flags', () => {
    const out = mkdtempSync(join(tmpdir(), 'records-'));
    fakeRun(out, 'random/dice/seed-1/run-0', 0, ['--loss', 'dice', '--fold', '0'], true);
    const text = exportRecords(out, ['random']);

    const partial = mkdtempSync(join(tmpdir(), 'records-partial-'));
    const dir = fakeRun(partial, 'random/dice/seed-1/run-0', 0, ['--loss', 'dice', '--fold', '0'], false);
    expect(importRecords(text, partial, 'r.jsonl')).toEqual({ restored: 1, present: 0 });
    expect(existsSync(join(dir, 'fold-0', 'checkpoint'))).toBe(false);
    expect(existsSync(join(dir, 'fold-0', 'metrics.json'))).toBe(true);

    const clash = mkdtempSync(join(tmpdir(), 'records-clash-'));
    const taken = fakeRun(clash, 'random/dice/seed-1/run-0', 0, ['--loss', 'bce', '--fold', '0'], false);
    expect(() => importRecords(text, clash, 'r.jsonl')).toThrow(`${taken} holds a run with other options`);
    expect(existsSync(join(taken, 'fold-0', 'checkpoint', 'manifest.json'))).toBe(true);
  });

  it.each([
    ['not json\n', /r\.jsonl:1: not JSON/],
    [`${JSON.stringify({ run: '../x/run-0', files: {} })}\n`, /r\.jsonl:1: not a run record/],
    [
      `\n${JSON.stringify({ run: 'random/dice/seed-1/run-0', files: { 'study-run.json': claim([]) } })}\n`,
      /r\.jsonl:2: random\/dice\/seed-1\/run-0 is not a finished run/,
    ],
  ])('refuses a malformed records file (%#), naming the line', (text, message) => {
    const out = mkdtempSync(join(tmpdir(), 'records-bad-'));
    expect(() => importRecords(text, out, 'r.jsonl')).toThrow(message);
  });
});
