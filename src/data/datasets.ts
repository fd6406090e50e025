/**
 * Segmentation datasets: listing, decoding and resizing image/mask pairs into `Sample`s.
 *
 * Formats:
 * - `cvc`: CVC-ClinicDB as `images/N.png` + `masks/N.png` (any image type sharp reads), with the release's
 *   README.txt giving the frame → video-sequence table (for sequence-grouped splits).
 * - `cvc-original`: the release's own layout, `Original/N.tif` + `Ground Truth/N.tif` (+ README.txt). Its TIFFs
 *   say greyscale but hold RGB, and sharp refuses them; they are read with our own reader (tiff.ts).
 * - `kvasir`: Kvasir-SEG, `images/ID.jpg` + `masks/ID.jpg`, sizes differ from pair to pair, masks are 3-channel JPEGs.
 * - `pairs`: any folder of image/mask pairs matched by file stem: an image folder and a mask folder
 *   (images|image|imgs|img|frames|inputs + masks|mask|labels|gt|ground truth|annotations), or one flat folder
 *   with `X.png` beside `X_mask.png` (also -mask, _seg, _gt, _label, _segmentation). A mask's stem may carry
 *   one of those suffixes in the folder layout too.
 * - `synthetic`: the built-in synthetic polyp set (synthetic.ts), the default when no folder is given.
 * - `auto`: Original/ + Ground Truth/ → cvc-original; images/ + masks/ with a README.txt mentioning CVC → cvc;
 *   images/ + masks/ holding JPEGs → kvasir; any other folder → pairs; no folder → synthetic.
 *
 * Every sample is decoded and resized once and kept in memory as uint8 (RGB HWC image, 0/1 mask): 612 CVC
 * frames at 224² take 92 MB of images and 31 MB of masks. Images are resized with sharp's `fill` fit, so the
 * aspect ratio is NOT kept (384×288 frames are squeezed to square) — as in the method, which resizes every
 * image to 224×224. Masks are reduced to one channel (the maximum of R, G, B, so coloured masks work too),
 * thresholded at 128 (a mask holding only 0 and 1 is read as 0/1) and resized with nearest neighbour.
 *
 * Bad input throws DatasetError naming the file (or option): unreadable or truncated images, a missing mask,
 * a mask of another size than its image, a 16-bit mask, an empty dataset, an unknown format. Things that are
 * fixed on the way are listed in `problems` instead: masks that aren't strictly binary (thresholded), grey
 * images (replicated to RGB), images with alpha (dropped), 16-bit images (reduced to 8 bits), empty masks,
 * files that aren't images, masks without an image, frames without a sequence.
 */
import { type Dirent, readdirSync, readFileSync, type Stats, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { IMAGE_EXTENSIONS, IMAGE_FORMATS, IMAGE_TYPE_NAMES } from '../common/imageTypes.js';
import { median } from '../common/stats.js';
import { nearestResize, resizeRgb } from './preprocess.js';
import { syntheticSample } from './synthetic.js';
import type { Sample } from './sample.js';
import { TiffTooLargeError, TiffUnsupportedError, decodeTiff, isTiff } from './tiff.js';

export type DatasetFormat = 'auto' | 'cvc' | 'cvc-original' | 'kvasir' | 'pairs' | 'synthetic';
export type ResolvedFormat = Exclude<DatasetFormat, 'auto'>;
export const DATASET_FORMATS: readonly DatasetFormat[] = [
  'auto',
  'cvc',
  'cvc-original',
  'kvasir',
  'pairs',
  'synthetic',
];
export const isDatasetFormat = (s: string): s is DatasetFormat => (DATASET_FORMATS as readonly string[]).includes(s);

/** Images in the synthetic set unless told otherwise (the train CLI's default too). */
/** The project's copy of CVC-ClinicDB (../shared/data/README.md), relative to the repository root. */
export const PROJECT_CVC_DIR = '../shared/data/CVC-ClinicDB';

export const DEFAULT_SYNTHETIC_COUNT = 80;
export const DEFAULT_SYNTHETIC_SEED = 0;
/** Mask pixels at or above this (0–255) are foreground. */
export const MASK_THRESHOLD = 128;
/** Files decoded at once (sharp works on libuv's thread pool). */
export const LOAD_CONCURRENCY = 8;

export class DatasetError extends Error {
  override name = 'DatasetError';
  /** The offending file or folder, when there is one (it is also in the message). */
  readonly path: string | undefined;
  constructor(message: string, path?: string) {
    super(message);
    this.path = path;
  }
}

export interface DatasetItem {
  name: string;
  imagePath?: string;
  maskPath?: string;
  /** CVC-ClinicDB video sequence (1–29) from the release's README.txt; undefined for other datasets. */
  sequence?: number;
}

export interface DatasetListing {
  format: ResolvedFormat;
  dir?: string;
  items: DatasetItem[];
  problems: string[];
}

/** What was found about one pair while decoding it (before resizing). */
export interface ItemInfo {
  name: string;
  width: number;
  height: number;
  /** Channels of the stored image: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
  channels: number;
  /** Fraction of foreground pixels of the thresholded mask at full resolution. */
  coverage: number;
}

export interface LoadedDataset {
  format: ResolvedFormat;
  dir?: string;
  size: number;
  /** The listed items, in the order of `samples` (after `limit`, and without the ones skipped by `skipBad`). */
  items: DatasetItem[];
  samples: Sample[];
  /** One per sample: its video sequence (CVC), else undefined. */
  sequences: (number | undefined)[];
  info: ItemInfo[];
  /** Warnings: things fixed or worth knowing; never fatal. */
  problems: string[];
  /** With `skipBad`: one message per pair that could not be loaded (each names the file). Else always empty. */
  errors: string[];
}

export interface LoadOptions {
  /** Only the first N pairs, in listing order (frames 1, 2, 3, … for CVC). */
  limit?: number;
  /** Seed of the synthetic set. */
  seed?: number;
  /** Images in the synthetic set (default 80). */
  syntheticCount?: number;
  onProgress?: (done: number, total: number) => void;
  /** Files decoded at once (default 8). */
  concurrency?: number;
  /** Skip pairs that fail to load, listing why in `errors`, instead of throwing on the first (check-data). */
  skipBad?: boolean;
}

/**
 * Files a dataset listing takes for images: the types we decode, and WebP and GIF, which are listed
 * so that such a file pairs with its mask and then fails to decode naming its format, instead of
 * being ignored as "not an image file".
 */
const LISTED_EXTENSIONS = new Set([...IMAGE_EXTENSIONS, '.webp', '.gif']);
const IMAGE_DIRS = ['images', 'image', 'imgs', 'img', 'frames', 'inputs', 'input'];
const MASK_DIRS = ['masks', 'mask', 'labels', 'label', 'gt', 'ground truth', 'groundtruth', 'annotations'];
const MASK_SUFFIX = /[_-](mask|masks|seg|segmentation|gt|label|labels)$/i;
const IGNORED_FILES = new Set(['thumbs.db', 'desktop.ini']);

const collator = new Intl.Collator('en', { numeric: true });
const stemOf = (file: string): string => file.slice(0, file.length - extname(file).length);

// ---------------------------------------------------------------------------------------------------------
// Listing

/** Warnings about files, grouped by kind: "kind: 3 files: a, b, c". */
class ProblemLog {
  private readonly kinds = new Map<string, string[]>();
  constructor(private readonly root?: string) {}
  add(kind: string, file?: string): void {
    const files = this.kinds.get(kind) ?? [];
    if (file !== undefined) files.push(this.root ? relative(this.root, file) || file : file);
    this.kinds.set(kind, files);
  }
  lines(): string[] {
    return [...this.kinds].map(([kind, files]) => (files.length ? `${kind}: ${fileList(files)}` : kind));
  }
}

function fileList(files: readonly string[], show = 5): string {
  const head = files.slice(0, show).join(', ');
  const n = files.length;
  return `${n} file${n === 1 ? '' : 's'} (${head}${n > show ? `, … ${n - show} more` : ''})`;
}

interface Folder {
  path: string;
  /** Subfolders by lower-case name → real name. */
  dirs: Map<string, string>;
  files: string[];
}

function readFolder(path: string): Folder {
  let entries: Dirent[];
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch (e) {
    throw new DatasetError(`cannot read folder ${path}: ${(e as Error).message}`, path);
  }
  const dirs = new Map<string, string>();
  const files: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      try {
        const s = statSync(join(path, e.name));
        isDir = s.isDirectory();
        isFile = s.isFile();
      } catch {
        continue; // dangling link
      }
    }
    if (isDir) dirs.set(e.name.toLowerCase(), e.name);
    else if (isFile) files.push(e.name);
  }
  files.sort(collator.compare);
  return { path, dirs, files };
}

const subfolder = (f: Folder, names: readonly string[]): string | undefined => {
  for (const n of names) {
    const real = f.dirs.get(n);
    if (real !== undefined) return join(f.path, real);
  }
  return undefined;
};

/** Image files of a folder (sorted, natural order); other files are reported. */
function imageFiles(folder: string, log: ProblemLog): string[] {
  const f = readFolder(folder);
  const out: string[] = [];
  for (const name of f.files) {
    if (LISTED_EXTENSIONS.has(extname(name).toLowerCase())) out.push(join(folder, name));
    else if (!IGNORED_FILES.has(name.toLowerCase())) log.add('not an image file, ignored', join(folder, name));
  }
  return out;
}

function byStem(files: readonly string[], role: 'image' | 'mask', stripSuffix: boolean): Map<string, string> {
  const map = new Map<string, string>();
  for (const file of files) {
    const name = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
    let stem = stemOf(name);
    if (stripSuffix) stem = stem.replace(MASK_SUFFIX, '');
    const other = map.get(stem);
    if (other !== undefined) throw new DatasetError(`two ${role}s for "${stem}": ${other} and ${file}; keep one`, file);
    map.set(stem, file);
  }
  return map;
}

/** Match images to masks by stem; a mask missing is an error, a mask without an image a warning. */
function pairUp(
  images: readonly string[],
  masks: readonly string[],
  maskWhere: string,
  log: ProblemLog,
): DatasetItem[] {
  const imageMap = byStem(images, 'image', false);
  const maskMap = byStem(masks, 'mask', true);
  // A mask folder may use the images' own stems with a suffix; the exact stem wins when both exist.
  for (const m of masks) {
    const name = m.slice(Math.max(m.lastIndexOf('/'), m.lastIndexOf('\\')) + 1);
    if (imageMap.has(stemOf(name))) maskMap.set(stemOf(name), m);
  }
  const items: DatasetItem[] = [];
  const missing: string[] = [];
  for (const [stem, imagePath] of imageMap) {
    const maskPath = maskMap.get(stem);
    if (maskPath === undefined) missing.push(imagePath);
    else items.push({ name: stem, imagePath, maskPath });
  }
  if (missing.length) {
    throw new DatasetError(
      `mask missing for ${missing.length} image${missing.length === 1 ? '' : 's'}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''} (looked in ${maskWhere} for a file with the same name)`,
      missing[0],
    );
  }
  const used = new Set(items.map((i) => i.maskPath));
  for (const m of masks) if (!used.has(m)) log.add('mask without an image, ignored', m);
  return items;
}

/** The frame → sequence table of CVC-ClinicDB's README.txt: lines like "|  1 to  25  |  1  |". */
export function parseCvcSequences(text: string): { from: number; to: number; sequence: number }[] {
  const out: { from: number; to: number; sequence: number }[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /(\d+)\s*to\s*(\d+)\s*\|\s*(\d+)/i.exec(line);
    if (m) out.push({ from: Number(m[1]), to: Number(m[2]), sequence: Number(m[3]) });
  }
  return out;
}

function readReadme(dir: Folder): { path: string; text: string } | undefined {
  const name = dir.files.find((f) => /^readme(\.txt|\.md)?$/i.test(f));
  if (name === undefined) return undefined;
  const path = join(dir.path, name);
  return { path, text: readFileSync(path, 'latin1') }; // the CVC README is Latin-1
}

function assignSequences(items: DatasetItem[], root: Folder, log: ProblemLog): void {
  const readme = readReadme(root);
  const table = readme ? parseCvcSequences(readme.text) : [];
  if (!readme) {
    log.add(`no README.txt in ${root.path}: video sequences unknown (sequence-grouped splits unavailable)`);
    return;
  }
  if (!table.length) {
    log.add(`${readme.path} has no frame → sequence table: video sequences unknown`);
    return;
  }
  for (const item of items) {
    const frame = /^\d+$/.test(item.name) ? Number(item.name) : NaN;
    const row = table.find((r) => frame >= r.from && frame <= r.to);
    if (row) item.sequence = row.sequence;
    else log.add(`frame not in ${readme.path}'s sequence table (sequence unknown)`, item.imagePath);
  }
}

function detect(root: Folder): ResolvedFormat {
  if (root.dirs.has('original') && root.dirs.has('ground truth')) return 'cvc-original';
  const images = subfolder(root, ['images']);
  if (images && subfolder(root, ['masks'])) {
    if (/CVC/.test(readReadme(root)?.text ?? '')) return 'cvc';
    const files = readFolder(images).files;
    const jpegs = files.filter((f) => /\.jpe?g$/i.test(f)).length;
    if (jpegs > 0 && jpegs >= files.length / 2) return 'kvasir';
  }
  return 'pairs';
}

const syntheticName = (i: number): string => `synthetic-${String(i).padStart(4, '0')}`;

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new DatasetError(`${name} must be a positive integer, got ${value}`);
  return v;
}

/** List a dataset's pairs without decoding anything. Throws DatasetError on a folder that isn't a usable dataset. */
export function listDataset(
  dir: string | undefined,
  format: DatasetFormat,
  options: { syntheticCount?: number } = {},
): DatasetListing {
  if (!isDatasetFormat(format))
    throw new DatasetError(`unknown dataset format "${format}": expected one of ${DATASET_FORMATS.join(', ')}`);
  if (dir === undefined || dir === '' || format === 'synthetic') {
    if (format !== 'auto' && format !== 'synthetic')
      throw new DatasetError(`format ${format} needs a dataset folder (--data)`);
    const count = positiveInteger('syntheticCount', options.syntheticCount, DEFAULT_SYNTHETIC_COUNT);
    const problems = dir ? [`format synthetic: the folder ${dir} is not used`] : [];
    return {
      format: 'synthetic',
      items: Array.from({ length: count }, (_, i) => ({ name: syntheticName(i) })),
      problems,
    };
  }
  let st: Stats;
  try {
    st = statSync(dir);
  } catch {
    throw new DatasetError(`dataset folder not found: ${dir}`, dir);
  }
  if (!st.isDirectory()) throw new DatasetError(`not a folder: ${dir} (--data takes the dataset's folder)`, dir);

  const root = readFolder(dir);
  const resolved = format === 'auto' ? detect(root) : format;
  const log = new ProblemLog(dir);
  const need = (names: readonly string[], what: string): string => {
    const found = subfolder(root, names);
    if (!found) throw new DatasetError(`${dir} is not in the ${resolved} layout: no ${what} folder in it`, dir);
    return found;
  };
  let items: DatasetItem[];
  if (resolved === 'cvc-original' || resolved === 'cvc' || resolved === 'kvasir') {
    const [imgDir, maskDir] =
      resolved === 'cvc-original'
        ? [need(['original'], 'Original/'), need(['ground truth'], '"Ground Truth/"')]
        : [need(['images'], 'images/'), need(['masks'], 'masks/')];
    items = pairUp(imageFiles(imgDir, log), imageFiles(maskDir, log), maskDir, log);
    if (resolved !== 'kvasir') assignSequences(items, root, log);
  } else {
    const imgDir = subfolder(root, IMAGE_DIRS);
    const maskDir = subfolder(root, MASK_DIRS);
    if (imgDir && maskDir) items = pairUp(imageFiles(imgDir, log), imageFiles(maskDir, log), maskDir, log);
    else if (imgDir)
      throw new DatasetError(
        `masks missing: ${dir} has an image folder (${imgDir}) but no mask folder (${MASK_DIRS.join('/, ')}/)`,
        imgDir,
      );
    else if (maskDir)
      throw new DatasetError(
        `images missing: ${dir} has a mask folder (${maskDir}) but no image folder (${IMAGE_DIRS.join('/, ')}/)`,
        maskDir,
      );
    else {
      // One flat folder: X.png beside X_mask.png.
      const files = imageFiles(dir, log);
      const isMask = (f: string): boolean => MASK_SUFFIX.test(stemOf(f));
      const masks = files.filter(isMask);
      items = masks.length
        ? pairUp(
            files.filter((f) => !isMask(f)),
            masks,
            `${dir} (as NAME_mask.EXT)`,
            log,
          )
        : [];
    }
  }
  if (!items.length) {
    throw new DatasetError(
      `empty dataset: no image/mask pairs in ${dir} (as ${resolved}; expected images/ + masks/, Original/ + "Ground Truth/", or X.png beside X_mask.png)`,
      dir,
    );
  }
  items.sort((a, b) => collator.compare(a.name, b.name));
  return { format: resolved, dir, items, problems: log.lines() };
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

interface Opened {
  width: number;
  height: number;
  /** Stored channels, alpha included. */
  channels: number;
  hasAlpha: boolean;
  bits: number;
  /** A fresh sharp pipeline over the decoded (TIFF) or encoded (anything else) image. */
  pipeline: () => Sharp;
  /** Full-resolution pixels when already decoded (our TIFF reader), 8-bit. */
  pixels?: Uint8Array;
  notes: string[];
}

/** An error's message on one line: libvips's distinct lines, without its "warning treated as error" preamble. */
function errorText(e: unknown): string {
  const lines = [
    ...new Set(
      String((e as Error)?.message ?? e)
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean),
    ),
  ];
  const useful = lines.filter((l) => !/treated as error due to failOn/i.test(l));
  if (!useful.length && lines.length) return 'corrupt or incomplete data (libvips stopped on a decoder warning)'; // libvips sometimes drops the warning's text
  return useful.slice(0, 3).join('; ');
}

async function openImage(path: string, role: 'image' | 'mask'): Promise<Opened> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new DatasetError(`cannot read ${role} ${path}: ${errorText(e)}`, path);
  }
  return openImageBytes(buf, path, role);
}

/**
 * The most pixels an image may have: 50 MP (150 MB as RGB, a few times that while resizing) keeps a
 * decompression bomb (a 746 kB PNG of 16000² took 2.4 GB) from exhausting a 2-core, 24 GiB machine
 * running the server, while 8K frames (33 MP) still pass.
 */
export const MAX_DECODED_PIXELS = 50_000_000;

const tooManyPixels = (role: string, path: string, width: number, height: number): DatasetError =>
  new DatasetError(
    `${role} ${path} is ${width}×${height} = ${width * height} pixels, more than the ${MAX_DECODED_PIXELS} this toolkit decodes (MAX_DECODED_PIXELS)`,
    path,
  );

/** Open image bytes (our TIFF reader first, else sharp); `path` names them in errors. */
async function openImageBytes(buf: Buffer, path: string, role: 'image' | 'mask'): Promise<Opened> {
  if (buf.length === 0) throw new DatasetError(`unreadable ${role} ${path}: the file is empty`, path);
  const notes: string[] = [];
  if (isTiff(buf)) {
    try {
      const t = decodeTiff(buf, { maxPixels: MAX_DECODED_PIXELS });
      notes.push(...t.notes.map((n) => `TIFF ${n}`));
      let pixels: Uint8Array;
      if (t.bitsPerSample === 16) {
        if (role === 'mask')
          throw new DatasetError(`16-bit mask ${path}: masks must be 8-bit (0/255 or 0/1); convert it to 8 bits`, path);
        pixels = Uint8Array.from(t.data as Uint16Array, (v) => Math.round(v / 257));
      } else pixels = t.data as Uint8Array;
      const raw = { width: t.width, height: t.height, channels: t.channels };
      return {
        width: t.width,
        height: t.height,
        channels: t.channels,
        hasAlpha: t.hasAlpha,
        bits: t.bitsPerSample,
        pipeline: () => sharp(pixels, { raw }),
        pixels,
        notes,
      };
    } catch (e) {
      if (e instanceof DatasetError) throw e;
      if (e instanceof TiffTooLargeError) throw tooManyPixels(role, path, e.width, e.height);
      if (!(e instanceof TiffUnsupportedError))
        throw new DatasetError(`unreadable or truncated ${role} ${path}: ${errorText(e)}`, path);
      // A TIFF feature our reader lacks (e.g. LZW, tiles): let libvips try.
    }
  }
  let meta: Metadata;
  try {
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new DatasetError(`unreadable ${role} ${path}: ${errorText(e)}`, path);
  }
  // Only what a dataset, the server and the batch tools accept (libvips would also render SVG, GIF, …),
  // and no more pixels than MAX_DECODED_PIXELS, checked on the header before anything is decoded.
  if (!IMAGE_FORMATS.includes(meta.format ?? '')) {
    throw new DatasetError(
      `unsupported ${role} format "${meta.format ?? 'unknown'}" in ${path}: ${IMAGE_TYPE_NAMES}`,
      path,
    );
  }
  if (meta.width * meta.height > MAX_DECODED_PIXELS) throw tooManyPixels(role, path, meta.width, meta.height);
  const bits =
    meta.depth === 'ushort' || meta.depth === 'short' ? 16 : meta.depth === 'uchar' || meta.depth === 'char' ? 8 : 32;
  if (role === 'mask' && bits !== 8)
    throw new DatasetError(`${bits}-bit mask ${path}: masks must be 8-bit (0/255 or 0/1); convert it to 8 bits`, path);
  return {
    width: meta.width,
    height: meta.height,
    channels: meta.channels ?? 3,
    hasAlpha: meta.hasAlpha ?? false,
    bits,
    pipeline: () => sharp(buf),
    notes,
  };
}

/** Full-resolution RGB (3 channels) of an opened image, alpha dropped. */
async function fullRgb(o: Opened, path: string, role: string): Promise<Uint8Array> {
  if (o.pixels && o.channels === 3) return o.pixels;
  try {
    const { data, info } = await o
      .pipeline()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== o.width * o.height * 3)
      throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}`);
    return data;
  } catch (e) {
    throw new DatasetError(`unreadable or truncated ${role} ${path}: ${errorText(e)}`, path);
  }
}

/** An opened image as size×size RGB through the one preprocessing (src/data/preprocess.ts). 'fill': the aspect ratio is not kept. */
async function resizedRgb(img: Opened, path: string, size: number): Promise<Uint8Array> {
  return resizeRgb(await fullRgb(img, path, 'image'), img.width, img.height, 3, size, size);
}

export interface DecodedImage {
  /** Original size. */
  width: number;
  height: number;
  /** size×size interleaved RGB, as training sees it. */
  rgb: Uint8Array;
  /** The original image as a sharp pipeline (overlays at full size). */
  pipeline: () => Sharp;
  notes: string[];
}

/** Image bytes decoded exactly as training decodes them (our TIFF reader first, else sharp); `label` names them in errors. */
export async function decodeImageBytes(bytes: Uint8Array, size: number, label: string): Promise<DecodedImage> {
  const img = await openImageBytes(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), label, 'image');
  return {
    width: img.width,
    height: img.height,
    rgb: await resizedRgb(img, label, size),
    pipeline: img.pipeline,
    notes: img.notes,
  };
}

/** One image file decoded exactly as training decodes it, size×size RGB. */
export async function decodeImage(path: string, size: number): Promise<DecodedImage> {
  const img = await openImage(path, 'image');
  return {
    width: img.width,
    height: img.height,
    rgb: await resizedRgb(img, path, size),
    pipeline: img.pipeline,
    notes: img.notes,
  };
}

/** A ground-truth mask at full resolution, 0/1 per pixel, with what was noticed reading it. */
export interface FullMask {
  width: number;
  height: number;
  mask: Uint8Array;
  foreground: number;
  /** The file held 0/1 (foreground where 1) rather than 0/255. */
  zeroOne: boolean;
  notes: string[];
}

/** One channel (max of R, G, B), foreground where ≥ MASK_THRESHOLD, or where 1 in a 0/1 mask. */
async function binaryMask(msk: Opened, path: string): Promise<FullMask> {
  const notes = [...msk.notes];
  if (msk.hasAlpha) notes.push('mask with an alpha channel: alpha ignored');
  const pixels = msk.width * msk.height;
  let grey: Uint8Array;
  if (msk.pixels && msk.channels === 1) grey = msk.pixels;
  else {
    const rgb = await fullRgb(msk, path, 'mask');
    grey = new Uint8Array(pixels);
    for (let p = 0, k = 0; p < pixels; p++, k += 3) grey[p] = Math.max(rgb[k]!, rgb[k + 1]!, rgb[k + 2]!);
  }
  let max = 0;
  let between = 0;
  for (let p = 0; p < pixels; p++) {
    const v = grey[p]!;
    if (v > max) max = v;
    if (v !== 0 && v !== 255) between++;
  }
  const zeroOne = max === 1;
  const threshold = zeroOne ? 1 : MASK_THRESHOLD;
  if (zeroOne) notes.push('mask holds 0/1, not 0/255: foreground where 1');
  else if (between)
    notes.push(
      `mask not strictly binary (grey levels, e.g. anti-aliased borders or JPEG noise): thresholded at ${MASK_THRESHOLD}`,
    );
  const mask = new Uint8Array(pixels);
  let foreground = 0;
  for (let p = 0; p < pixels; p++) {
    if (grey[p]! >= threshold) {
      mask[p] = 1;
      foreground++;
    }
  }
  if (!foreground) notes.push('empty mask (no foreground)');
  return { width: msk.width, height: msk.height, mask, foreground, zeroOne, notes };
}

/** A mask file read as training reads it, at full resolution (0/1); DatasetError naming the file otherwise. */
export async function decodeMask(path: string): Promise<FullMask> {
  return binaryMask(await openImage(path, 'mask'), path);
}

interface Decoded {
  sample: Sample;
  info: ItemInfo;
  problems: { kind: string; file: string }[];
}

async function decodePair(item: DatasetItem, size: number): Promise<Decoded> {
  const imagePath = item.imagePath!;
  const maskPath = item.maskPath!;
  const [img, msk] = await Promise.all([openImage(imagePath, 'image'), openImage(maskPath, 'mask')]);
  if (img.width !== msk.width || img.height !== msk.height) {
    throw new DatasetError(
      `mask ${maskPath} is ${msk.width}×${msk.height} but its image ${imagePath} is ${img.width}×${img.height}`,
      maskPath,
    );
  }
  const problems: { kind: string; file: string }[] = [];
  const note = (kind: string, file: string): void => void problems.push({ kind, file });
  for (const n of img.notes) note(n, imagePath);
  const colour = img.channels - (img.hasAlpha ? 1 : 0);
  if (colour === 1) note('grey image: replicated to RGB', imagePath);
  if (img.hasAlpha) note('image with an alpha channel: alpha dropped', imagePath);
  if (img.bits !== 8) note(`${img.bits}-bit image: reduced to 8 bits`, imagePath);

  const image = await resizedRgb(img, imagePath, size);
  // Mask: thresholded at full resolution, then the one nearest-neighbour resize.
  const full = await binaryMask(msk, maskPath);
  for (const n of full.notes) note(n, maskPath);
  const mask = nearestResize(full.mask, msk.width, msk.height, size, size);
  return {
    sample: { image, mask, width: size, height: size, name: item.name },
    info: {
      name: item.name,
      width: img.width,
      height: img.height,
      channels: img.channels,
      coverage: full.foreground / (msk.width * msk.height),
    },
    problems,
  };
}

/** Run `fn` over 0…count-1, `limit` at a time, results in order; stops scheduling after the first failure. */
async function pool<R>(count: number, limit: number, fn: (i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(count);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const i = next++;
      try {
        out[i] = await fn(i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return out;
}

/**
 * List, decode and resize a dataset into memory. `dir` undefined (or format 'synthetic') gives the synthetic set.
 * Images: RGB uint8 HWC, size×size; masks: 0/1 uint8, size×size. Throws DatasetError naming the offending file.
 */
export async function loadDataset(
  dir: string | undefined,
  format: DatasetFormat,
  size: number,
  options: LoadOptions = {},
): Promise<LoadedDataset> {
  positiveInteger('size', size, size);
  if (options.limit !== undefined) positiveInteger('limit', options.limit, options.limit);
  const concurrency = positiveInteger('concurrency', options.concurrency, LOAD_CONCURRENCY);
  const listing = listDataset(dir, format, { syntheticCount: options.syntheticCount });
  const items = options.limit !== undefined ? listing.items.slice(0, options.limit) : listing.items;
  const total = items.length;
  const done = { n: 0 };
  const tick = (): void => {
    done.n++;
    options.onProgress?.(done.n, total);
  };

  if (listing.format === 'synthetic') {
    const seed = options.seed ?? DEFAULT_SYNTHETIC_SEED;
    const samples: Sample[] = [];
    for (let i = 0; i < total; i++) {
      samples.push(syntheticSample(i, size, seed));
      tick();
    }
    const info = samples.map((s) => ({
      name: s.name,
      width: size,
      height: size,
      channels: 3,
      coverage: s.mask.reduce((a, v) => a + v, 0) / s.mask.length,
    }));
    return {
      format: 'synthetic',
      size,
      items,
      samples,
      sequences: samples.map(() => undefined),
      info,
      problems: listing.problems,
      errors: [],
    };
  }

  const failures: { index: number; message: string }[] = [];
  const results = await pool(total, concurrency, async (i) => {
    try {
      return await decodePair(items[i]!, size);
    } catch (e) {
      const err =
        e instanceof DatasetError
          ? e
          : new DatasetError(`${items[i]!.imagePath}: ${errorText(e)}`, items[i]!.imagePath);
      if (!options.skipBad) throw err;
      failures.push({ index: i, message: err.message });
      return undefined;
    } finally {
      tick();
    }
  });
  const log = new ProblemLog(listing.dir);
  const kept: DatasetItem[] = [];
  const samples: Sample[] = [];
  const info: ItemInfo[] = [];
  results.forEach((r, i) => {
    if (!r) return;
    kept.push(items[i]!);
    samples.push(r.sample);
    info.push(r.info);
    for (const p of r.problems) log.add(p.kind, p.file);
  });
  // In listing order, whatever order the decodes finished in.
  const errors = failures.sort((a, b) => a.index - b.index).map((f) => f.message);
  if (!samples.length)
    throw new DatasetError(
      `empty dataset: none of the ${total} pairs in ${listing.dir} could be loaded; first error: ${errors[0]}`,
      listing.dir,
    );
  return {
    format: listing.format,
    dir: listing.dir,
    size,
    items: kept,
    samples,
    sequences: kept.map((it) => it.sequence),
    info,
    problems: [...listing.problems, ...log.lines()],
    errors,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Summary (npm run check-data)

export interface DatasetSummary {
  format: ResolvedFormat;
  dir?: string;
  pairs: number;
  size: number;
  /** Source sizes "W×H" → number of pairs, most frequent first. */
  sourceSizes: { width: number; height: number; count: number }[];
  sequences: { count: number; known: number };
  /** Per-channel mean and standard deviation of the resized images, in [0, 1], R G B. */
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  /** Foreground fraction of the thresholded full-resolution masks. */
  coverage: { mean: number; median: number; min: number; max: number; empty: number };
  problems: string[];
  errors: string[];
}

export function summarizeDataset(d: LoadedDataset): DatasetSummary {
  const sizes = new Map<string, { width: number; height: number; count: number }>();
  for (const i of d.info) {
    const key = `${i.width}×${i.height}`;
    const s = sizes.get(key) ?? { width: i.width, height: i.height, count: 0 };
    s.count++;
    sizes.set(key, s);
  }
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  let pixels = 0;
  for (const s of d.samples) {
    const img = s.image;
    for (let k = 0; k < img.length; k += 3) {
      for (let c = 0; c < 3; c++) {
        const v = img[k + c]!;
        sum[c]! += v;
        sq[c]! += v * v;
      }
    }
    pixels += img.length / 3;
  }
  const mean = sum.map((v) => v / pixels / 255) as [number, number, number];
  const std = sq.map((v, c) => Math.sqrt(Math.max(0, v / pixels / 65025 - mean[c]! ** 2))) as [number, number, number];
  const cov = d.info.map((i) => i.coverage).sort((a, b) => a - b);
  const known = d.sequences.filter((s) => s !== undefined) as number[];
  return {
    format: d.format,
    ...(d.dir !== undefined ? { dir: d.dir } : {}),
    pairs: d.samples.length,
    size: d.size,
    sourceSizes: [...sizes.values()].sort((a, b) => b.count - a.count || b.width * b.height - a.width * a.height),
    sequences: { count: new Set(known).size, known: known.length },
    imageMean: mean,
    imageStd: std,
    coverage: {
      mean: cov.reduce((a, v) => a + v, 0) / cov.length,
      median: median(cov),
      min: cov[0]!,
      max: cov[cov.length - 1]!,
      empty: cov.filter((c) => c === 0).length,
    },
    problems: d.problems,
    errors: d.errors,
  };
}
