/**
 * Train-step benchmark: fused train steps (forward + backward + Adam in one run) on CPU, each case
 * in its own child process so that its peak memory is its own, next to PyTorch's train step of the
 * same U-Net, loss and dropout on the same machine (run right after ours, never in parallel), and
 * the machine's GEMM ceiling measured with a plain MatMul graph. A profiled case adds one extra
 * step in a second, profiling session (after the timed steps, so profiling never slows them) that
 * says where the time goes: kernel time by op type and by forward / backward / optimizer.
 * Run as a child: `node --import tsx src/bench/benchTrain.ts CASE_JSON` prints one JSON line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { prng } from '../common/prng.js';
import { convFlops } from '../graphBuilder/flops.js';
import { type Graph, addInput, addOutput, createGraph, op1 } from '../graphBuilder/graph.js';
import { OUTPUT } from '../graphBuilder/graphIO.js';
import { type ModelConfig, buildInferenceModel, presetConfig } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { buildTrainLoopModel, buildTrainStepModel, paramLayout } from '../graphBuilder/trainingModels.js';
import { DEFAULT_AUGMENT, augment } from '../training/augment.js';
import { loadDataset } from '../data/datasets.js';
import {
  type Batch,
  SESSION_DEFAULTS,
  type TrainState,
  initialState,
  trainStep,
  trainSteps,
} from '../runtime/runtime.js';
import { kFoldSplits } from '../training/splits.js';
import { batchesOf, toBatch } from '../training/batches.js';
import { syntheticSet } from '../data/synthetic.js';
import { type SummaryStats, round, summaryStats, timingRecord } from '../common/stats.js';
import { formatMs, textTable } from '../common/table.js';
import { otherCpuMeter } from '../runtime/machine.js';
import { type ProfileEvent, lastRunKernels } from './ortProfile.js';
import { progress } from '../common/progress.js';
import { readJsonFile } from '../common/files.js';

export interface TrainCase {
  base: number;
  size: number;
  batch: number;
  steps: number;
  /** One extra profiled step after the timed ones (in a second session). */
  profile?: boolean;
}

/** The K-step measurement of a case, run in a child process of its own (its own peak memory). */
interface KStepJob {
  kStepOf: TrainCase;
}

type Phase = 'forward' | 'backward' | 'optimizer' | 'inserted';
const PHASES: readonly Phase[] = ['forward', 'backward', 'optimizer', 'inserted'];

interface OpTime {
  op: string;
  ms: number;
  share: number;
}

export interface TrainProfile {
  /** Wall time of the profiled step (session.run) and the kernel time inside it, ms. */
  stepMs: number;
  kernelMs: number;
  /** Every op type by kernel time, descending; share of the step's kernel time. */
  byOpType: OpTime[];
  /**
   * Kernel time by phase, each with its op types: forward = the nodes the loss depends on,
   * optimizer = the Adam scope, backward = the rest (gradients, their accumulation and
   * flattening); inserted = nodes onnxruntime adds that map to no graph node (NCHWc layout reorders).
   */
  byPhase: Record<Phase, { ms: number; share: number; byOpType: OpTime[] }>;
}

export interface KStepResult {
  /** Steps per run (the case's steps) and timed runs (after one warm-up run). */
  k: number;
  runs: number;
  /** Median over the runs of run time / K. */
  msPerStep: number;
  /** Peak RSS of the K-step child process. */
  peakRssMiB: number;
}

export interface TrainResult {
  case: TrainCase;
  parameters: number;
  /** Graph construction + serialization of the train-step model, and session creation, ms. */
  buildMs: number;
  sessionMs: number;
  warmup: number;
  stepMs: SummaryStats & { runs: number[] };
  imagesPerS: number;
  /** 3 × forward conv FLOPs per step (the usual estimate: backward ≈ 2 × forward). */
  flopsPerStep: number;
  gflopPerS: number;
  /** Peak resident memory of the case's own process after the timed steps (before any profiling). */
  peakRssMiB: number;
  /** Cores used by other processes during the measured steps (runtime/machine.ts otherCpuMeter); near 0 when clean. */
  otherCpuCores: number | null;
  /** Loss of the last timed step: a finite number, or the measurement is of a broken step. */
  lastLoss: number;
  profile?: TrainProfile;
}

const WARMUP = 2;
const LR = 1e-3;
/**
 * onnxruntime's intra-op threads: one per core, stated explicitly (not left to onnxruntime's default)
 * so that the JSON records it and the peer gets the same count (torch.set_num_threads).
 */
export const THREADS = os.availableParallelism();
const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  ...SESSION_DEFAULTS,
  intraOpNumThreads: THREADS,
  interOpNumThreads: 1,
};

/** The model config of a case: the small preset at the case's size, batch and base width (default loss and optimizer). */
const trainConfig = (tc: TrainCase): ModelConfig =>
  presetConfig('small', { imageSize: tc.size, batch: tc.batch, unet: { base: tc.base } });

const syntheticBatch = (size: number, batch: number): Batch =>
  toBatch(syntheticSet(batch, size, 1), new Array<number>(batch).fill(0), size);

/** Phase of every node of a train-step graph (see TrainProfile.byPhase). */
function nodePhases(g: Graph, optimizerScope: string): Map<string, Phase> {
  const producer = new Map(g.nodes.flatMap((n) => n.outputs.map((o) => [o.name, n] as const)));
  const forward = new Set<string>();
  const stack = g.outputs.filter((o) => o.name === OUTPUT.loss || o.name === OUTPUT.perImageLoss).map((o) => o.name);
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    const n = producer.get(v);
    if (!n || forward.has(n.name)) continue;
    forward.add(n.name);
    stack.push(...n.inputs.map((i) => i.name));
  }
  return new Map(
    g.nodes.map(
      (n) =>
        [
          n.name,
          forward.has(n.name) ? 'forward' : n.name.startsWith(`${optimizerScope}/`) ? 'optimizer' : 'backward',
        ] as const,
    ),
  );
}

/**
 * Phase of a profiled node: its graph node's, or for a node onnxruntime made by fusing or
 * rewriting (`down0/conv1/Conv_Grad/MatMul/MatmulTransposeFusion/`, `down1/MaxPool_output_0_nchwc`)
 * that of the longest graph-node name it starts with.
 */
function profiledPhase(phases: Map<string, Phase>, name: string): Phase {
  for (let n = name; n; ) {
    const p = phases.get(n);
    if (p) return p;
    const cut = Math.max(n.lastIndexOf('/'), n.lastIndexOf('_'));
    if (cut <= 0) break;
    n = n.slice(0, cut);
  }
  return 'inserted';
}

/** Kernel time of the last run in an onnxruntime profile, by op type and by phase. */
function summarizeProfile(events: ProfileEvent[], phases: Map<string, Phase>): TrainProfile {
  const { run, kernels: all } = lastRunKernels(events);
  const kernels = all.map((k) => ({ ...k, phase: profiledPhase(phases, k.node) }));
  const totalUs = kernels.reduce((a, k) => a + k.us, 0);
  const byOp = (ks: typeof kernels): OpTime[] => {
    const us = new Map<string, number>();
    for (const k of ks) us.set(k.op, (us.get(k.op) ?? 0) + k.us);
    return [...us.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([op, t]) => ({ op, ms: round(t / 1000, 2), share: round(t / totalUs, 4) }));
  };
  const phase = (p: Phase) => {
    const ks = kernels.filter((k) => k.phase === p);
    const us = ks.reduce((a, k) => a + k.us, 0);
    return { ms: round(us / 1000, 2), share: round(us / totalUs, 4), byOpType: byOp(ks) };
  };
  return {
    stepMs: round(run.dur / 1000, 1),
    kernelMs: round(totalUs / 1000, 1),
    byOpType: byOp(kernels),
    byPhase: Object.fromEntries(PHASES.map((p) => [p, phase(p)])) as TrainProfile['byPhase'],
  };
}

/** One warm-up and one profiled step in a fresh profiling session; the profile of the second. */
async function profileStep(
  model: Uint8Array,
  phases: Map<string, Phase>,
  state: TrainState,
  batch: Batch,
  dropout: number,
): Promise<TrainProfile> {
  const dir = mkdtempSync(join(tmpdir(), 'ortprof-'));
  try {
    const session = await ort.InferenceSession.create(model, {
      ...SESSION_OPTIONS,
      enableProfiling: true,
      profileFilePrefix: join(dir, 'train'),
    });
    for (let i = 0; i < 2; i++) state = (await trainStep(session, state, batch, LR, dropout)).state;
    session.endProfiling();
    await session.release();
    return summarizeProfile(readJsonFile(join(dir, readdirSync(dir)[0]!)) as ProfileEvent[], phases);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The serialized train-step model (the graph itself is not kept), its parameter layout and, on request, its node phases. */
function buildStepModel(config: ModelConfig, withPhases: boolean) {
  const t0 = performance.now();
  const layout = paramLayout(config);
  const graph = buildTrainStepModel(config, layout);
  const model = serialize(graph);
  const buildMs = performance.now() - t0;
  return { layout, model, buildMs, phases: withPhases ? nodePhases(graph, config.training.optimizer.kind) : undefined };
}

const K_STEP_RUNS = 2;

/**
 * The same steps as the trainer runs them by default: the K-step Loop model (K = the case's steps),
 * one warm-up run, then K_STEP_RUNS timed runs; ms per step = run time / K. In a process of its own:
 * its peak RSS is that of training this way (graph building and session creation included).
 */
async function runKStep(tc: TrainCase): Promise<KStepResult> {
  const config = trainConfig(tc);
  const dropout = config.unet.dropout.p;
  const k = tc.steps;
  const layout = paramLayout(config);
  const batch = syntheticBatch(tc.size, tc.batch);
  const session = await ort.InferenceSession.create(serialize(buildTrainLoopModel(config, k, layout)), SESSION_OPTIONS);
  const batches = new Array<Batch>(k).fill(batch);
  let state = initialState(layout.values);
  const perStep: number[] = [];
  for (let i = 0; i <= K_STEP_RUNS; i++) {
    const t = performance.now();
    state = (await trainSteps(session, state, batches, k, LR, dropout)).state;
    if (i > 0) perStep.push((performance.now() - t) / k);
  }
  await session.release();
  const peakRssMiB = round(process.resourceUsage().maxRSS / 1024, 0);
  return { k, runs: K_STEP_RUNS, msPerStep: round(summaryStats(perStep).median), peakRssMiB };
}

/** One case, in this process. */
async function runTrainCase(tc: TrainCase): Promise<TrainResult> {
  const config = trainConfig(tc);
  const dropout = config.unet.dropout.p;
  const flopsPerStep = 3 * convFlops(buildInferenceModel(config)).total;
  const { layout, model, buildMs, phases } = buildStepModel(config, tc.profile === true);
  const t1 = performance.now();
  const session = await ort.InferenceSession.create(model, SESSION_OPTIONS);
  const sessionMs = performance.now() - t1;
  const batch = syntheticBatch(tc.size, tc.batch);
  let state = initialState(layout.values);
  let loss = Number.NaN;
  const times: number[] = [];
  let other: (() => number | null) | undefined;
  for (let i = 0; i < WARMUP + tc.steps; i++) {
    if (i === WARMUP) other = otherCpuMeter();
    const t = performance.now();
    ({ state, loss } = await trainStep(session, state, batch, LR, dropout));
    if (i >= WARMUP) times.push(performance.now() - t);
  }
  const otherCpuCores = other!();
  const peakRssMiB = round(process.resourceUsage().maxRSS / 1024, 0);
  await session.release();
  const profile = phases && (await profileStep(model, phases, state, batch, dropout));
  const st = summaryStats(times);
  return {
    case: tc,
    parameters: layout.values.length,
    buildMs: round(buildMs, 1),
    sessionMs: round(sessionMs, 1),
    warmup: WARMUP,
    stepMs: timingRecord(times),
    imagesPerS: round((tc.batch * 1000) / st.median, 2),
    flopsPerStep,
    gflopPerS: round(flopsPerStep / 1e9 / (st.median / 1000), 1),
    peakRssMiB,
    otherCpuCores: otherCpuCores === null ? null : round(otherCpuCores, 2),
    lastLoss: round(loss, 6),
    ...(profile ? { profile } : {}),
  };
}

export interface EpochResult {
  data: string;
  images: number;
  loadS: number;
  steps: number;
  epochS: number;
  /** Batch assembly (augmentation + layout) on the main thread, summed over the epoch. */
  dataS: number;
  stepS: number;
  dataShare: number;
}

/**
 * One training epoch on CVC-ClinicDB (small preset, 128², batch 8, the training part of fold 0) as
 * `npm run train` runs it by default: every batch of the epoch prepared (augmentation, layout), then
 * all steps in one run of the K-step model (K = the epoch's steps), timing the two separately
 * (onnxruntime-node's run occupies the main thread, so whatever the data path costs shows up here).
 * The K-step session is created and warmed up with one run before the timed epoch.
 */
async function runEpochCase(dataDir: string): Promise<EpochResult> {
  const t0 = performance.now();
  const data = await loadDataset(dataDir, 'auto', 128, {});
  const loadS = (performance.now() - t0) / 1000;
  const config = trainConfig({ base: 16, size: 128, batch: 8, steps: 0 });
  const layout = paramLayout(config);
  const [fold] = kFoldSplits(data.samples.length, 5, 1, 0.1);
  const rng = prng(1);
  const plan = batchesOf(fold!.train, 8);
  const session = await ort.InferenceSession.create(
    serialize(buildTrainLoopModel(config, plan.length, layout)),
    SESSION_OPTIONS,
  );
  const prepare = () =>
    plan.map((b) =>
      toBatch(
        b.items.map((i) => augment(data.samples[i]!, rng, DEFAULT_AUGMENT)),
        b.items.map(() => 0),
        128,
      ),
    );
  let state = (
    await trainSteps(session, initialState(layout.values), prepare(), plan.length, LR, config.unet.dropout.p)
  ).state; // warm-up
  const e0 = performance.now();
  const batches = prepare();
  const s0 = performance.now();
  state = (await trainSteps(session, state, batches, plan.length, LR, config.unet.dropout.p)).state;
  const e1 = performance.now();
  const [dataMs, stepMs] = [s0 - e0, e1 - s0];
  const epochS = (e1 - e0) / 1000;
  return {
    data: dataDir,
    images: data.samples.length,
    loadS: round(loadS, 2),
    steps: batches.length,
    epochS: round(epochS, 2),
    dataS: round(dataMs / 1000, 3),
    stepS: round(stepMs / 1000, 2),
    dataShare: round(dataMs / (dataMs + stepMs), 4),
  };
}

const SELF = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(SELF), '../..');

/** One case in a child process (its own peak memory); its JSON result. */
export function inChild<T>(job: TrainCase | KStepJob | { epochOn: string }): T {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, JSON.stringify(job)], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0)
    throw new Error(`bench job ${JSON.stringify(job)} failed (exit ${r.status ?? r.signal}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
}

/** What bench/peers/torch_unet_train.py prints (the fields used here), or why it did not run. */
export interface PeerResult {
  peer: string;
  version?: string;
  threads?: number;
  params?: number;
  forward_flops?: number;
  ms_median?: number;
  ms_p10?: number;
  ms_p90?: number;
  images_per_s?: number;
  gflops_per_s?: number;
  peak_rss_mib?: number;
  command?: string;
  unavailable?: string;
  config?: PeerConfig;
}

/** What the peer process runs on, as it reports it (torch_unet_train.py peer_config). */
export interface PeerConfig {
  torch: string;
  python: string;
  device: string;
  /** BLAS shared libraries mapped into the peer process, resolved. */
  blas_libraries: string[] | null;
  /** 'openblas', 'mkl', 'blis', 'flexiblas', 'reference' (Debian's netlib libblas3), 'unknown', 'none loaded'. */
  blas: string;
  mkl: boolean;
  mkldnn: boolean;
  threads: number;
  interop_threads: number;
  omp_num_threads: string | null;
}

/**
 * Whether a ratio against this peer means anything: null when it does, else why not. PyTorch on
 * Debian's reference BLAS (what `npm run setup` leaves, see scripts/install-peers.sh) runs its BLAS
 * calls 1.2-2.3x slower than with OpenBLAS: a ratio against it flatters us.
 */
export function peerProblem(c: PeerConfig | undefined, ourThreads: number): string | null {
  if (!c) return 'the peer did not report its configuration';
  if (c.blas === 'reference')
    return `PyTorch runs on the reference BLAS (${(c.blas_libraries ?? []).join(', ')}); run scripts/install-peers.sh (libopenblas0)`;
  if (c.blas === 'unknown' || c.blas === 'none loaded')
    return `PyTorch's BLAS library could not be identified (${(c.blas_libraries ?? []).join(', ') || 'none mapped'})`;
  if (c.threads !== ourThreads) return `PyTorch uses ${c.threads} threads, onnxruntime ${ourThreads}`;
  return null;
}

const PEER_PYTHON = '/usr/bin/python3';
const PEER_SCRIPT = 'bench/peers/torch_unet_train.py';

/** Why PyTorch cannot run here, or undefined when it can. */
function pytorchProblem(): string | undefined {
  const r = spawnSync(PEER_PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.status === 0) return undefined;
  return `not run: ${PEER_PYTHON} cannot import torch (Debian: apt-get install python3-torch)`;
}

/** PyTorch's train step of the same U-Net, loss and dropout, in its own process. */
function pytorchPeer(tc: TrainCase): PeerResult {
  const config = trainConfig(tc);
  const args = [
    PEER_SCRIPT,
    '--base',
    tc.base,
    '--depth',
    config.unet.depth,
    '--size',
    tc.size,
    '--batch',
    tc.batch,
    '--repeats',
    tc.steps,
    '--warmup',
    WARMUP,
    '--threads',
    THREADS,
  ]
    .concat(['--loss', 'polydice1', '--dropout', config.unet.dropout.p])
    .map(String);
  const out = execFileSync(PEER_PYTHON, args, { cwd: REPO_ROOT, encoding: 'utf8' });
  return { ...(JSON.parse(out.trim().split('\n').at(-1)!) as PeerResult), command: `${PEER_PYTHON} ${args.join(' ')}` };
}

export interface GemmCeiling {
  n: number;
  runs: number;
  msMedian: number;
  gflopPerS: number;
}

/** The machine's fp32 GEMM rate through onnxruntime: MatMul of two n×n matrices (median of `runs` after one warm-up). */
export async function gemmCeiling(n = 2048, runs = 5): Promise<GemmCeiling> {
  const g = createGraph('gemm');
  const a = addInput(g, 'a', 'float32', [n, n]);
  const b = addInput(g, 'b', 'float32', [n, n]);
  addOutput(g, 'c', op1(g, 'MatMul', [a, b]));
  const session = await ort.InferenceSession.create(serialize(g), SESSION_OPTIONS);
  const r = prng(3);
  const data = Float32Array.from({ length: n * n }, () => r.next());
  const feeds = { a: new ort.Tensor('float32', data, [n, n]), b: new ort.Tensor('float32', data, [n, n]) };
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const t = performance.now();
    await session.run(feeds);
    if (i > 0) times.push(performance.now() - t);
  }
  await session.release();
  const ms = summaryStats(times).median;
  return { n, runs, msMedian: round(ms, 1), gflopPerS: round((2 * n ** 3) / 1e9 / (ms / 1000), 1) };
}

/** Median step times of one case over alternating rounds (ours, PyTorch, ours, PyTorch, …). */
export interface RoundsSummary {
  /** Each round's median ms/step. */
  perRound: number[];
  /** Median of the round medians, and their range. */
  median: number;
  min: number;
  max: number;
}

export interface TrainCaseResult extends TrainResult {
  /** Our GFLOP/s over the GEMM ceiling's. */
  ofGemm: number;
  /**
   * Ours over the alternating rounds, ms per step through the K-step model (as `npm run train` runs);
   * oneStepRounds: through the one-step model. The fields inherited from TrainResult are the first round's.
   */
  rounds: RoundsSummary;
  oneStepRounds: RoundsSummary;
  /** peakRssMiB: of the K-step child, max over rounds (what the ratio to PyTorch uses); this: of the one-step child. */
  oneStepPeakRssMiB: number;
  pytorch: PeerResult & { rounds?: RoundsSummary };
  /** Why no ratio is given (peer missing or misconfigured), or null. */
  ratioRefused: string | null;
  /** PyTorch's median step time over ours (medians of the round medians): > 1 means we are faster; null when refused. */
  pytorchOverOurs: number | null;
  /** Peak memory, ours over PyTorch's (whole processes); null when PyTorch did not run. */
  memoryOverPytorch: number | null;
  /** Same parameter count and forward FLOPs as PyTorch's model (null when PyTorch did not run). */
  sameModelAsPytorch: boolean | null;
}

export interface TrainBench {
  method: Record<string, string>;
  threads: number;
  gemm: GemmCeiling;
  epoch: EpochResult | { unavailable: string } | null;
  cases: TrainCaseResult[];
}

/** Train cases: the small preset (profiled) and a larger one, or a tiny smoke case with --quick (no PyTorch). */
export const TRAIN_CASES: TrainCase[] = [
  { base: 16, size: 128, batch: 8, steps: 10, profile: true },
  { base: 32, size: 224, batch: 4, steps: 8 },
];
export const QUICK_TRAIN_CASES: TrainCase[] = [{ base: 8, size: 64, batch: 2, steps: 3, profile: true }];

const summarizeRounds = (perRound: number[]): RoundsSummary => {
  const st = summaryStats(perRound);
  return { perRound: perRound.map((x) => round(x)), median: round(st.median), min: round(st.min), max: round(st.max) };
};

/**
 * The train cases one after the other (never two measurements at once): per case `rounds`
 * alternating rounds of ours (in a child process) and, with `withPeer`, PyTorch's, so that a slow
 * spell of the machine hits both. `epochOn`: a CVC-ClinicDB folder for one real epoch, or null.
 */
export async function benchTrain(
  cases: TrainCase[],
  withPeer: boolean,
  epochOn: string | null,
  rounds: number,
): Promise<TrainBench> {
  progress('train: GEMM ceiling (onnxruntime MatMul 2048³ fp32)');
  const gemm = await gemmCeiling();
  progress(`train: GEMM ceiling ${gemm.gflopPerS} GFLOP/s, ${THREADS} onnxruntime threads`);
  const missing = withPeer ? pytorchProblem() : 'not run with --quick';
  if (withPeer && missing) progress(`train: PyTorch side by side ${missing}`);
  const out: TrainCaseResult[] = [];
  for (const [i, tc] of cases.entries()) {
    const label = `train [${i + 1}/${cases.length}] ${caseName(tc)}`;
    const ours: TrainResult[] = [];
    const oursK: KStepResult[] = [];
    const peers: PeerResult[] = [];
    for (let r = 0; r < rounds; r++) {
      const profile = tc.profile === true && r === 0;
      progress(
        `${label} round ${r + 1}/${rounds}: ours, ${WARMUP} warm-up + ${tc.steps} fused steps${profile ? ' + 1 profiled step' : ''}`,
      );
      ours.push(inChild<TrainResult>({ ...tc, profile }));
      oursK.push(inChild<KStepResult>({ kStepOf: tc }));
      const [o, k] = [ours.at(-1)!, oursK.at(-1)!];
      progress(
        `${label} round ${r + 1}/${rounds}: ours ${formatMs(k.msPerStep)} ms/step in ${k.k}-step runs ` +
          `(peak ${k.peakRssMiB} MiB), ${formatMs(o.stepMs.median)} one step per run (peak ${o.peakRssMiB} MiB)`,
      );
      if (missing) continue;
      peers.push(pytorchPeer(tc));
      const peer = peers.at(-1)!;
      const ms = formatMs(peer.ms_median!);
      progress(`${label} round ${r + 1}/${rounds}: PyTorch median ${ms} ms/step (BLAS: ${peer.config?.blas ?? '?'})`);
    }
    const first = ours[0]!;
    const oursRounds = summarizeRounds(oursK.map((k) => k.msPerStep));
    const peakRssMiB = Math.max(...oursK.map((k) => k.peakRssMiB));
    const pytorch: TrainCaseResult['pytorch'] = peers.length
      ? {
          ...peers[0]!,
          peak_rss_mib: Math.max(...peers.map((p) => p.peak_rss_mib!)),
          rounds: summarizeRounds(peers.map((p) => p.ms_median!)),
        }
      : { peer: 'pytorch', unavailable: missing };
    const ran = pytorch.rounds !== undefined;
    const ratioRefused = ran ? peerProblem(pytorch.config, THREADS) : (missing ?? 'PyTorch did not run');
    if (ran && ratioRefused) progress(`${label}: no ratio: ${ratioRefused}`);
    out.push({
      ...first,
      oneStepPeakRssMiB: Math.max(...ours.map((o) => o.peakRssMiB)),
      peakRssMiB,
      ofGemm: round(first.gflopPerS / gemm.gflopPerS, 3),
      rounds: oursRounds,
      oneStepRounds: summarizeRounds(ours.map((o) => o.stepMs.median)),
      pytorch,
      ratioRefused,
      pytorchOverOurs: ran && !ratioRefused ? round(pytorch.rounds!.median / oursRounds.median, 2) : null,
      memoryOverPytorch: ran ? round(peakRssMiB / pytorch.peak_rss_mib!, 2) : null,
      sameModelAsPytorch: ran
        ? pytorch.params === first.parameters && pytorch.forward_flops === first.flopsPerStep / 3
        : null,
    });
  }
  let epoch: TrainBench['epoch'] = null;
  if (epochOn) {
    progress(`train: one epoch on ${epochOn} (small preset, 128², batch 8)`);
    epoch = existsSync(epochOn) ? inChild<EpochResult>({ epochOn }) : { unavailable: `${epochOn} not found` };
  }
  const method = {
    step: `fused train-step model (forward + PolyDice-1 loss + backward + Adam, lr ${LR}, dropout as configured) in one onnxruntime-node CPU run, the trainer's session settings (graphOptimizationLevel 'all', enableMemPattern false), intraOpNumThreads ${THREADS} (one per core), interOpNumThreads 1; outputs fed back as the next state`,
    data: 'syntheticSet images and masks (seed 1), the same batch every step',
    timing: `${WARMUP} warm-up steps, then the case's steps; wall time of trainStep (feeds, run, outputs), performance.now()`,
    kStep: `the same steps through the K-step Loop model (K = the case's steps), as npm run train runs them by default, in a child process of its own: one warm-up run, ${K_STEP_RUNS} timed runs, ms/step = median of run time / K; the ratio to PyTorch and the memory use this`,
    rounds: `${rounds} alternating rounds per case: ours (a fresh child process), then PyTorch (a fresh process), repeated; ms/step = median of the rounds' medians, with their min and max`,
    flops: '3 x forward Conv/ConvTranspose FLOPs of the inference graph of the same config (backward ~ 2 x forward)',
    peakRss:
      'process.resourceUsage().maxRSS of the child process after its timed runs (graph building and session creation included), max over rounds; peakRssMiB of the K-step child, oneStepPeakRssMiB of the one-step child',
    profile:
      'profiled cases: one warm-up and one profiled step in a second session with enableProfiling, after the timed steps of the first round; Node *_kernel_time events of the profiled step',
    gemm: 'MatMul of two 2048 x 2048 fp32 matrices through onnxruntime (same session options), median of 5 runs after one warm-up',
    pytorch: `${PEER_SCRIPT} with the same base, depth, size, batch, steps, warm-up, loss, dropout and thread count, ${PEER_PYTHON}; its configuration (BLAS library loaded, oneDNN, threads) as the process reports it; no ratio when it runs on the reference BLAS or another thread count`,
  };
  return { method, threads: THREADS, gemm, epoch, cases: out };
}

const caseName = (tc: TrainCase): string => `base ${tc.base} ${tc.size}² b${tc.batch}`;
const pct = (share: number): string => `${(100 * share).toFixed(share < 0.1 ? 1 : 0)}%`;
const TOP_OPS = 8;

/** The largest op types with their shares of the step's kernel time, the rest summed. */
function topOps(ops: OpTime[], n: number): string {
  const rest = ops.slice(n).reduce((a, o) => a + o.share, 0);
  return (
    ops
      .slice(0, n)
      .map((o) => `${o.op} ${pct(o.share)}`)
      .join(', ') + (rest > 0 ? `, other ${pct(rest)}` : '')
  );
}

function profileLines(c: TrainCaseResult): string[] {
  const p = c.profile!;
  const ph = p.byPhase;
  const label: Record<Phase, string> = {
    forward: 'forward',
    backward: 'backward',
    optimizer: 'optimizer',
    inserted: 'onnxruntime layout reorders',
  };
  return [
    '',
    `Where the time goes (${caseName(c.case)}; one extra profiled step: ${formatMs(p.stepMs)} ms wall, ` +
      `${formatMs(p.kernelMs)} ms in kernels = ${pct(p.kernelMs / p.stepMs)}; shares of kernel time)`,
    `  by phase: ${PHASES.map((x) => `${label[x]} ${pct(ph[x].share)}`).join(', ')}`,
    `  by op type: ${topOps(p.byOpType, TOP_OPS)}`,
    `    forward:  ${topOps(ph.forward.byOpType, TOP_OPS / 2)}`,
    `    backward: ${topOps(ph.backward.byOpType, TOP_OPS / 2)}`,
  ];
}

export function trainReport(t: TrainBench): string {
  const peerRan = t.cases.filter((c) => c.pytorch.rounds !== undefined);
  const lines = [
    `Train step: fused forward + PolyDice-1 + backward + Adam in one onnxruntime-node CPU run, ${WARMUP} warm-up steps, each case in its own process`,
    textTable(
      [
        'case',
        'params',
        'build s',
        'session s',
        'steps',
        'ms/step',
        'one-step ms',
        'p10 r1',
        'p90 r1',
        'images/s',
        'GFLOP/s',
        'of GEMM',
        'peak MiB',
        'one-step MiB',
        'other CPU',
      ],
      t.cases.map((c) => [
        caseName(c.case),
        `${(c.parameters / 1e6).toFixed(2)}M`,
        (c.buildMs / 1000).toFixed(2),
        (c.sessionMs / 1000).toFixed(2),
        String(c.case.steps),
        formatMs(c.rounds.median),
        formatMs(c.oneStepRounds.median),
        formatMs(c.stepMs.p10),
        formatMs(c.stepMs.p90),
        ((c.case.batch * 1000) / c.rounds.median).toFixed(2),
        (c.flopsPerStep / 1e9 / (c.rounds.median / 1000)).toFixed(1),
        pct(c.flopsPerStep / 1e9 / (c.rounds.median / 1000) / t.gemm.gflopPerS),
        String(c.peakRssMiB),
        String(c.oneStepPeakRssMiB),
        c.otherCpuCores === null ? '-' : c.otherCpuCores.toFixed(2),
      ]),
    ),
    `ms/step: through the K-step model (K = steps, as npm run train runs), one-step ms: one step per run; medians of the rounds' medians; p10/p90: of the first round's one-step steps. GFLOP/s counts 3 x forward conv FLOPs per step; of GEMM: that over the GEMM ceiling, onnxruntime MatMul ${t.gemm.n}³ fp32 = ${t.gemm.gflopPerS} GFLOP/s`,
    '',
  ];
  if (peerRan.length === 0) {
    lines.push(`PyTorch side by side: ${[...new Set(t.cases.map((c) => c.pytorch.unavailable))].join('; ')}`);
  } else {
    const v = peerRan[0]!.pytorch.config;
    lines.push(
      `Side by side with PyTorch ${v?.torch ?? '?'} CPU (${v?.threads ?? '?'} threads, BLAS: ${v?.blas ?? '?'} ${(v?.blas_libraries ?? []).map((l) => l.split('/').pop()).join(', ')}, oneDNN ${v?.mkldnn ? 'on' : 'off'}; ` +
        `onnxruntime ${t.threads} threads; same U-Net, loss, dropout and Adam), ${peerRan[0]!.rounds.perRound.length} alternating rounds, medians of the round medians [min-max]; PyTorch/ours > 1: we are faster`,
      textTable(
        [
          'case',
          'ours ms',
          'PyTorch ms',
          'PyTorch/ours',
          'ours img/s',
          'PyTorch img/s',
          'ours MiB',
          'PyTorch MiB',
          'MiB ours/PyTorch',
        ],
        t.cases.map((c) => {
          const p = c.pytorch;
          const ours = `${formatMs(c.rounds.median)} [${formatMs(c.rounds.min)}-${formatMs(c.rounds.max)}]`;
          if (!p.rounds)
            return [caseName(c.case), ours, '-', p.unavailable ?? '-', '-', '-', String(c.peakRssMiB), '-', '-'];
          return [
            caseName(c.case),
            ours,
            `${formatMs(p.rounds.median)} [${formatMs(p.rounds.min)}-${formatMs(p.rounds.max)}]`,
            c.pytorchOverOurs === null ? 'refused' : `${c.pytorchOverOurs.toFixed(2)}x`,
            ((c.case.batch * 1000) / c.rounds.median).toFixed(2),
            ((c.case.batch * 1000) / p.rounds.median).toFixed(2),
            String(c.peakRssMiB),
            String(p.peak_rss_mib),
            c.memoryOverPytorch!.toFixed(2),
          ];
        }),
      ),
      'peak MiB: the whole process (PyTorch: including the torch import)',
    );
    for (const c of peerRan.filter((x) => x.ratioRefused))
      lines.push(`no ratio for ${caseName(c.case)}: ${c.ratioRefused}`);
    const differ = peerRan.filter((c) => !c.sameModelAsPytorch);
    if (differ.length)
      lines.push(
        `WARNING: PyTorch's model differs from ours (parameters or forward FLOPs) for ${differ.map((c) => caseName(c.case)).join(', ')}`,
      );
  }
  if (t.epoch && 'unavailable' in t.epoch)
    lines.push('', `Epoch on CVC-ClinicDB: not measured (${t.epoch.unavailable})`);
  else if (t.epoch) {
    const e = t.epoch;
    lines.push(
      '',
      `One epoch on CVC-ClinicDB (${e.images} images decoded and resized in ${e.loadS} s; small preset, 128², batch 8, fold 0 training part; all steps in one K-step run, as npm run train runs):`,
      `  ${e.steps} steps in ${e.epochS} s: train steps ${e.stepS} s, batch preparation (augmentation, layout) ${e.dataS} s = ${(e.dataShare * 100).toFixed(2)}% of the epoch`,
    );
  }
  for (const c of t.cases.filter((x) => x.profile)) lines.push(...profileLines(c));
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] === SELF) {
  const job = JSON.parse(process.argv[2]!) as TrainCase | KStepJob | { epochOn: string };
  const result =
    'epochOn' in job ? runEpochCase(job.epochOn) : 'kStepOf' in job ? runKStep(job.kStepOf) : runTrainCase(job);
  result.then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
}
