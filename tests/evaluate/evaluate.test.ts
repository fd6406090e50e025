/**
 * npm run evaluate: the scoring and summary functions on small hand-computed inputs, and the CLI end
 * to end on real pairs of ../shared/data (3 Kvasir-SEG-sample pairs, 2 CVC-ClinicDB frames as PNG and
 * as the original TIFF) with an untrained tiny model: no trained model is in git, so these check
 * structure, exit codes and agreement with independent computations, not the numbers' quality.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type EvalRow,
  foregroundTerciles,
  perImageCsv,
  scoreImage,
  summarizeEvaluation,
} from '../../src/evaluate/evaluate.js';
import { buildInferenceModel, presetConfig } from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import { loadPredictor, planarInput, runProbability } from '../../src/serve/predictNode.js';
import { type FullMask, decodeImage, decodeMask, loadDataset } from '../../src/data/datasets.js';
import { imageMetrics } from '../../src/training/metrics.js';
import { CVC_DIR, CVC_ORIGINAL_DIR, KVASIR_SAMPLE_DIR } from '../fixtures/sharedData.js';

const SAMPLE = KVASIR_SAMPLE_DIR;
const CVC = CVC_DIR;
const ORIGINAL = CVC_ORIGINAL_DIR;

const run = (...args: string[]) =>
  spawnSync('node_modules/.bin/tsx', ['src/cli/evaluate.ts', ...args], { encoding: 'utf8' });

interface Report {
  config: { atModelSize: boolean; mc: { samples: number } | null };
  model: { path: string; imageSize: number };
  dataset: { format: string; pairs: number; scored: number; failed: number };
  summary: ReturnType<typeof summarizeEvaluation>;
  images: EvalRow[];
  failures: { name: string; error: string }[];
}
const readReport = (dir: string): Report => JSON.parse(readFileSync(join(dir, 'evaluation.json'), 'utf8')) as Report;

describe("decodeMask (the loader's mask rule, shared with training)", () => {
  it('thresholds the max of R, G, B at 128, or at 1 in a 0/1 mask', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'polyseg-mask-'));
    await sharp(Uint8Array.of(0, 0, 0, 127, 127, 127, 128, 0, 0, 0, 0, 255, 200, 10, 10), {
      raw: { width: 5, height: 1, channels: 3 },
    })
      .png()
      .toFile(join(dir, 'grey.png'));
    const grey = await decodeMask(join(dir, 'grey.png'));
    expect([...grey.mask]).toEqual([0, 0, 1, 1, 1]);
    expect([grey.foreground, grey.zeroOne]).toEqual([3, false]);
    await sharp(Uint8Array.of(0, 0, 0, 1, 1, 1, 0, 1, 0), { raw: { width: 3, height: 1, channels: 3 } })
      .png()
      .toFile(join(dir, 'zero-one.png'));
    const zeroOne = await decodeMask(join(dir, 'zero-one.png'));
    expect([...zeroOne.mask]).toEqual([0, 1, 1]);
    expect([zeroOne.foreground, zeroOne.zeroOne]).toEqual([2, true]);
  });
});

describe('scoreImage', () => {
  // Model size 2: probability > 0.5 is foreground (0.5 itself is not) → predicted [1, 0; 0, 1].
  const prob = Float32Array.of(0.9, 0.5, 0.1, 0.6);
  // 4×4 ground truth with 5 foreground pixels.
  const t = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const truth: FullMask = { width: 4, height: 4, mask: Uint8Array.from(t), foreground: 5, zeroOne: false, notes: [] };

  it("at the image's resolution: the prediction upsampled (2×2 blocks) against the full ground truth", () => {
    // Upsampled: the top-left and bottom-right 2×2 blocks. TP 4, FP 4, FN 1.
    const s = scoreImage(prob, 2, truth);
    expect(s.metrics.dice).toBeCloseTo(8 / 13, 12);
    expect(s.metrics.iou).toBeCloseTo(4 / 9, 12);
    expect(s.metrics.precision).toBeCloseTo(4 / 8, 12);
    expect(s.metrics.recall).toBeCloseTo(4 / 5, 12);
    expect(s.coverage).toBe(5 / 16);
  });

  it("at the model's resolution: the ground truth resized with nearest neighbour (pixels (1,1), (3,1), (1,3), (3,3))", () => {
    // Resized truth [1, 0; 0, 0]; prediction [1, 0; 0, 1]: TP 1, FP 1, FN 0.
    const s = scoreImage(prob, 2, truth, true);
    expect(s.metrics).toEqual({ dice: 2 / 3, iou: 1 / 2, precision: 1 / 2, recall: 1 });
    expect(s.coverage).toBe(1 / 4);
  });
});

describe('summary', () => {
  // Ten images: Dice 0, 0.1, … 0.9; foreground size falls as Dice rises; difficulty = 1 − Dice.
  const rows: EvalRow[] = Array.from({ length: 10 }, (_, i) => ({
    name: `r${i}`,
    image: `images/r${i}.png`,
    mask: `masks/r${i}.png`,
    width: 8,
    height: 8,
    coverage: (9 - i) / 100,
    dice: i / 10,
    iou: i / 20,
    precision: 1,
    recall: i / 10,
  }));

  it('foreground terciles: ranked by coverage (ties by name), split ⌊3r/n⌋ (10 → 4, 3, 3)', () => {
    expect(foregroundTerciles(rows)).toEqual([
      'large',
      'large',
      'large',
      'medium',
      'medium',
      'medium',
      'small',
      'small',
      'small',
      'small',
    ]);
    const tied = [
      { name: 'b', coverage: 0.5 },
      { name: 'a', coverage: 0.5 },
      { name: 'c', coverage: 0.1 },
    ];
    expect(foregroundTerciles(tied)).toEqual(['large', 'medium', 'small']);
    expect(foregroundTerciles(tied.slice(0, 1))).toEqual(['small']);
  });

  it('mean ± std (n − 1), the worst 10% by Dice, the terciles', () => {
    const terciles = foregroundTerciles(rows);
    const s = summarizeEvaluation(rows.map((r, i) => ({ ...r, tercile: terciles[i] })));
    expect(s.all.images).toBe(10);
    expect(s.all.metrics.dice!.mean).toBeCloseTo(0.45, 12);
    // Σ(x − 0.45)² = 0.825 over n − 1 = 9.
    expect(s.all.metrics.dice!.std).toBeCloseTo(Math.sqrt(0.825 / 9), 12);
    expect(s.all.metrics.precision).toEqual({ mean: 1, std: 0, n: 10 });
    expect(s.all.metrics.difficulty).toBeUndefined();
    expect(s.worst10.names).toEqual(['r0']);
    expect(s.worst10.metrics.dice).toEqual({ mean: 0, std: 0, n: 1 });
    const [small, medium, large] = s.terciles;
    expect([small!.tercile, small!.images, medium!.images, large!.images]).toEqual(['small', 4, 3, 3]);
    expect(small!.metrics.dice!.mean).toBeCloseTo((0.9 + 0.8 + 0.7 + 0.6) / 4, 12);
    expect(small!.coverage).toEqual({ min: 0, max: 0.03 });
    expect(large!.metrics.dice!.mean).toBeCloseTo((0.2 + 0.1 + 0) / 3, 12);
    expect(large!.coverage).toEqual({ min: 0.07, max: 0.09 });
    expect(s.spearmanDifficultyDice).toBeNull();
  });

  it('with difficulties: their mean ± std and Spearman ρ with Dice', () => {
    const terciles = foregroundTerciles(rows);
    const s = summarizeEvaluation(rows.map((r, i) => ({ ...r, tercile: terciles[i], difficulty: 1 - r.dice })));
    expect(s.all.metrics.difficulty!.mean).toBeCloseTo(0.55, 12);
    expect(s.spearmanDifficultyDice).toBeCloseTo(-1, 12);
    // Two images: ρ is ±1; one image or a constant side: undefined (null).
    expect(summarizeEvaluation([{ ...rows[0]!, difficulty: 0.2 }]).spearmanDifficultyDice).toBeNull();
  });

  it('per-image CSV: header, quoting, difficulty last when present', () => {
    const csv = perImageCsv([{ ...rows[1]!, name: 'a,"b"', tercile: 'small', difficulty: 0.25 }]).split('\n');
    expect(csv[0]).toBe('name,width,height,coverage,tercile,dice,iou,precision,recall,difficulty');
    expect(csv[1]).toBe('"a,""b""",8,8,0.08,small,0.1,0.05,1,0.1,0.25');
    expect(perImageCsv(rows.slice(0, 1)).split('\n')[0]).toBe(
      'name,width,height,coverage,tercile,dice,iou,precision,recall',
    );
  });
});

describe('npm run evaluate: options', () => {
  it('--help lists the options and the exit codes; usage errors exit 2', () => {
    const help = run('--help');
    expect(help.status).toBe(0);
    for (const flag of ['--model', '--data', '--format', '--out', '--at-model-size', '--limit', '--mc'])
      expect(help.stdout).toContain(flag);
    expect(help.stdout).toMatch(/Exit status: 0 done, 1 failed .*, 2 usage error/);
    const noData = run();
    expect([noData.status, noData.stderr]).toEqual([2, 'error: --data is required (a dataset folder; see --help)\n']);
    const bad = run('--data', '.', '--format', 'synthetic', '--limit', '2');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--format must be one of auto, cvc, cvc-original, kvasir, pairs, got "synthetic"/);
    const noModel = run('--data', '.', '--model', '/nonexistent/model.onnx');
    expect([noModel.status, noModel.stderr]).toEqual([2, 'error: --model /nonexistent/model.onnx does not exist\n']);
  });
});

describe.runIf(existsSync(SAMPLE) && existsSync(CVC) && existsSync(ORIGINAL))(
  'npm run evaluate on real pairs (untrained tiny model)',
  () => {
    let fold: string;
    let model: string;

    beforeAll(() => {
      fold = join(mkdtempSync(join(tmpdir(), 'polyseg-evaluate-')), 'run', 'fold-0');
      mkdirSync(fold, { recursive: true });
      model = join(fold, 'model.onnx');
      writeFileSync(model, serialize(buildInferenceModel(presetConfig('tiny'))));
    });

    it("Kvasir-SEG-sample from a run folder: rows at each image's size, JSON, CSV, table; the Dice of an independent computation", async () => {
      const r = run('--model', join(fold, '..'), '--data', SAMPLE);
      expect(r.status, r.stderr).toBe(0);
      const out = join(fold, 'eval-Kvasir-SEG-sample');
      const rep = readReport(out);
      expect(rep.model.path).toBe(model);
      expect(rep.dataset).toMatchObject({ format: 'kvasir', pairs: 3, scored: 3, failed: 0 });
      expect(rep.images.map((i) => [i.name, i.width, i.height])).toEqual([
        ['cju0qkwl35piu0993l0dewei2', 622, 529],
        ['cju0qoxqj9q6s0835b43399p4', 1348, 1070],
        ['cju0qx73cjw570799j4n5cjze', 619, 529],
      ]);
      for (const row of rep.images)
        for (const k of ['dice', 'iou', 'precision', 'recall', 'coverage'] as const) {
          expect(row[k]).toBeGreaterThanOrEqual(0);
          expect(row[k]).toBeLessThanOrEqual(1);
        }
      expect(rep.images.map((i) => i.tercile).sort()).toEqual(['large', 'medium', 'small']);
      expect(rep.summary.all.images).toBe(3);
      const csv = readFileSync(join(out, 'per-image.csv'), 'utf8').trim().split('\n');
      expect(csv[0]).toBe('name,width,height,coverage,tercile,dice,iou,precision,recall');
      expect(csv).toHaveLength(4);
      expect(r.stdout).toMatch(/3 of 3 pairs scored at each image's own resolution/);
      for (const label of ['all', 'worst 10% by Dice', 'small foreground', 'medium foreground', 'large foreground'])
        expect(r.stdout).toContain(label);

      // The first pair recomputed without evaluate.ts: sharp's mask pixels, the prediction upsampled by index.
      const row = rep.images[0]!;
      const p = await loadPredictor(model);
      const img = await decodeImage(row.image, p.size);
      const prob = await runProbability(p, planarInput(img.rgb, p.size));
      const { data, info } = await sharp(row.mask).raw().toBuffer({ resolveWithObject: true });
      let [tp, fp, fn] = [0, 0, 0];
      for (let y = 0; y < info.height; y++) {
        for (let x = 0; x < info.width; x++) {
          const k = (y * info.width + x) * info.channels;
          const truth = Math.max(...data.subarray(k, k + info.channels)) >= 128;
          const pred =
            prob[
              Math.floor(((y + 0.5) * p.size) / info.height) * p.size + Math.floor(((x + 0.5) * p.size) / info.width)
            ]! > 0.5;
          if (pred && truth) tp++;
          else if (pred) fp++;
          else if (truth) fn++;
        }
      }
      expect(tp + fn).toBeGreaterThan(0);
      expect(row.coverage).toBeCloseTo((tp + fn) / (info.width * info.height), 12);
      expect(row.dice).toBeCloseTo((2 * tp) / (2 * tp + fp + fn), 12);
      expect(row.recall).toBeCloseTo(tp / (tp + fn), 12);
    });

    it("--at-model-size --mc --limit 2: the metrics training's loader gives, and a difficulty per image", async () => {
      const r = run('--model', model, '--data', SAMPLE, '--at-model-size', '--mc', '--mc-samples', '4', '--limit', '2');
      expect(r.status, r.stderr).toBe(0);
      const rep = readReport(join(fold, 'eval-Kvasir-SEG-sample-model-size'));
      expect(rep.config).toMatchObject({ atModelSize: true, mc: { samples: 4 } });
      expect(rep.images).toHaveLength(2);
      for (const row of rep.images) expect(Number.isFinite(row.difficulty) && row.difficulty! > 0).toBe(true);
      expect(rep.summary.all.metrics.difficulty!.n).toBe(2);
      expect(r.stdout).toMatch(/Spearman ρ\(difficulty, Dice\) = /);
      // Ground truth as the trainer loads it (loadDataset), prediction of the same resized image.
      const p = await loadPredictor(model);
      const data = await loadDataset(SAMPLE, 'kvasir', p.size, { limit: 2 });
      for (const [i, s] of data.samples.entries()) {
        const expected = imageMetrics(await runProbability(p, planarInput(s.image, p.size)), s.mask);
        expect(rep.images[i]).toMatchObject({ name: s.name, ...expected });
      }
    });

    it('CVC-ClinicDB as PNG and as the original TIFFs (--limit 2): the same scores', () => {
      const png = run('--model', model, '--data', CVC, '--limit', '2');
      const tif = run('--model', model, '--data', ORIGINAL, '--limit', '2');
      expect(png.status, png.stderr).toBe(0);
      expect(tif.status, tif.stderr).toBe(0);
      const a = readReport(join(fold, 'eval-CVC-ClinicDB'));
      const b = readReport(join(fold, 'eval-CVC-ClinicDB-original'));
      expect([a.dataset.format, b.dataset.format]).toEqual(['cvc', 'cvc-original']);
      expect(a.images.map((i) => [i.name, i.width, i.height])).toEqual([
        ['1', 384, 288],
        ['2', 384, 288],
      ]);
      const scores = (rep: Report) =>
        rep.images.map(({ name, coverage, dice, iou, precision, recall }) => ({
          name,
          coverage,
          dice,
          iou,
          precision,
          recall,
        }));
      expect(scores(b)).toEqual(scores(a));
    });

    it('skips and reports an unreadable image and a mask of the wrong size, exit 1 after scoring the rest', async () => {
      const root = mkdtempSync(join(tmpdir(), 'polyseg-evaluate-bad-'));
      mkdirSync(join(root, 'images'));
      mkdirSync(join(root, 'masks'));
      for (const name of ['cju0qkwl35piu0993l0dewei2', 'cju0qx73cjw570799j4n5cjze']) {
        symlinkSync(join(SAMPLE, 'images', `${name}.jpg`), join(root, 'images', `${name}.jpg`));
        symlinkSync(join(SAMPLE, 'masks', `${name}.jpg`), join(root, 'masks', `${name}.jpg`));
      }
      writeFileSync(join(root, 'images', 'broken.jpg'), 'not a jpeg');
      symlinkSync(join(SAMPLE, 'masks', 'cju0qkwl35piu0993l0dewei2.jpg'), join(root, 'masks', 'broken.jpg'));
      await sharp(Buffer.alloc(20 * 20 * 3, 90), { raw: { width: 20, height: 20, channels: 3 } })
        .png()
        .toFile(join(root, 'images', 'small.png'));
      await sharp(Buffer.alloc(10 * 10, 255), { raw: { width: 10, height: 10, channels: 1 } })
        .png()
        .toFile(join(root, 'masks', 'small.png'));
      const out = join(root, 'eval');
      const r = run('--model', model, '--data', root, '--out', out);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/! broken: .*broken\.jpg/);
      expect(r.stderr).toMatch(/! small: mask .*small\.png is 10×10 but its image .*small\.png is 20×20/);
      expect(r.stderr).toMatch(/error: 2 of 4 pairs could not be scored/);
      const rep = readReport(out);
      expect(rep.images.map((i) => i.name)).toEqual(['cju0qkwl35piu0993l0dewei2', 'cju0qx73cjw570799j4n5cjze']);
      expect(rep.failures.map((f) => f.name)).toEqual(['broken', 'small']);
      expect(readFileSync(join(out, 'per-image.csv'), 'utf8').trim().split('\n')).toHaveLength(3);
    });
  },
);
