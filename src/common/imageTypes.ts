/**
 * The image types the toolkit reads: PNG, JPEG and TIFF, in one table. The decoder's check of
 * sharp's format (src/data/datasets.ts), the file filters of the dataset listing and the batch
 * tools, and the content types the server accepts are all derived from it. A row added here must
 * also be one the decoder can read (sharp has no BMP decoder, for one).
 */
export const IMAGE_TYPES = [
  { name: 'PNG', format: 'png', extensions: ['.png'], mimeTypes: ['image/png'] },
  // image/jpg is not a registered type, but some clients send it.
  { name: 'JPEG', format: 'jpeg', extensions: ['.jpg', '.jpeg'], mimeTypes: ['image/jpeg', 'image/jpg'] },
  { name: 'TIFF', format: 'tiff', extensions: ['.tif', '.tiff'], mimeTypes: ['image/tiff'] },
] as const;

/** sharp's `metadata().format` of each type. */
export const IMAGE_FORMATS: readonly string[] = IMAGE_TYPES.map((t) => t.format);
/** File extensions, lower case with the dot: ['.png', '.jpg', '.jpeg', '.tif', '.tiff']. */
export const IMAGE_EXTENSIONS: readonly string[] = IMAGE_TYPES.flatMap((t) => t.extensions);
/** Content types of an image upload. */
export const IMAGE_MIME_TYPES: readonly string[] = IMAGE_TYPES.flatMap((t) => t.mimeTypes);
/** For messages: "PNG, JPEG or TIFF". */
export const IMAGE_TYPE_NAMES = `${IMAGE_TYPES.slice(0, -1)
  .map((t) => t.name)
  .join(', ')} or ${IMAGE_TYPES.at(-1)!.name}`;
