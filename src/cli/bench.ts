/**
 * npm run bench: CPU benchmark with onnxruntime-node, one section per library of src/bench/.
 * Inference (benchInference.ts): per model the graph construction, serialization and session
 * creation times, per case the run latency, images/s and conv GFLOP/s, and MC-Dropout (N samples in
 * one run) against N single passes.
 * Train (benchTrain.ts): the fused train step of the small preset (base 16, 128², batch 8) and a
 * larger one (base 32, 224², batch 4): ms/step, images/s, GFLOP/s (3 × forward), peak memory, the
 * fraction of the GEMM ceiling, where the time goes, and PyTorch's CPU train step side by side.
 * Conv weight gradient (benchConvGrad.ts): every formulation at every conv shape of the two train
 * cases' U-Nets, and the one the graph builder picks.
 * Serve (benchServe.ts) and browser (benchBrowser.ts): the prediction server under load and abuse,
 * the page's inference in headless Chromium.
 * --only inference|train|convgrad|serve|browser picks a section. JSON to --out, tables on stdout, progress on stderr.
 */
import os from 'node:os';
import type { PresetName } from '../graphBuilder/models.js';
import { benchBrowser, browserReport } from '../bench/benchBrowser.js';
import {
  CASE_BUDGET_S,
  SAMPLES,
  WARMUP,
  benchInference,
  inferenceReport,
  inferenceSettings,
  warmRuntime,
} from '../bench/benchInference.js';
import { benchServe, serveReport } from '../bench/benchServe.js';
import { CONVGRAD_MODELS, benchConvGrad, convGradReport } from '../bench/benchConvGrad.js';
import { QUICK_TRAIN_CASES, TRAIN_CASES, benchTrain, trainReport } from '../bench/benchTrain.js';
import { PROJECT_CVC_DIR } from '../data/datasets.js';
import { round } from '../common/stats.js';
import { machineInfo } from '../runtime/machine.js';
import { asText, integerFrom, oneOf, parseFlags, progress, runMain, writeFileAtomic } from './cli.js';

const QUICK_REPEATS = 3;
const BENCH_SECTIONS = ['all', 'inference', 'train', 'convgrad', 'serve', 'browser'] as const;

runMain(async () => {
  const f = parseFlags(
    'bench',
    'CPU benchmark (onnxruntime-node). Inference: builds the small (128²) and paper (224²) models in memory and measures\n' +
      'build and session-creation time, batch-1 and batch-8 latency (median, p10, p90), images/s, conv GFLOP/s,\n' +
      `and MC-Dropout with N=${SAMPLES} samples against ${SAMPLES} single passes. Train: the fused train step (base 16, 128², batch 8;\n` +
      'base 32, 224², batch 4): ms/step, images/s, GFLOP/s, peak memory, share of the GEMM ceiling, a kernel-time profile,\n' +
      "and PyTorch's CPU train step of the same U-Net side by side in alternating rounds (install the peer at its best with\n" +
      "scripts/install-peers.sh: PyTorch with OpenBLAS). Convgrad: the conv weight-gradient formulations at the U-Nets' shapes.\n" +
      "Serve: the prediction server under load and abuse. Browser: the demo page's inference in headless Chromium (wasm with\n" +
      '1 and N threads, WebGPU) against onnxruntime-node on the same model.\n' +
      'JSON to --out, tables on stdout.',
    {
      out: { help: 'JSON results file', parse: asText, default: 'artifacts/bench/bench.json' },
      repeats: {
        help: `measured runs per case, after ${WARMUP} warm-up runs; slow cases are capped to ~${CASE_BUDGET_S} s`,
        parse: integerFrom(1),
        default: undefined,
        defaultHelp: `10 (${QUICK_REPEATS} with --quick)`,
      },
      quick: {
        help:
          `smoke test: the small preset only, ${QUICK_REPEATS} runs per case; ` +
          'a tiny train case without the PyTorch peer',
        switch: true,
      },
      only: { help: 'inference, train, convgrad, serve or browser', parse: oneOf(BENCH_SECTIONS), default: 'all' },
      rounds: {
        help: 'train: alternating rounds of ours and PyTorch per case (at least 3 for a quoted ratio)',
        parse: integerFrom(1),
        default: undefined,
        defaultHelp: '3 (1 with --quick)',
      },
    },
  );
  const repeats = f.repeats ?? (f.quick ? QUICK_REPEATS : 10);
  const rounds = f.rounds ?? (f.quick ? 1 : 3);
  const start = performance.now();
  const machine = machineInfo();
  progress(
    `bench: ${machine.cpuModel} x ${machine.cpuCount}, node ${machine.node}, onnxruntime ${machine.onnxruntime}${f.quick ? ', quick' : ''}`,
  );
  const runtimeWarmupMs = await warmRuntime();

  const presets: PresetName[] =
    f.only !== 'all' && f.only !== 'inference' ? [] : f.quick ? ['small'] : ['small', 'paper'];
  const { cases, mc } = await benchInference(presets, repeats, !f.quick);
  const train =
    f.only !== 'all' && f.only !== 'train'
      ? null
      : await benchTrain(f.quick ? QUICK_TRAIN_CASES : TRAIN_CASES, !f.quick, f.quick ? null : PROJECT_CVC_DIR, rounds);
  const convgrad =
    f.only === 'all' || f.only === 'convgrad'
      ? await benchConvGrad(f.quick ? CONVGRAD_MODELS.slice(0, 1) : CONVGRAD_MODELS, f.quick ? 2 : 5)
      : null;
  const serve = f.only === 'all' || f.only === 'serve' ? await benchServe(f.quick) : null;
  const browser =
    f.only === 'all' || f.only === 'browser'
      ? await benchBrowser(f.quick ? ['small'] : ['small', 'paper'], f.quick ? 3 : 12)
      : null;
  const totalS = (performance.now() - start) / 1000;
  const loadAtEnd = round(os.loadavg()[0]!, 2);

  const result = {
    benchmark: 'inference and train step',
    date: new Date().toISOString(),
    quick: f.quick,
    machine,
    settings: inferenceSettings(f.quick, repeats),
    runtimeWarmupMs: round(runtimeWarmupMs, 1),
    loadAverageAtEnd: loadAtEnd,
    cases,
    mcDropout: mc,
    train,
    convgrad,
    serve,
    browser,
    totalS: round(totalS, 1),
  };
  writeFileAtomic(f.out, `${JSON.stringify(result, null, 2)}\n`);
  if (cases.length) process.stdout.write(inferenceReport(machine, cases, mc, totalS, loadAtEnd));
  if (train) process.stdout.write(`${cases.length ? '\n' : ''}${trainReport(train)}`);
  if (convgrad) process.stdout.write(`\n${convGradReport(convgrad)}`);
  if (serve) process.stdout.write(`\n${serveReport(serve)}`);
  if (browser) process.stdout.write(`\n${browserReport(browser)}`);
  progress(`bench: wrote ${f.out}`);
});
