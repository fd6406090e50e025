/**
 * Inference benchmark (part of npm run bench): builds the shipped graphs in memory (no files), then
 * measures per model the graph construction, serialization and session creation times, and per case
 * the run latency (median, p10, p90 after warm-up runs), images/s and conv GFLOP/s; and MC-Dropout
 * (N samples in one run) against N single passes.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { progress } from '../common/progress.js';
import { prng } from '../common/prng.js';
import { convFlops } from '../graphBuilder/flops.js';
import type { Graph } from '../graphBuilder/graph.js';
import { INPUT } from '../graphBuilder/graphIO.js';
import {
  type ModelConfig,
  type PresetName,
  buildInferenceModel,
  buildMcModel,
  presetConfig,
} from '../graphBuilder/models.js';
import { serialize } from '../graphBuilder/serialize.js';
import { numel } from '../graphBuilder/types.js';
import { type SummaryStats, round, summaryStats, timingRecord } from '../common/stats.js';
import { formatMs, textTable } from '../common/table.js';
import { type machineInfo, otherCpuMeter } from '../runtime/machine.js';

export const WARMUP = 2;
export const SAMPLES = 10;
const DROPOUT_RATIO = 0.5;
/**
 * Measured runs of one case are capped so that they take about this long (estimated from the
 * warm-up runs), but never fewer than MIN_REPEATS; a capped case says so in the JSON. Keeps the
 * default bench within a few minutes on 2 cores, where a paper-size batch-8 run takes seconds.
 */
export const CASE_BUDGET_S = 30;
const MIN_REPEATS = 5;
const SESSION_OPTIONS: InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };

interface CaseSpec {
  preset: PresetName;
  kind: 'inference' | 'mc-dropout';
  batch: number;
}

export interface CaseResult {
  id: string;
  preset: PresetName;
  kind: CaseSpec['kind'];
  imageSize: number;
  batch: number;
  samples: number | null;
  dropoutRatio: number | null;
  model: {
    name: string;
    nodes: number;
    parameters: number;
    bytes: number;
    graphMs: number;
    serializeMs: number;
    /** Graph construction + serialization. */
    buildMs: number;
    sessionMs: number;
  };
  flops: { perRun: number; conv: number; convTranspose: number };
  latencyMs: SummaryStats & { runs: number[] };
  warmup: number;
  repeats: number;
  /** Present when fewer runs than requested were measured, with why. */
  repeatsReduced?: { requested: number; reason: string };
  imagesPerS: number;
  /**
   * CPU used by everything else on the machine while the runs were measured (other processes and
   * hypervisor steal), in cores on average; null where /proc/stat is unavailable. Near 0 for a
   * trustworthy measurement; on 2 cores, 1 means half the machine was taken.
   */
  otherCpuCores: number | null;
  gflopPerS: number;
}

function randomImage(c: ModelConfig): Tensor {
  const shape = [c.batch, c.unet.inChannels, c.imageSize, c.imageSize];
  const r = prng(7);
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = r.next();
  return new Tensor('float32', data, shape);
}

const caseId = (s: CaseSpec, size: number): string =>
  `${s.preset}-${size} ${s.kind === 'mc-dropout' ? `MC N=${SAMPLES} b${s.batch}` : `b${s.batch}`}`;

async function runCase(spec: CaseSpec, requested: number, limitRepeats: boolean, label: string): Promise<CaseResult> {
  const base = presetConfig(spec.preset, { batch: spec.batch, samples: SAMPLES });
  const config: ModelConfig = {
    ...base,
    unet: { ...base.unet, dropout: { bottleneck: true, decoder: true, p: DROPOUT_RATIO } },
  };
  const id = caseId(spec, config.imageSize);
  progress(`${label} ${id}: building graph`);
  const t0 = performance.now();
  let g: Graph | null = spec.kind === 'mc-dropout' ? buildMcModel(config) : buildInferenceModel(config);
  const t1 = performance.now();
  let bytes: Uint8Array | null = serialize(g);
  const t2 = performance.now();
  const session = await InferenceSession.create(bytes, SESSION_OPTIONS);
  const t3 = performance.now();
  const flops = convFlops(g);
  const model = {
    name: g.name,
    nodes: g.nodes.length,
    parameters: g.initializers.filter((i) => i.trainable).reduce((a, i) => a + numel(i.shape), 0),
    bytes: bytes.length,
    graphMs: round(t1 - t0, 1),
    serializeMs: round(t2 - t1, 1),
    buildMs: round(t2 - t0, 1),
    sessionMs: round(t3 - t2, 1),
  };
  g = null; // let the graph and the bytes be collected while measuring
  bytes = null;
  progress(
    `${label} ${id}: ${model.nodes} nodes, ${(model.bytes / 1e6).toFixed(1)} MB, build ${model.buildMs.toFixed(0)} ms, session ${model.sessionMs.toFixed(0)} ms`,
  );

  const feeds: Record<string, Tensor> = { [INPUT.image]: randomImage(config) };
  if (spec.kind === 'mc-dropout') feeds[INPUT.dropoutRatio] = new Tensor('float32', Float32Array.of(DROPOUT_RATIO), []);
  const timed = async (): Promise<number> => {
    const s = performance.now();
    await session.run(feeds);
    return performance.now() - s;
  };
  const warm: number[] = [];
  for (let i = 0; i < WARMUP; i++) warm.push(await timed());
  let repeats = requested;
  let repeatsReduced: CaseResult['repeatsReduced'];
  const estimate = warm[warm.length - 1]!;
  if (limitRepeats && requested * estimate > CASE_BUDGET_S * 1000) {
    repeats = Math.max(Math.min(MIN_REPEATS, requested), Math.floor((CASE_BUDGET_S * 1000) / estimate));
    if (repeats < requested) {
      repeatsReduced = {
        requested,
        reason: `a warm-up run took ${(estimate / 1000).toFixed(2)} s; runs capped to about ${CASE_BUDGET_S} s per case (at least ${MIN_REPEATS})`,
      };
    } else repeats = requested;
  }
  progress(
    `${label} ${id}: ${WARMUP} warm-up runs (last ${estimate.toFixed(0)} ms), measuring ${repeats} runs${repeatsReduced ? ` (of ${requested} requested)` : ''}`,
  );
  const runs: number[] = [];
  const other = otherCpuMeter();
  for (let i = 0; i < repeats; i++) runs.push(await timed());
  const otherCpuCores = other();
  await session.release();

  const st = summaryStats(runs);
  return {
    id,
    preset: spec.preset,
    kind: spec.kind,
    imageSize: config.imageSize,
    batch: config.batch,
    samples: spec.kind === 'mc-dropout' ? SAMPLES : null,
    dropoutRatio: spec.kind === 'mc-dropout' ? DROPOUT_RATIO : null,
    model,
    flops: { perRun: flops.total, conv: flops.conv, convTranspose: flops.convTranspose },
    latencyMs: timingRecord(runs),
    warmup: WARMUP,
    repeats,
    ...(repeatsReduced ? { repeatsReduced } : {}),
    imagesPerS: round((config.batch * 1000) / st.median, 2),
    otherCpuCores: otherCpuCores === null ? null : round(otherCpuCores, 2),
    gflopPerS: round(flops.total / 1e9 / (st.median / 1000), 2),
  };
}

/** Warm the runtime (library load, thread pools, JIT of the builder) on the tiny preset, unreported. */
export async function warmRuntime(): Promise<number> {
  const t0 = performance.now();
  const c = presetConfig('tiny');
  const session = await InferenceSession.create(serialize(buildInferenceModel(c)), SESSION_OPTIONS);
  await session.run({ [INPUT.image]: randomImage(c) });
  await session.release();
  return performance.now() - t0;
}

export interface McSummary {
  preset: PresetName;
  imageSize: number;
  samples: number;
  dropoutRatio: number;
  mcMedianMs: number;
  singlePassMedianMs: number;
  tenSinglePassesMs: number;
  /** MC latency / (N × single-pass latency): below 1 thanks to the shared encoder. */
  ratio: number;
  /** Same ratio for the conv FLOPs of the two graphs. */
  flopRatio: number;
}

/** The cases of `presets` (batch 1, batch 8 and MC-Dropout batch 1 each) and each preset's MC-Dropout summary. */
export async function benchInference(
  presets: readonly PresetName[],
  repeats: number,
  limitRepeats: boolean,
): Promise<{ cases: CaseResult[]; mc: McSummary[] }> {
  const specs: CaseSpec[] = presets.flatMap((preset): CaseSpec[] => [
    { preset, kind: 'inference', batch: 1 },
    { preset, kind: 'inference', batch: 8 },
    { preset, kind: 'mc-dropout', batch: 1 },
  ]);
  const cases: CaseResult[] = [];
  for (const [i, spec] of specs.entries())
    cases.push(await runCase(spec, repeats, limitRepeats, `[${i + 1}/${specs.length}]`));
  const mc: McSummary[] = presets.map((preset) => {
    const single = cases.find((c) => c.preset === preset && c.kind === 'inference' && c.batch === 1)!;
    const m = cases.find((c) => c.preset === preset && c.kind === 'mc-dropout')!;
    return {
      preset,
      imageSize: m.imageSize,
      samples: SAMPLES,
      dropoutRatio: DROPOUT_RATIO,
      mcMedianMs: m.latencyMs.median,
      singlePassMedianMs: single.latencyMs.median,
      tenSinglePassesMs: round(SAMPLES * single.latencyMs.median),
      ratio: round(m.latencyMs.median / (SAMPLES * single.latencyMs.median), 4),
      flopRatio: round(m.flops.perRun / (SAMPLES * single.flops.perRun), 4),
    };
  });
  return { cases, mc };
}

/** How the cases were measured, for the JSON. */
export function inferenceSettings(quick: boolean, repeats: number) {
  return {
    executionProvider: 'cpu',
    sessionOptions: { graphOptimizationLevel: 'all', threads: 'onnxruntime defaults' },
    warmupRuns: WARMUP,
    repeatsRequested: repeats,
    repeatsPolicy: quick
      ? 'quick: every case measured with the requested number of runs'
      : `runs of a case are capped to about ${CASE_BUDGET_S} s of measurement (estimated from the last warm-up run), but at least ${MIN_REPEATS}; capped cases carry repeatsReduced`,
    latency: 'wall time of session.run (inputs prepared beforehand, all outputs fetched), performance.now()',
    percentiles: 'linear interpolation between order statistics',
    flops:
      'Conv and ConvTranspose only (src/graphBuilder/flops.ts), 2 FLOPs per multiply-add, per run (whole batch, all samples)',
    input: 'uniform random image in [0,1), prng seed 7',
    otherCpuCores:
      "machine busy time (/proc/stat, incl. steal) minus this process's CPU time, over the measured runs, per second of wall time",
    mcDropout: { samples: SAMPLES, dropoutRatio: DROPOUT_RATIO, batch: 1 },
  };
}

/** The inference tables (build, latency, MC-Dropout) and the run's total time and load, as printed on stdout. */
export function inferenceReport(
  machine: ReturnType<typeof machineInfo>,
  cases: CaseResult[],
  mc: McSummary[],
  totalS: number,
  loadAtEnd: number,
): string {
  const out: string[] = [];
  out.push(
    `Inference benchmark: onnxruntime-node ${machine.onnxruntime} (CPU EP, graphOptimizationLevel 'all', default threads)`,
    `${machine.cpuModel} x ${machine.cpuCount}, ${machine.os}, node ${machine.node}, commit ${machine.gitCommit ?? 'unknown'}${machine.gitDirty ? ' (dirty)' : ''}`,
    '',
    'Model build (graph construction + serialization) and session creation',
    textTable(
      ['model', 'nodes', 'params', 'MB', 'graph ms', 'serialize ms', 'build ms', 'session ms'],
      cases.map((c) => [
        `${c.id} (${c.model.name})`,
        String(c.model.nodes),
        `${(c.model.parameters / 1e6).toFixed(2)}M`,
        (c.model.bytes / 1e6).toFixed(1),
        formatMs(c.model.graphMs),
        formatMs(c.model.serializeMs),
        formatMs(c.model.buildMs),
        formatMs(c.model.sessionMs),
      ]),
    ),
    '',
    `Latency per run in ms (${WARMUP} warm-up runs, then "runs" measured)`,
    textTable(
      ['case', 'runs', 'median', 'p10', 'p90', 'images/s', 'GFLOP/run', 'GFLOP/s', 'other CPU'],
      cases.map((c) => [
        c.id,
        `${c.repeats}${c.repeatsReduced ? '*' : ''}`,
        formatMs(c.latencyMs.median),
        formatMs(c.latencyMs.p10),
        formatMs(c.latencyMs.p90),
        c.imagesPerS.toFixed(c.imagesPerS >= 100 ? 0 : 2),
        (c.flops.perRun / 1e9).toFixed(2),
        c.gflopPerS.toFixed(1),
        c.otherCpuCores === null ? '-' : c.otherCpuCores.toFixed(2),
      ]),
    ),
  );
  out.push(
    `other CPU: cores busy with other processes or VM steal during the measured runs (of ${machine.cpuCount}); near 0 for a clean measurement`,
  );
  const reduced = cases.filter((c) => c.repeatsReduced);
  if (reduced.length) {
    out.push(
      `* fewer runs than the ${reduced[0]!.repeatsReduced!.requested} requested: measured runs capped to about ${CASE_BUDGET_S} s per case (at least ${MIN_REPEATS})`,
    );
  }
  out.push(
    '',
    `MC-Dropout: N=${SAMPLES} samples of batch 1 in one run, dropout_ratio ${DROPOUT_RATIO}, vs ${SAMPLES} single passes (medians)`,
    textTable(
      ['preset', 'MC ms', `${SAMPLES} x single ms`, 'ratio', 'FLOP ratio'],
      mc.map((m) => [
        `${m.preset}-${m.imageSize}`,
        formatMs(m.mcMedianMs),
        formatMs(m.tenSinglePassesMs),
        m.ratio.toFixed(3),
        m.flopRatio.toFixed(3),
      ]),
    ),
    '',
    `total ${totalS.toFixed(0)} s; 1-minute load average ${machine.loadAverageAtStart} at start, ${loadAtEnd} at end` +
      (machine.loadAverageAtStart > 0.5 ? ' (other work was using the CPUs: latencies may be inflated and noisy)' : ''),
  );
  return `${out.join('\n')}\n`;
}
