/**
 * The shipped graphs, built from one config: the single-pass inference model and the
 * MC-Dropout model. Both create the same parameters in the same order from the same seed, so one
 * set of trained weights fits both.
 */
import { type Graph, addInput, addOutput, checkWeightsUsed, constant, createGraph, op1, useWeights } from './graph.js';
import { type UNetConfig, unet } from './unet.js';
import { type LossWeights, LOSS_PRESETS } from './losses.js';
import { INPUT, METADATA, OUTPUT } from './graphIO.js';
import { DEFAULT_OPTIMIZER, type OptimizerConfig } from './optimizers.js';
import type { Value } from './types.js';

export interface ModelConfig {
  unet: UNetConfig;
  /** Square input size in pixels; divisible by 2^depth. */
  imageSize: number;
  /** Images per run (static: graphs have fixed shapes). */
  batch: number;
  /** MC-Dropout samples per image (N in METHOD.md §3). */
  samples: number;
  /** What the training graphs optimize. */
  training: { loss: LossWeights; optimizer: OptimizerConfig };
}

export const PRESETS = {
  /** A few thousand parameters: tests and the plain-TypeScript reference forward. */
  tiny: { depth: 2, base: 4, imageSize: 32 },
  /** The study's CPU grid (issue 9): 6 configurations × 5 folds of CVC-ClinicDB within ~1 h on 2 cores. */
  study: { depth: 4, base: 8, imageSize: 64 },
  /** CPU work on 2 cores. */
  small: { depth: 4, base: 16, imageSize: 128 },
  /** Ronneberger et al. 2015: 4 down-samplings, 64 channels at the first level; METHOD.md's 224². */
  paper: { depth: 4, base: 64, imageSize: 224 },
} as const;
export type PresetName = keyof typeof PRESETS;

export const DEFAULTS = { batch: 1, samples: 10, p: 0.5, norm: 'none', groups: 4, seed: 1 } as const;

export function presetConfig(
  preset: PresetName,
  overrides: Partial<Omit<ModelConfig, 'unet'>> & { unet?: Partial<UNetConfig> } = {},
): ModelConfig {
  if (!(preset in PRESETS)) throw new ConfigError('preset', preset, `one of ${Object.keys(PRESETS).join(', ')}`);
  const { depth, base, imageSize } = PRESETS[preset];
  return {
    imageSize: overrides.imageSize ?? imageSize,
    batch: overrides.batch ?? DEFAULTS.batch,
    samples: overrides.samples ?? DEFAULTS.samples,
    training: overrides.training ?? { loss: LOSS_PRESETS.polydice1, optimizer: DEFAULT_OPTIMIZER },
    unet: {
      depth,
      base,
      norm: DEFAULTS.norm,
      groups: DEFAULTS.groups,
      dropout: { bottleneck: true, decoder: true, p: DEFAULTS.p },
      inChannels: 3,
      seed: DEFAULTS.seed,
      ...overrides.unet,
    },
  };
}

/** An impossible configuration, named by its option. */
export class ConfigError extends Error {
  constructor(
    readonly option: string,
    value: unknown,
    valid: string,
  ) {
    super(`invalid ${option}: ${JSON.stringify(value)} (valid: ${valid})`);
  }
}

const isInt = (v: number, min: number, max = Number.MAX_SAFE_INTEGER): boolean =>
  Number.isInteger(v) && v >= min && v <= max;

/** Throws a ConfigError for the first impossible setting; call before writing anything. */
export function validateConfig(c: ModelConfig): void {
  const u = c.unet;
  if (!isInt(u.depth, 1, 6)) throw new ConfigError('depth', u.depth, 'an integer in 1..6');
  if (!isInt(u.base, 1, 1024)) throw new ConfigError('base', u.base, 'an integer in 1..1024');
  if (!isInt(u.inChannels, 1, 64)) throw new ConfigError('in-channels', u.inChannels, 'an integer in 1..64');
  const step = 2 ** u.depth;
  if (!isInt(c.imageSize, step) || c.imageSize % step !== 0) {
    throw new ConfigError('size', c.imageSize, `a positive multiple of 2^depth = ${step}`);
  }
  if (!isInt(c.batch, 1, 4096)) throw new ConfigError('batch', c.batch, 'an integer in 1..4096');
  if (!isInt(c.samples, 1, 1000)) throw new ConfigError('samples', c.samples, 'an integer in 1..1000');
  if (!(u.dropout.p >= 0 && u.dropout.p < 1)) throw new ConfigError('dropout-p', u.dropout.p, 'a number in [0, 1)');
  if (!['none', 'batch', 'group'].includes(u.norm)) throw new ConfigError('norm', u.norm, 'none, batch or group');
  if (u.norm === 'group' && (!isInt(u.groups, 1) || u.base % u.groups !== 0)) {
    throw new ConfigError('groups', u.groups, `a positive divisor of base = ${u.base}`);
  }
  if (!isInt(u.seed, 0, 2 ** 32 - 1)) throw new ConfigError('seed', u.seed, 'an integer in 0..2^32-1');
}

function imageInput(g: Graph, c: ModelConfig): Value {
  return addInput(g, INPUT.image, 'float32', [c.batch, c.unet.inChannels, c.imageSize, c.imageSize]);
}

function describe(g: Graph, c: ModelConfig, kind: string): void {
  g.metadata[METADATA.kind] = kind;
  g.metadata[METADATA.config] = JSON.stringify(c);
  g.metadata[METADATA.input] = `${INPUT.image}: float32 [B,3,H,W], RGB in [0,1]`;
}

/** Given (e.g. trained) weights, flat in the inference model's initializer order; default: He initialization. */
export interface WeightsOption {
  weights?: Float32Array;
}

function newModelGraph(name: string, c: ModelConfig, kind: string, o: WeightsOption): Graph {
  validateConfig(c);
  const g = createGraph(name);
  describe(g, c, kind);
  if (o.weights) useWeights(g, o.weights);
  return g;
}

/** Single-pass inference: image → logits and sigmoid probability; no Dropout node at all. */
export function buildInferenceModel(c: ModelConfig, o: WeightsOption = {}): Graph {
  const g = newModelGraph('unet_inference', c, 'inference', o);
  const { logits } = unet(g, imageInput(g, c), c.unet, { kind: 'none' });
  checkWeightsUsed(g);
  addOutput(g, OUTPUT.logits, logits);
  addOutput(g, OUTPUT.probability, op1(g, 'Sigmoid', [logits]));
  return g;
}

/**
 * MC-Dropout: N stochastic samples per image in one run. Inputs: image and `dropout_ratio`
 * (a scalar graph input with no initializer, so the fed value is always the one used; 0 makes
 * all samples equal). Output `samples`: [B, N, H, W] probabilities.
 */
export function buildMcModel(c: ModelConfig, options: { shareEncoder?: boolean } & WeightsOption = {}): Graph {
  validateConfig(c);
  if (!c.unet.dropout.bottleneck && !c.unet.dropout.decoder) {
    throw new ConfigError('dropout', 'none', 'an MC-Dropout model needs dropout in the bottleneck and/or decoder');
  }
  const g = newModelGraph('unet_mc_dropout', c, 'mc-dropout', options);
  g.metadata[METADATA.samples] = String(c.samples);
  g.metadata[METADATA.defaultDropoutRatio] = String(c.unet.dropout.p);
  const image = imageInput(g, c);
  const ratio = addInput(g, INPUT.dropoutRatio, 'float32', []);
  const training = constant(g, 'dropout_training_mode', 'bool', [], [1]);
  const { logits } = unet(g, image, c.unet, {
    kind: 'mc',
    controls: { ratio, training, stream: 0 },
    samples: c.samples,
    shareEncoder: options.shareEncoder ?? true,
  });
  checkWeightsUsed(g);
  const probs = op1(g, 'Sigmoid', [logits]);
  const shape = constant(g, 'samples_shape', 'int64', [4], [c.batch, c.samples, c.imageSize, c.imageSize]);
  addOutput(g, OUTPUT.samples, op1(g, 'Reshape', [probs, shape]));
  return g;
}
