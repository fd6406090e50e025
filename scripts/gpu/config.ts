/**
 * The GPU check's settings: its phases (order, time limits, which need the provider) and the step
 * counts and sizes of each, from GPU_CHECK_* environment variables (docs/gpu.md) and --quick.
 */
import type { PresetName } from '../../src/graphBuilder/models.js';
import type { ExecutionProvider } from '../../src/runtime/runtime.js';

export type PhaseName = 'smoke' | 'parity' | 'parity-tf32' | 'train' | 'mc' | 'torch' | 'convgrad';
// In order of importance: when the time budget runs out, the last ones are skipped.
export const ALL_PHASES: PhaseName[] = ['smoke', 'parity', 'train', 'torch', 'convgrad', 'mc', 'parity-tf32'];
/** Default time limit of each phase, seconds (GPU_CHECK_PHASE_TIMEOUT_S overrides all). */
export const PHASE_TIMEOUT_S: Record<PhaseName, number> = {
  smoke: 60,
  parity: 120,
  train: 240,
  torch: 150,
  convgrad: 180,
  mc: 120,
  'parity-tf32': 90,
};
/** Phases that need the provider: skipped when the smoke test fails. */
export const NEEDS_PROVIDER: PhaseName[] = ['parity', 'parity-tf32', 'train', 'mc', 'convgrad'];

/** GPU_CHECK_<name>, or the fallback. */
export const env = (name: string, fallback: string): string => process.env[`GPU_CHECK_${name}`] ?? fallback;
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
      if (!Number.isInteger(n) || n < 1) {
        throw new Error(`GPU_CHECK_${name} must be a comma-separated list of positive integers`);
      }
      return n;
    });

export interface Config {
  ep: ExecutionProvider;
  quick: boolean;
  parity: { preset: PresetName; size: number; batch: number; steps: number; lr: number; seed: number };
  train: {
    preset: PresetName;
    size: number;
    batch: number;
    warmup: number;
    steps: number;
    probeRuns: number;
    k: number;
    kRuns: number;
  };
  convgrad: { rounds: number };
  mc: { preset: PresetName; size: number; samples: number; batches: number[]; warmup: number; runs: number };
  torch: { mode: string; python: string; repeats: number; warmup: number };
  /** 0: each phase's own default (PHASE_TIMEOUT_S). */
  phaseTimeoutS: number;
  /** All phases together; a phase that would start with less than 15 s left is skipped. */
  budgetS: number;
}

export function readConfig(ep: ExecutionProvider, quick: boolean): Config {
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
