/**
 * Network building blocks as plain functions over a graph: each adds its parameters (named in
 * the current scope) and nodes, and returns its output value.
 */
import { type Prng, normal } from '../common/prng.js';
import { type Graph, constant, op, op1, param, scope } from './graph.js';
import type { Value } from './types.js';

/** He-normal weights (std = sqrt(2 / fan_in)), He et al. 2015, drawn from a seeded stream. */
function heNormal(rng: Prng, count: number, fanIn: number): Float32Array {
  const std = Math.sqrt(2 / fanIn);
  const w = new Float32Array(count);
  for (let i = 0; i < count; i++) w[i] = normal(rng) * std;
  return w;
}

/** 3x3 (or k×k) convolution with "same" padding and bias. */
export function conv2d(g: Graph, x: Value, outChannels: number, k: number, rng: Prng): Value {
  const cin = x.shape[1]!;
  const w = param(g, 'weight', [outChannels, cin, k, k], () => heNormal(rng, outChannels * cin * k * k, cin * k * k));
  const b = param(g, 'bias', [outChannels], () => new Float32Array(outChannels));
  const p = (k - 1) / 2;
  return op1(g, 'Conv', [x, w, b], {
    dilations: [1, 1],
    group: 1,
    kernel_shape: [k, k],
    pads: [p, p, p, p],
    strides: [1, 1],
  });
}

/** 2x2 stride-2 transposed convolution: the U-Net's learned up-sampling. */
export function upConv2x2(g: Graph, x: Value, outChannels: number, rng: Prng): Value {
  const cin = x.shape[1]!;
  const w = param(g, 'weight', [cin, outChannels, 2, 2], () => heNormal(rng, cin * outChannels * 4, cin * 4));
  const b = param(g, 'bias', [outChannels], () => new Float32Array(outChannels));
  return op1(g, 'ConvTranspose', [x, w, b], { kernel_shape: [2, 2], strides: [2, 2] });
}

export const maxPool2x2 = (g: Graph, x: Value): Value =>
  op1(g, 'MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });

export type NormKind = 'none' | 'batch' | 'group';

/** BatchNormalization in inference form, with running statistics as (non-trainable) state. */
function batchNorm(g: Graph, x: Value): Value {
  const c = x.shape[1]!;
  const gamma = param(g, 'weight', [c], () => new Float32Array(c).fill(1));
  const beta = param(g, 'bias', [c], () => new Float32Array(c));
  const mean = constant(g, 'running_mean', 'float32', [c], new Float32Array(c));
  const variance = constant(g, 'running_var', 'float32', [c], new Float32Array(c).fill(1));
  return op1(g, 'BatchNormalization', [x, gamma, beta, mean, variance], { epsilon: 1e-5, momentum: 0.9 });
}

/**
 * Group normalization (Wu & He 2018) from primitives: opset 17 has no GroupNormalization.
 * y = (x - mean_g) / sqrt(var_g + eps) * gamma_c + beta_c, statistics over each group's channels and pixels.
 */
function groupNorm(g: Graph, x: Value, groups: number): Value {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const grouped = op1(g, 'Reshape', [x, constant(g, 'grouped_shape', 'int64', [3], [n, groups, (c / groups) * h * w])]);
  const mean = op1(g, 'ReduceMean', [grouped], { axes: [2], keepdims: 1 });
  const centered = op1(g, 'Sub', [grouped, mean]);
  const variance = op1(g, 'ReduceMean', [op1(g, 'Mul', [centered, centered])], { axes: [2], keepdims: 1 });
  const eps = constant(g, 'eps', 'float32', [], [1e-5]);
  const normed = op1(g, 'Div', [centered, op1(g, 'Sqrt', [op1(g, 'Add', [variance, eps])])]);
  const back = op1(g, 'Reshape', [normed, constant(g, 'image_shape', 'int64', [4], [n, c, h, w])]);
  const gamma = param(g, 'weight', [c, 1, 1], () => new Float32Array(c).fill(1));
  const beta = param(g, 'bias', [c, 1, 1], () => new Float32Array(c));
  return op1(g, 'Add', [op1(g, 'Mul', [back, gamma]), beta]);
}

export function norm(g: Graph, x: Value, kind: NormKind, groups: number): Value {
  if (kind === 'none') return x;
  return scope(g, 'norm', () => (kind === 'batch' ? batchNorm(g, x) : groupNorm(g, x, groups)));
}

/** conv → norm → ReLU, twice: the U-Net's basic block. */
export function doubleConv(g: Graph, x: Value, channels: number, kind: NormKind, groups: number, rng: Prng): Value {
  let y = x;
  for (const name of ['conv1', 'conv2']) {
    y = scope(g, name, () => op1(g, 'Relu', [norm(g, conv2d(g, y, channels, 3, rng), kind, groups)]));
  }
  return y;
}

/** Run-time dropout controls shared by every Dropout node of a graph. */
export interface DropoutControls {
  ratio: Value; // float32 scalar, a graph input: the same graph serves p = 0 and p > 0
  training: Value; // bool scalar
  /**
   * Which random stream the Dropout nodes draw from (their `seed` attributes derive from it).
   * onnxruntime keeps a Dropout's generator state inside the session where no checkpoint can reach
   * it, so the trainer rebuilds its train-step graph each epoch with the epoch as the stream: a run
   * resumed at an epoch boundary draws exactly the masks the uninterrupted run drew.
   */
  stream: number;
  /**
   * The graph differentiates through its Dropouts (training graphs): the gradient consumes each
   * mask, which keeps the node alive, so the forward can use the node's own output instead of
   * recomputing it from the mask (saves a Cast and two Muls over every dropped activation: about 3%
   * of the small preset's train step, and the float copy of the mask kept for the backward).
   */
  differentiated?: boolean;
}

/**
 * Dropout whose output is computed from its keep-mask: y = x · mask / (1 − p).
 * onnxruntime's EliminateDropout pass deletes a Dropout whose mask output is unused, even with
 * training_mode true; consuming the mask keeps the node in every session, with default options,
 * in Node and in the browser. It also makes the gradient a plain Mul (the mask is a constant).
 */
export function dropout(g: Graph, x: Value, controls: DropoutControls, seed: number): Value {
  return scope(g, 'dropout', () => {
    const [y, mask] = op(g, 'Dropout', [x, controls.ratio, controls.training], { seed });
    if (controls.differentiated) return y!;
    const keep = op1(g, 'Cast', [mask!], { to: 1 });
    const one = constant(g, 'one', 'float32', [], [1]);
    const scale = op1(g, 'Reciprocal', [op1(g, 'Sub', [one, controls.ratio])]);
    return op1(g, 'Mul', [op1(g, 'Mul', [x, keep]), scale]);
  });
}
