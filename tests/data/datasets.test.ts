import { resizeRgb } from '../../src/data/preprocess.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DatasetError,
  listDataset,
  loadDataset,
  parseCvcSequences,
  summarizeDataset,
} from '../../src/data/datasets.js';
import { syntheticSet } from '../../src/data/synthetic.js';
import { CVC_DIR, CVC_ORIGINAL_DIR, KVASIR_SAMPLE_DIR } from '../fixtures/sharedData.js';

const CVC = CVC_DIR;
const ORIGINAL = CVC_ORIGINAL_DIR;
const KVASIR = KVASIR_SAMPLE_DIR;

const temps: string[] = [];
afterAll(() =>
  temps.forEach((d) => {
    rmSync(d, { recursive: true, force: true });
  }),
);
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'datasets-'));
  temps.push(d);
  return d;
}

type Pixel = (x: number, y: number) => number[];
/** Raw pixels of w×h with `channels` samples each, from a function of (x, y). */
const raw = (w: number, h: number, channels: number, f: Pixel): Buffer => {
  const b = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      f(x, y).forEach((v, c) => {
        b[(y * w + x) * channels + c] = v;
      });
  return b;
};
/** Encode an image file; 1- and 2-channel input stays grey (sharp would otherwise write RGB). */
async function write(
  path: string,
  w: number,
  h: number,
  channels: 1 | 2 | 3 | 4,
  f: Pixel,
  as: 'png' | 'jpg' | 'png16' | 'tif' | 'tif16' | 'lzw' = 'png',
): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  let p = sharp(raw(w, h, channels, f), { raw: { width: w, height: h, channels } });
  if (channels <= 2) p = p.toColourspace(as === 'png16' || as === 'tif16' ? 'grey16' : 'b-w');
  else if (as === 'png16') p = p.toColourspace('rgb16');
  const out =
    as === 'jpg'
      ? p.jpeg({ quality: 95 })
      : as === 'tif' || as === 'tif16'
        ? p.tiff({ compression: 'none' })
        : as === 'lzw'
          ? p.tiff({ compression: 'lzw' })
          : p.png();
  writeFileSync(path, await out.toBuffer());
}
const reddish: Pixel = (x, y) => [150 + (x % 50), 60 + (y % 40), 50];
const disc: Pixel = (x, y) => [Math.hypot(x - 8, y - 8) < 5 ? 255 : 0];

/** images/ + masks/ with `n` good 16×16 pairs named 1…n. */
async function pairsFolder(n = 2): Promise<string> {
  const dir = tempDir();
  for (let i = 1; i <= n; i++) {
    await write(join(dir, 'images', `${i}.png`), 16, 16, 3, reddish);
    await write(join(dir, 'masks', `${i}.png`), 16, 16, 1, disc);
  }
  return dir;
}

/** The DatasetError a promise (or function) rejects with. */
async function failure(run: () => unknown): Promise<DatasetError> {
  try {
    await run();
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error('expected a DatasetError');
}

const values = (a: Uint8Array): number[] => [...new Set(a)].sort((x, y) => x - y);

describe.runIf(existsSync(CVC))('CVC-ClinicDB (images/ + masks/)', () => {
  it('lists all 612 frames, in frame order, each with its video sequence from README.txt (29 sequences)', () => {
    const t0 = performance.now();
    const d = listDataset(CVC, 'auto');
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(d.format).toBe('cvc');
    expect(d.problems).toEqual([]);
    expect(d.items.map((i) => i.name)).toEqual(Array.from({ length: 612 }, (_, i) => String(i + 1)));
    expect(d.items[0]).toEqual({
      name: '1',
      imagePath: join(CVC, 'images', '1.png'),
      maskPath: join(CVC, 'masks', '1.png'),
      sequence: 1,
    });
    const seq = (frame: number): number | undefined => d.items[frame - 1]!.sequence;
    expect([1, 25, 26, 50, 51, 199, 200, 205, 206, 591, 592, 612].map(seq)).toEqual([
      1, 1, 2, 2, 3, 9, 10, 10, 11, 28, 29, 29,
    ]);
    const sequences = d.items.map((i) => i.sequence!);
    expect(new Set(sequences).size).toBe(29);
    expect(sequences.every((s, i) => i === 0 || s === sequences[i - 1] || s === sequences[i - 1]! + 1)).toBe(true);
  });

  it("parses the README's frame → sequence table: 29 contiguous ranges over frames 1…612", () => {
    const table = parseCvcSequences(readFileSync(join(CVC, 'README.txt'), 'latin1'));
    expect(table).toHaveLength(29);
    expect(table.map((r) => r.sequence)).toEqual(Array.from({ length: 29 }, (_, i) => i + 1));
    expect(table[0]!.from).toBe(1);
    expect(table[28]!.to).toBe(612);
    for (let i = 1; i < 29; i++) expect(table[i]!.from).toBe(table[i - 1]!.to + 1);
    expect(table[9]).toEqual({ from: 200, to: 205, sequence: 10 });
  });

  it('loads a subset: RGB uint8 size² images resized with fill, 0/1 masks thresholded at 128, with progress', async () => {
    const progress: [number, number][] = [];
    const d = await loadDataset(CVC, 'auto', 224, {
      limit: 6,
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(d).toMatchObject({ format: 'cvc', size: 224, sequences: [1, 1, 1, 1, 1, 1], errors: [] });
    expect(progress).toHaveLength(6);
    expect(progress.at(-1)).toEqual([6, 6]);
    for (const [i, s] of d.samples.entries()) {
      const n = i + 1;
      expect(s).toMatchObject({ name: String(n), width: 224, height: 224 });
      expect(s.image).toBeInstanceOf(Uint8Array);
      expect(s.image.length).toBe(224 * 224 * 3);
      expect(values(s.mask)).toEqual([0, 1]);
      // The image is the PNG squeezed to 224×224 by the one preprocessing (aspect ratio not kept).
      const expected = resizeRgb(
        await sharp(join(CVC, 'images', `${n}.png`))
          .raw()
          .toBuffer(),
        384,
        288,
        3,
        224,
        224,
      );
      expect(Buffer.from(s.image).equals(expected)).toBe(true);
      // Coverage is counted on the full-resolution mask at ≥128; the resized mask covers about as much.
      const full = await sharp(join(CVC, 'masks', `${n}.png`))
        .extractChannel(0)
        .raw()
        .toBuffer();
      const coverage = full.filter((v) => v >= 128).length / full.length;
      expect(d.info[i]).toMatchObject({ width: 384, height: 288, channels: 3 });
      expect(d.info[i]!.coverage).toBeCloseTo(coverage, 10);
      expect(s.mask.reduce((a, v) => a + v, 0) / s.mask.length).toBeCloseTo(coverage, 2);
    }
  });
});

describe.runIf(existsSync(ORIGINAL) && existsSync(CVC))(
  'CVC-ClinicDB original layout (Original/ + Ground Truth/ TIFFs)',
  () => {
    it('is detected, read with our TIFF reader, and gives exactly the samples of the PNG copy', async () => {
      const original = await loadDataset(ORIGINAL, 'auto', 96);
      expect(original.format).toBe('cvc-original');
      expect(original.items.map((i) => i.name)).toEqual([
        '1',
        '2',
        '3',
        '200',
        '201',
        '202',
        '203',
        '204',
        '205',
        '612',
      ]);
      expect(original.sequences).toEqual([1, 1, 1, 10, 10, 10, 10, 10, 10, 29]);
      expect(original.problems.join('\n')).toMatch(
        /TIFF header says greyscale .* read as RGB: 10 files \(Original\/1\.tif/,
      );
      const png = await loadDataset(CVC, 'cvc', 96, { limit: 3 });
      for (let i = 0; i < 3; i++) {
        expect(Buffer.from(original.samples[i]!.image).equals(Buffer.from(png.samples[i]!.image))).toBe(true);
        expect(Buffer.from(original.samples[i]!.mask).equals(Buffer.from(png.samples[i]!.mask))).toBe(true);
      }
    });
  },
);

describe.runIf(existsSync(KVASIR))('Kvasir-SEG (JPEG images and 3-channel JPEG masks of mixed sizes)', () => {
  it('is detected; masks are reduced to one channel, thresholded at 128 and resized to 0/1', async () => {
    const d = await loadDataset(KVASIR, 'auto', 128);
    expect(d.format).toBe('kvasir');
    expect(d.samples).toHaveLength(3);
    expect(d.sequences).toEqual([undefined, undefined, undefined]);
    expect(new Set(d.info.map((i) => `${i.width}×${i.height}`)).size).toBe(3);
    expect(d.problems.join('\n')).toMatch(/mask not strictly binary .* thresholded at 128: 3 files/);
    for (const [i, s] of d.samples.entries()) {
      expect(s.image.length).toBe(128 * 128 * 3);
      expect(s.mask.length).toBe(128 * 128);
      expect(values(s.mask)).toEqual([0, 1]);
      const { data, info } = await sharp(d.items[i]!.maskPath!).raw().toBuffer({ resolveWithObject: true });
      expect(info.channels).toBe(3);
      let fg = 0;
      for (let k = 0; k < data.length; k += 3) if (Math.max(data[k]!, data[k + 1]!, data[k + 2]!) >= 128) fg++;
      expect(d.info[i]!.coverage).toBeCloseTo(fg / (info.width * info.height), 10);
      expect(s.mask.reduce((a, v) => a + v, 0) / s.mask.length).toBeCloseTo(d.info[i]!.coverage, 1);
    }
    const summary = summarizeDataset(d);
    expect(summary.pairs).toBe(3);
    expect(summary.imageMean[0]).toBeGreaterThan(summary.imageMean[2]); // reddish
  });
});

describe('image/mask pairs matched by name', () => {
  it('image and mask folders (any of the usual names), mask stems with a suffix, natural order, mixed sizes', async () => {
    const dir = tempDir();
    for (const [name, w, h] of [
      ['img10', 30, 20],
      ['img2', 16, 16],
      ['img1', 24, 12],
    ] as const) {
      await write(join(dir, 'frames', `${name}.jpg`), w, h, 3, reddish);
      await write(join(dir, 'labels', `${name}_mask.png`), w, h, 1, (x) => [x < w / 2 ? 255 : 0]);
    }
    await write(join(dir, 'labels', 'orphan.png'), 8, 8, 1, disc);
    writeFileSync(join(dir, 'frames', 'notes.txt'), 'not an image');
    const d = await loadDataset(dir, 'auto', 8);
    expect(d.format).toBe('pairs');
    expect(d.items.map((i) => i.name)).toEqual(['img1', 'img2', 'img10']);
    expect(d.items[0]!.maskPath).toBe(join(dir, 'labels', 'img1_mask.png'));
    expect(d.info.map((i) => [i.width, i.height])).toEqual([
      [24, 12],
      [16, 16],
      [30, 20],
    ]);
    for (const s of d.samples) {
      for (let y = 0; y < 8; y++) expect([...s.mask.subarray(y * 8, y * 8 + 8)]).toEqual([1, 1, 1, 1, 0, 0, 0, 0]); // left half
    }
    expect(d.problems.join('\n')).toMatch(/mask without an image, ignored: 1 file \(labels\/orphan\.png\)/);
    expect(d.problems.join('\n')).toMatch(/not an image file, ignored: 1 file \(frames\/notes\.txt\)/);
    expect(d.sequences).toEqual([undefined, undefined, undefined]);
  });

  it('one flat folder: X.png beside X_mask.png / X-seg.png', async () => {
    const dir = tempDir();
    await write(join(dir, 'a.png'), 16, 16, 3, reddish);
    await write(join(dir, 'a_mask.png'), 16, 16, 1, disc);
    await write(join(dir, 'b.jpg'), 16, 16, 3, reddish);
    await write(join(dir, 'b-seg.png'), 16, 16, 1, disc);
    const d = listDataset(dir, 'auto');
    expect(d.format).toBe('pairs');
    expect(d.items).toEqual([
      { name: 'a', imagePath: join(dir, 'a.png'), maskPath: join(dir, 'a_mask.png') },
      { name: 'b', imagePath: join(dir, 'b.jpg'), maskPath: join(dir, 'b-seg.png') },
    ]);
  });

  it('images/ + masks/ of PNGs without a CVC README is pairs; with one it is cvc', async () => {
    const dir = await pairsFolder();
    expect(listDataset(dir, 'auto').format).toBe('pairs');
    writeFileSync(join(dir, 'README.txt'), 'CVC-ClinicDB\n|  1 to  1  |  4  |\n');
    const d = listDataset(dir, 'auto');
    expect(d.format).toBe('cvc');
    expect(d.items.map((i) => i.sequence)).toEqual([4, undefined]);
    expect(d.problems.join('\n')).toMatch(/frame not in .*README\.txt's sequence table .*: 1 file \(images\/2\.png\)/);
  });
});

describe('the synthetic set', () => {
  it('is the default without a folder, and loadDataset gives syntheticSet(count, size, seed)', async () => {
    expect(listDataset(undefined, 'auto').items).toHaveLength(80);
    const d = await loadDataset(undefined, 'auto', 32, { syntheticCount: 5, seed: 7 });
    expect(d).toMatchObject({
      format: 'synthetic',
      size: 32,
      sequences: [undefined, undefined, undefined, undefined, undefined],
      problems: [],
    });
    expect(d.samples).toEqual(syntheticSet(5, 32, 7));
    expect((await loadDataset(undefined, 'synthetic', 32, { syntheticCount: 5, seed: 7, limit: 2 })).samples).toEqual(
      syntheticSet(2, 32, 7),
    );
  });
});

describe('bad input: a DatasetError naming the file or option', () => {
  it.each([
    [
      'garbage bytes',
      async (p: string) => writeFileSync(p, 'this is not an image'),
      /unreadable image .*3\.png: .*unsupported image format/,
    ],
    ['an empty file', async (p: string) => writeFileSync(p, ''), /unreadable image .*3\.png: the file is empty/],
    [
      'a truncated PNG',
      async (p: string) => {
        await write(p, 64, 64, 3, (x, y) => [(x * 37 + y * 11) % 256, (x * y) % 256, 7]);
        const bytes = readFileSync(p);
        writeFileSync(p, bytes.subarray(0, bytes.length >> 1));
      },
      /unreadable or truncated image .*3\.png/,
    ],
    [
      'a truncated JPEG',
      async (p: string) => {
        await write(p, 64, 64, 3, (x, y) => [(x * 37 + y * 11) % 256, (x * y) % 256, 7], 'jpg');
        const bytes = readFileSync(p);
        writeFileSync(p, bytes.subarray(0, bytes.length >> 1));
      },
      /unreadable or truncated image .*3\.png: (.*premature end|corrupt or incomplete data)/i,
    ],
  ])('unreadable image: %s', async (_, make, message) => {
    const dir = await pairsFolder(3);
    await write(join(dir, 'masks', '3.png'), 64, 64, 1, disc);
    await make(join(dir, 'images', '3.png'));
    const e = await failure(() => loadDataset(dir, 'auto', 8));
    expect(e.message).toMatch(message);
    expect(e.path).toBe(join(dir, 'images', '3.png'));
  });

  it('a truncated TIFF in the original CVC layout', async () => {
    const dir = tempDir();
    await write(join(dir, 'Original', '1.tif'), 40, 30, 3, reddish, 'tif');
    await write(join(dir, 'Ground Truth', '1.tif'), 40, 30, 1, disc, 'tif');
    expect((await loadDataset(dir, 'auto', 8)).format).toBe('cvc-original');
    const p = join(dir, 'Original', '1.tif');
    writeFileSync(p, readFileSync(p).subarray(0, 2000));
    const e = await failure(() => loadDataset(dir, 'auto', 8));
    expect(e.message).toMatch(/unreadable or truncated image .*Original\/1\.tif: .*truncated/);
    expect(e.path).toBe(p);
  });

  it('a compressed TIFF our reader does not handle is handed to sharp', async () => {
    const dir = tempDir();
    await write(join(dir, 'images', 'a.tif'), 12, 12, 3, reddish, 'lzw');
    await write(join(dir, 'masks', 'a.tif'), 12, 12, 1, disc, 'lzw');
    const d = await loadDataset(dir, 'pairs', 12);
    const expected = raw(12, 12, 3, reddish);
    expect(Buffer.from(d.samples[0]!.image).equals(expected)).toBe(true);
    expect([...d.samples[0]!.mask]).toEqual([...raw(12, 12, 1, disc)].map((v) => v / 255));
  });

  it('mask missing', async () => {
    const dir = await pairsFolder(3);
    rmSync(join(dir, 'masks', '2.png'));
    const e = await failure(() => listDataset(dir, 'auto'));
    expect(e.message).toMatch(
      /mask missing for 1 image: .*images\/2\.png \(looked in .*masks for a file with the same name\)/,
    );
    expect(e.path).toBe(join(dir, 'images', '2.png'));
  });

  it('mask of another size than its image', async () => {
    const dir = await pairsFolder(2);
    await write(join(dir, 'masks', '2.png'), 20, 10, 1, disc);
    const e = await failure(() => loadDataset(dir, 'auto', 8));
    expect(e.message).toMatch(/mask .*masks\/2\.png is 20×10 but its image .*images\/2\.png is 16×16/);
    expect(e.path).toBe(join(dir, 'masks', '2.png'));
  });

  it.each(['png16', 'tif16'] as const)('16-bit mask (%s)', async (as) => {
    const dir = await pairsFolder(1);
    rmSync(join(dir, 'masks', '1.png'));
    const p = join(dir, 'masks', `1.${as === 'png16' ? 'png' : 'tif'}`);
    await write(p, 16, 16, 1, (x) => [x < 8 ? 255 : 0], as);
    expect((await sharp(p).metadata()).depth).toBe('ushort');
    const e = await failure(() => loadDataset(dir, 'auto', 8));
    expect(e.message).toMatch(/16-bit mask .*masks\/1\.(png|tif): masks must be 8-bit/);
    expect(e.path).toBe(p);
  });

  it('empty dataset, and folders that are not datasets', async () => {
    const empty = tempDir();
    expect((await failure(() => listDataset(empty, 'auto'))).message).toMatch(
      /empty dataset: no image\/mask pairs in .* \(as pairs/,
    );
    const emptyFolders = tempDir();
    mkdirSync(join(emptyFolders, 'images'));
    mkdirSync(join(emptyFolders, 'masks'));
    expect((await failure(() => loadDataset(emptyFolders, 'auto', 8))).message).toMatch(/empty dataset/);
    const onlyImages = await pairsFolder(1);
    rmSync(join(onlyImages, 'masks'), { recursive: true });
    expect((await failure(() => listDataset(onlyImages, 'auto'))).message).toMatch(
      /masks missing: .* has an image folder .*images.* but no mask folder/,
    );
    expect((await failure(() => listDataset(join(empty, 'nope'), 'auto'))).message).toMatch(
      /dataset folder not found: .*nope/,
    );
    const file = join(empty, 'file.png');
    writeFileSync(file, '');
    expect((await failure(() => listDataset(file, 'auto'))).message).toMatch(/not a folder: .*file\.png/);
    expect((await failure(() => listDataset(onlyImages, 'cvc-original'))).message).toMatch(
      /not in the cvc-original layout: no Original\/ folder/,
    );
  });

  it('unknown format, format without a folder, bad size or limit, ambiguous names', async () => {
    const dir = await pairsFolder(1);
    expect((await failure(() => listDataset(dir, 'bmp' as never))).message).toBe(
      'unknown dataset format "bmp": expected one of auto, cvc, cvc-original, kvasir, pairs, synthetic',
    );
    expect((await failure(() => loadDataset(undefined, 'kvasir', 8))).message).toMatch(
      /format kvasir needs a dataset folder \(--data\)/,
    );
    expect((await failure(() => loadDataset(dir, 'auto', 0))).message).toMatch(
      /size must be a positive integer, got 0/,
    );
    expect((await failure(() => loadDataset(dir, 'auto', 8, { limit: 1.5 }))).message).toMatch(
      /limit must be a positive integer, got 1.5/,
    );
    await write(join(dir, 'images', '1.jpg'), 16, 16, 3, reddish, 'jpg');
    expect((await failure(() => listDataset(dir, 'auto'))).message).toMatch(
      /two images for "1": .*images\/1\.jpg and .*images\/1\.png; keep one/,
    );
  });

  it('skipBad (check-data) loads the good pairs and lists every bad one, in order', async () => {
    const dir = await pairsFolder(4);
    writeFileSync(join(dir, 'images', '3.png'), 'junk');
    await write(join(dir, 'masks', '1.png'), 9, 9, 1, disc);
    const d = await loadDataset(dir, 'auto', 8, { skipBad: true });
    expect(d.items.map((i) => i.name)).toEqual(['2', '4']);
    expect(d.samples).toHaveLength(2);
    expect(d.errors).toHaveLength(2);
    expect(d.errors[0]).toMatch(/masks\/1\.png is 9×9/);
    expect(d.errors[1]).toMatch(/unreadable image .*images\/3\.png/);
  });
});

describe('input that is fixed on the way, with a warning in problems', () => {
  const load = async (image: [1 | 2 | 3 | 4, Pixel, ('png' | 'png16')?], mask: [1 | 3, Pixel]) => {
    const dir = tempDir();
    await write(join(dir, 'images', 'x.png'), 10, 10, image[0], image[1], image[2]);
    await write(join(dir, 'masks', 'x.png'), 10, 10, mask[0], mask[1]);
    const d = await loadDataset(dir, 'pairs', 10);
    return { sample: d.samples[0]!, problems: d.problems.join('\n'), info: d.info[0]! };
  };
  const rgb: Pixel = (x, y) => [10 * x, 20 * y, 7];
  const half: Pixel = (x) => [x < 5 ? 255 : 0];
  const leftHalf = Array.from({ length: 100 }, (_, p) => (p % 10 < 5 ? 1 : 0));

  it('a clean RGB pair has no problems', async () => {
    const r = await load([3, rgb], [1, half]);
    expect(r.problems).toBe('');
    expect(Buffer.from(r.sample.image).equals(raw(10, 10, 3, rgb))).toBe(true);
    expect([...r.sample.mask]).toEqual(leftHalf);
  });

  it('RGBA image: alpha dropped', async () => {
    const r = await load([4, (x, y) => [...rgb(x, y), x * 25]], [1, half]);
    expect(r.info.channels).toBe(4);
    expect(Buffer.from(r.sample.image).equals(raw(10, 10, 3, rgb))).toBe(true);
    expect(r.problems).toMatch(/image with an alpha channel: alpha dropped: 1 file \(images\/x\.png\)/);
  });

  it('grey image (and grey + alpha): replicated to RGB', async () => {
    for (const channels of [1, 2] as const) {
      const r = await load([channels, (x, y) => [x * 20 + y, 255]], [1, half]);
      expect(Buffer.from(r.sample.image).equals(raw(10, 10, 3, (x, y) => [x * 20 + y, x * 20 + y, x * 20 + y]))).toBe(
        true,
      );
      expect(r.problems).toMatch(/grey image: replicated to RGB: 1 file/);
      if (channels === 2) expect(r.problems).toMatch(/alpha dropped/);
    }
  });

  it('16-bit image: reduced to 8 bits', async () => {
    const r = await load([3, rgb, 'png16'], [1, half]);
    expect(Buffer.from(r.sample.image).equals(raw(10, 10, 3, rgb))).toBe(true);
    expect(r.problems).toMatch(/16-bit image: reduced to 8 bits: 1 file/);
  });

  it('grey-level mask: thresholded at 128 (values ≥ 128 are foreground)', async () => {
    const levels = [0, 1, 100, 127, 128, 129, 200, 254, 255, 60];
    const r = await load([3, rgb], [1, (x) => [levels[x]!]]);
    expect([...r.sample.mask.subarray(0, 10)]).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1, 0]);
    expect(r.info.coverage).toBeCloseTo(0.5, 10);
    expect(r.problems).toMatch(/mask not strictly binary .*thresholded at 128: 1 file \(masks\/x\.png\)/);
  });

  it('0/1 mask: foreground where 1; coloured mask: any bright channel is foreground; empty mask: warned', async () => {
    const zeroOne = await load([3, rgb], [1, (x) => [x < 5 ? 1 : 0]]);
    expect([...zeroOne.sample.mask]).toEqual(leftHalf);
    expect(zeroOne.problems).toMatch(/mask holds 0\/1, not 0\/255: foreground where 1/);
    const red = await load([3, rgb], [3, (x) => (x < 5 ? [255, 0, 0] : [0, 0, 0])]);
    expect([...red.sample.mask]).toEqual(leftHalf);
    expect(red.problems).toBe('');
    const empty = await load([3, rgb], [1, () => [0]]);
    expect(values(empty.sample.mask)).toEqual([0]);
    expect(empty.problems).toMatch(/empty mask \(no foreground\): 1 file/);
  });
});
