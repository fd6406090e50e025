/**
 * GPU check phases `parity` and `parity-tf32`: the same small training run (fixed seed, synthetic
 * data, dropout ratio 0) on the CPU and on the provider — loss per step, final parameters, loss and
 * gradient at the same parameters, and which provider ran each node.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { prng } from '../../../src/common/prng.js';
import { round } from '../../../src/common/stats.js';
import { INPUT, OUTPUT } from '../../../src/graphBuilder/graphIO.js';
import type { ModelConfig } from '../../../src/graphBuilder/models.js';
import { serialize } from '../../../src/graphBuilder/serialize.js';
import { buildTrainStepModel, buildTrainingModel, paramLayout } from '../../../src/graphBuilder/trainingModels.js';
import {
  type Batch,
  type ExecutionProvider,
  type TrainState,
  createSession,
  initialState,
  trainStep,
} from '../../../src/runtime/runtime.js';
import type { Config } from '../config.js';
import { checkFinite, configFor, now, progress, syntheticBatches } from './shared.js';

interface Trajectory {
  ep: string;
  losses: number[];
  final: Float32Array;
  sessionMs: number;
  stepMs: number;
}

async function trajectory(
  ep: ExecutionProvider,
  model: Uint8Array,
  params: Float32Array,
  batches: Batch[],
  steps: number,
  lr: number,
  label: string,
): Promise<Trajectory> {
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
  progress(
    `  ${label}: session ${sessionMs.toFixed(0)} ms, ${stepMs.toFixed(1)} ms/step, ` +
      `loss ${losses[0]?.toFixed(5)} -> ${losses[losses.length - 1]?.toFixed(5)}`,
  );
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
async function gradientCheck(
  ep: ExecutionProvider,
  c: ModelConfig,
  P: number,
  points: { label: string; params: Float32Array; batch: Batch }[],
) {
  const layout = paramLayout(c);
  const model = serialize(buildTrainingModel(c, layout));
  const cpu = await createSession(model, { providers: ['cpu'] });
  const other = await createSession(model, { providers: [ep] });
  const t = (d: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', d, dims as number[]);
  const out = [];
  for (const pt of points) {
    const b = pt.batch;
    const [n, , h, w] = b.dims as [number, number, number, number];
    const feeds = {
      [INPUT.image]: t(b.image, b.dims),
      [INPUT.target]: t(b.target, [n, 1, h, w]),
      [INPUT.eps]: t(b.eps, [n]),
      [INPUT.params]: t(pt.params, [P]),
      [INPUT.dropoutRatio]: t(Float32Array.of(0), []),
    };
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
  const session = await ort.InferenceSession.create(model, {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    enableProfiling: true,
    profileFilePrefix: prefix,
  });
  await session.run(feeds);
  await session.endProfiling();
  await session.release();
  const file = readdirSync(dir).find((f) => f.startsWith('placement') && f.endsWith('.json'));
  if (!file) return null;
  type Event = { cat?: string; name?: string; args?: { provider?: string; op_name?: string } };
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Event[];
  const byProvider: Record<string, Record<string, number>> = {};
  const seen = new Set<string>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.args?.provider || !e.name || !e.name.endsWith('_kernel_time')) continue;
    if (seen.has(e.name)) continue;
    seen.add(e.name);
    byProvider[e.args.provider] ??= {};
    const p = byProvider[e.args.provider]!;
    const opName = e.args.op_name ?? '?';
    p[opName] = (p[opName] ?? 0) + 1;
  }
  rmSync(join(dir, file), { force: true });
  return byProvider;
}

export async function phaseParity(cfg: Config, tf32: 'off' | 'on' | 'n/a', workDir: string) {
  const p = cfg.parity;
  const c = configFor(p.preset, p.size, p.batch, { p: 0 });
  const layout = paramLayout(c);
  const model = serialize(buildTrainStepModel(c, layout));
  const batches = syntheticBatches(c, 2, p.seed);
  progress(
    `parity: ${p.preset} ${p.size}² batch ${p.batch}, ${layout.values.length} parameters, ${p.steps} steps, ` +
      `lr ${p.lr}, dropout ratio 0, TF32 ${tf32}`,
  );
  const run = (ep: ExecutionProvider, params: Float32Array, label: string) =>
    trajectory(ep, model, params, batches, p.steps, p.lr, label);
  const cpu = await run('cpu', layout.values, 'cpu');
  const runs: Trajectory[] = [cpu];
  let placement: Awaited<ReturnType<typeof nodePlacement>> = null;
  if (cfg.ep === 'cpu') {
    // CPU-only dry run: the comparison code runs against a second CPU run (expected identical).
    runs.push(await run('cpu', layout.values, 'cpu (again)'));
  } else {
    runs.push(await run(cfg.ep, layout.values, cfg.ep));
    runs.push(await run(cfg.ep, layout.values, `${cfg.ep} (again)`));
  }
  const b = batches[0]!;
  const P = layout.values.length;
  const t = (d: Float32Array, dims: number[]) => new ort.Tensor('float32', d, dims);
  try {
    const feeds = {
      [INPUT.image]: t(b.image, [...b.dims]),
      [INPUT.target]: t(b.target, [p.batch, 1, p.size, p.size]),
      [INPUT.eps]: t(b.eps, [p.batch]),
      [INPUT.params]: t(layout.values, [P]),
      [INPUT.adamM]: t(new Float32Array(P), [P]),
      [INPUT.adamV]: t(new Float32Array(P), [P]),
      [INPUT.step]: t(Float32Array.of(1), []),
      [INPUT.lr]: t(Float32Array.of(p.lr), []),
      [INPUT.dropoutRatio]: t(Float32Array.of(0), []),
    };
    placement = await nodePlacement(cfg.ep, model, feeds, join(workDir, `profile-${process.pid}`));
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
    sensitivity = compare(cpu, await run('cpu', perturbed, 'cpu, params x (1 ± 1e-6)'));
  }
  progress('parity: loss and gradient at the same parameters (training model)');
  const gradients = await gradientCheck(cfg.ep, c, P, [
    { label: 'initial parameters, batch 1', params: layout.values, batch: batches[0]! },
    { label: `CPU parameters after ${p.steps} steps, batch 2`, params: cpu.final, batch: batches[1 % batches.length]! },
  ]);
  for (const g of gradients) {
    progress(`  ${g.at}: loss rel diff ${g.lossRelDiff}, gradient rel L2 diff ${g.gradientRelL2Diff}`);
  }
  const data = `synthetic set (seed ${p.seed}), ${batches.length} batches alternating`;
  return {
    tf32,
    config: {
      preset: p.preset,
      imageSize: p.size,
      batch: p.batch,
      steps: p.steps,
      lr: p.lr,
      seed: p.seed,
      parameters: P,
      dropoutRatio: 0,
      data,
    },
    trajectories: runs.map((r) => ({
      ep: r.ep,
      sessionMs: r.sessionMs,
      msPerStep: r.stepMs,
      losses: r.losses.map((l) => Number(l.toPrecision(8))),
    })),
    vsCpu: compare(cpu, other),
    repeatability: again ? compare(other, again) : null,
    /** CPU vs CPU from the initial parameters × (1 ± 1e-6): the floor of what the trajectory comparison can show. */
    sensitivity,
    gradients,
    nodePlacement: placement,
  };
}
