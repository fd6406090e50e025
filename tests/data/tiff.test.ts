import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { TiffError, TiffTooLargeError, TiffUnsupportedError, decodeTiff, isTiff } from '../../src/data/tiff.js';
import { CVC_DIR, CVC_ORIGINAL_DIR } from '../fixtures/sharedData.js';

const ORIGINAL = CVC_ORIGINAL_DIR;
const FRAMES = [1, 2, 3, 200, 201, 202, 203, 204, 205, 612];

interface TiffSpec {
  width: number;
  height: number;
  spp: number;
  bps?: 8 | 16;
  photometric: number;
  planar?: 1 | 2;
  rowsPerStrip?: number;
  extraSamples?: number[];
  compression?: number;
  bigEndian?: boolean;
  omitByteCounts?: boolean;
  tiled?: boolean;
  /** Samples in interleaved order (width·height·spp). */
  samples: number[];
}

/** A baseline TIFF written by hand: header, strips, then the image directory (like the CVC release). */
function buildTiff(s: TiffSpec): Uint8Array {
  const le = !s.bigEndian;
  const bps = s.bps ?? 8;
  const bytes = bps / 8;
  const planar = s.planar ?? 1;
  const rps = s.rowsPerStrip ?? s.height;
  const stripsPerPlane = Math.ceil(s.height / rps);
  const strips: Uint8Array[] = [];
  const put = (out: DataView, at: number, v: number): void =>
    bytes === 1 ? out.setUint8(at, v) : out.setUint16(at, v, le);
  for (let plane = 0; plane < (planar === 2 ? s.spp : 1); plane++) {
    for (let k = 0; k < stripsPerPlane; k++) {
      const rows = Math.min(rps, s.height - k * rps);
      const perPixel = planar === 1 ? s.spp : 1;
      const strip = new Uint8Array(rows * s.width * perPixel * bytes);
      const view = new DataView(strip.buffer);
      for (let p = 0; p < rows * s.width; p++) {
        const pixel = k * rps * s.width + p;
        for (let c = 0; c < perPixel; c++)
          put(view, (p * perPixel + c) * bytes, s.samples[pixel * s.spp + (planar === 1 ? c : plane)]!);
      }
      strips.push(strip);
    }
  }
  const offsets: number[] = [];
  let at = 8;
  for (const st of strips) {
    offsets.push(at);
    at += st.length;
  }
  // Out-of-line values: BitsPerSample (if spp > 2), StripOffsets and StripByteCounts (if > 1 strip), ExtraSamples.
  const entries: { tag: number; type: number; values: number[] }[] = [
    { tag: 256, type: 4, values: [s.width] },
    { tag: 257, type: 4, values: [s.height] },
    { tag: 258, type: 3, values: Array<number>(s.spp).fill(bps) },
    { tag: 259, type: 3, values: [s.compression ?? 1] },
    { tag: 262, type: 3, values: [s.photometric] },
    { tag: 273, type: 4, values: offsets },
    { tag: 277, type: 3, values: [s.spp] },
    { tag: 278, type: 3, values: [rps] },
    ...(s.omitByteCounts ? [] : [{ tag: 279, type: 4, values: strips.map((x) => x.length) }]),
    { tag: 284, type: 3, values: [planar] },
    ...(s.tiled ? [{ tag: 322, type: 3, values: [16] }] : []),
    ...(s.extraSamples ? [{ tag: 338, type: 3, values: s.extraSamples }] : []),
  ];
  const extraStart = at;
  const extras: { entry: number; bytes: Uint8Array }[] = [];
  let extraLength = 0;
  entries.forEach((e, i) => {
    const size = e.type === 3 ? 2 : 4;
    if (e.values.length * size > 4) {
      const b = new Uint8Array(e.values.length * size);
      const v = new DataView(b.buffer);
      e.values.forEach((x, k) => {
        if (size === 2) v.setUint16(k * 2, x, le);
        else v.setUint32(k * 4, x, le);
      });
      extras.push({ entry: i, bytes: b });
      extraLength += b.length;
    }
  });
  const ifd = extraStart + extraLength;
  const total = ifd + 2 + entries.length * 12 + 4;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  out.set(le ? [0x49, 0x49] : [0x4d, 0x4d]);
  v.setUint16(2, 42, le);
  v.setUint32(4, ifd, le);
  for (let k = 0; k < strips.length; k++) out.set(strips[k]!, offsets[k]!);
  let extraAt = extraStart;
  const extraOffset = new Map<number, number>();
  for (const x of extras) {
    out.set(x.bytes, extraAt);
    extraOffset.set(x.entry, extraAt);
    extraAt += x.bytes.length;
  }
  v.setUint16(ifd, entries.length, le);
  entries.forEach((e, i) => {
    const p = ifd + 2 + i * 12;
    v.setUint16(p, e.tag, le);
    v.setUint16(p + 2, e.type, le);
    v.setUint32(p + 4, e.values.length, le);
    const off = extraOffset.get(i);
    if (off !== undefined) v.setUint32(p + 8, off, le);
    else
      e.values.forEach((x, k) => {
        if (e.type === 3) v.setUint16(p + 8 + 2 * k, x, le);
        else v.setUint32(p + 8, x, le);
      });
  });
  return out;
}

const ramp = (n: number, scale = 1, mod = 256): number[] => Array.from({ length: n }, (_, i) => (i * scale) % mod);

describe.runIf(existsSync(ORIGINAL))('CVC-ClinicDB original TIFFs', () => {
  it.each(FRAMES)('frame %i: image and ground truth decode byte for byte like the PNGs in CVC-ClinicDB/', async (n) => {
    const image = decodeTiff(readFileSync(join(ORIGINAL, 'Original', `${n}.tif`)));
    expect(image).toMatchObject({
      width: 384,
      height: 288,
      channels: 3,
      hasAlpha: false,
      bitsPerSample: 8,
      samplesPerPixel: 3,
      photometric: 1,
    });
    expect(image.notes.join()).toMatch(/greyscale .* 3 samples per pixel: read as RGB/);
    const png = await sharp(join(CVC_DIR, 'images', `${n}.png`))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(png.info).toMatchObject({ width: 384, height: 288, channels: 3 });
    expect(Buffer.from(image.data as Uint8Array).equals(png.data)).toBe(true);

    const truth = decodeTiff(readFileSync(join(ORIGINAL, 'Ground Truth', `${n}.tif`)));
    expect(truth).toMatchObject({ width: 384, height: 288, channels: 1, bitsPerSample: 8, notes: [] });
    const mask = await sharp(join(CVC_DIR, 'masks', `${n}.png`))
      .extractChannel(0)
      .raw()
      .toBuffer();
    expect(Buffer.from(truth.data as Uint8Array).equals(mask)).toBe(true);
  });

  it('colours are really RGB: the three channels differ (a greyscale reading would not)', () => {
    const { data } = decodeTiff(readFileSync(join(ORIGINAL, 'Original', '1.tif')));
    let r = 0;
    let b = 0;
    for (let k = 0; k < data.length; k += 3) {
      r += data[k]!;
      b += data[k + 2]!;
    }
    expect(r / b).toBeGreaterThan(1.5); // reddish mucosa
  });

  it('a truncated copy of a release frame is refused, saying so', () => {
    const bytes = readFileSync(join(ORIGINAL, 'Original', '1.tif'));
    expect(() => decodeTiff(bytes.subarray(0, 200_000))).toThrow(/truncated/);
  });
});

describe('decodeTiff on hand-built files', () => {
  it('refuses more pixels than maxPixels from the image directory, before reading strips', () => {
    const samples = Array.from({ length: 5 * 7 * 3 }, (_, k) => k % 256);
    const bytes = buildTiff({ width: 5, height: 7, spp: 3, photometric: 2, rowsPerStrip: 3, samples });
    expect(() => decodeTiff(bytes, { maxPixels: 34 })).toThrow(TiffTooLargeError);
    expect(() => decodeTiff(bytes, { maxPixels: 34 })).toThrow(/5×7 = 35 pixels, more than the 34/);
    expect(decodeTiff(bytes, { maxPixels: 35 }).width).toBe(5);
  });

  it.each([false, true])('RGB, 8-bit, several strips (last one short), big-endian=%s', (bigEndian) => {
    const samples = ramp(5 * 7 * 3, 7);
    const t = decodeTiff(
      buildTiff({ width: 5, height: 7, spp: 3, photometric: 2, rowsPerStrip: 3, bigEndian, samples }),
    );
    expect(t).toMatchObject({ width: 5, height: 7, channels: 3, hasAlpha: false, bitsPerSample: 8, notes: [] });
    expect([...t.data]).toEqual(samples);
  });

  it('planar configuration 2 is interleaved on reading', () => {
    const samples = ramp(4 * 3 * 3, 11);
    const t = decodeTiff(
      buildTiff({ width: 4, height: 3, spp: 3, photometric: 2, planar: 2, rowsPerStrip: 2, samples }),
    );
    expect([...t.data]).toEqual(samples);
  });

  it('16-bit grey, both byte orders, and missing StripByteCounts', () => {
    const samples = ramp(6 * 2, 5000, 65536);
    for (const bigEndian of [false, true]) {
      const t = decodeTiff(
        buildTiff({ width: 6, height: 2, spp: 1, bps: 16, photometric: 1, bigEndian, omitByteCounts: true, samples }),
      );
      expect(t.bitsPerSample).toBe(16);
      expect(t.data).toBeInstanceOf(Uint16Array);
      expect([...t.data]).toEqual(samples);
    }
  });

  it('WhiteIsZero is inverted', () => {
    const t = decodeTiff(buildTiff({ width: 2, height: 2, spp: 1, photometric: 0, samples: [0, 10, 200, 255] }));
    expect([...t.data]).toEqual([255, 245, 55, 0]);
  });

  it('RGBA with ExtraSamples = unassociated alpha; grey + alpha; extra non-alpha samples are dropped', () => {
    const rgba = ramp(3 * 2 * 4, 9);
    expect(
      decodeTiff(buildTiff({ width: 3, height: 2, spp: 4, photometric: 2, extraSamples: [2], samples: rgba })),
    ).toMatchObject({ channels: 4, hasAlpha: true, data: Uint8Array.from(rgba) });
    const ga = ramp(3 * 2 * 2, 13);
    expect(
      decodeTiff(buildTiff({ width: 3, height: 2, spp: 2, photometric: 1, extraSamples: [2], samples: ga })),
    ).toMatchObject({ channels: 2, hasAlpha: true, data: Uint8Array.from(ga) });
    const rgbx = ramp(2 * 2 * 4, 17);
    const t = decodeTiff(buildTiff({ width: 2, height: 2, spp: 4, photometric: 2, extraSamples: [0], samples: rgbx }));
    expect(t.channels).toBe(3);
    expect([...t.data]).toEqual(rgbx.filter((_, i) => i % 4 !== 3));
    expect(t.notes.join()).toMatch(/1 extra sample/);
  });

  it('the CVC quirk: greyscale photometric with 3 samples per pixel is read as RGB, with a note', () => {
    const samples = ramp(4 * 4 * 3, 3);
    const t = decodeTiff(buildTiff({ width: 4, height: 4, spp: 3, photometric: 1, samples }));
    expect(t.channels).toBe(3);
    expect([...t.data]).toEqual(samples);
    expect(t.notes).toHaveLength(1);
  });

  it.each([
    ['grey', 1],
    ['rgb', 3],
    ['rgba', 4],
  ] as const)('agrees with sharp on an uncompressed %s TIFF that sharp wrote', async (_, channels) => {
    const width = 37;
    const height = 21;
    const raw = Buffer.from(ramp(width * height * channels, 7));
    let pipeline = sharp(raw, { raw: { width, height, channels } });
    if (channels === 1) pipeline = pipeline.toColourspace('b-w');
    const file = await pipeline.tiff({ compression: 'none' }).toBuffer();
    const t = decodeTiff(file);
    expect(t).toMatchObject({ width, height, channels, hasAlpha: channels === 4 });
    expect(Buffer.from(t.data as Uint8Array).equals(raw)).toBe(true);
  });
});

describe('decodeTiff refuses what it cannot read', () => {
  const rgb = buildTiff({ width: 8, height: 8, spp: 3, photometric: 2, rowsPerStrip: 4, samples: ramp(8 * 8 * 3) });

  it('not a TIFF, too short, truncated pixel data', () => {
    expect(isTiff(rgb)).toBe(true);
    expect(isTiff(Buffer.from('\x89PNG'))).toBe(false);
    expect(() => decodeTiff(Buffer.from('GIF89a........'))).toThrow(/not a TIFF file/);
    expect(() => decodeTiff(rgb.subarray(0, 6))).toThrow(/too short/);
    // Strips first, directory last: cutting the file loses the directory (as with the CVC frames)...
    expect(() => decodeTiff(rgb.subarray(0, 100))).toThrow(/truncated/);
    // ...and a directory pointing past the end of the file is caught too.
    const cut = buildTiff({ width: 8, height: 8, spp: 3, photometric: 2, samples: ramp(8 * 8 * 3) });
    const view = new DataView(cut.buffer);
    const ifd = view.getUint32(4, true);
    const offsetsEntry = ifd + 2 + 5 * 12; // StripOffsets, one strip: value inline
    view.setUint32(offsetsEntry + 8, cut.length - 10, true);
    expect(() => decodeTiff(cut)).toThrow(TiffError);
    expect(() => decodeTiff(cut)).toThrow(/strip 0 .* truncated/);
  });

  it('compressed, tiled and palette images are TiffUnsupportedError (callers fall back to a full decoder)', async () => {
    expect(() =>
      decodeTiff(buildTiff({ width: 2, height: 2, spp: 1, photometric: 1, compression: 5, samples: [1, 2, 3, 4] })),
    ).toThrow(TiffUnsupportedError);
    expect(() =>
      decodeTiff(buildTiff({ width: 2, height: 2, spp: 1, photometric: 1, compression: 5, samples: [1, 2, 3, 4] })),
    ).toThrow(/compression 5 \(LZW\)/);
    expect(() =>
      decodeTiff(buildTiff({ width: 2, height: 2, spp: 1, photometric: 1, tiled: true, samples: [1, 2, 3, 4] })),
    ).toThrow(/tiled/);
    expect(() => decodeTiff(buildTiff({ width: 2, height: 2, spp: 1, photometric: 3, samples: [1, 2, 3, 4] }))).toThrow(
      /palette/,
    );
    const lzw = await sharp(Buffer.from(ramp(4 * 4 * 3)), { raw: { width: 4, height: 4, channels: 3 } })
      .tiff({ compression: 'lzw' })
      .toBuffer();
    expect(() => decodeTiff(lzw)).toThrow(TiffUnsupportedError);
  });
});
