import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { tinyModel } from './helpers.js';

const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');

describe('npm run predict', () => {
  it('writes a mask and an overlay per image of a folder, at each image size', async () => {
    const model = tinyModel();
    const dir = mkdtempSync(join(tmpdir(), 'polyseg-predict-'));
    const input = join(dir, 'in');
    const out = join(dir, 'out');
    mkdirSync(input);
    await sharp(Buffer.alloc(40 * 30 * 3, 90), { raw: { width: 40, height: 30, channels: 3 } })
      .png()
      .toFile(join(input, 'a.png'));
    await sharp(Buffer.alloc(24 * 24 * 3, 200), { raw: { width: 24, height: 24, channels: 3 } })
      .jpeg()
      .toFile(join(input, 'b.jpg'));
    execFileSync(tsx, ['src/cli/predict.ts', '--model', model, '--input', input, '--out', out], { stdio: 'pipe' });
    expect(readdirSync(out).sort()).toEqual(['a-mask.png', 'a-overlay.png', 'b-mask.png', 'b-overlay.png']);
    const meta = await sharp(join(out, 'a-mask.png')).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([40, 30, 1]);
    const mask = await sharp(join(out, 'a-mask.png')).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    expect([...new Set(mask.data)].every((v) => v === 0 || v === 255)).toBe(true);
    const overlay = await sharp(join(out, 'b-overlay.png')).metadata();
    expect([overlay.width, overlay.height, overlay.channels]).toEqual([24, 24, 3]);
  });

  it('keeps a.png and a.jpg apart (a_png-…, a_jpg-…), and reports an unreadable file with exit 1 after the others', async () => {
    const model = tinyModel();
    const dir = mkdtempSync(join(tmpdir(), 'polyseg-predict-'));
    const input = join(dir, 'in');
    const out = join(dir, 'out');
    mkdirSync(input);
    await sharp(Buffer.alloc(20 * 20 * 3, 90), { raw: { width: 20, height: 20, channels: 3 } })
      .png()
      .toFile(join(input, 'a.png'));
    await sharp(Buffer.alloc(20 * 20 * 3, 200), { raw: { width: 20, height: 20, channels: 3 } })
      .jpeg()
      .toFile(join(input, 'a.jpg'));
    writeFileSync(join(input, 'z.png'), 'not a png');
    const r = spawnSync(tsx, ['src/cli/predict.ts', '--model', model, '--input', input, '--out', out], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/z\.png: /);
    expect(r.stderr).toMatch(/1 of 3 image\(s\) failed/);
    expect(readdirSync(out).sort()).toEqual([
      'a_jpg-mask.png',
      'a_jpg-overlay.png',
      'a_png-mask.png',
      'a_png-overlay.png',
    ]);
  });

  it('fails with a clear message for a missing input and without --input', () => {
    const model = tinyModel();
    const missing = spawnSync(tsx, ['src/cli/predict.ts', '--model', model, '--input', '/nonexistent/x.png'], {
      encoding: 'utf8',
    });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--input \/nonexistent\/x.png does not exist/);
    const none = spawnSync(tsx, ['src/cli/predict.ts', '--model', model], { encoding: 'utf8' });
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/--input is required/);
  });
});
