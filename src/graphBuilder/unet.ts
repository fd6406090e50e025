/**
 * U-Net (Ronneberger et al., MICCAI 2015) for binary segmentation: an encoder of double-conv
 * blocks and 2x2 max-pools, a bottleneck, a decoder of 2x2 up-convolutions concatenated with the
 * encoder's skip connections, and a 1x1 convolution to one logit per pixel.
 * Departures from the paper, as in most modern U-Nets: "same" padding (output size = input size,
 * no cropping) and optional normalization after each convolution.
 */
import { deriveSeed, prng } from '../common/prng.js';
import { type Graph, constant, op1, scope } from './graph.js';
import { type DropoutControls, type NormKind, conv2d, doubleConv, dropout, maxPool2x2, upConv2x2 } from './layers.js';
import type { Value } from './types.js';

export interface UNetConfig {
  /** Number of 2x2 down-samplings (the paper: 4). */
  depth: number;
  /** Channels of the first level; level i has base·2^i (the paper: 64). */
  base: number;
  norm: NormKind;
  /** Groups for group normalization; must divide every level's width. */
  groups: number;
  /** Where MC-Dropout layers sit (METHOD.md §3 leaves it open) and their default probability. */
  dropout: { bottleneck: boolean; decoder: boolean; p: number };
  inChannels: number;
  /** Seed of the weight initialization and of the Dropout nodes. */
  seed: number;
}

/** How dropout behaves in the graph being built. */
export type DropoutMode =
  | { kind: 'none' } // inference: no Dropout nodes at all
  // MC-Dropout, N samples per image; shareEncoder: compute everything before the first Dropout
  // once per image (default), or repeat the input itself (the plain formulation, for comparison).
  | { kind: 'mc'; controls: DropoutControls; samples: number; shareEncoder?: boolean };

export interface UNetOutputs {
  logits: Value; // [B·S, 1, H, W], S = samples (1 without MC)
}

/**
 * Repeat each image's activations S times along the batch axis: [B,C,h,w] → [B·S,C,h,w], image-major,
 * so every later Dropout draws an independent mask per sample.
 */
function repeatSamples(g: Graph, v: Value, samples: number): Value {
  return scope(g, 'repeat', () => {
    const [b, ...rest] = v.shape as [number, ...number[]];
    const expanded = op1(g, 'Expand', [
      op1(g, 'Unsqueeze', [v, constant(g, 'axes', 'int64', [1], [1])]),
      constant(g, 'shape', 'int64', [5], [b, samples, ...rest]),
    ]);
    return op1(g, 'Reshape', [expanded, constant(g, 'flat_shape', 'int64', [4], [b * samples, ...rest])]);
  });
}

export function unet(g: Graph, image: Value, cfg: UNetConfig, mode: DropoutMode): UNetOutputs {
  const rng = prng(cfg.seed);
  const width = (level: number): number => cfg.base * 2 ** level;
  const skips: Value[] = [];
  // Everything before the first Dropout is computed once per image and shared by the S samples:
  // `sampled` repeats the live activations (current and skips) at that point, once.
  let repeated = mode.kind !== 'mc' || mode.samples === 1;
  // Seeds by the Dropout's position among the network's own nodes, not the graph's, so that the same
  // network gets the same seeds wherever it is built (a one-step graph or the K-step Loop's body).
  const first = g.nodes.length;
  const drop = (x: Value): Value => {
    if (mode.kind !== 'mc') return x;
    if (!repeated) {
      repeated = true;
      skips.forEach((s, i) => {
        skips[i] = scope(g, `skip${i}`, () => repeatSamples(g, s, mode.samples));
      });
      x = repeatSamples(g, x, mode.samples);
    }
    return dropout(
      g,
      x,
      mode.controls,
      deriveSeed(cfg.seed, `dropout:${mode.controls.stream}:${g.nodes.length - first}`),
    );
  };

  let x = image;
  if (mode.kind === 'mc' && mode.shareEncoder === false && !repeated) {
    repeated = true;
    x = scope(g, 'input', () => repeatSamples(g, image, mode.samples));
  }
  for (let i = 0; i < cfg.depth; i++) {
    x = scope(g, `down${i}`, () => {
      const y = doubleConv(g, x, width(i), cfg.norm, cfg.groups, rng);
      skips.push(y);
      return maxPool2x2(g, y);
    });
  }
  x = scope(g, 'bottleneck', () => {
    const y = doubleConv(g, x, width(cfg.depth), cfg.norm, cfg.groups, rng);
    return cfg.dropout.bottleneck ? drop(y) : y;
  });
  for (let i = cfg.depth - 1; i >= 0; i--) {
    x = scope(g, `up${i}`, () => {
      const up = scope(g, 'upconv', () => upConv2x2(g, x, width(i), rng));
      const cat = op1(g, 'Concat', [skips[i]!, up], { axis: 1 });
      const y = doubleConv(g, cat, width(i), cfg.norm, cfg.groups, rng);
      return cfg.dropout.decoder ? drop(y) : y;
    });
  }
  const logits = scope(g, 'head', () => conv2d(g, x, 1, 1, rng));
  return { logits };
}
