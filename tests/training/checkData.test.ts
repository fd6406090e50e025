import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { CVC_DIR, KVASIR_SAMPLE_DIR } from '../fixtures/sharedData.js';

const KVASIR = KVASIR_SAMPLE_DIR;
const CVC = CVC_DIR;

const run = (...args: string[]) =>
  spawnSync('node_modules/.bin/tsx', ['src/cli/check-data.ts', ...args], { encoding: 'utf8' });

const temps: string[] = [];
afterAll(() =>
  temps.forEach((d) => {
    rmSync(d, { recursive: true, force: true });
  }),
);

/** images/ + masks/ with n 16×16 pairs named 1…n. */
async function pairs(n: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'check-data-'));
  temps.push(dir);
  mkdirSync(join(dir, 'images'));
  mkdirSync(join(dir, 'masks'));
  const image = Buffer.alloc(16 * 16 * 3, 120);
  const mask = Buffer.from(Array.from({ length: 256 }, (_, p) => (p % 16 < 4 ? 255 : 0))); // a quarter
  for (let i = 1; i <= n; i++) {
    await sharp(image, { raw: { width: 16, height: 16, channels: 3 } })
      .png()
      .toFile(join(dir, 'images', `${i}.png`));
    await sharp(mask, { raw: { width: 16, height: 16, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toFile(join(dir, 'masks', `${i}.png`));
  }
  return dir;
}

describe('npm run check-data', () => {
  it.runIf(existsSync(KVASIR))('prints a summary table of a real dataset and exits 0', () => {
    const r = run('--data', KVASIR, '--size', '64');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^format\s+kvasir$/m);
    expect(r.stdout).toMatch(/^pairs\s+3$/m);
    expect(r.stdout).toMatch(/^source sizes\s+1348×1070 ×1, 622×529 ×1, 619×529 ×1$/m);
    expect(r.stdout).toMatch(/^resized to\s+64×64 \(aspect ratio not kept\)$/m);
    expect(r.stdout).toMatch(/^image mean R G B\s+0\.\d{3} {2}0\.\d{3} {2}0\.\d{3}$/m);
    expect(r.stdout).toMatch(/^mask coverage\s+mean \d+\.\d%, median/m);
    expect(r.stdout).toMatch(/^problems\s+1\n {2}- mask not strictly binary/m);
    expect(r.stderr).toMatch(/checked 3\/3/);
  });

  it.runIf(existsSync(CVC))('shows the CVC video sequences', () => {
    const r = run('--data', CVC, '--limit', '30', '--size', '32');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^format\s+cvc$/m);
    expect(r.stdout).toMatch(/^sequences\s+2 \(30 of 30 pairs assigned\)$/m);
  });

  it('--json, and the synthetic set without --data', async () => {
    const dir = await pairs(2);
    const r = run('--data', dir, '--size', '8', '--json');
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({
      ok: true,
      format: 'pairs',
      pairs: 2,
      size: 8,
      sourceSizes: [{ width: 16, height: 16, count: 2 }],
      problems: [],
      errors: [],
    });
    expect(s.imageMean).toEqual([120 / 255, 120 / 255, 120 / 255]);
    expect(s.coverage).toMatchObject({ mean: 0.25, min: 0.25, max: 0.25, empty: 0 });

    const syn = run('--size', '16', '--limit', '3');
    expect(syn.status, syn.stderr).toBe(0);
    expect(syn.stdout).toMatch(/^dataset\s+built-in synthetic set$/m);
    expect(syn.stdout).toMatch(/^pairs\s+3$/m);
  });

  it('a broken dataset: the summary lists every bad pair, stderr names the file, exit 1', async () => {
    const dir = await pairs(3);
    writeFileSync(join(dir, 'images', '2.png'), 'not a png');
    await sharp(Buffer.alloc(10 * 10), { raw: { width: 10, height: 10, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toFile(join(dir, 'masks', '3.png'));
    const r = run('--data', dir, '--size', '8');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^pairs\s+1$/m);
    expect(r.stdout).toMatch(
      /^errors\s+2 pairs could not be loaded\n {2}! unreadable image .*images\/2\.png.*\n {2}! mask .*masks\/3\.png is 10×10 but its image .*images\/3\.png is 16×16$/m,
    );
    expect(r.stderr).toMatch(/error: 2 of 3 pairs could not be loaded; first: unreadable image .*images\/2\.png/);
  });

  it.each([
    [['--data', '/no/such/folder'], 1, /error: dataset folder not found: \/no\/such\/folder/],
    [
      ['--data', '.', '--format', 'cvc-original'],
      1,
      /error: \. is not in the cvc-original layout: no Original\/ folder in it/,
    ],
    [
      ['--format', 'bmp'],
      2,
      /error: --format must be one of auto, cvc, cvc-original, kvasir, pairs, synthetic, got "bmp"/,
    ],
    [['--size', '0'], 2, /error: --size must be a positive integer, got "0"/],
    [['--size', 'big'], 2, /error: --size must be a number, got "big"/],
  ])('%j fails with a clear error (exit %i)', (args, status, message) => {
    const r = run(...args);
    expect(r.status).toBe(status);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('an empty dataset is an error naming the folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'check-data-'));
    temps.push(dir);
    const r = run('--data', dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`error: empty dataset: no image/mask pairs in ${dir}`);
  });
});
