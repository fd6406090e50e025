/**
 * The weight gradient of a 2-D convolution (stride 1, no dilation, one group), in several
 * formulations with standard ONNX ops, and the rule that picks one per layer when the graph is built.
 *
 *   dW[m,c,i,j] = Σ_{n,y,x} dY[n,m,y,x] · Xpad[n,c,y+i,x+j]
 *
 * Every formulation materializes the k² shifted "windows" of one operand and contracts them with the
 * other over the pixels. Which operand: X (C channels) when M ≥ C, else dY (M channels), so that the
 * k² copies are of the smaller tensor:  dW[m,c,i,j] = Σ X[c,y,x] · dYpad[m, y+k−1−i, x+k−1−j].
 * A formulation is a layout of the windows and a way to contract them:
 *   layout 'nchw'   a window is a 2-D Slice of the padded [N, ch, H, W] tensor: [N, ch, oh·ow], a
 *                   strided copy of oh short rows per channel; contracted per image, summed over N.
 *   layout 'flat'   "row-padded, flattened": the fixed operand gets zero columns up to the shifted
 *                   operand's padded width Wp and is flattened to [N, ch, rows·Wp]; a window is ONE
 *                   contiguous run of rows·Wp values of the flattened shifted operand, starting at
 *                   r·Wp + q (one long copy instead of oh short ones). Products that wrap around a row
 *                   meet the fixed operand's zero columns and vanish. Per image, summed over N.
 *   layout 'cm'     channel-major: both operands transposed once to [ch, N, Hp, Wp] and flattened,
 *                   the images stacked one below the other on one grid, so that a window is one
 *                   contiguous run over the whole batch and each contraction is one plain GEMM over
 *                   N·Hp·Wp (no batched MatMul of short contractions, no sum over N), for the price of
 *                   two transposes of the activations.
 *   'concat'        the k² windows concatenated, one MatMul: [F, S·k²].
 *   'split'         one MatMul per window, the k² [F, S] products concatenated: a window is consumed
 *                   as soon as it is made (onnxruntime can reuse its buffer for the next one).
 * Measured by `npm run bench -- --only convgrad` at the U-Net's shapes: see chooseWeightGrad.
 */
import { type Graph, constant, op1 } from './graph.js';
import type { Value } from './types.js';

export const WEIGHT_GRAD_LAYOUTS = ['nchw', 'flat', 'cm'] as const;
export const WEIGHT_GRAD_CONTRACTIONS = ['concat', 'split'] as const;
export type WeightGradFormulation =
  `${(typeof WEIGHT_GRAD_LAYOUTS)[number]}/${(typeof WEIGHT_GRAD_CONTRACTIONS)[number]}`;
export const WEIGHT_GRAD_FORMULATIONS: readonly WeightGradFormulation[] = WEIGHT_GRAD_LAYOUTS.flatMap((l) =>
  WEIGHT_GRAD_CONTRACTIONS.map((c) => `${l}/${c}` as const),
);

/** What the choice of formulation may depend on: the conv's shapes. */
export interface ConvShape {
  n: number;
  c: number;
  m: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
}

const ints = (g: Graph, name: string, v: readonly number[]): Value => constant(g, name, 'int64', [v.length], v);
const reshape = (g: Graph, x: Value, shape: readonly number[]): Value =>
  op1(g, 'Reshape', [x, ints(g, 'shape', shape)]);
const pad4 = (g: Graph, x: Value, top: number, left: number, bottom: number, right: number): Value =>
  top || left || bottom || right ? op1(g, 'Pad', [x, ints(g, 'pads', [0, 0, top, left, 0, 0, bottom, right])]) : x;
const sumBatch = (g: Graph, v: Value): Value => op1(g, 'ReduceSum', [v, ints(g, 'axes', [0])], { keepdims: 0 });
const transposeLast2 = (g: Graph, x: Value): Value => {
  const perm = [...x.shape.keys()];
  perm.splice(-2, 2, perm.length - 1, perm.length - 2);
  return op1(g, 'Transpose', [x], { perm });
};

/**
 * One contraction problem: `shifted` [N, S, ·, ·] padded by `pads` (top, left, bottom, right) gives
 * windows starting at `start(i, j)` of size rows × cols; `fixed` [N, F, rows, cols] is contracted
 * with each window over N and the pixels. Result [F, S, k², …] in the order given by `out`.
 */
interface Problem {
  shifted: Value;
  fixed: Value;
  pads: readonly [number, number, number, number];
  start: (i: number, j: number) => readonly [number, number];
  rows: number;
  cols: number;
}

/** The problem for a conv: shift X when M ≥ C, else dY (the smaller tensor is copied k² times). */
function problemOf(x: Value, dy: Value, s: ConvShape, pads: readonly number[]): { p: Problem; shiftsX: boolean } {
  const [oh, ow] = [dy.shape[2]!, dy.shape[3]!];
  if (s.m >= s.c) {
    return {
      shiftsX: true,
      p: {
        shifted: x,
        fixed: dy,
        pads: [pads[0]!, pads[1]!, pads[2]!, pads[3]!],
        start: (i, j) => [i, j],
        rows: oh,
        cols: ow,
      },
    };
  }
  const dyPads = [s.kh - 1 - pads[0]!, s.kw - 1 - pads[1]!, s.h + pads[0]! - oh, s.w + pads[1]! - ow] as const;
  return {
    shiftsX: false,
    p: { shifted: dy, fixed: x, pads: dyPads, start: (i, j) => [s.kh - 1 - i, s.kw - 1 - j], rows: s.h, cols: s.w },
  };
}

/**
 * The windows of `p` in a layout, and the fixed operand in the same layout: [N, ch, L] each for the
 * per-image layouts (batched), [ch, L] for 'cm'.
 */
function windowsIn(
  g: Graph,
  layout: (typeof WEIGHT_GRAD_LAYOUTS)[number],
  p: Problem,
  s: ConvShape,
): { windows: Value[]; fixed: Value; batched: boolean } {
  const { n, kh, kw } = s;
  const [sc, fc] = [p.shifted.shape[1]!, p.fixed.shape[1]!];
  const [t, l, b, r] = p.pads;
  const starts: (readonly [number, number])[] = [];
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) starts.push(p.start(i, j));
  const slice = (v: Value, from: readonly number[], to: readonly number[], axes: readonly number[]): Value =>
    op1(g, 'Slice', [v, ints(g, 'starts', from), ints(g, 'ends', to), ints(g, 'axes', axes)]);
  const wp = p.shifted.shape[3]! + l + r;
  const hp = p.shifted.shape[2]! + t + b;
  const lastStart = Math.max(...starts.map(([y0, x0]) => y0 * wp + x0));
  if (layout === 'nchw') {
    const padded = pad4(g, p.shifted, t, l, b, r);
    const windows = starts.map(([y0, x0]) =>
      reshape(g, starts.length === 1 ? padded : slice(padded, [y0, x0], [y0 + p.rows, x0 + p.cols], [2, 3]), [
        n,
        sc,
        p.rows * p.cols,
      ]),
    );
    return { windows, fixed: reshape(g, p.fixed, [n, fc, p.rows * p.cols]), batched: true };
  }
  if (layout === 'flat') {
    const len = p.rows * wp;
    const extraRows = Math.max(0, Math.ceil((lastStart + len - hp * wp) / wp)); // zero rows so that every window fits
    const flat = reshape(g, pad4(g, p.shifted, t, l, b + extraRows, r), [n, sc, (hp + extraRows) * wp]);
    const windows = starts.map(([y0, x0]) => slice(flat, [y0 * wp + x0], [y0 * wp + x0 + len], [2]));
    return { windows, fixed: reshape(g, pad4(g, p.fixed, 0, 0, 0, wp - p.cols), [n, fc, len]), batched: true };
  }
  const total = n * hp * wp;
  const toChannelMajor = (v: Value, ch: number): Value =>
    reshape(g, op1(g, 'Transpose', [v], { perm: [1, 0, 2, 3] }), [ch, total]);
  // The last image's windows run past the grid by up to lastStart values: zeros there.
  const flat = op1(g, 'Pad', [
    toChannelMajor(pad4(g, p.shifted, t, l, b, r), sc),
    ints(g, 'pads', [0, 0, 0, lastStart]),
  ]); // [S, total + lastStart]
  const windows = starts.map(([y0, x0]) => slice(flat, [y0 * wp + x0], [y0 * wp + x0 + total], [1]));
  return { windows, fixed: toChannelMajor(pad4(g, p.fixed, 0, 0, hp - p.rows, wp - p.cols), fc), batched: false };
}

/**
 * The products of the windows with the fixed operand, summed over N and the pixels, as [F, S, k²]
 * ('concat': the windows are interleaved channel-major, so that with X shifted the product is
 * already in the weight's [M, C, kh, kw] order and needs no Transpose: up to 3 ms per deep layer
 * at base 32) or [F, k², S] ('split': one product per window, concatenated).
 */
function contract(g: Graph, f: WeightGradFormulation, p: Problem, s: ConvShape): { prod: Value; order: 'FSK' | 'FKS' } {
  const [layout, contraction] = f.split('/') as [
    (typeof WEIGHT_GRAD_LAYOUTS)[number],
    (typeof WEIGHT_GRAD_CONTRACTIONS)[number],
  ];
  const { windows, fixed, batched } = windowsIn(g, layout, p, s);
  const k2 = windows.length;
  const [sc, fc] = [p.shifted.shape[1]!, p.fixed.shape[1]!];
  const lead = batched ? [s.n] : [];
  let prod: Value;
  if (contraction === 'concat') {
    const len = windows[0]!.shape.at(-1)!;
    const parts = windows.map((w) => reshape(g, w, [...lead, sc, 1, len]));
    const stacked = reshape(g, k2 === 1 ? parts[0]! : op1(g, 'Concat', parts, { axis: -2 }), [...lead, sc * k2, len]); // [(N,) S·k², L]
    prod = op1(g, 'MatMul', [fixed, transposeLast2(g, stacked)]); // [(N,) F, S·k²]
    return { prod: reshape(g, batched ? sumBatch(g, prod) : prod, [fc, sc, k2]), order: 'FSK' };
  }
  const prods = windows.map((w) => reshape(g, op1(g, 'MatMul', [fixed, transposeLast2(g, w)]), [...lead, fc, 1, sc]));
  prod = k2 === 1 ? prods[0]! : op1(g, 'Concat', prods, { axis: -2 }); // [(N,) F, k², S]
  return { prod: reshape(g, batched ? sumBatch(g, prod) : prod, [fc, k2, sc]), order: 'FKS' };
}

/** dW [M, C, kh, kw] of a conv with input `x`, output gradient `dy`, pads [t, l, b, r], by formulation `f`. */
export function convWeightGrad(
  g: Graph,
  f: WeightGradFormulation,
  x: Value,
  dy: Value,
  s: ConvShape,
  pads: readonly number[],
): Value {
  const { p, shiftsX } = problemOf(x, dy, s, pads);
  const { prod, order } = contract(g, f, p, s);
  // Window (i, j) sits at k² index i·kw + j. X shifted: F = M, S = C; dY shifted: F = C, S = M.
  if (shiftsX && order === 'FSK') return reshape(g, prod, [s.m, s.c, s.kh, s.kw]);
  if (shiftsX) return op1(g, 'Transpose', [reshape(g, prod, [s.m, s.kh, s.kw, s.c])], { perm: [0, 3, 1, 2] }); // [M, k², C]
  if (order === 'FSK') return op1(g, 'Transpose', [reshape(g, prod, [s.c, s.m, s.kh, s.kw])], { perm: [1, 0, 2, 3] }); // [C, M, k²]
  return op1(g, 'Transpose', [reshape(g, prod, [s.c, s.kh, s.kw, s.m])], { perm: [3, 0, 1, 2] }); // [C, k², M]
}

/**
 * The formulation a conv gets when its gradient is built. From `npm run bench -- --only convgrad`
 * (2-core AMD EPYC, onnxruntime 1.30 CPU, 2026-12-03; ms per dW, medians of 5 alternating rounds;
 * nchw/concat is the formulation used before):
 *   first layer 3→16 at 128², b8        nchw/concat 3.8   nchw/split 6.9   (3 channels: tiny windows, one GEMM)
 *   16→16 at 128², b8                   nchw/concat 20.3  nchw/split 12.2  flat/split 12.5  cm/split 14.5
 *   32→32 at 224², b4                   nchw/concat 87.5  nchw/split 60.1  flat/split 49.7  cm/split 50.4
 *   64→32 at 224², b4 (dY shifted)      nchw/concat 139   nchw/split 93.8  flat/split 76.8
 *   128→128 at 56², b4                  nchw/concat 32.2  nchw/split 27.0  flat/split 27.1  cm/split 28.1
 *   512→256 at 28², b4 (dY shifted)     nchw/concat 53.4  nchw/split 51.1  cm/split 52.7
 *   64→64 at 32², b8                    nchw/concat 7.8   nchw/split 7.2   cm/split 6.1
 *   256→256 at 8², b8                   nchw/concat 11.8  nchw/split 13.9  cm/split 7.0
 *   128→128 at 4², b8 (study preset)    nchw/concat 2.7   nchw/split 2.9   cm/split 1.1
 * One MatMul per window ('split') wins wherever the windows are large: each window is consumed right
 * after it is made, so the k² copies do not all sit in memory (and in cache) at once. On the deep
 * levels (≤ 16², or ≤ 32² with X shifted) a per-image contraction over ≤ 1024 pixels is too short for
 * an efficient GEMM, and one GEMM over the whole batch (channel-major) wins despite its transposes.
 * The row-padded flat layout helps where rows are long (≥ 64²): one long copy per window. Where two
 * formulations are within a few percent (56², 112²) either choice is noise.
 */
export function chooseWeightGrad(s: ConvShape): WeightGradFormulation {
  const pixels = s.h * s.w;
  if (s.kh * s.kw === 1 || Math.min(s.c, s.m) < 8) return 'nchw/concat';
  if (pixels <= 16 * 16 || (pixels <= 32 * 32 && s.m >= s.c)) return 'cm/split';
  if (pixels >= 64 * 64) return 'flat/split';
  return 'nchw/split';
}
