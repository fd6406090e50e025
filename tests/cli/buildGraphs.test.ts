import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const run = (...args: string[]) =>
  spawnSync('node_modules/.bin/tsx', ['src/cli/build-graphs.ts', ...args], { encoding: 'utf8' });

describe('npm run build-graphs', () => {
  it('--help prints every option and exits 0', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const flag of ['--preset', '--size', '--dropout', '--dropout-p', '--samples', '--out', '--snapshots'])
      expect(r.stdout).toContain(flag);
  });

  it.each([
    [['--preset', 'huge'], /--preset must be one of tiny, study, small, paper, got "huge"/],
    [['--size', '30', '--preset', 'tiny'], /invalid size: 30 \(valid: a positive multiple of 2\^depth = 4\)/],
    [['--dropout-p', '1.5'], /invalid dropout-p: 1.5/],
    [['--dropout', 'encoder'], /--dropout accepts bottleneck and\/or decoder, got "encoder"/],
    [['--size', 'big'], /--size must be a number, got "big"/],
    [['--bogus'], /Unknown option '--bogus'/],
  ])('%j fails before writing anything', (args, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-'));
    const r = run(...args, '--out', join(dir, 'models'), '--snapshots', join(dir, 'graphs'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('writes both models, their snapshots and the config, and prints JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-'));
    const r = run('--preset', 'tiny', '--out', join(dir, 'models'), '--snapshots', join(dir, 'graphs'));
    expect(r.status, r.stderr).toBe(0);
    const printed = JSON.parse(r.stdout) as { models: Record<string, string> };
    for (const f of Object.values(printed.models)) expect(existsSync(f)).toBe(true);
    expect(readdirSync(join(dir, 'graphs')).sort()).toEqual([
      'adam_optimizer.txt',
      'unet_eval.txt',
      'unet_inference.txt',
      'unet_mc_dropout.txt',
      'unet_train_step.txt',
      'unet_training.txt',
    ]);
    expect(readdirSync(join(dir, 'models', 'checkpoint')).sort()).toEqual([
      'checkpoint-0.safetensors',
      'manifest.json',
    ]);
    expect(existsSync(join(dir, 'models', 'config.json'))).toBe(true);
  });
});
