/**
 * `npm run predict` with a model trained on CVC-ClinicDB, on real frames (a CVC 384×288 PNG and a
 * Kvasir-SEG JPEG of another size): the mask is where the polyp is (Dice against the ground truth),
 * and the overlay tints exactly the mask's pixels. (sharp returns 3 channels from a 1-channel raw
 * input after resize: read as one channel, the tint landed in stripes; an untrained model on flat
 * images hid it.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { CVC_DIR, KVASIR_SAMPLE_DIR, haveCvc, trainedCvcModel } from '../fixtures/trainedModel.js';

const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');

/** Ground truth at full size, foreground where the max of R, G, B ≥ 128 (as the dataset loader reads masks). */
async function truth(path: string): Promise<Uint8Array> {
  const { data, info } = await sharp(path)
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(info.width * info.height);
  for (let p = 0; p < out.length; p++)
    out[p] = Math.max(data[p * 3]!, data[p * 3 + 1]!, data[p * 3 + 2]!) >= 128 ? 1 : 0;
  return out;
}

describe.skipIf(!haveCvc)('npm run predict on real frames with a trained model', () => {
  it('masks the polyp, and the overlay tints exactly the mask pixels', async () => {
    const model = trainedCvcModel();
    const out = mkdtempSync(join(tmpdir(), 'polyseg-overlay-'));
    const frames = [
      { image: join(CVC_DIR, 'images', '10.png'), mask: join(CVC_DIR, 'masks', '10.png') },
      {
        image: join(KVASIR_SAMPLE_DIR, 'images', 'cju0qkwl35piu0993l0dewei2.jpg'),
        mask: join(KVASIR_SAMPLE_DIR, 'masks', 'cju0qkwl35piu0993l0dewei2.jpg'),
      },
    ];
    for (const f of frames) {
      const r = spawnSync(tsx, ['src/cli/predict.ts', '--model', model, '--input', f.image, '--out', out], {
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      const stem = basename(f.image).replace(/\.[^.]+$/, '');
      const maskMeta = await sharp(join(out, `${stem}-mask.png`)).metadata();
      const mask = await sharp(join(out, `${stem}-mask.png`))
        .extractChannel(0)
        .raw()
        .toBuffer({ resolveWithObject: true });
      const over = await sharp(join(out, `${stem}-overlay.png`))
        .raw()
        .toBuffer({ resolveWithObject: true });
      const orig = await sharp(f.image).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      const { width: w, height: h } = orig.info;
      expect([maskMeta.width, maskMeta.height, maskMeta.channels]).toEqual([w, h, 1]);
      expect([over.info.width, over.info.height, over.info.channels]).toEqual([w, h, 3]);
      const gt = await truth(f.mask);
      let [fg, wrong, both, gtCount] = [0, 0, 0, 0];
      for (let p = 0; p < w * h; p++) {
        const v = mask.data[p]!;
        expect(v === 0 || v === 255).toBe(true);
        const on = v === 255;
        if (on) fg++;
        if (gt[p]) gtCount++;
        if (on && gt[p]) both++;
        for (let c = 0; c < 3; c++) {
          const o = orig.data[p * 3 + c]!;
          if (over.data[p * 3 + c] !== (on ? Math.round(0.5 * o + (c === 0 ? 127.5 : 0)) : o)) wrong++;
        }
      }
      const dice = (2 * both) / (fg + gtCount);
      expect(wrong, f.image).toBe(0);
      expect(fg / (w * h), `${f.image}: foreground share`).toBeGreaterThan(0.005);
      expect(fg / (w * h), `${f.image}: foreground share`).toBeLessThan(0.6);
      // On its own dataset the mask lies on the polyp; on Kvasir (another hospital) it at least overlaps it.
      expect(dice, `${f.image}: Dice against the ground truth`).toBeGreaterThan(f.image.includes('CVC') ? 0.5 : 0.1);
    }
  }, 600_000);
});
