/**
 * GPU check phase `train`: fused train steps of the configured U-Net on the provider — session
 * creation, warm-up, ms/step, images/s, a copy probe for the host↔device share of a step; then the
 * K-step Loop model and the top op types of one profiled K-step run.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { round } from '../../../src/common/stats.js';
import { convFlops } from '../../../src/graphBuilder/flops.js';
import { addInput, addOutput, createGraph, op1 } from '../../../src/graphBuilder/graph.js';
import { INPUT, OUTPUT } from '../../../src/graphBuilder/graphIO.js';
import { type ModelConfig, buildInferenceModel } from '../../../src/graphBuilder/models.js';
import { serialize } from '../../../src/graphBuilder/serialize.js';
import { buildTrainLoopModel, buildTrainStepModel, paramLayout } from '../../../src/graphBuilder/trainingModels.js';
import { type ProfileEvent, byOpType, lastRunKernels } from '../../../src/bench/ortProfile.js';
import { gpuMemoryUsedMiB } from '../../../src/runtime/machine.js';
import {
  type Batch,
  SESSION_DEFAULTS,
  type TrainState,
  createSession,
  initialState,
  trainStep,
  trainSteps,
} from '../../../src/runtime/runtime.js';
import type { Config } from '../config.js';
import { checkFinite, configFor, now, progress, randomBatch, timingStats } from './shared.js';

/** A graph with the train step's inputs and outputs and no work: what moving a step's data costs. */
function copyProbeModel(c: ModelConfig, P: number): Uint8Array {
  const g = createGraph('copy_probe');
  const vec = [INPUT.params, INPUT.adamM, INPUT.adamV].map((n) => addInput(g, n, 'float32', [P]));
  const image = addInput(g, INPUT.image, 'float32', [c.batch, 3, c.imageSize, c.imageSize]);
  const target = addInput(g, INPUT.target, 'float32', [c.batch, 1, c.imageSize, c.imageSize]);
  const outs = [OUTPUT.params, OUTPUT.adamM, OUTPUT.adamV];
  vec.forEach((v, i) => {
    addOutput(g, outs[i]!, op1(g, 'Neg', [v]));
  });
  const maxOf = (x: typeof image) => op1(g, 'ReduceMax', [x], { keepdims: 0 });
  addOutput(g, OUTPUT.loss, op1(g, 'Add', [maxOf(image), maxOf(target)]));
  return serialize(g);
}

export async function phaseTrain(cfg: Config) {
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
  const buildAndSession = `build ${(t2 - t0).toFixed(0)} ms, session ${(t3 - t2).toFixed(0)} ms`;
  progress(`train: ${g.nodes.length} nodes, ${P} parameters, ${buildAndSession}`);
  const batch = randomBatch(c, 7);
  let state = initialState(layout.values);
  const dropout = c.unet.dropout.p;
  const losses: number[] = [];
  /** One train step; its milliseconds. */
  const timedStep = async (): Promise<number> => {
    const s = now();
    const r = await trainStep(session, state, batch, 1e-4, dropout);
    const ms = now() - s;
    state = r.state;
    losses.push(r.loss);
    return ms;
  };
  const warm: number[] = [];
  for (let i = 0; i < t.warmup; i++) {
    warm.push(await timedStep());
    progress(`train: warm-up step ${i + 1}: ${warm[i]!.toFixed(1)} ms`);
  }
  const memAfterWarmup = gpuMemoryUsedMiB();
  const times: number[] = [];
  for (let i = 0; i < t.steps; i++) times.push(await timedStep());
  checkFinite('train losses', losses);
  checkFinite('train params', state.params.subarray(0, 1000));
  await session.release();
  const st = timingStats(times);
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
  const pt = timingStats(probeTimes);
  const kStep = await kStepTiming(cfg, c, layout, batch, state);
  const px = t.size * t.size;
  const bytesIn = 4 * (3 * P + t.batch * 3 * px + t.batch * px + t.batch + 3);
  const bytesOut = 4 * (3 * P + t.batch + 1);
  const movedMB = ((bytesIn + bytesOut) / 1e6).toFixed(0);
  progress(`train: copy probe median ${pt.median.toFixed(1)} ms (${movedMB} MB moved per step)`);
  return {
    config: {
      preset: t.preset,
      imageSize: t.size,
      batch: t.batch,
      parameters: P,
      dropoutRatio: dropout,
      lr: 1e-4,
      warmup: t.warmup,
      steps: t.steps,
      nodes: g.nodes.length,
      modelBytes: model.length,
    },
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
      note:
        'params, adam_m, adam_v ([P] float32 each) go in and come back every step, plus the batch; onnxruntime-node ' +
        'cannot keep outputs on a CUDA device (preferredOutputLocation supports WebGPU buffers only)',
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
async function kStepTiming(
  cfg: Config,
  c: ModelConfig,
  layout: ReturnType<typeof paramLayout>,
  batch: Batch,
  start: TrainState,
) {
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
    const ms = runMs.at(-1)!;
    const run = i === 0 ? 'warm-up' : i;
    progress(`train: K-step run ${run} (K = ${k}): ${ms.toFixed(0)} ms, ${(ms / k).toFixed(1)} ms/step`);
  }
  await session.release();
  const st = timingStats(runMs.slice(1).map((x) => x / k));
  const dir = mkdtempSync(join(os.tmpdir(), 'gpu-check-prof-'));
  let topOps: { op: string; ms: number; share: number }[] = [];
  let profiledMs: number | null = null;
  try {
    const prof = await ort.InferenceSession.create(model, {
      executionProviders: [cfg.ep],
      ...SESSION_DEFAULTS,
      enableProfiling: true,
      profileFilePrefix: join(dir, 'kstep'),
    });
    for (let i = 0; i < 2; i++) state = (await trainSteps(prof, state, batches, k, 1e-4, dropout)).state;
    prof.endProfiling();
    await prof.release();
    const events = JSON.parse(readFileSync(join(dir, readdirSync(dir)[0]!), 'utf8')) as ProfileEvent[];
    const { run, kernels } = lastRunKernels(events);
    profiledMs = round(run.dur / 1000, 1);
    topOps = byOpType(kernels).slice(0, 12);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const top5 = topOps.slice(0, 5).map((o) => `${o.op} ${o.ms} ms`);
  progress(`train: K-step median ${st.median.toFixed(1)} ms/step; top ops ${top5.join(', ')}`);
  return {
    k,
    runs: kRuns,
    sessionMs: round(sessionMs, 1),
    warmupRunMs: round(runMs[0]!, 1),
    msPerStep: st,
    imagesPerS: round((c.batch * 1000) / st.median, 2),
    profiledRunMs: profiledMs,
    topOps,
  };
}
