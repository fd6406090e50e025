/**
 * A small reader of baseline, uncompressed, strip-organised TIFF files: the format of the original
 * CVC-ClinicDB release, whose frames libvips (and so sharp) refuses.
 *
 * Those frames say SamplesPerPixel = 3 but PhotometricInterpretation = 1 (BlackIsZero, i.e. greyscale),
 * with no ExtraSamples tag. The bytes are interleaved RGB, so a greyscale photometric interpretation
 * with three or more samples per pixel that ExtraSamples does not account for is read as RGB(A), and
 * the decoded image carries a note saying so.
 *
 * Supported: little- and big-endian ("II"/"MM") classic TIFF, first image only; Compression = 1;
 * strips (not tiles); PlanarConfiguration 1 (interleaved) or 2 (planar); 8- or 16-bit unsigned samples;
 * PhotometricInterpretation 0 (WhiteIsZero, inverted on reading), 1 (BlackIsZero) or 2 (RGB), with an
 * optional alpha channel. Anything else valid but outside that subset throws TiffUnsupportedError, so that a
 * caller can hand the file to a full decoder instead; a damaged or truncated file throws TiffError.
 */

export class TiffError extends Error {
  override name = 'TiffError';
}

/** A well-formed TIFF that uses a feature this reader doesn't implement (compression, tiles, palette, ...). */
/** More pixels than the caller allows: refused from the image directory, before any strip is read. */
export class TiffTooLargeError extends TiffError {
  constructor(
    readonly width: number,
    readonly height: number,
    maxPixels: number,
  ) {
    super(`${width}×${height} = ${width * height} pixels, more than the ${maxPixels}`);
  }
}

export class TiffUnsupportedError extends TiffError {
  override name = 'TiffUnsupportedError';
}

export interface TiffImage {
  width: number;
  height: number;
  /** 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; samples interleaved in `data`. */
  channels: 1 | 2 | 3 | 4;
  hasAlpha: boolean;
  bitsPerSample: 8 | 16;
  /** width·height·channels samples (Uint16Array when bitsPerSample is 16, in native order). */
  data: Uint8Array | Uint16Array;
  /** The header's values, as found. */
  samplesPerPixel: number;
  photometric: number;
  /** Things the reader had to interpret, e.g. the greyscale-labelled RGB quirk. */
  notes: string[];
}

const COMPRESSION: Record<number, string> = {
  2: 'CCITT RLE',
  3: 'CCITT G3',
  4: 'CCITT G4',
  5: 'LZW',
  6: 'old JPEG',
  7: 'JPEG',
  8: 'Deflate',
  32773: 'PackBits',
  32946: 'Deflate',
  34887: 'LERC',
  50000: 'ZSTD',
  50001: 'WebP',
};
const PHOTOMETRIC: Record<number, string> = {
  3: 'palette',
  4: 'transparency mask',
  5: 'CMYK',
  6: 'YCbCr',
  8: 'CIELab',
};

const TAG = {
  width: 256,
  height: 257,
  bitsPerSample: 258,
  compression: 259,
  photometric: 262,
  stripOffsets: 273,
  samplesPerPixel: 277,
  rowsPerStrip: 278,
  stripByteCounts: 279,
  planarConfig: 284,
  tileWidth: 322,
  extraSamples: 338,
  sampleFormat: 339,
} as const;

/** Bytes per value of each TIFF field type (1 BYTE … 12 DOUBLE, 16–18 BigTIFF's 8-byte integers). */
const TYPE_SIZE: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  13: 4,
  16: 8,
  17: 8,
  18: 8,
};

/** True when the bytes start with a TIFF header (either byte order, classic or BigTIFF). */
export function isTiff(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const [a, b, c, d] = [bytes[0], bytes[1], bytes[2], bytes[3]];
  return (
    (a === 0x49 && b === 0x49 && (c === 42 || c === 43) && d === 0) ||
    (a === 0x4d && b === 0x4d && c === 0 && (d === 42 || d === 43))
  );
}

/** Decode the first image of an uncompressed strip TIFF. Throws TiffError (damaged) or TiffUnsupportedError. */
export function decodeTiff(bytes: Uint8Array, options: { maxPixels?: number } = {}): TiffImage {
  const fail = (message: string): never => {
    throw new TiffError(message);
  };
  if (bytes.length < 8) fail(`not a TIFF file: ${bytes.length} bytes, too short for a header`);
  if (!isTiff(bytes)) fail('not a TIFF file: no "II*\\0" or "MM\\0*" header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = bytes[0] === 0x49;
  if (view.getUint16(2, le) === 43) throw new TiffUnsupportedError('BigTIFF is not supported');
  const u16 = (at: number): number => view.getUint16(at, le);
  const u32 = (at: number): number => view.getUint32(at, le);

  const ifd = u32(4);
  if (ifd < 8 || ifd + 2 > bytes.length)
    fail(`first image directory at byte ${ifd} lies outside the file (${bytes.length} bytes): truncated?`);
  const count = u16(ifd);
  if (ifd + 2 + count * 12 > bytes.length)
    fail(
      `image directory of ${count} entries at byte ${ifd} runs past the end of the file (${bytes.length} bytes): truncated?`,
    );

  const fields = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + i * 12;
    const tag = u16(e);
    const type = u16(e + 2);
    const n = u32(e + 4);
    const size = TYPE_SIZE[type];
    if (size === undefined) continue; // unknown field type: TIFF readers must skip it
    if (type !== 1 && type !== 3 && type !== 4) {
      fields.set(tag, []); // present, but not an integer field this reader needs
      continue;
    }
    const total = size * n;
    const at = total <= 4 ? e + 8 : u32(e + 8);
    if (at + total > bytes.length)
      fail(`tag ${tag}'s ${n} values at byte ${at} run past the end of the file (${bytes.length} bytes): truncated?`);
    const values = new Array<number>(n);
    for (let k = 0; k < n; k++)
      values[k] = type === 1 ? bytes[at + k]! : type === 3 ? u16(at + 2 * k) : u32(at + 4 * k);
    fields.set(tag, values);
  }
  const one = (tag: number, fallback?: number): number => {
    const v = fields.get(tag)?.[0] ?? fallback;
    if (v === undefined) fail(`required tag ${tag} is missing`);
    return v!;
  };

  const width = one(TAG.width);
  const height = one(TAG.height);
  if (width <= 0 || height <= 0) fail(`invalid image size ${width}×${height}`);
  const maxPixels = options.maxPixels ?? Number.POSITIVE_INFINITY;
  if (width * height > maxPixels) throw new TiffTooLargeError(width, height, maxPixels);
  const compression = one(TAG.compression, 1);
  if (compression !== 1)
    throw new TiffUnsupportedError(
      `compression ${compression} (${COMPRESSION[compression] ?? 'unknown'}) is not supported, only uncompressed`,
    );
  if (fields.has(TAG.tileWidth)) throw new TiffUnsupportedError('tiled TIFFs are not supported, only strips');
  const spp = one(TAG.samplesPerPixel, 1);
  if (spp < 1) fail(`invalid SamplesPerPixel ${spp}`);
  const bpsList = fields.get(TAG.bitsPerSample) ?? [1];
  const bps = bpsList[0]!;
  if (bpsList.some((b) => b !== bps))
    throw new TiffUnsupportedError(`mixed BitsPerSample ${bpsList.join(',')} is not supported`);
  if (bps !== 8 && bps !== 16) throw new TiffUnsupportedError(`${bps}-bit samples are not supported, only 8 or 16`);
  const sampleFormat = one(TAG.sampleFormat, 1);
  if (sampleFormat !== 1)
    throw new TiffUnsupportedError(`SampleFormat ${sampleFormat} is not supported, only unsigned integers`);
  const photometric = one(TAG.photometric, -1);
  if (photometric === -1) fail('required tag 262 (PhotometricInterpretation) is missing');
  const planar = one(TAG.planarConfig, 1);
  if (planar !== 1 && planar !== 2) fail(`invalid PlanarConfiguration ${planar}`);
  const extra = fields.get(TAG.extraSamples) ?? [];

  // Which stored samples make up the colour, and which one (if any) is alpha.
  const notes: string[] = [];
  let colour: 1 | 3;
  if (photometric === 2) {
    if (spp < 3) fail(`RGB image with ${spp} samples per pixel`);
    colour = 3;
  } else if (photometric === 0 || photometric === 1) {
    if (spp >= 3 && extra.length < spp - 1) {
      if (photometric === 0)
        throw new TiffUnsupportedError(`WhiteIsZero with ${spp} samples per pixel is not supported`);
      colour = 3;
      notes.push(
        `header says greyscale (PhotometricInterpretation ${photometric}) with ${spp} samples per pixel: read as RGB`,
      );
    } else colour = 1;
  } else
    throw new TiffUnsupportedError(
      `PhotometricInterpretation ${photometric} (${PHOTOMETRIC[photometric] ?? 'unknown'}) is not supported`,
    );
  // An extra sample right after the colour ones is alpha when ExtraSamples says so (1 associated, 2 unassociated),
  // or, for RGB, when there is exactly one unlabelled extra sample (the common RGBA without the tag).
  const firstExtra = extra[0];
  const hasAlpha =
    spp > colour &&
    (firstExtra === 1 ||
      firstExtra === 2 ||
      (firstExtra === undefined && colour === 3 && spp === 4 && photometric === 2));
  const channels = (colour + (hasAlpha ? 1 : 0)) as 1 | 2 | 3 | 4;
  if (spp > channels) notes.push(`${spp - channels} extra sample(s) per pixel ignored`);

  const bytesPerSample = bps / 8;
  const rowsPerStrip = Math.min(one(TAG.rowsPerStrip, height), height) || height;
  const stripsPerPlane = Math.ceil(height / rowsPerStrip);
  const planes = planar === 2 ? spp : 1;
  const offsets = fields.get(TAG.stripOffsets);
  if (!offsets?.length) fail('required tag 273 (StripOffsets) is missing');
  if (offsets!.length < stripsPerPlane * planes)
    fail(`${offsets!.length} strips listed, ${stripsPerPlane * planes} needed for ${height} rows of ${rowsPerStrip}`);
  const counts = fields.get(TAG.stripByteCounts);
  const rowBytes = width * (planar === 1 ? spp : 1) * bytesPerSample;

  // Gather the stored samples (all spp of them) into interleaved order, then keep `channels` of them.
  const stored = new Uint8Array(width * height * spp * bytesPerSample);
  for (let plane = 0; plane < planes; plane++) {
    for (let s = 0; s < stripsPerPlane; s++) {
      const index = plane * stripsPerPlane + s;
      const rows = Math.min(rowsPerStrip, height - s * rowsPerStrip);
      const need = rows * rowBytes;
      const at = offsets![index]!;
      const listed = counts?.[index];
      if (listed !== undefined && listed < need)
        fail(`strip ${index} holds ${listed} bytes, ${need} needed for ${rows} rows`);
      if (at + need > bytes.length)
        fail(`strip ${index} needs bytes ${at}…${at + need - 1} but the file ends at ${bytes.length}: truncated`);
      const src = bytes.subarray(at, at + need);
      if (planar === 1) stored.set(src, s * rowsPerStrip * rowBytes);
      else {
        for (let p = 0; p < rows * width; p++) {
          const dst = ((s * rowsPerStrip * width + p) * spp + plane) * bytesPerSample;
          for (let b = 0; b < bytesPerSample; b++) stored[dst + b] = src[p * bytesPerSample + b]!;
        }
      }
    }
  }

  const pixels = width * height;
  const invert = photometric === 0;
  let data: Uint8Array | Uint16Array;
  if (bps === 8) {
    if (channels === spp && !invert) data = stored;
    else {
      data = new Uint8Array(pixels * channels);
      for (let p = 0; p < pixels; p++) for (let c = 0; c < channels; c++) data[p * channels + c] = stored[p * spp + c]!;
      if (invert) for (let p = 0; p < pixels; p++) data[p * channels] = 255 - data[p * channels]!;
    }
  } else {
    const sv = new DataView(stored.buffer);
    data = new Uint16Array(pixels * channels);
    for (let p = 0; p < pixels; p++)
      for (let c = 0; c < channels; c++) data[p * channels + c] = sv.getUint16((p * spp + c) * 2, le);
    if (invert) for (let p = 0; p < pixels; p++) data[p * channels] = 65535 - data[p * channels]!;
  }
  return { width, height, channels, hasAlpha, bitsPerSample: bps, data, samplesPerPixel: spp, photometric, notes };
}
