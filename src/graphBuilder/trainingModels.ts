/**
 * The training artifacts, mirroring onnxruntime's on-device training set, as plain ONNX:
 *   training model   forward + loss + backward → loss, per-image losses, flat gradient
 *   optimizer model  Adam/AdamW over flat vectors
 *   eval model       forward (dropout off) + loss → loss, per-image losses, probability
 *   train-step model forward + backward + optimizer fused in one run (the default for training)
 * All take the parameters as one flat [P] input laid out as the inference model's initializers.
 */
import { gradients } from './autodiff.js';
import { type Graph, type ParamSlot, addInput, addOutput, constant, createGraph, flatLayout, op1, useFlatParams } from './graph.js';
import { lossGraph } from './losses.js';
import { ConfigError, type ModelConfig, buildInferenceModel, validateConfig } from './models.js';
import { adamStep } from './optimizers.js';
import { unet } from './unet.js';
import type { Value } from './types.js';

export interface ParamLayout {
  slots: ParamSlot[];
  /** Initial values (He init from the config's seed), flat. */
  values: Float32Array;
}

/** Parameter layout and initial values: those of the inference model's initializers. */
export const paramLayout = (c: ModelConfig): ParamLayout => flatLayout(buildInferenceModel(c));

function checkTrainable(c: ModelConfig): void {
  validateConfig(c);
  if (c.unet.norm === 'batch') {
    throw new ConfigError('norm', 'batch', 'none or group for training graphs (batch-norm statistics in training graphs are not implemented yet)');
  }
}

interface Forward {
  g: Graph;
  params: Value;
  logits: Value;
  target: Value;
  eps: Value;
}

/** Inputs, flat parameters and the U-Net forward; dropout active (training, on random stream `stream`) or absent (eval). */
function forward(name: string, c: ModelConfig, layout: ParamLayout, dropout: boolean, stream = 0): Forward {
  checkTrainable(c);
  const g = createGraph(name);
  g.metadata.config = JSON.stringify(c);
  const P = layout.values.length;
  const params = addInput(g, 'params', 'float32', [P]);
  const image = addInput(g, 'image', 'float32', [c.batch, c.unet.inChannels, c.imageSize, c.imageSize]);
  const target = addInput(g, 'target', 'float32', [c.batch, 1, c.imageSize, c.imageSize]);
  // Per-image ε_1 of PolyDice-1 (METHOD.md §2); other losses ignore it.
  const eps = addInput(g, 'eps', 'float32', [c.batch]);
  useFlatParams(g, params, layout.slots);
  const hasDropout = dropout && (c.unet.dropout.bottleneck || c.unet.dropout.decoder);
  const mode = hasDropout
    ? {
        kind: 'mc' as const,
        samples: 1,
        controls: { ratio: addInput(g, 'dropout_ratio', 'float32', []), training: constant(g, 'dropout_training_mode', 'bool', [], [1]), stream, differentiated: true },
      }
    : { kind: 'none' as const };
  const { logits } = unet(g, image, c.unet, mode);
  if (g.flatParams!.values.length !== layout.slots.length) throw new Error(`${name}: built ${g.flatParams!.values.length} parameters, layout has ${layout.slots.length}`);
  return { g, params, logits, target, eps };
}

/** Loss and the flat gradient [P] (per-weight gradients concatenated in layout order). */
function lossAndGradient(f: Forward, c: ModelConfig): { loss: Value; perImage: Value; gradient: Value } {
  const { g } = f;
  const { batch, perImage } = lossGraph(g, f.logits, f.target, f.eps, c.training.loss);
  const grads = gradients(g, batch, g.flatParams!.values);
  const flat = grads.map((d) => op1(g, 'Reshape', [d, constant(g, 'flat', 'int64', [1], [-1])]));
  const gradient = flat.length === 1 ? flat[0]! : op1(g, 'Concat', flat, { axis: 0 });
  return { loss: batch, perImage, gradient };
}

export function buildTrainingModel(c: ModelConfig, layout = paramLayout(c), dropoutStream = 0): Graph {
  const f = forward('unet_training', c, layout, true, dropoutStream);
  const { loss, perImage, gradient } = lossAndGradient(f, c);
  addOutput(f.g, 'loss', loss);
  addOutput(f.g, 'per_image_loss', perImage);
  addOutput(f.g, 'gradient', gradient);
  return f.g;
}

function optimizerInputs(g: Graph, P: number) {
  return {
    m: addInput(g, 'adam_m', 'float32', [P]),
    v: addInput(g, 'adam_v', 'float32', [P]),
    step: addInput(g, 'step', 'float32', []), // t ≥ 1: the number of this update
    lr: addInput(g, 'lr', 'float32', []),
  };
}

function optimizerOutputs(g: Graph, next: { params: Value; m: Value; v: Value }): void {
  addOutput(g, 'params_out', next.params);
  addOutput(g, 'adam_m_out', next.m);
  addOutput(g, 'adam_v_out', next.v);
}

export function buildOptimizerModel(c: ModelConfig, layout = paramLayout(c)): Graph {
  validateConfig(c);
  const g = createGraph(`${c.training.optimizer.kind}_optimizer`);
  g.metadata.config = JSON.stringify(c);
  const P = layout.values.length;
  const params = addInput(g, 'params', 'float32', [P]);
  const gradient = addInput(g, 'gradient', 'float32', [P]);
  const o = optimizerInputs(g, P);
  optimizerOutputs(g, adamStep(g, { params, m: o.m, v: o.v }, gradient, o.step, o.lr, c.training.optimizer));
  return g;
}

export function buildEvalModel(c: ModelConfig, layout = paramLayout(c)): Graph {
  const f = forward('unet_eval', c, layout, false);
  const { batch, perImage } = lossGraph(f.g, f.logits, f.target, f.eps, c.training.loss);
  addOutput(f.g, 'loss', batch);
  addOutput(f.g, 'per_image_loss', perImage);
  addOutput(f.g, 'probability', op1(f.g, 'Sigmoid', [f.logits]));
  return f.g;
}

/** Forward + backward + optimizer in one session run; `dropoutStream` picks the Dropout seeds. */
export function buildTrainStepModel(c: ModelConfig, layout = paramLayout(c), dropoutStream = 0): Graph {
  const f = forward('unet_train_step', c, layout, true, dropoutStream);
  const { loss, perImage, gradient } = lossAndGradient(f, c);
  const o = optimizerInputs(f.g, layout.values.length);
  const next = adamStep(f.g, { params: f.params, m: o.m, v: o.v }, gradient, o.step, o.lr, c.training.optimizer);
  addOutput(f.g, 'loss', loss);
  addOutput(f.g, 'per_image_loss', perImage);
  optimizerOutputs(f.g, next);
  return f.g;
}
