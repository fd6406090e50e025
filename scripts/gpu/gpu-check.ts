/**
 * GPU check: does training with onnxruntime-node's CUDA provider give the CPU's results, and how fast
 * is it? Bundled by scripts/gpu/make-kit.sh into one file (gpu-check.mjs, onnxruntime-node external)
 * and run by scripts/gpu/gpu-check.sh on a machine without Node.js; also runs from the repo:
 *   npx tsx scripts/gpu/gpu-check.ts --ep cpu --quick --out /tmp/gpu-check
 *
 * Phases, each in its own child process (child.ts; a crash or a hang in one does not lose the others,
 * and GPU memory is returned between them), one module each in phases/:
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
 *   torch       PyTorch's train step of the same U-Net, loss and dropout (bench/peers/torch_unet_train.py),
 *               if torch is there
 *   convgrad    the conv weight-gradient formulations at the train U-Net's shapes on the provider
 *               (benchConvGrad.ts): which one a GPU rule in chooseWeightGrad should pick
 * Results: OUT/gpu-check.json and OUT/gpu-check.md (report.ts); a short table on stdout; progress on
 * stderr. Step counts and sizes: GPU_CHECK_* environment variables (config.ts, docs/gpu.md); --quick
 * shrinks everything to seconds on a CPU.
 *
 * This file: the command line, one phase when called as a child, otherwise every phase in turn
 * within the time budget, and the results written.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { git, gpuInfo, hostDescription } from '../../src/runtime/machine.js';
import type { ExecutionProvider } from '../../src/runtime/runtime.js';
import { type PhaseOutcome, runChild } from './child.js';
import { ALL_PHASES, type Config, NEEDS_PROVIDER, PHASE_TIMEOUT_S, type PhaseName, env, readConfig } from './config.js';
import { phaseConvGrad } from './phases/convgrad.js';
import { phaseMc } from './phases/mc.js';
import { phaseParity } from './phases/parity.js';
import { now, progress } from './phases/shared.js';
import { phaseSmoke } from './phases/smoke.js';
import { phaseTorch, torchInfo } from './phases/torch.js';
import { phaseTrain } from './phases/train.js';
import { TOLERANCE, report } from './report.js';

declare const __GPU_CHECK_COMMIT__: string | undefined;
declare const __GPU_CHECK_BUILT__: string | undefined;

async function runPhase(name: PhaseName, cfg: Config, workDir: string): Promise<unknown> {
  if (name === 'smoke') return phaseSmoke(cfg);
  if (name === 'parity') return phaseParity(cfg, cfg.ep === 'cuda' ? 'off' : 'n/a', workDir);
  if (name === 'parity-tf32') return phaseParity(cfg, 'on', workDir);
  if (name === 'train') return phaseTrain(cfg);
  if (name === 'mc') return phaseMc(cfg);
  if (name === 'convgrad') return phaseConvGrad(cfg);
  return phaseTorch(cfg);
}

/** The commit the kit was built from, else the checkout's. */
function gitCommit(): string | null {
  if (typeof __GPU_CHECK_COMMIT__ !== 'undefined') return __GPU_CHECK_COMMIT__;
  return git(['rev-parse', '--short', 'HEAD']);
}

/** The onnxruntime-node package that loads (the kit's own in the kit). */
function ortVersion(): string {
  try {
    const req = createRequire(import.meta.url);
    return (req('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown';
  }
}

/** What the results were measured on: versions, GPUs, host, the GPU_CHECK_* and CUDA environment. */
function describeRun(cfg: Config) {
  const torch = cfg.torch.mode === '0' ? null : torchInfo(cfg.torch.python);
  const host = hostDescription();
  const cudaEnv = ['LD_LIBRARY_PATH', 'CUDA_MODULE_LOADING', 'NVIDIA_TF32_OVERRIDE'];
  const envKept = (k: string): boolean => k.startsWith('GPU_CHECK_') || cudaEnv.includes(k);
  return {
    date: new Date().toISOString(),
    commit: gitCommit(),
    built: typeof __GPU_CHECK_BUILT__ !== 'undefined' ? __GPU_CHECK_BUILT__ : null,
    node: process.version,
    onnxruntime: ortVersion(),
    torch:
      torch && !('error' in torch)
        ? `${torch.version}${torch.cudaVersion ? ` (CUDA ${torch.cudaVersion}, cuDNN ${torch.cudnn})` : ''}`
        : null,
    gpu: cfg.ep === 'cuda' ? gpuInfo() : { error: 'CPU-only run' },
    host: { cpu: host.cpuModel, cpus: host.cpuCount, os: host.os, memoryGiB: host.totalMemoryGiB },
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => envKept(k))),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (argv.includes('--help')) {
    process.stdout.write(
      'usage: node gpu-check.mjs [--ep cuda|cpu] [--quick] [--out DIR] ' +
        '[--phases smoke,parity,parity-tf32,train,mc,torch,convgrad]\n' +
        '(environment: GPU_CHECK_* step counts and sizes; see docs/gpu.md)\n',
    );
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
  const meta = describeRun(cfg);
  const versions = `onnxruntime-node ${meta.onnxruntime}, node ${meta.node}`;
  progress(`${versions}, ep ${cfg.ep}, phases ${phases.join(',')}, out ${out}`);
  const outcomes: Record<string, PhaseOutcome> = {};
  const childArgv = ['--ep', cfg.ep, '--out', out, ...(quick ? ['--quick'] : [])];
  const self = fileURLToPath(import.meta.url);
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
      const error = `skipped: the time budget (GPU_CHECK_BUDGET_S=${cfg.budgetS}) is spent`;
      outcomes[name] = { ok: false, seconds: 0, error };
      continue;
    }
    const timeoutS = Math.max(10, Math.min(cfg.phaseTimeoutS || PHASE_TIMEOUT_S[name], Math.floor(left)));
    // TF32: onnxruntime's CUDA provider enables it by default and onnxruntime-node has no option for it;
    // NVIDIA_TF32_OVERRIDE=0 turns it off inside cuBLAS and cuDNN for the strict parity run.
    const tf32Off = name === 'parity' && cfg.ep === 'cuda';
    const extraEnv: Record<string, string> = tf32Off ? { NVIDIA_TF32_OVERRIDE: '0' } : {};
    progress(`---- phase ${name}${extraEnv.NVIDIA_TF32_OVERRIDE ? ' (NVIDIA_TF32_OVERRIDE=0)' : ''}`);
    const o = await runChild(self, name, childArgv, workDir, timeoutS, extraEnv);
    outcomes[name] = o;
    progress(`---- phase ${name}: ${o.ok ? 'ok' : `FAILED: ${o.error}`} (${o.seconds} s)`);
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
