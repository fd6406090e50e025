/**
 * Train-step benchmark: fused train steps (forward + backward + Adam in one run) on CPU, each case
 * in its own child process so that its peak memory is its own, next to PyTorch's train step of the
 * same U-Net and loss on the same machine, and the machine's GEMM ceiling measured with a plain
 * MatMul graph. One profiled case says where the time goes (by op type; forward / backward /
 * optimizer).
 * Run as a child: `tsx src/cli/benchTrain.ts CASE_JSON` prints one JSON line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { prng } from '../common/prng.js';
import { convFlops } from '../graphBuilder/flops.js';
import { addInput, addOutput, createGraph, op1 } from '../graphBuilder/graph.js';
import { buildInferenceModel, presetConfig } from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { buildTrainStepModel, paramLayout } from '../graphBuilder/trainingModels.js';
import { DEFAULT_AUGMENT, augment } from '../training/augment.js';
import { loadDataset } from '../training/datasets.js';
import { type Batch, initialState, trainStep } from '../training/runtime.js';
import { kFoldSplits } from '../training/splits.js';
import { batchesOf, toBatch } from '../training/batches.js';
import { syntheticSet } from '../training/synthetic.js';
import { type Stats, fmtMs, otherCpuMeter, round, stats, table } from './benchUtil.js';
import { progress } from './cli.js';

export interface TrainCase {
  base: number;
  size: number;
  batch: number;
  steps: number;
  profile?: boolean;
}

export interface TrainResult {
  case: TrainCase;
  parameters: number;
  sessionMs: number;
  stepMs: Stats;
  imagesPerS: number;
  /** 3 × forward conv FLOPs per step (the usual estimate: backward ≈ 2 × forward). */
  flopsPerStep: number;
  gflopPerS: number;
  peakRssMiB: number;
  /** Cores used by other processes during the measured steps (see bench.ts); near 0 when clean. */
  otherCpuCores: number | null;
  profile?: { byOpType: { op: string; share: number }[]; split: { forward: number; backward: number; optimizer: number } };
}

const WARMUP = 2;

const syntheticBatch = (size: number, batch: number): Batch => toBatch(syntheticSet(batch, size, 1), new Array<number>(batch).fill(0), size);

/** Share of kernel time by op type and by phase, from an onnxruntime profile (first run skipped). */
function summarizeProfile(file: string): TrainResult['profile'] {
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string } }[];
  const firstRunEnd = Math.min(...events.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => e.ts + e.dur));
  const byOp = new Map<string, number>();
  const split = { forward: 0, backward: 0, optimizer: 0 };
  let total = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < firstRunEnd) continue;
    const op = e.args?.op_name ?? '?';
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
    const phase = e.name.startsWith('adam') ? 'optimizer' : e.name.includes('_Grad/') ? 'backward' : 'forward';
    split[phase] += e.dur;
    total += e.dur;
  }
  const share = (x: number): number => round(x / total, 3);
  return {
    byOpType: [...byOp.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([op, t]) => ({ op, share: share(t) })),
    split: { forward: share(split.forward), backward: share(split.backward), optimizer: share(split.optimizer) },
  };
}

/** One case, in this process. */
async function runTrainCase(tc: TrainCase): Promise<TrainResult> {
  const config = presetConfig('small', { imageSize: tc.size, batch: tc.batch, unet: { base: tc.base } });
  const layout = paramLayout(config);
  const bytes = serialize(buildTrainStepModel(config, layout));
  const profileDir = tc.profile ? mkdtempSync(join(tmpdir(), 'ortprof-')) : undefined;
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    ...(profileDir ? { enableProfiling: true, profileFilePrefix: join(profileDir, 'p') } : {}),
  });
  const sessionMs = performance.now() - t0;
  const batch = syntheticBatch(tc.size, tc.batch);
  let state = initialState(layout.values);
  const times: number[] = [];
  let other: (() => number | null) | undefined;
  for (let i = 0; i < WARMUP + tc.steps; i++) {
    if (i === WARMUP) other = otherCpuMeter();
    const t = performance.now();
    state = (await trainStep(session, state, batch, 1e-3, 0.5)).state;
    if (i >= WARMUP) times.push(performance.now() - t);
  }
  const otherCpuCores = other!();
  let profile: TrainResult['profile'];
  if (profileDir) {
    session.endProfiling();
    profile = summarizeProfile(join(profileDir, readdirSync(profileDir)[0]!));
    rmSync(profileDir, { recursive: true, force: true });
  }
  const st = stats(times);
  const flopsPerStep = 3 * convFlops(buildInferenceModel({ ...config, unet: { ...config.unet } })).total;
  return {
    case: tc,
    parameters: layout.values.length,
    sessionMs: round(sessionMs, 1),
    stepMs: { median: round(st.median), p10: round(st.p10), p90: round(st.p90), mean: round(st.mean), min: round(st.min), max: round(st.max) },
    imagesPerS: round((tc.batch * 1000) / st.median, 2),
    flopsPerStep,
    gflopPerS: round(flopsPerStep / 1e9 / (st.median / 1000), 1),
    peakRssMiB: round(process.resourceUsage().maxRSS / 1024, 0),
    otherCpuCores: otherCpuCores === null ? null : round(otherCpuCores, 2),
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
 * One training epoch on CVC-ClinicDB (small preset, 128², batch 8, the training part of fold 0),
 * timing batch preparation separately from the train steps: onnxruntime-node's run occupies the
 * main thread, so whatever the data path costs shows up here.
 */
async function runEpochCase(dataDir: string): Promise<EpochResult> {
  const t0 = performance.now();
  const data = await loadDataset(dataDir, 'auto', 128, {});
  const loadS = (performance.now() - t0) / 1000;
  const config = presetConfig('small', { imageSize: 128, batch: 8 });
  const layout = paramLayout(config);
  const session = await ort.InferenceSession.create(serialize(buildTrainStepModel(config, layout)), { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const [fold] = kFoldSplits(data.samples.length, 5, 1, 0.1);
  const rng = prng(1);
  let state = initialState(layout.values);
  let [dataMs, stepMs] = [0, 0];
  const batches = batchesOf(fold!.train, 8);
  const e0 = performance.now();
  for (const b of batches) {
    const d0 = performance.now();
    const batch = toBatch(b.items.map((i) => augment(data.samples[i]!, rng, DEFAULT_AUGMENT)), b.items.map(() => 0), 128);
    const s0 = performance.now();
    state = (await trainStep(session, state, batch, 1e-3, 0.5)).state;
    dataMs += s0 - d0;
    stepMs += performance.now() - s0;
  }
  const epochS = (performance.now() - e0) / 1000;
  return { data: dataDir, images: data.samples.length, loadS: round(loadS, 2), steps: batches.length, epochS: round(epochS, 2), dataS: round(dataMs / 1000, 3), stepS: round(stepMs / 1000, 2), dataShare: round(dataMs / (dataMs + stepMs), 4) };
}

const SELF = fileURLToPath(import.meta.url);

/** One case in a child process (its own peak memory). */
export function inChild<T>(job: TrainCase | { epochOn: string }): T {
  const r = spawnSync('node_modules/.bin/tsx', [SELF, JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`bench job ${JSON.stringify(job)} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
}

export interface PeerResult {
  peer: string;
  version?: string;
  ms_median?: number;
  gflops_per_s?: number;
  peak_rss_mib?: number;
  unavailable?: string;
}

const PEER_PYTHON = '/usr/bin/python3';

/** PyTorch's train step of the same U-Net, or why it could not run. */
export function pytorchPeer(tc: TrainCase): PeerResult {
  try {
    execFileSync(PEER_PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return { peer: 'pytorch', unavailable: `${PEER_PYTHON} cannot import torch (Debian: apt-get install python3-torch)` };
  }
  const out = execFileSync(PEER_PYTHON, ['bench/peers/torch_unet_train.py', '--base', String(tc.base), '--size', String(tc.size), '--batch', String(tc.batch), '--repeats', String(tc.steps)], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as PeerResult;
}

/** The machine's fp32 GEMM rate through onnxruntime: MatMul of two n×n matrices. */
export async function gemmCeiling(n = 2048, runs = 5): Promise<number> {
  const g = createGraph('gemm');
  const a = addInput(g, 'a', 'float32', [n, n]);
  const b = addInput(g, 'b', 'float32', [n, n]);
  addOutput(g, 'c', op1(g, 'MatMul', [a, b]));
  const session = await ort.InferenceSession.create(serialize(g), { logSeverityLevel: 3 });
  const r = prng(3);
  const data = Float32Array.from({ length: n * n }, () => r.next());
  const feeds = { a: new ort.Tensor('float32', data, [n, n]), b: new ort.Tensor('float32', data, [n, n]) };
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const t = performance.now();
    await session.run(feeds);
    if (i > 0) times.push(performance.now() - t);
  }
  return round((2 * n ** 3) / 1e9 / (stats(times).median / 1000), 1);
}

export interface TrainBench {
  gemmGflopPerS: number;
  epoch: EpochResult | { unavailable: string } | null;
  cases: (TrainResult & { pytorch: PeerResult; pytorchOverOurs: number | null })[];
}

export const CVC_DIR = '../shared/data/CVC-ClinicDB';

export async function benchTrain(cases: TrainCase[], withPeer: boolean, epochOn: string | null): Promise<TrainBench> {
  progress('train: GEMM ceiling (MatMul 2048³)');
  const gemmGflopPerS = await gemmCeiling();
  const out: TrainBench['cases'] = [];
  for (const tc of cases) {
    progress(`train: base ${tc.base}, ${tc.size}², batch ${tc.batch}: ${WARMUP} warm-up + ${tc.steps} fused steps${tc.profile ? ' (profiled)' : ''}`);
    const ours = inChild<TrainResult>(tc);
    const pytorch = withPeer ? (progress('train: PyTorch peer, same case'), pytorchPeer(tc)) : { peer: 'pytorch', unavailable: 'not run (--quick)' };
    out.push({ ...ours, pytorch, pytorchOverOurs: pytorch.ms_median ? round(pytorch.ms_median / ours.stepMs.median, 2) : null });
  }
  let epoch: TrainBench['epoch'] = null;
  if (epochOn) {
    progress(`train: one epoch on ${epochOn} (small preset, 128², batch 8)`);
    epoch = existsSync(epochOn) ? inChild<EpochResult>({ epochOn }) : { unavailable: `${epochOn} not found` };
  }
  return { gemmGflopPerS, epoch, cases: out };
}

export function trainReport(t: TrainBench): string {
  const lines = [
    `Train step (fused forward + backward + Adam, onnxruntime CPU) vs PyTorch (same U-Net, Dice loss, Adam), ${WARMUP} warm-up steps`,
    table(
      ['case', 'params', 'steps', 'ms/step', 'p10', 'p90', 'images/s', 'GFLOP/s', 'of GEMM', 'peak MiB', 'other CPU', 'PyTorch ms', 'PyTorch MiB', 'PyTorch/ours'],
      t.cases.map((c) => [
        `base ${c.case.base} ${c.case.size}² b${c.case.batch}`,
        `${(c.parameters / 1e6).toFixed(2)}M`,
        String(c.case.steps),
        fmtMs(c.stepMs.median),
        fmtMs(c.stepMs.p10),
        fmtMs(c.stepMs.p90),
        c.imagesPerS.toFixed(2),
        c.gflopPerS.toFixed(1),
        `${Math.round((100 * c.gflopPerS) / t.gemmGflopPerS)}%`,
        String(c.peakRssMiB),
        c.otherCpuCores === null ? '-' : c.otherCpuCores.toFixed(2),
        c.pytorch.ms_median ? fmtMs(c.pytorch.ms_median) : '-',
        c.pytorch.peak_rss_mib ? String(Math.round(c.pytorch.peak_rss_mib)) : '-',
        c.pytorchOverOurs === null ? (c.pytorch.unavailable ?? '-') : `${c.pytorchOverOurs.toFixed(2)}x`,
      ]),
    ),
    `GFLOP/s counts 3 x forward conv FLOPs per step; GEMM ceiling (onnxruntime MatMul 2048³): ${t.gemmGflopPerS} GFLOP/s; PyTorch/ours > 1: we are faster`,
  ];
  if (t.epoch && 'unavailable' in t.epoch) lines.push('', `Epoch on CVC-ClinicDB: not measured (${t.epoch.unavailable})`);
  else if (t.epoch) {
    const e = t.epoch;
    lines.push(
      '',
      `One epoch on CVC-ClinicDB (${e.images} images decoded and resized in ${e.loadS} s; small preset, 128², batch 8, fold 0 training part):`,
      `  ${e.steps} steps in ${e.epochS} s: train steps ${e.stepS} s, batch preparation (augmentation, layout) ${e.dataS} s = ${(e.dataShare * 100).toFixed(2)}% of the epoch`,
    );
  }
  for (const c of t.cases.filter((x) => x.profile)) {
    const p = c.profile!;
    lines.push(
      '',
      `Where the time goes (base ${c.case.base} ${c.case.size}² b${c.case.batch}, kernel time): forward ${Math.round(p.split.forward * 100)}%, backward ${Math.round(p.split.backward * 100)}%, optimizer ${Math.round(p.split.optimizer * 100)}%`,
      `  by op type: ${p.byOpType.map((o) => `${o.op} ${Math.round(o.share * 100)}%`).join(', ')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] === SELF) {
  const job = JSON.parse(process.argv[2]!) as TrainCase | { epochOn: string };
  const result = 'epochOn' in job ? runEpochCase(job.epochOn) : runTrainCase(job);
  result.then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
}
