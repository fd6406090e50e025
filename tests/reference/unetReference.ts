/**
 * An independent forward pass of the U-Net in plain TypeScript loops, written from the architecture
 * described in src/graphBuilder/unet.ts (not from its node list), to check what the runtimes compute.
 * Sums are accumulated in float64 and stored in float32, so it is at least as exact as the runtimes.
 */
import type { UNetConfig } from '../../src/graphBuilder/unet.js';

/** A dense NCHW float32 tensor. */
export interface Tensor {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly data: Float32Array;
}

/** Parameters by name (`down0.conv1.weight`, `up1.upconv.bias`, `head.weight`...), in ONNX layouts. */
export type Params = ReadonlyMap<string, Float32Array>;

const EPS = 1e-5; // BatchNormalization and group norm

const zeros = (n: number, c: number, h: number, w: number): Tensor => ({
  n,
  c,
  h,
  w,
  data: new Float32Array(n * c * h * w),
});
const at = (t: Tensor, n: number, c: number, y: number, x: number): number => ((n * t.c + c) * t.h + y) * t.w + x;
const map = (t: Tensor, f: (v: number) => number): Tensor => ({ ...t, data: t.data.map(f) });

/** A parameter, checked against the size the architecture implies (catches layout/shape mix-ups). */
function param(params: Params, name: string, size: number): Float32Array {
  const p = params.get(name);
  if (!p) throw new Error(`reference: missing parameter ${name}`);
  if (p.length !== size) throw new Error(`reference: ${name} has ${p.length} values, expected ${size}`);
  return p;
}

/** k×k convolution, stride 1, zero "same" padding (odd k), with bias: the 3x3 convs and the 1x1 head. */
function conv(x: Tensor, params: Params, name: string, out: number, k: number): Tensor {
  const w = param(params, `${name}.weight`, out * x.c * k * k); // [out, in, k, k]
  const b = param(params, `${name}.bias`, out);
  const p = (k - 1) / 2;
  const y = zeros(x.n, out, x.h, x.w);
  for (let n = 0; n < x.n; n++)
    for (let o = 0; o < out; o++)
      for (let i = 0; i < x.h; i++)
        for (let j = 0; j < x.w; j++) {
          let s = b[o]!;
          for (let c = 0; c < x.c; c++)
            for (let ki = 0; ki < k; ki++) {
              const yi = i + ki - p;
              if (yi < 0 || yi >= x.h) continue;
              for (let kj = 0; kj < k; kj++) {
                const xj = j + kj - p;
                if (xj >= 0 && xj < x.w) s += x.data[at(x, n, c, yi, xj)]! * w[((o * x.c + c) * k + ki) * k + kj]!;
              }
            }
          y.data[at(y, n, o, i, j)] = s;
        }
  return y;
}

/** 2x2 stride-2 transposed convolution, weight [in, out, 2, 2]: each input pixel paints its own 2x2 block. */
function upConv(x: Tensor, params: Params, name: string, out: number): Tensor {
  const w = param(params, `${name}.weight`, x.c * out * 4);
  const b = param(params, `${name}.bias`, out);
  const y = zeros(x.n, out, 2 * x.h, 2 * x.w);
  for (let n = 0; n < x.n; n++)
    for (let o = 0; o < out; o++)
      for (let i = 0; i < y.h; i++)
        for (let j = 0; j < y.w; j++) {
          let s = b[o]!;
          for (let c = 0; c < x.c; c++)
            s += x.data[at(x, n, c, i >> 1, j >> 1)]! * w[((c * out + o) * 2 + (i & 1)) * 2 + (j & 1)]!;
          y.data[at(y, n, o, i, j)] = s;
        }
  return y;
}

function maxPool(x: Tensor): Tensor {
  const y = zeros(x.n, x.c, x.h / 2, x.w / 2);
  for (let n = 0; n < x.n; n++)
    for (let c = 0; c < x.c; c++)
      for (let i = 0; i < y.h; i++)
        for (let j = 0; j < y.w; j++) {
          const v = (di: number, dj: number): number => x.data[at(x, n, c, 2 * i + di, 2 * j + dj)]!;
          y.data[at(y, n, c, i, j)] = Math.max(v(0, 0), v(0, 1), v(1, 0), v(1, 1));
        }
  return y;
}

/** Channel concatenation [a, b]. */
function concat(a: Tensor, b: Tensor): Tensor {
  const y = zeros(a.n, a.c + b.c, a.h, a.w);
  const plane = a.h * a.w;
  for (let n = 0; n < a.n; n++) {
    y.data.set(a.data.subarray(n * a.c * plane, (n + 1) * a.c * plane), n * y.c * plane);
    y.data.set(b.data.subarray(n * b.c * plane, (n + 1) * b.c * plane), (n * y.c + a.c) * plane);
  }
  return y;
}

/**
 * (x − mean) / sqrt(var + eps) · gamma_c + beta_c, the form shared by both norms; they differ only in
 * where mean and var come from (`stats` per image and channel).
 */
function normalize(
  x: Tensor,
  stats: (n: number, c: number) => [number, number],
  gamma: Float32Array,
  beta: Float32Array,
): Tensor {
  const y = zeros(x.n, x.c, x.h, x.w);
  const plane = x.h * x.w;
  for (let n = 0; n < x.n; n++)
    for (let c = 0; c < x.c; c++) {
      const [mean, variance] = stats(n, c);
      const scale = gamma[c]! / Math.sqrt(variance + EPS);
      for (let i = (n * x.c + c) * plane, end = i + plane; i < end; i++)
        y.data[i] = (x.data[i]! - mean) * scale + beta[c]!;
    }
  return y;
}

/** Group statistics: population mean and variance over each group's channels and pixels, per image. */
function groupStats(x: Tensor, groups: number): (n: number, c: number) => [number, number] {
  const per = x.c / groups;
  const size = per * x.h * x.w;
  const stats: [number, number][] = [];
  for (let n = 0; n < x.n; n++)
    for (let g = 0; g < groups; g++) {
      const v = x.data.subarray((n * x.c + g * per) * x.h * x.w, (n * x.c + (g + 1) * per) * x.h * x.w);
      const mean = v.reduce((s, a) => s + a, 0) / size;
      stats.push([mean, v.reduce((s, a) => s + (a - mean) ** 2, 0) / size]);
    }
  return (n, c) => stats[n * groups + Math.floor(c / per)]!;
}

function norm(x: Tensor, cfg: UNetConfig, params: Params, name: string): Tensor {
  if (cfg.norm === 'none') return x;
  const gamma = param(params, `${name}.weight`, x.c); // [C] for batch, [C,1,1] for group: same values
  const beta = param(params, `${name}.bias`, x.c);
  if (cfg.norm === 'group') return normalize(x, groupStats(x, cfg.groups), gamma, beta);
  const mean = param(params, `${name}.running_mean`, x.c);
  const variance = param(params, `${name}.running_var`, x.c);
  return normalize(x, (_, c) => [mean[c]!, variance[c]!], gamma, beta);
}

const relu = (t: Tensor): Tensor => map(t, (v) => Math.max(v, 0));

/** conv3x3 → norm → ReLU, twice. */
function doubleConv(x: Tensor, cfg: UNetConfig, params: Params, scope: string, channels: number): Tensor {
  for (const c of ['conv1', 'conv2'])
    x = relu(norm(conv(x, params, `${scope}.${c}`, channels, 3), cfg, params, `${scope}.${c}.norm`));
  return x;
}

/** Logits and sigmoid probabilities, [B, 1, H, W], of `image` [B, inChannels, H, W]; dropout is off. */
export function unetReference(cfg: UNetConfig, params: Params, image: Tensor): { logits: Tensor; probability: Tensor } {
  const width = (level: number): number => cfg.base * 2 ** level;
  const skips: Tensor[] = [];
  let x = image;
  for (let i = 0; i < cfg.depth; i++) {
    x = doubleConv(x, cfg, params, `down${i}`, width(i));
    skips.push(x);
    x = maxPool(x);
  }
  x = doubleConv(x, cfg, params, 'bottleneck', width(cfg.depth));
  for (let i = cfg.depth - 1; i >= 0; i--) {
    const up = upConv(x, params, `up${i}.upconv`, width(i));
    x = doubleConv(concat(skips[i]!, up), cfg, params, `up${i}`, width(i));
  }
  const logits = conv(x, params, 'head', 1, 1);
  return { logits, probability: map(logits, (v) => 1 / (1 + Math.exp(-v))) };
}
