/**
 * Conv weight-gradient micro-benchmark: every formulation of convWeightGrad.ts on every distinct 3×3
 * conv shape of a U-Net (one graph per shape × formulation: inputs X and dY, output dW), on
 * onnxruntime-node CPU, alternating formulations round by round so that a slow spell of the machine
 * hits them all alike. The forward Conv of the same shape is timed alongside for scale. Each result
 * also reports whether the formulation agrees with 'nchw/concat' (the formulation before this benchmark) (max |ΔdW| relative to max |dW|), and
 * the table names the formulation the graph builder picks (chooseWeightGrad) next to the fastest.
 */
import * as ort from 'onnxruntime-node';
import { prng } from '../common/prng.js';
import {
  type ConvShape,
  WEIGHT_GRAD_FORMULATIONS,
  type WeightGradFormulation,
  chooseWeightGrad,
  convWeightGrad,
} from '../graphBuilder/convWeightGrad.js';
import { addInput, addOutput, constant, createGraph, op1 } from '../graphBuilder/graph.js';
import { type ModelConfig, buildInferenceModel, presetConfig } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { numel } from '../graphBuilder/types.js';
import { SESSION_DEFAULTS } from '../runtime/runtime.js';
import { round, summaryStats } from '../common/stats.js';
import { textTable } from '../common/table.js';
import { progress } from '../common/progress.js';

export interface ConvGradCase {
  label: string;
  shape: ConvShape;
  /** Layers of the U-Net with this shape. */
  layers: number;
  forwardMs: number;
  ms: Record<WeightGradFormulation, number>;
  /** max |dW − dW_ref| / max |dW_ref| per formulation, ref = the first formulation. */
  relErr: Record<WeightGradFormulation, number>;
  fastest: WeightGradFormulation;
  chosen: WeightGradFormulation;
}

export interface ConvGradBench {
  method: string;
  ep: string;
  models: string[];
  cases: ConvGradCase[];
}

/** The distinct k×k (k > 1) conv shapes of a model config's U-Net, with how many layers have each. */
export function unetConvShapes(c: ModelConfig): { shape: ConvShape; layers: number }[] {
  const g = buildInferenceModel(c);
  const found = new Map<string, { shape: ConvShape; layers: number }>();
  for (const node of g.nodes.filter((n) => n.op === 'Conv')) {
    const [n, ch, h, w] = node.inputs[0]!.shape as [number, number, number, number];
    const [m, , kh, kw] = node.inputs[1]!.shape as [number, number, number, number];
    if (kh * kw === 1) continue;
    const shape = { n, c: ch, m, h, w, kh, kw };
    const key = JSON.stringify(shape);
    found.set(key, { shape, layers: (found.get(key)?.layers ?? 0) + 1 });
  }
  return [...found.values()];
}

function gradModel(s: ConvShape, f: WeightGradFormulation): Uint8Array {
  const g = createGraph(`dw_${f}`);
  const x = addInput(g, 'x', 'float32', [s.n, s.c, s.h, s.w]);
  const dy = addInput(g, 'dy', 'float32', [s.n, s.m, s.h, s.w]);
  const pad = (s.kh - 1) / 2;
  addOutput(g, 'dw', convWeightGrad(g, f, x, dy, s, [pad, pad, pad, pad]));
  return serialize(g);
}

function forwardModel(s: ConvShape): Uint8Array {
  const g = createGraph('conv');
  const x = addInput(g, 'x', 'float32', [s.n, s.c, s.h, s.w]);
  const w = constant(g, 'w', 'float32', [s.m, s.c, s.kh, s.kw], new Float32Array(s.m * s.c * s.kh * s.kw).fill(0.01));
  const pad = (s.kh - 1) / 2;
  addOutput(
    g,
    'y',
    op1(g, 'Conv', [x, w], {
      kernel_shape: [s.kh, s.kw],
      pads: [pad, pad, pad, pad],
      strides: [1, 1],
      dilations: [1, 1],
      group: 1,
    }),
  );
  return serialize(g);
}

const random = (n: number, seed: number): Float32Array => {
  const r = prng(seed);
  return Float32Array.from({ length: n }, () => r.next() - 0.5);
};

/** Median ms of `rounds` rounds, each running every session once in turn (after one warm-up round). */
async function alternate(
  sessions: ort.InferenceSession[],
  feeds: Record<string, ort.Tensor>[],
  rounds: number,
): Promise<{ ms: number[]; outputs: Float32Array[] }> {
  const times = sessions.map(() => [] as number[]);
  const outputs: Float32Array[] = [];
  for (let r = 0; r <= rounds; r++) {
    for (const [i, s] of sessions.entries()) {
      const t = performance.now();
      const out = await s.run(feeds[i]!);
      if (r > 0) times[i]!.push(performance.now() - t);
      else outputs[i] = Object.values(out)[0]!.data as Float32Array;
    }
  }
  return { ms: times.map((t) => round(summaryStats(t).median, 2)), outputs };
}

const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** `ep`: where to measure (the GPU check runs this on CUDA to choose formulations there). */
export async function benchConvGrad(
  configs: { name: string; config: ModelConfig }[],
  rounds: number,
  ep: 'cpu' | 'cuda' = 'cpu',
): Promise<ConvGradBench> {
  const SESSION: ort.InferenceSession.SessionOptions = { executionProviders: [ep], ...SESSION_DEFAULTS };
  const shapes = new Map<string, { label: string; shape: ConvShape; layers: number }>();
  for (const { name, config } of configs) {
    for (const s of unetConvShapes(config)) {
      const { n, c, m, h, kh } = s.shape;
      const key = JSON.stringify(s.shape);
      const prev = shapes.get(key);
      shapes.set(key, {
        label: prev?.label ?? `${name}: ${c}→${m} ${h}² b${n} k${kh}`,
        shape: s.shape,
        layers: (prev?.layers ?? 0) + s.layers,
      });
    }
  }
  const cases: ConvGradCase[] = [];
  for (const [i, { label, shape: s, layers }] of [...shapes.values()].entries()) {
    progress(`convgrad [${i + 1}/${shapes.size}] ${label}`);
    const xd = new ort.Tensor('float32', random(s.n * s.c * s.h * s.w, 1), [s.n, s.c, s.h, s.w]);
    const dyd = new ort.Tensor('float32', random(s.n * s.m * s.h * s.w, 2), [s.n, s.m, s.h, s.w]);
    const sessions = [await ort.InferenceSession.create(forwardModel(s), SESSION)];
    for (const f of WEIGHT_GRAD_FORMULATIONS)
      sessions.push(await ort.InferenceSession.create(gradModel(s, f), SESSION));
    const feeds = sessions.map((_, j): Record<string, ort.Tensor> => (j === 0 ? { x: xd } : { x: xd, dy: dyd }));
    const { ms, outputs } = await alternate(sessions, feeds, rounds);
    for (const sess of sessions) await sess.release();
    const ref = outputs[1]!;
    const scale = maxAbs(ref);
    const msBy = Object.fromEntries(WEIGHT_GRAD_FORMULATIONS.map((f, j) => [f, ms[j + 1]!])) as Record<
      WeightGradFormulation,
      number
    >;
    const relErr = Object.fromEntries(
      WEIGHT_GRAD_FORMULATIONS.map((f, j) => {
        const o = outputs[j + 1]!;
        let e = 0;
        for (let k = 0; k < o.length; k++) e = Math.max(e, Math.abs(o[k]! - ref[k]!));
        return [f, o.length === numel([s.m, s.c, s.kh, s.kw]) ? round(e / scale, 8) : Number.POSITIVE_INFINITY];
      }),
    ) as Record<WeightGradFormulation, number>;
    const fastest = [...WEIGHT_GRAD_FORMULATIONS].sort((a, b) => msBy[a] - msBy[b])[0]!;
    cases.push({ label, shape: s, layers, forwardMs: ms[0]!, ms: msBy, relErr, fastest, chosen: chooseWeightGrad(s) });
    progress(`  forward ${ms[0]} ms; ${WEIGHT_GRAD_FORMULATIONS.map((f) => `${f} ${msBy[f]} ms`).join(', ')}`);
  }
  return {
    method:
      `one onnxruntime-node ${ep} session per shape and formulation (inputs x, dy; output dW), graphOptimizationLevel 'all', default threads; ` +
      `${rounds} rounds after one warm-up round, each round running the forward Conv and every formulation once in turn; medians`,
    ep,
    models: configs.map((c) => c.name),
    cases,
  };
}

/** The U-Nets whose shapes are measured: the two train-bench cases and the study's CPU preset. */
export const CONVGRAD_MODELS = [
  { name: 'base 16 128² b8', config: presetConfig('small', { imageSize: 128, batch: 8, unet: { base: 16 } }) },
  { name: 'base 32 224² b4', config: presetConfig('small', { imageSize: 224, batch: 4, unet: { base: 32 } }) },
  { name: 'study: base 8 64² b8', config: presetConfig('study', { batch: 8 }) },
];

export function convGradReport(b: ConvGradBench): string {
  return `${[
    `Conv weight gradient (dW) by formulation on ${b.ep}, ms per run (medians of alternating rounds); forward Conv for scale`,
    textTable(
      ['shape', 'layers', 'forward', ...WEIGHT_GRAD_FORMULATIONS, 'fastest', 'chosen', 'max rel. diff'],
      b.cases.map((c) => [
        c.label,
        String(c.layers),
        c.forwardMs.toFixed(2),
        ...WEIGHT_GRAD_FORMULATIONS.map((f) => c.ms[f].toFixed(2)),
        c.fastest,
        c.chosen === c.fastest ? c.chosen : `${c.chosen} (!)`,
        Math.max(...Object.values(c.relErr)).toExponential(1),
      ]),
    ),
    '(!) the graph builder picks another formulation than the fastest measured here (see chooseWeightGrad)',
  ].join('\n')}\n`;
}
