/**
 * GPU check: does training with onnxruntime-node's CUDA provider give the CPU's results, and how fast
 * is it? Bundled by scripts/gpu/make-kit.sh into one file (gpu-check.mjs, onnxruntime-node external)
 * and run by scripts/gpu/gpu-check.sh on a machine without Node.js; also runs from the repo:
 *   npx tsx scripts/gpu/gpu-check.ts --ep cpu --quick --out /tmp/gpu-check
 *
 * Phases, each in its own child process (a crash or a hang in one does not lose the others, and GPU
 * memory is returned between them):
 *   smoke       a convolution on the provider vs the CPU (the provider and cuDNN load); when it fails
 *               the phases that need the provider are skipped
 *   parity      the same small training run (fixed seed, synthetic data, dropout ratio 0) on CPU and on
 *               the GPU: loss per step, final parameters; run with TF32 off (NVIDIA_TF32_OVERRIDE=0)
 *   parity-tf32 the same with TF32 on (onnxruntime's CUDA default, used by the timings)
 *   train       fused train steps of the paper U-Net (base 64, 224², batch 32): session creation,
 *               warm-up, ms/step, images/s, a copy probe for the host↔device share of a step; then the
 *               K-step Loop model (the trainer's default: state on the device for K steps) and the top
 *               op types of one profiled K-step run
 *   mc          MC-Dropout inference (paper, N=10), batch 1 and 8
 *   torch       PyTorch's train step of the same U-Net, loss and dropout (bench/peers/torch_unet_train.py), if torch is there
 *   convgrad    the conv weight-gradient formulations at the train U-Net's shapes on the provider
 *               (benchConvGrad.ts): which one a GPU rule in chooseWeightGrad should pick
 * Results: OUT/gpu-check.json and OUT/gpu-check.md; a short table on stdout; progress on stderr.
 * Step counts and sizes: GPU_CHECK_* environment variables (readConfig, docs/gpu.md); --quick shrinks
 * everything to seconds on a CPU.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { prng } from '../../src/common/prng.js';
import { convFlops } from '../../src/graphBuilder/flops.js';
import { addInput, addOutput, createGraph, op1 } from '../../src/graphBuilder/graph.js';
import { INPUT, OUTPUT } from '../../src/graphBuilder/graphIO.js';
import { type ModelConfig, PRESETS, type PresetName, buildInferenceModel, buildMcModel, presetConfig } from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import { buildTrainLoopModel, buildTrainStepModel, buildTrainingModel, paramLayout } from '../../src/graphBuilder/trainingModels.js';
import { benchConvGrad, convGradReport } from '../../src/bench/benchConvGrad.js';
import { type ProfileEvent, byOpType, lastRunKernels } from '../../src/bench/ortProfile.js';
import { type Batch, type ExecutionProvider, SESSION_DEFAULTS, type TrainState, createSession, initialState, trainStep, trainSteps } from '../../src/runtime/runtime.js';
import { toPlanar } from '../../src/data/preprocess.js';
import { syntheticSet } from '../../src/data/synthetic.js';

declare const __GPU_CHECK_COMMIT__: string | undefined;
declare const __GPU_CHECK_BUILT__: string | undefined;

// ---- configuration ------------------------------------------------------------------------------

const env = (name: string, fallback: string): string => process.env[`GPU_CHECK_${name}`] ?? fallback;
const envInt = (name: string, fallback: number): number => {
  const raw = env(name, String(fallback));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`GPU_CHECK_${name} must be a non-negative integer, got "${raw}"`);
  return n;
};
const envNumber = (name: string, fallback: number): number => {
  const n = Number(env(name, String(fallback)));
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`GPU_CHECK_${name} must be a positive number`);
  return n;
};
const envList = (name: string, fallback: string): number[] =>
  env(name, fallback)
    .split(',')
    .map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n < 1) throw new Error(`GPU_CHECK_${name} must be a comma-separated list of positive integers`);
      return n;
    });

interface Config {
  ep: ExecutionProvider;
  quick: boolean;
  parity: { preset: PresetName; size: number; batch: number; steps: number; lr: number; seed: number };
  train: { preset: PresetName; size: number; batch: number; warmup: number; steps: number; probeRuns: number; k: number; kRuns: number };
  convgrad: { rounds: number };
  mc: { preset: PresetName; size: number; samples: number; batches: number[]; warmup: number; runs: number };
  torch: { mode: string; python: string; repeats: number; warmup: number };
  /** 0: each phase's own default (PHASE_TIMEOUT_S). */
  phaseTimeoutS: number;
  /** All phases together; a phase that would start with less than 15 s left is skipped. */
  budgetS: number;
}

function readConfig(ep: ExecutionProvider, quick: boolean): Config {
  // --quick: a smoke test of every code path in seconds on 2 CPU cores.
  return {
    ep,
    quick,
    parity: {
      preset: env('PARITY_PRESET', 'small') as PresetName,
      size: envInt('PARITY_SIZE', quick ? 32 : 64),
      batch: envInt('PARITY_BATCH', quick ? 2 : 4),
      steps: envInt('PARITY_STEPS', quick ? 5 : 30),
      lr: envNumber('PARITY_LR', 3e-5),
      seed: envInt('PARITY_SEED', 1),
    },
    train: {
      preset: env('TRAIN_PRESET', quick ? 'small' : 'paper') as PresetName,
      size: envInt('TRAIN_SIZE', quick ? 64 : 224),
      batch: envInt('TRAIN_BATCH', quick ? 2 : 32),
      warmup: envInt('TRAIN_WARMUP', quick ? 1 : 3),
      steps: envInt('TRAIN_STEPS', quick ? 2 : 10),
      probeRuns: envInt('PROBE_RUNS', quick ? 2 : 5),
      // K-step Loop model: K steps per run (default 14: one CVC-ClinicDB fold's epoch at batch 32),
      // kRuns timed runs after one warm-up run, then one profiled run.
      k: envInt('TRAIN_K', quick ? 3 : 14),
      kRuns: envInt('TRAIN_K_RUNS', quick ? 1 : 3),
    },
    convgrad: { rounds: envInt('CONVGRAD_ROUNDS', quick ? 1 : 5) },
    mc: {
      preset: env('MC_PRESET', quick ? 'small' : 'paper') as PresetName,
      size: envInt('MC_SIZE', quick ? 64 : 224),
      samples: envInt('MC_SAMPLES', 10),
      batches: envList('MC_BATCHES', quick ? '1' : '1,8'),
      warmup: envInt('MC_WARMUP', quick ? 1 : 2),
      runs: envInt('MC_RUNS', quick ? 2 : 10),
    },
    torch: {
      mode: env('TORCH', 'auto'), // auto: run when torch imports (on cuda: when torch.cuda.is_available()); 0: skip
      python: env('PYTHON', 'python3'),
      repeats: envInt('TORCH_REPEATS', quick ? 2 : 10),
      warmup: envInt('TORCH_WARMUP', quick ? 1 : 3),
    },
    phaseTimeoutS: envInt('PHASE_TIMEOUT_S', 0),
    budgetS: envInt('BUDGET_S', 420),
  };
}

// ---- small helpers ------------------------------------------------------------------------------

const progress = (m: string): void => void process.stderr.write(`gpu-check: ${m}\n`);
const round = (x: number, digits = 3): number => Number(x.toFixed(digits));
const now = (): number => performance.now();

function percentile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

interface Stats {
  median: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
  runs: number[];
}

function stats(xs: readonly number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { median: round(percentile(s, 0.5)), p10: round(percentile(s, 0.1)), p90: round(percentile(s, 0.9)), min: round(s[0]!), max: round(s[s.length - 1]!), runs: xs.map((x) => round(x)) };
}

function configFor(preset: PresetName, size: number, batch: number, extra: { samples?: number; p?: number } = {}): ModelConfig {
  const base = presetConfig(preset, { imageSize: size, batch, samples: extra.samples });
  return { ...base, unet: { ...base.unet, dropout: { ...base.unet.dropout, p: extra.p ?? base.unet.dropout.p } } };
}

function randomBatch(c: ModelConfig, seed: number): Batch {
  const r = prng(seed);
  const px = c.imageSize * c.imageSize;
  const image = new Float32Array(c.batch * 3 * px);
  const target = new Float32Array(c.batch * px);
  for (let i = 0; i < image.length; i++) image[i] = r.next();
  for (let i = 0; i < target.length; i++) target[i] = r.next() < 0.5 ? 1 : 0;
  return { image, target, eps: new Float32Array(c.batch), dims: [c.batch, 3, c.imageSize, c.imageSize] };
}

/** Batches of the built-in synthetic polyp set (exact masks), the same on every machine. */
function syntheticBatches(c: ModelConfig, count: number, seed: number): Batch[] {
  const samples = syntheticSet(count * c.batch, c.imageSize, seed);
  const px = c.imageSize * c.imageSize;
  return Array.from({ length: count }, (_, k) => {
    const image = new Float32Array(c.batch * 3 * px);
    const target = new Float32Array(c.batch * px);
    for (let i = 0; i < c.batch; i++) {
      const s = samples[k * c.batch + i]!;
      toPlanar(s.image, px, image, i * 3 * px);
      for (let p = 0; p < px; p++) target[i * px + p] = s.mask[p]!;
    }
    return { image, target, eps: new Float32Array(c.batch), dims: [c.batch, 3, c.imageSize, c.imageSize] };
  });
}

function gpuMemoryUsedMiB(): number | null {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return Number(out.trim().split('\n')[0]);
  } catch {
    return null;
  }
}

function checkFinite(name: string, xs: ArrayLike<number>): void {
  for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i]!)) throw new Error(`${name}: non-finite value at index ${i} (${xs[i]})`);
}

// ---- phase: smoke --------------------------------------------------------------------------------

/** A convolution on the provider and on the CPU: does the provider load, does cuDNN run? */
async function phaseSmoke(cfg: Config) {
  const g = createGraph('smoke');
  const x = addInput(g, 'x', 'float32', [2, 3, 16, 16]);
  const w = addInput(g, 'w', 'float32', [8, 3, 3, 3]);
  addOutput(g, 'y', op1(g, 'Relu', [op1(g, 'Conv', [x, w], { pads: [1, 1, 1, 1] })]));
  const model = serialize(g);
  const r = prng(3);
  const xs = Float32Array.from({ length: 2 * 3 * 16 * 16 }, () => r.next() - 0.5);
  const ws = Float32Array.from({ length: 8 * 3 * 3 * 3 }, () => r.next() - 0.5);
  const feeds = { x: new ort.Tensor('float32', xs, [2, 3, 16, 16]), w: new ort.Tensor('float32', ws, [8, 3, 3, 3]) };
  const run = async (ep: ExecutionProvider) => {
    const t0 = now();
    const session = await createSession(model, { providers: [ep] });
    const t1 = now();
    const y = (await session.run(feeds)).y!.data as Float32Array;
    const t2 = now();
    await session.release();
    return { y, sessionMs: round(t1 - t0, 1), firstRunMs: round(t2 - t1, 1) };
  };
  const cpu = await run('cpu');
  const dev = await run(cfg.ep);
  let maxAbs = 0;
  for (let i = 0; i < cpu.y.length; i++) maxAbs = Math.max(maxAbs, Math.abs(cpu.y[i]! - dev.y[i]!));
  progress(`smoke: Conv+Relu on ${cfg.ep}: session ${dev.sessionMs} ms${cfg.ep === 'cpu' ? '' : ' (the first: provider and CUDA start-up)'}, first run ${dev.firstRunMs} ms, max |diff| vs CPU ${maxAbs.toExponential(2)}`);
  if (!(maxAbs < 1e-2)) throw new Error(`Conv on ${cfg.ep} differs from the CPU by ${maxAbs}`);
  return { sessionMs: dev.sessionMs, firstRunMs: dev.firstRunMs, maxAbsDiffVsCpu: Number(maxAbs.toExponential(3)) };
}

// ---- phase: parity ------------------------------------------------------------------------------

interface Trajectory {
  ep: string;
  losses: number[];
  final: Float32Array;
  sessionMs: number;
  stepMs: number;
}

async function trajectory(ep: ExecutionProvider, model: Uint8Array, params: Float32Array, batches: Batch[], steps: number, lr: number, label: string): Promise<Trajectory> {
  const t0 = now();
  const session = await createSession(model, { providers: [ep] });
  const sessionMs = now() - t0;
  let state: TrainState = initialState(params);
  const losses: number[] = [];
  const t1 = now();
  for (let s = 0; s < steps; s++) {
    const r = await trainStep(session, state, batches[s % batches.length]!, lr, 0);
    if (!Number.isFinite(r.loss)) throw new Error(`${label}: loss is ${r.loss} at step ${s + 1}`);
    losses.push(r.loss);
    state = r.state;
  }
  const stepMs = (now() - t1) / Math.max(1, steps);
  await session.release();
  progress(`  ${label}: session ${sessionMs.toFixed(0)} ms, ${stepMs.toFixed(1)} ms/step, loss ${losses[0]?.toFixed(5)} -> ${losses[losses.length - 1]?.toFixed(5)}`);
  return { ep: label, losses, final: state.params, sessionMs: round(sessionMs, 1), stepMs: round(stepMs, 2) };
}

function compare(ref: Trajectory, other: Trajectory) {
  const abs = ref.losses.map((l, i) => Math.abs(l - other.losses[i]!));
  const rel = abs.map((a, i) => a / Math.max(Math.abs(ref.losses[i]!), 1e-12));
  let maxParam = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.final.length; i++) {
    const d = ref.final[i]! - other.final[i]!;
    maxParam = Math.max(maxParam, Math.abs(d));
    num += d * d;
    den += ref.final[i]! * ref.final[i]!;
  }
  const worst = rel.indexOf(Math.max(...rel));
  return {
    against: ref.ep,
    maxAbsLossDiff: Number(Math.max(...abs).toExponential(3)),
    maxRelLossDiff: Number(Math.max(...rel).toExponential(3)),
    worstStep: worst + 1,
    relLossDiffPerStep: rel.map((x) => Number(x.toExponential(2))),
    finalParamsMaxAbsDiff: Number(maxParam.toExponential(3)),
    finalParamsRelL2Diff: Number(Math.sqrt(num / Math.max(den, 1e-30)).toExponential(3)),
  };
}

/** Loss and flat gradient (training model, dropout ratio 0) at given parameters on two providers. */
async function gradientCheck(ep: ExecutionProvider, c: ModelConfig, P: number, points: { label: string; params: Float32Array; batch: Batch }[]) {
  const layout = paramLayout(c);
  const model = serialize(buildTrainingModel(c, layout));
  const cpu = await createSession(model, { providers: ['cpu'] });
  const other = await createSession(model, { providers: [ep] });
  const t = (d: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', d, dims as number[]);
  const out = [];
  for (const pt of points) {
    const b = pt.batch;
    const [n, , h, w] = b.dims as [number, number, number, number];
    const feeds = { [INPUT.image]: t(b.image, b.dims), [INPUT.target]: t(b.target, [n, 1, h, w]), [INPUT.eps]: t(b.eps, [n]), [INPUT.params]: t(pt.params, [P]), [INPUT.dropoutRatio]: t(Float32Array.of(0), []) };
    const a = await cpu.run(feeds);
    const g = await other.run(feeds);
    const ga = a[OUTPUT.gradient]!.data as Float32Array;
    const gb = g[OUTPUT.gradient]!.data as Float32Array;
    checkFinite(`${ep} gradient`, gb);
    let num = 0;
    let den = 0;
    let maxAbs = 0;
    let maxRef = 0;
    for (let i = 0; i < ga.length; i++) {
      const d = ga[i]! - gb[i]!;
      num += d * d;
      den += ga[i]! * ga[i]!;
      maxAbs = Math.max(maxAbs, Math.abs(d));
      maxRef = Math.max(maxRef, Math.abs(ga[i]!));
    }
    const la = (a[OUTPUT.loss]!.data as Float32Array)[0]!;
    const lb = (g[OUTPUT.loss]!.data as Float32Array)[0]!;
    out.push({
      at: pt.label,
      lossCpu: la,
      loss: lb,
      lossRelDiff: Number((Math.abs(la - lb) / Math.max(Math.abs(la), 1e-12)).toExponential(3)),
      gradientRelL2Diff: Number(Math.sqrt(num / Math.max(den, 1e-30)).toExponential(3)),
      /** max |g_ep − g_cpu| / max |g_cpu| */
      gradientMaxAbsDiffOverMax: Number((maxAbs / Math.max(maxRef, 1e-30)).toExponential(3)),
    });
  }
  await cpu.release();
  await other.release();
  return out;
}

/** Which execution provider ran each node, from one profiled run. */
async function nodePlacement(ep: ExecutionProvider, model: Uint8Array, feeds: Record<string, ort.Tensor>, dir: string) {
  mkdirSync(dir, { recursive: true });
  const prefix = join(dir, 'placement');
  const session = await ort.InferenceSession.create(model, { executionProviders: [ep], graphOptimizationLevel: 'all', logSeverityLevel: 3, enableProfiling: true, profileFilePrefix: prefix });
  await session.run(feeds);
  await session.endProfiling();
  await session.release();
  const file = readdirSync(dir).find((f) => f.startsWith('placement') && f.endsWith('.json'));
  if (!file) return null;
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cat?: string; name?: string; args?: { provider?: string; op_name?: string } }[];
  const byProvider: Record<string, Record<string, number>> = {};
  const seen = new Set<string>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.args?.provider || !e.name || !e.name.endsWith('_kernel_time')) continue;
    if (seen.has(e.name)) continue;
    seen.add(e.name);
    const p = (byProvider[e.args.provider] ??= {});
    const opName = e.args.op_name ?? '?';
    p[opName] = (p[opName] ?? 0) + 1;
  }
  rmSync(join(dir, file), { force: true });
  return byProvider;
}

async function phaseParity(cfg: Config, tf32: 'off' | 'on' | 'n/a', workDir: string) {
  const p = cfg.parity;
  const c = configFor(p.preset, p.size, p.batch, { p: 0 });
  const layout = paramLayout(c);
  const model = serialize(buildTrainStepModel(c, layout));
  const batches = syntheticBatches(c, 2, p.seed);
  progress(`parity: ${p.preset} ${p.size}² batch ${p.batch}, ${layout.values.length} parameters, ${p.steps} steps, lr ${p.lr}, dropout ratio 0, TF32 ${tf32}`);
  const cpu = await trajectory('cpu', model, layout.values, batches, p.steps, p.lr, 'cpu');
  const runs: Trajectory[] = [cpu];
  let placement: Awaited<ReturnType<typeof nodePlacement>> = null;
  if (cfg.ep === 'cpu') {
    // CPU-only dry run: the comparison code runs against a second CPU run (expected identical).
    runs.push(await trajectory('cpu', model, layout.values, batches, p.steps, p.lr, 'cpu (again)'));
  } else {
    runs.push(await trajectory(cfg.ep, model, layout.values, batches, p.steps, p.lr, cfg.ep));
    runs.push(await trajectory(cfg.ep, model, layout.values, batches, p.steps, p.lr, `${cfg.ep} (again)`));
  }
  const b = batches[0]!;
  const P = layout.values.length;
  const t = (d: Float32Array, dims: number[]) => new ort.Tensor('float32', d, dims);
  try {
    placement = await nodePlacement(cfg.ep, model, {
      [INPUT.image]: t(b.image, [...b.dims]),
      [INPUT.target]: t(b.target, [p.batch, 1, p.size, p.size]),
      [INPUT.eps]: t(b.eps, [p.batch]),
      [INPUT.params]: t(layout.values, [P]),
      [INPUT.adamM]: t(new Float32Array(P), [P]),
      [INPUT.adamV]: t(new Float32Array(P), [P]),
      [INPUT.step]: t(Float32Array.of(1), []),
      [INPUT.lr]: t(Float32Array.of(p.lr), []),
      [INPUT.dropoutRatio]: t(Float32Array.of(0), []),
    }, join(workDir, `profile-${process.pid}`));
  } catch (e) {
    progress(`parity: node placement profile failed: ${(e as Error).message}`);
  }
  const other = runs[1]!;
  const again = runs[2];
  // How much a training run of this length amplifies tiny differences: CPU again, from parameters
  // perturbed by a relative 1e-6 (float32 rounding-level noise).
  let sensitivity = null;
  if (tf32 !== 'on') {
    const r = prng(12345);
    const perturbed = layout.values.map((x) => x * (1 + 1e-6 * (2 * r.next() - 1)));
    sensitivity = compare(cpu, await trajectory('cpu', model, perturbed, batches, p.steps, p.lr, 'cpu, params x (1 ± 1e-6)'));
  }
  progress('parity: loss and gradient at the same parameters (training model)');
  const gradients = await gradientCheck(cfg.ep, c, P, [
    { label: 'initial parameters, batch 1', params: layout.values, batch: batches[0]! },
    { label: `CPU parameters after ${p.steps} steps, batch 2`, params: cpu.final, batch: batches[1 % batches.length]! },
  ]);
  for (const g of gradients) progress(`  ${g.at}: loss rel diff ${g.lossRelDiff}, gradient rel L2 diff ${g.gradientRelL2Diff}`);
  return {
    tf32,
    config: { preset: p.preset, imageSize: p.size, batch: p.batch, steps: p.steps, lr: p.lr, seed: p.seed, parameters: P, dropoutRatio: 0, data: `synthetic set (seed ${p.seed}), ${batches.length} batches alternating` },
    trajectories: runs.map((r) => ({ ep: r.ep, sessionMs: r.sessionMs, msPerStep: r.stepMs, losses: r.losses.map((l) => Number(l.toPrecision(8))) })),
    vsCpu: compare(cpu, other),
    repeatability: again ? compare(other, again) : null,
    /** CPU vs CPU from initial parameters perturbed by a relative 1e-6: the floor of what the trajectory comparison can show. */
    sensitivity,
    gradients,
    nodePlacement: placement,
  };
}

// ---- phase: train (timing) ----------------------------------------------------------------------

/** A graph with the train step's inputs and outputs and no work: what moving a step's data costs. */
function copyProbeModel(c: ModelConfig, P: number): Uint8Array {
  const g = createGraph('copy_probe');
  const vec = [INPUT.params, INPUT.adamM, INPUT.adamV].map((n) => addInput(g, n, 'float32', [P]));
  const image = addInput(g, INPUT.image, 'float32', [c.batch, 3, c.imageSize, c.imageSize]);
  const target = addInput(g, INPUT.target, 'float32', [c.batch, 1, c.imageSize, c.imageSize]);
  const outs = [OUTPUT.params, OUTPUT.adamM, OUTPUT.adamV];
  vec.forEach((v, i) => addOutput(g, outs[i]!, op1(g, 'Neg', [v])));
  addOutput(g, OUTPUT.loss, op1(g, 'Add', [op1(g, 'ReduceMax', [image], { keepdims: 0 }), op1(g, 'ReduceMax', [target], { keepdims: 0 })]));
  return serialize(g);
}

async function phaseTrain(cfg: Config) {
  const t = cfg.train;
  const c = configFor(t.preset, t.size, t.batch); // dropout p 0.5 as in training
  progress(`train: ${t.preset} ${t.size}² batch ${t.batch} on ${cfg.ep}: building the train-step graph`);
  const t0 = now();
  const layout = paramLayout(c);
  const g = buildTrainStepModel(c, layout);
  const t1 = now();
  const model = serialize(g);
  const t2 = now();
  const P = layout.values.length;
  const flopsForward = convFlops(buildInferenceModel(c)).total;
  const session = await createSession(model, { providers: [cfg.ep] });
  const t3 = now();
  progress(`train: ${g.nodes.length} nodes, ${P} parameters, build ${(t2 - t0).toFixed(0)} ms, session ${(t3 - t2).toFixed(0)} ms`);
  const batch = randomBatch(c, 7);
  let state = initialState(layout.values);
  const dropout = c.unet.dropout.p;
  const warm: number[] = [];
  const losses: number[] = [];
  for (let i = 0; i < t.warmup; i++) {
    const s = now();
    const r = await trainStep(session, state, batch, 1e-4, dropout);
    warm.push(now() - s);
    state = r.state;
    losses.push(r.loss);
    progress(`train: warm-up step ${i + 1}: ${warm[i]!.toFixed(1)} ms`);
  }
  const memAfterWarmup = gpuMemoryUsedMiB();
  const times: number[] = [];
  for (let i = 0; i < t.steps; i++) {
    const s = now();
    const r = await trainStep(session, state, batch, 1e-4, dropout);
    times.push(now() - s);
    state = r.state;
    losses.push(r.loss);
  }
  checkFinite('train losses', losses);
  checkFinite('train params', state.params.subarray(0, 1000));
  await session.release();
  const st = stats(times);
  progress(`train: median ${st.median.toFixed(1)} ms/step (${((t.batch * 1000) / st.median).toFixed(1)} images/s)`);

  // Copy probe: same inputs and outputs, no work.
  const probe = await createSession(copyProbeModel(c, P), { providers: [cfg.ep] });
  const ten = (d: Float32Array, dims: number[]) => new ort.Tensor('float32', d, dims);
  const probeTimes: number[] = [];
  for (let i = 0; i < t.probeRuns + 1; i++) {
    const s = now();
    const out = await probe.run({
      [INPUT.params]: ten(state.params, [P]),
      [INPUT.adamM]: ten(state.m, [P]),
      [INPUT.adamV]: ten(state.v, [P]),
      [INPUT.image]: ten(batch.image, [...batch.dims]),
      [INPUT.target]: ten(batch.target, [t.batch, 1, t.size, t.size]),
    });
    if (i > 0) probeTimes.push(now() - s); // the first run allocates
    if ((out[OUTPUT.params]!.data as Float32Array).length !== P) throw new Error('copy probe: wrong output size');
  }
  await probe.release();
  const pt = stats(probeTimes);
  const kStep = await kStepTiming(cfg, c, layout, batch, state);
  const px = t.size * t.size;
  const bytesIn = 4 * (3 * P + t.batch * 3 * px + t.batch * px + t.batch + 3);
  const bytesOut = 4 * (3 * P + t.batch + 1);
  progress(`train: copy probe median ${pt.median.toFixed(1)} ms (${((bytesIn + bytesOut) / 1e6).toFixed(0)} MB moved per step)`);
  return {
    config: { preset: t.preset, imageSize: t.size, batch: t.batch, parameters: P, dropoutRatio: dropout, lr: 1e-4, warmup: t.warmup, steps: t.steps, nodes: g.nodes.length, modelBytes: model.length },
    buildMs: round(t1 - t0, 1),
    serializeMs: round(t2 - t1, 1),
    sessionMs: round(t3 - t2, 1),
    warmupMs: warm.map((x) => round(x, 1)),
    stepMs: st,
    imagesPerS: round((t.batch * 1000) / st.median, 2),
    forwardConvFlops: flopsForward,
    /** forward + backward ≈ 3 × forward conv FLOPs. */
    tflopPerS: round((3 * flopsForward) / (st.median * 1e-3) / 1e12, 2),
    gpuMemoryUsedMiB: memAfterWarmup,
    transfer: {
      bytesInPerStep: bytesIn,
      bytesOutPerStep: bytesOut,
      note: 'params, adam_m, adam_v ([P] float32 each) go in and come back every step, plus the batch; onnxruntime-node cannot keep outputs on a CUDA device (preferredOutputLocation supports WebGPU buffers only)',
      probeMs: pt,
      /** Share of a step spent moving data (probe median / step median). */
      probeShare: round(pt.median / st.median, 3),
      computeMsEstimate: round(st.median - pt.median, 1),
    },
    losses: losses.map((l) => Number(l.toPrecision(6))),
    kStep,
  };
}

/**
 * The K-step Loop model as `npm run train` runs it by default: parameters and Adam moments go in
 * and come out once per K steps. One warm-up run, kRuns timed runs (ms/step = run / K), then one
 * run in a profiling session: the top op types by kernel time (on CUDA: host-side time of each
 * node's compute call, see ortProfile.ts).
 */
async function kStepTiming(cfg: Config, c: ModelConfig, layout: ReturnType<typeof paramLayout>, batch: Batch, start: TrainState) {
  const { k, kRuns } = cfg.train;
  const dropout = c.unet.dropout.p;
  const model = serialize(buildTrainLoopModel(c, k, layout));
  const batches = new Array<Batch>(k).fill(batch);
  const t0 = now();
  const session = await createSession(model, { providers: [cfg.ep] });
  const sessionMs = now() - t0;
  let state = start;
  const runMs: number[] = [];
  for (let i = 0; i <= kRuns; i++) {
    const s0 = now();
    const r = await trainSteps(session, state, batches, k, 1e-4, dropout);
    runMs.push(now() - s0);
    checkFinite('K-step losses', r.losses);
    state = r.state;
    progress(`train: K-step run ${i === 0 ? 'warm-up' : i} (K = ${k}): ${runMs.at(-1)!.toFixed(0)} ms, ${(runMs.at(-1)! / k).toFixed(1)} ms/step`);
  }
  await session.release();
  const st = stats(runMs.slice(1).map((x) => x / k));
  const dir = mkdtempSync(join(os.tmpdir(), 'gpu-check-prof-'));
  let topOps: { op: string; ms: number; share: number }[] = [];
  let profiledMs: number | null = null;
  try {
    const prof = await ort.InferenceSession.create(model, { executionProviders: [cfg.ep], ...SESSION_DEFAULTS, enableProfiling: true, profileFilePrefix: join(dir, 'kstep') });
    for (let i = 0; i < 2; i++) state = (await trainSteps(prof, state, batches, k, 1e-4, dropout)).state;
    prof.endProfiling();
    await prof.release();
    const { run, kernels } = lastRunKernels(JSON.parse(readFileSync(join(dir, readdirSync(dir)[0]!), 'utf8')) as ProfileEvent[]);
    profiledMs = round(run.dur / 1000, 1);
    topOps = byOpType(kernels).slice(0, 12);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  progress(`train: K-step median ${st.median.toFixed(1)} ms/step; top ops ${topOps.slice(0, 5).map((o) => `${o.op} ${o.ms} ms`).join(', ')}`);
  return { k, runs: kRuns, sessionMs: round(sessionMs, 1), warmupRunMs: round(runMs[0]!, 1), msPerStep: st, imagesPerS: round((c.batch * 1000) / st.median, 2), profiledRunMs: profiledMs, topOps };
}

// ---- phase: convgrad ----------------------------------------------------------------------------

/** The conv weight-gradient formulations at the train U-Net's shapes on this provider (benchConvGrad.ts). */
async function phaseConvGrad(cfg: Config) {
  const t = cfg.train;
  const c = configFor(t.preset, t.size, t.batch);
  const r = await benchConvGrad([{ name: `${t.preset} ${t.size}² b${t.batch}`, config: c }], cfg.convgrad.rounds, cfg.ep as 'cpu' | 'cuda');
  progress(`convgrad:\n${convGradReport(r)}`);
  return r;
}

// ---- phase: mc ----------------------------------------------------------------------------------

async function phaseMc(cfg: Config) {
  const m = cfg.mc;
  const cases = [];
  for (const batch of m.batches) {
    const c = configFor(m.preset, m.size, batch, { samples: m.samples });
    const t0 = now();
    const g = buildMcModel(c);
    const model = serialize(g);
    const t1 = now();
    const session = await ort.InferenceSession.create(model, { executionProviders: [cfg.ep], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    const t2 = now();
    const image = randomBatch(c, 11).image;
    const feeds = { [INPUT.image]: new ort.Tensor('float32', image, [batch, 3, m.size, m.size]), [INPUT.dropoutRatio]: new ort.Tensor('float32', Float32Array.of(c.unet.dropout.p), []) };
    const warm: number[] = [];
    for (let i = 0; i < m.warmup; i++) {
      const s = now();
      await session.run(feeds);
      warm.push(now() - s);
    }
    const times: number[] = [];
    let last: Float32Array | null = null;
    for (let i = 0; i < m.runs; i++) {
      const s = now();
      const out = await session.run(feeds);
      times.push(now() - s);
      last = out[OUTPUT.samples]!.data as Float32Array;
    }
    await session.release();
    if (last) {
      checkFinite('MC samples', last);
      if (last.some((x) => x < 0 || x > 1)) throw new Error('MC samples outside [0, 1]');
    }
    const st = stats(times);
    const flops = convFlops(g).total;
    progress(`mc: batch ${batch} N=${m.samples}: session ${(t2 - t1).toFixed(0)} ms, median ${st.median.toFixed(2)} ms/run`);
    cases.push({
      batch,
      samples: m.samples,
      dropoutRatio: c.unet.dropout.p,
      buildMs: round(t1 - t0, 1),
      sessionMs: round(t2 - t1, 1),
      warmupMs: warm.map((x) => round(x, 1)),
      latencyMs: st,
      imagesPerS: round((batch * 1000) / st.median, 2),
      samplesPerS: round((batch * m.samples * 1000) / st.median, 1),
      convFlopsPerRun: flops,
      tflopPerS: round(flops / (st.median * 1e-3) / 1e12, 2),
    });
  }
  return { preset: m.preset, imageSize: m.size, cases };
}

// ---- phase: torch -------------------------------------------------------------------------------

function torchScript(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, 'torch_unet_train.py'), join(here, '../../bench/peers/torch_unet_train.py')]) if (existsSync(p)) return p;
  return null;
}

function torchInfo(python: string): { version: string; cuda: boolean; cudaVersion: string | null; cudnn: number | null; device: string | null } | { error: string } {
  const code = 'import json, torch; c = torch.cuda.is_available(); print(json.dumps({"version": torch.__version__, "cuda": c, "cudaVersion": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if c else None, "device": torch.cuda.get_device_name(0) if c else None}))';
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) return { error: `${python}: ${r.error.message}` };
  if (r.status !== 0) return { error: (r.stderr || '').trim().split('\n').slice(-1)[0] ?? `exit ${r.status}` };
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function phaseTorch(cfg: Config) {
  const t = cfg.torch;
  const info = torchInfo(t.python);
  if ('error' in info) return { skipped: `PyTorch not usable: ${info.error}` };
  const device = cfg.ep === 'cuda' ? 'cuda' : 'cpu';
  if (device === 'cuda' && !info.cuda) return { skipped: `torch ${info.version} has no CUDA device (torch.cuda.is_available() is False)`, torch: info };
  const script = torchScript();
  if (!script) return { skipped: 'torch_unet_train.py not found next to the bundle or in bench/peers' };
  const tr = cfg.train;
  const { base, depth } = PRESETS[tr.preset];
  // The same loss and dropout as our train step (PolyDice-1, p of the preset).
  const p = configFor(tr.preset, tr.size, tr.batch).unet.dropout.p;
  const args = [script, '--device', device, '--base', String(base), '--depth', String(depth), '--size', String(tr.size), '--batch', String(tr.batch), '--repeats', String(t.repeats), '--warmup', String(t.warmup), '--loss', 'polydice1', '--dropout', String(p)];
  progress(`torch: ${t.python} ${args.join(' ')}`);
  const r = spawnSync(t.python, args, { encoding: 'utf8', timeout: (cfg.phaseTimeoutS || PHASE_TIMEOUT_S.torch) * 1000, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`torch_unet_train.py failed (exit ${r.status ?? r.signal}): ${r.stdout}`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
  progress(`torch: median ${result.ms_median} ms/step`);
  return { torch: info, device, command: `${t.python} ${args.map((a) => (a === script ? 'torch_unet_train.py' : a)).join(' ')}`, result };
}

// ---- orchestration ------------------------------------------------------------------------------

type PhaseName = 'smoke' | 'parity' | 'parity-tf32' | 'train' | 'mc' | 'torch' | 'convgrad';
// In order of importance: when the time budget runs out, the last ones are skipped.
const ALL_PHASES: PhaseName[] = ['smoke', 'parity', 'train', 'torch', 'convgrad', 'mc', 'parity-tf32'];
/** Default time limit of each phase, seconds (GPU_CHECK_PHASE_TIMEOUT_S overrides all). */
const PHASE_TIMEOUT_S: Record<PhaseName, number> = { smoke: 60, parity: 120, train: 240, torch: 150, convgrad: 180, mc: 120, 'parity-tf32': 90 };
/** Phases that need the provider: skipped when the smoke test fails. */
const NEEDS_PROVIDER: PhaseName[] = ['parity', 'parity-tf32', 'train', 'mc', 'convgrad'];

async function runPhase(name: PhaseName, cfg: Config, workDir: string): Promise<unknown> {
  if (name === 'smoke') return phaseSmoke(cfg);
  if (name === 'parity') return phaseParity(cfg, cfg.ep === 'cuda' ? 'off' : 'n/a', workDir);
  if (name === 'parity-tf32') return phaseParity(cfg, 'on', workDir);
  if (name === 'train') return phaseTrain(cfg);
  if (name === 'mc') return phaseMc(cfg);
  if (name === 'convgrad') return phaseConvGrad(cfg);
  return phaseTorch(cfg);
}

interface PhaseOutcome {
  ok: boolean;
  seconds: number;
  result?: unknown;
  error?: string;
}

/** onnxruntime's own error lines (its logger writes them to stderr, the JS error only says "failed"). */
const ortErrors = (stderr: string): string[] =>
  stderr
    .split('\n')
    .filter((l) => /\[E:onnxruntime|\[F:onnxruntime|CUDA failure|cudaError|CUDNN_STATUS|no kernel image/i.test(l))
    // eslint-disable-next-line no-control-regex
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').trim())
    .slice(-5);

/** Run one phase in a child process; its stderr streams through and its onnxruntime errors are kept. */
async function runChild(name: PhaseName, argv: string[], workDir: string, timeoutS: number, extraEnv: Record<string, string>): Promise<PhaseOutcome & { ortErrors?: string[] }> {
  const resultFile = join(workDir, `phase-${name}.json`);
  rmSync(resultFile, { force: true });
  const self = fileURLToPath(import.meta.url);
  // Under tsx the entry is a .ts file: re-run through the same loader.
  const args = [...process.execArgv, self, ...argv, '--phase', name, '--result', resultFile];
  const t0 = now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, ...extraEnv } });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    stderr = (stderr + chunk.toString('utf8')).slice(-200_000);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutS * 1000);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('close', (c, sg) => done({ code: c, signal: sg })));
  clearTimeout(timer);
  const seconds = round((now() - t0) / 1000, 1);
  const errs = ortErrors(stderr);
  const extra = errs.length ? { ortErrors: errs } : {};
  if (timedOut) return { ok: false, seconds, error: `timed out after ${timeoutS} s (GPU_CHECK_PHASE_TIMEOUT_S, GPU_CHECK_BUDGET_S)`, ...extra };
  if (existsSync(resultFile)) {
    const parsed = JSON.parse(readFileSync(resultFile, 'utf8')) as PhaseOutcome;
    if (!parsed.ok && errs.length) parsed.error = `${parsed.error}; onnxruntime said: ${errs[errs.length - 1]}`;
    return { ...parsed, seconds, ...extra };
  }
  return { ok: false, seconds, error: `${signal ? `killed by ${signal}` : `exited with ${code} without a result`}${errs.length ? `; onnxruntime said: ${errs[errs.length - 1]}` : ''}`, ...extra };
}

function gitCommit(): string | null {
  if (typeof __GPU_CHECK_COMMIT__ !== 'undefined') return __GPU_CHECK_COMMIT__;
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function gpuInfo(): { name: string; driver: string; memoryTotal: string; computeCap: string }[] | { error: string } {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total,compute_cap', '--format=csv,noheader'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    return out
      .trim()
      .split('\n')
      .map((l) => {
        const [name, driver, memoryTotal, computeCap] = l.split(',').map((s) => s.trim());
        return { name: name ?? '', driver: driver ?? '', memoryTotal: memoryTotal ?? '', computeCap: computeCap ?? '' };
      });
  } catch (e) {
    return { error: `nvidia-smi: ${(e as Error).message.split('\n')[0]}` };
  }
}

function ortVersion(): string {
  try {
    const req = createRequire(import.meta.url);
    return (req('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown';
  }
}

/**
 * Parity tolerances; the reasons are in docs/gpu.md ("Tolerances"). trajectory: max over the steps of
 * |loss_gpu − loss_cpu| / loss_cpu of two free-running trainings; gradient: ‖g_gpu − g_cpu‖ / ‖g_cpu‖
 * and loss at the same parameters.
 */
const TOLERANCE = {
  tf32Off: { trajectory: 1e-3, gradient: 1e-4, loss: 1e-5 },
  tf32On: { trajectory: 1e-2, gradient: 2e-2, loss: 2e-3 },
} as const;

function table(header: string[], rawRows: string[][]): string {
  const rows = rawRows.map((r) => r.map((c) => (c ?? '').replace(/\|/g, '\\|')));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function report(meta: Any, phases: Record<string, PhaseOutcome>, cfg: Config): { md: string; summary: string; failures: string[] } {
  const rows: string[][] = [];
  const failures: string[] = [];
  const fmt = (x: number | undefined | null, d = 1): string => (x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(d));
  const sci = (x: number): string => (x === 0 ? '0' : x.toExponential(1));
  for (const name of Object.keys(phases)) {
    const o = phases[name]!;
    if (!o.ok) {
      const why = (o.error ?? '').replace(/\s*\n\s*/g, ' ').trim();
      const hint = /load|library/i.test(why) ? ' (the library that failed to load is named in gpu-check.log)' : '';
      const skipped = why.startsWith('skipped');
      rows.push([name, skipped ? 'skipped' : 'FAILED', `${why.slice(0, 200)}${hint}`]);
      // A phase skipped after a failed smoke test is not counted again; one skipped for time is.
      if (!skipped || why.includes('budget')) failures.push(`${name}: ${why}`);
      continue;
    }
    if (name === 'smoke') {
      rows.push([name, 'ok', `Conv+Relu on ${cfg.ep}: session ${fmt(o.result && (o.result as Any).sessionMs, 0)} ms, max abs diff vs CPU ${(o.result as Any).maxAbsDiffVsCpu}`]);
      continue;
    }
    const r = o.result as Any;
    if (name.startsWith('parity')) {
      const tol = cfg.ep === 'cpu' ? { trajectory: 0, gradient: 0, loss: 0 } : r.tf32 === 'on' ? TOLERANCE.tf32On : TOLERANCE.tf32Off;
      const gradWorst = Math.max(...r.gradients.map((g: Any) => g.gradientRelL2Diff));
      const lossWorst = Math.max(...r.gradients.map((g: Any) => g.lossRelDiff));
      const problems = [
        r.vsCpu.maxRelLossDiff > tol.trajectory ? `trajectory: max relative loss difference ${r.vsCpu.maxRelLossDiff} > ${tol.trajectory}` : '',
        gradWorst > tol.gradient ? `gradient relative L2 difference ${gradWorst} > ${tol.gradient}` : '',
        lossWorst > tol.loss ? `loss at the same parameters: relative difference ${lossWorst} > ${tol.loss}` : '',
      ].filter(Boolean);
      const pass = problems.length === 0;
      for (const x of problems) failures.push(`${name}: ${x}`);
      const rep = (r.repeatability ? `, GPU rerun ${sci(r.repeatability.maxRelLossDiff)}` : '') + (r.sensitivity ? `, CPU from params ±1e-6 ${sci(r.sensitivity.maxRelLossDiff)}` : '');
      const cpuNodes = r.nodePlacement ? Object.entries(r.nodePlacement as Record<string, Record<string, number>>).map(([p, ops]) => `${p.replace('ExecutionProvider', '')} ${Object.values(ops).reduce((a, b) => a + b, 0)}`).join(', ') : 'n/a';
      rows.push([
        name,
        pass ? 'ok' : 'FAIL',
        `TF32 ${r.tf32}, ${r.config.preset}-${r.config.imageSize} b${r.config.batch}: ${r.config.steps}-step loss curves max rel diff ${sci(r.vsCpu.maxRelLossDiff)} (step ${r.vsCpu.worstStep}; tol ${sci(tol.trajectory)})${rep}; ` +
          `same params: loss rel ${sci(lossWorst)} (tol ${sci(tol.loss)}), gradient rel L2 ${sci(gradWorst)} (tol ${sci(tol.gradient)}); nodes ${cpuNodes}`,
      ]);
    } else if (name === 'train') {
      rows.push([
        name,
        'ok',
        `${r.config.preset}-${r.config.imageSize} b${r.config.batch}: K-step (K = ${r.kStep.k}) ${fmt(r.kStep.msPerStep.median)} ms/step, one step per run ${fmt(r.stepMs.median)} ms/step (p10 ${fmt(r.stepMs.p10)}, p90 ${fmt(r.stepMs.p90)}), ${fmt(r.imagesPerS)} img/s, ${fmt(r.tflopPerS, 2)} TFLOP/s; session ${fmt(r.sessionMs, 0)} ms, 1st step ${fmt(r.warmupMs[0], 0)} ms; copy probe ${fmt(r.transfer.probeMs.median)} ms (${fmt(100 * r.transfer.probeShare, 0)}% of a step, ${fmt((r.transfer.bytesInPerStep + r.transfer.bytesOutPerStep) / 1e6, 0)} MB)`,
      ]);
    } else if (name === 'convgrad') {
      const picks = r.cases.map((c: Any) => `${c.shape.c}→${c.shape.m} ${c.shape.h}²: ${c.fastest}${c.fastest === c.chosen ? '' : ` (builder: ${c.chosen})`}`);
      rows.push([name, 'ok', `fastest dW formulation per shape on ${r.ep}: ${picks.join('; ')}`]);
    } else if (name === 'mc') {
      rows.push([name, 'ok', r.cases.map((c: Any) => `b${c.batch} N=${c.samples}: ${fmt(c.latencyMs.median, 2)} ms (${fmt(c.imagesPerS)} img/s, session ${fmt(c.sessionMs, 0)} ms)`).join('; ')]);
    } else if (name === 'torch') {
      if (r.skipped) rows.push([name, 'skipped', r.skipped]);
      else {
        const train = phases.train?.ok ? (phases.train.result as Any) : null;
        const ratio = train ? ` — onnxruntime K-step / PyTorch time ratio ${fmt(train.kStep.msPerStep.median / r.result.ms_median, 2)} (one step per run: ${fmt(train.stepMs.median / r.result.ms_median, 2)})` : '';
        rows.push([name, 'ok', `torch ${r.torch.version} on ${r.device}${r.device === 'cuda' ? ' (cudnn.benchmark)' : ''}: ${fmt(r.result.ms_median)} ms/step, ${fmt(r.result.images_per_s)} img/s${ratio}`]);
      }
    }
  }
  const gpu = Array.isArray(meta.gpu) ? meta.gpu.map((g: Any) => `${g.name} (driver ${g.driver}, ${g.memoryTotal}, sm ${g.computeCap})`).join('; ') : meta.gpu.error;
  const head = [
    `# GPU check (${cfg.ep}${cfg.quick ? ', quick' : ''})`,
    '',
    `- commit ${meta.commit ?? 'unknown'}, kit built ${meta.built ?? 'n/a'}, ${meta.date}`,
    `- GPU: ${gpu}`,
    `- onnxruntime-node ${meta.onnxruntime}, node ${meta.node}, torch ${meta.torch ?? 'n/a'}`,
    `- host: ${meta.host.cpu} x ${meta.host.cpus}, ${meta.host.os}`,
    '',
  ];
  const md = [...head, table(['phase', 'result', 'details'], rows), ''];
  const train = phases.train?.ok ? (phases.train.result as Any) : null;
  const torch = phases.torch?.ok ? (phases.torch.result as Any) : null;
  if (train) {
    md.push(
      '## Train step (fused forward + backward + Adam)',
      '',
      table(
        ['runtime', 'device', 'ms/step median', 'p10', 'p90', 'images/s', 'session ms', 'first step ms'],
        [
          [`onnxruntime-node ${meta.onnxruntime}, K-step (K = ${train.kStep.k})`, cfg.ep, fmt(train.kStep.msPerStep.median), fmt(train.kStep.msPerStep.p10), fmt(train.kStep.msPerStep.p90), fmt(train.kStep.imagesPerS), fmt(train.kStep.sessionMs, 0), `${fmt(train.kStep.warmupRunMs, 0)} (run)`],
          [`onnxruntime-node ${meta.onnxruntime}, one step per run`, cfg.ep, fmt(train.stepMs.median), fmt(train.stepMs.p10), fmt(train.stepMs.p90), fmt(train.imagesPerS), fmt(train.sessionMs, 0), fmt(train.warmupMs[0], 0)],
          ...(torch && !torch.skipped ? [[`PyTorch ${torch.torch.version}`, torch.device, fmt(torch.result.ms_median), fmt(torch.result.ms_p10), fmt(torch.result.ms_p90), fmt(torch.result.images_per_s), '-', '-']] : []),
        ],
      ),
      '',
      `Per step ${fmt(train.transfer.bytesInPerStep / 1e6, 0)} MB go in and ${fmt(train.transfer.bytesOutPerStep / 1e6, 0)} MB come out (3 × ${train.config.parameters} float32 each way plus the batch). ` +
        `A graph with the same inputs and outputs and no work takes ${fmt(train.transfer.probeMs.median)} ms: about ${fmt(100 * train.transfer.probeShare, 0)}% of a step; compute ≈ ${fmt(train.transfer.computeMsEstimate)} ms. ` +
        `The K-step model moves the state once per ${train.kStep.k} steps.`,
      '',
      `TF32: onnxruntime's CUDA provider uses TF32 for convolutions and GEMMs by default (onnxruntime-node has no option for it); ` +
        (torch && !torch.skipped ? `PyTorch: convolutions ${torch.result.tf32_conv ? 'TF32' : 'FP32'}, matmuls ${torch.result.tf32_matmul ? 'TF32' : 'FP32'} (its defaults), cudnn.benchmark on.` : 'PyTorch did not run.'),
      '',
      `Top op types by kernel time in one profiled K-step run (${fmt(train.kStep.profiledRunMs, 0)} ms for ${train.kStep.k} steps; on CUDA the host-side time of each node's compute call, which includes waits for the GPU):`,
      '',
      table(['op', 'ms', 'share'], train.kStep.topOps.map((o: Any) => [o.op, fmt(o.ms, 1), `${fmt(100 * o.share, 1)}%`])),
      '',
    );
  }
  const convgrad = phases.convgrad?.ok ? (phases.convgrad.result as Any) : null;
  if (convgrad) md.push('## Conv weight-gradient formulations', '', '```', convGradReport(convgrad).trimEnd(), '```', '');
  for (const name of ['parity', 'parity-tf32']) {
    const p = phases[name];
    if (!p?.ok) continue;
    const r = p.result as Any;
    const onCpu = cfg.ep !== 'cpu' && r.nodePlacement?.CPUExecutionProvider ? Object.entries(r.nodePlacement.CPUExecutionProvider as Record<string, number>).map(([op, n]) => `${op} ×${n}`).join(', ') : null;
    if (onCpu) md.push(`Nodes that onnxruntime placed on the CPU in the ${cfg.ep} session (${name}): ${onCpu}.`, '');
    md.push(`## ${name}: loss per step (TF32 ${r.tf32})`, '', table(['step', ...r.trajectories.map((t: Any) => t.ep), 'rel diff'], r.trajectories[0].losses.map((l: number, i: number) => [String(i + 1), ...r.trajectories.map((t: Any) => String(t.losses[i])), String(r.vsCpu.relLossDiffPerStep[i])])), '');
  }
  const summary = `${table(['phase', 'result', 'details'], rows)}\n`;
  return { md: md.join('\n'), summary, failures };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (argv.includes('--help')) {
    process.stdout.write('usage: node gpu-check.mjs [--ep cuda|cpu] [--quick] [--out DIR] [--phases smoke,parity,parity-tf32,train,mc,torch,convgrad]\n(environment: GPU_CHECK_* step counts and sizes; see docs/gpu.md)\n');
    return;
  }
  const ep = (flag('ep') ?? 'cuda') as ExecutionProvider;
  if (ep !== 'cuda' && ep !== 'cpu') throw new Error(`--ep must be cuda or cpu, got ${ep}`);
  const quick = argv.includes('--quick');
  const cfg = readConfig(ep, quick);
  const out = resolve(flag('out') ?? process.env.OUT ?? 'artifacts/gpu-check');
  const workDir = join(out, '.work');
  mkdirSync(workDir, { recursive: true });

  const phase = flag('phase') as PhaseName | undefined;
  if (phase) {
    // Child: one phase, its outcome as JSON in --result.
    const resultFile = flag('result')!;
    try {
      const result = await runPhase(phase, cfg, workDir);
      writeFileSync(resultFile, JSON.stringify({ ok: true, result }));
    } catch (e) {
      const err = e as Error;
      progress(`${phase} failed: ${err.message}`);
      writeFileSync(resultFile, JSON.stringify({ ok: false, error: err.message }));
      process.exitCode = 1;
    }
    return;
  }

  const phases = (flag('phases') ?? env('PHASES', ALL_PHASES.join(','))).split(',').map((s) => s.trim()) as PhaseName[];
  const bad = phases.filter((p) => !ALL_PHASES.includes(p));
  if (bad.length) throw new Error(`unknown phase(s) ${bad.join(', ')}; known: ${ALL_PHASES.join(', ')}`);
  const torch = cfg.torch.mode === '0' ? null : torchInfo(cfg.torch.python);
  const meta = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    built: typeof __GPU_CHECK_BUILT__ !== 'undefined' ? __GPU_CHECK_BUILT__ : null,
    node: process.version,
    onnxruntime: ortVersion(),
    torch: torch && !('error' in torch) ? `${torch.version}${torch.cudaVersion ? ` (CUDA ${torch.cudaVersion}, cuDNN ${torch.cudnn})` : ''}` : null,
    gpu: cfg.ep === 'cuda' ? gpuInfo() : { error: 'CPU-only run' },
    host: { cpu: os.cpus()[0]?.model.trim() ?? 'unknown', cpus: os.cpus().length, os: `${os.type()} ${os.release()} ${os.arch()}`, memoryGiB: round(os.totalmem() / 2 ** 30, 1) },
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('GPU_CHECK_') || k === 'LD_LIBRARY_PATH' || k === 'CUDA_MODULE_LOADING' || k === 'NVIDIA_TF32_OVERRIDE')),
  };
  progress(`onnxruntime-node ${meta.onnxruntime}, node ${meta.node}, ep ${cfg.ep}, phases ${phases.join(',')}, out ${out}`);
  const outcomes: Record<string, PhaseOutcome> = {};
  const childArgv = ['--ep', cfg.ep, '--out', out, ...(quick ? ['--quick'] : [])];
  const start = now();
  for (const name of ALL_PHASES.filter((p) => phases.includes(p))) {
    if (name === 'parity-tf32' && cfg.ep !== 'cuda') continue;
    if (outcomes.smoke && !outcomes.smoke.ok && NEEDS_PROVIDER.includes(name)) {
      outcomes[name] = { ok: false, seconds: 0, error: `skipped: the ${cfg.ep} smoke test failed` };
      continue;
    }
    if (name === 'torch' && cfg.torch.mode === '0') continue;
    const left = cfg.budgetS - (now() - start) / 1000;
    if (left < 15) {
      outcomes[name] = { ok: false, seconds: 0, error: `skipped: the time budget (GPU_CHECK_BUDGET_S=${cfg.budgetS}) is spent` };
      continue;
    }
    const timeoutS = Math.max(10, Math.min(cfg.phaseTimeoutS || PHASE_TIMEOUT_S[name], Math.floor(left)));
    // TF32: onnxruntime's CUDA provider enables it by default and onnxruntime-node has no option for it;
    // NVIDIA_TF32_OVERRIDE=0 turns it off inside cuBLAS and cuDNN for the strict parity run.
    const extraEnv: Record<string, string> = name === 'parity' && cfg.ep === 'cuda' ? { NVIDIA_TF32_OVERRIDE: '0' } : {};
    progress(`---- phase ${name}${extraEnv.NVIDIA_TF32_OVERRIDE ? ' (NVIDIA_TF32_OVERRIDE=0)' : ''}`);
    outcomes[name] = await runChild(name, childArgv, workDir, timeoutS, extraEnv);
    progress(`---- phase ${name}: ${outcomes[name]!.ok ? 'ok' : `FAILED: ${outcomes[name]!.error}`} (${outcomes[name]!.seconds} s)`);
  }
  const { md, summary, failures } = report(meta, outcomes, cfg);
  const json = { check: 'gpu', ep: cfg.ep, quick, meta, config: cfg, tolerance: TOLERANCE, phases: outcomes, failures };
  writeFileSync(join(out, 'gpu-check.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(out, 'gpu-check.md'), md);
  rmSync(workDir, { recursive: true, force: true });
  process.stdout.write(summary);
  if (failures.length) {
    process.stderr.write(`gpu-check: ${failures.length} problem(s):\n  ${failures.join('\n  ')}\n`);
    process.exitCode = 1;
  }
  progress(`wrote ${join(out, 'gpu-check.json')} and gpu-check.md`);
}

main().catch((e: unknown) => {
  process.stderr.write(`gpu-check: error: ${(e as Error).message}\n`);
  if (process.env.DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
