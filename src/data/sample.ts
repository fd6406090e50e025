/**
 * The image type every part of the toolkit passes around: one training or test image at the model's
 * size, as the loader (datasets.ts) and the synthetic set (synthetic.ts) make it, the batcher and the
 * MC phase read it. The planar float layout the models take is made from it by `toPlanar`
 * (preprocess.ts).
 */
export interface Sample {
  /** RGB, interleaved, H·W·3 bytes. */
  image: Uint8Array;
  /** 0/1 per pixel, H·W bytes. */
  mask: Uint8Array;
  width: number;
  height: number;
  name: string;
}
