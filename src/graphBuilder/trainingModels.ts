/**
 * The training artifacts, mirroring onnxruntime's on-device training set, as plain ONNX:
 *   training model   forward + loss + backward → loss, per-image losses, flat gradient
 *   optimizer model  Adam/AdamW over flat vectors
 *   eval model       forward (dropout off) + loss → loss, per-image losses, probability
 *   train-step model forward + backward + optimizer fused in one run (the default for training)
 * All take the parameters as one flat [P] input laid out as the inference model's initializers.
 */
import { gradients } from './autodiff.js';
import {
  type Graph,
  type ParamSlot,
  addInput,
  addOutput,
  constant,
  createGraph,
  createSubgraph,
  flatLayout,
  op,
  op1,
  useFlatParams,
} from './graph.js';
import { lossGraph } from './losses.js';
import { ConfigError, type ModelConfig, buildInferenceModel, validateConfig } from './models.js';
import { INPUT, OUTPUT } from './graphIO.js';
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
    throw new ConfigError(
      'norm',
      'batch',
      'none or group for training graphs (batch-norm statistics in training graphs are not implemented yet)',
    );
  }
}

interface Forward {
  g: Graph;
  params: Value;
  logits: Value;
  target: Value;
  eps: Value;
}

/** Where a step's data come from: graph inputs (one step) or a Loop body's pick of the K batches. */
interface StepData {
  params: Value;
  image: Value;
  target: Value;
  eps: Value;
  /** The dropout_ratio input, when the network has Dropout layers and they are active. */
  ratio: Value | undefined;
}

/** The U-Net forward on flat parameters; dropout active (on random stream `stream`) when `d.ratio` is given. */
function logitsOf(g: Graph, c: ModelConfig, layout: ParamLayout, d: StepData, stream: number): Value {
  useFlatParams(g, d.params, layout.slots);
  const mode = d.ratio
    ? {
        kind: 'mc' as const,
        samples: 1,
        controls: {
          ratio: d.ratio,
          training: constant(g, 'dropout_training_mode', 'bool', [], [1]),
          stream,
          differentiated: true,
        },
      }
    : { kind: 'none' as const };
  const { logits } = unet(g, d.image, c.unet, mode);
  if (g.flatParams!.values.length !== layout.slots.length)
    throw new Error(`${g.name}: built ${g.flatParams!.values.length} parameters, layout has ${layout.slots.length}`);
  return logits;
}

const hasDropout = (c: ModelConfig): boolean => c.unet.dropout.bottleneck || c.unet.dropout.decoder;

/** A graph with one step's data as inputs (params, image, target, eps and, with dropout, dropout_ratio). */
function stepInputs(g: Graph, c: ModelConfig, layout: ParamLayout, dropout: boolean): StepData {
  return {
    params: addInput(g, INPUT.params, 'float32', [layout.values.length]),
    image: addInput(g, INPUT.image, 'float32', [c.batch, c.unet.inChannels, c.imageSize, c.imageSize]),
    target: addInput(g, INPUT.target, 'float32', [c.batch, 1, c.imageSize, c.imageSize]),
    // Per-image ε_1 of PolyDice-1 (METHOD.md §2); other losses ignore it.
    eps: addInput(g, INPUT.eps, 'float32', [c.batch]),
    ratio: dropout && hasDropout(c) ? addInput(g, INPUT.dropoutRatio, 'float32', []) : undefined,
  };
}

/** Inputs, flat parameters and the U-Net forward; dropout active (training, on random stream `stream`) or absent (eval). */
function forward(name: string, c: ModelConfig, layout: ParamLayout, dropout: boolean, stream = 0): Forward {
  checkTrainable(c);
  const g = createGraph(name);
  g.metadata.config = JSON.stringify(c);
  const d = stepInputs(g, c, layout, dropout);
  return { g, params: d.params, logits: logitsOf(g, c, layout, d, stream), target: d.target, eps: d.eps };
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
  addOutput(f.g, OUTPUT.loss, loss);
  addOutput(f.g, OUTPUT.perImageLoss, perImage);
  addOutput(f.g, OUTPUT.gradient, gradient);
  return f.g;
}

function optimizerInputs(g: Graph, P: number) {
  return {
    m: addInput(g, INPUT.adamM, 'float32', [P]),
    v: addInput(g, INPUT.adamV, 'float32', [P]),
    step: addInput(g, INPUT.step, 'float32', []), // t ≥ 1: the number of this update
    lr: addInput(g, INPUT.lr, 'float32', []),
  };
}

function optimizerOutputs(g: Graph, next: { params: Value; m: Value; v: Value }): void {
  addOutput(g, OUTPUT.params, next.params);
  addOutput(g, OUTPUT.adamM, next.m);
  addOutput(g, OUTPUT.adamV, next.v);
}

export function buildOptimizerModel(c: ModelConfig, layout = paramLayout(c)): Graph {
  validateConfig(c);
  const g = createGraph(`${c.training.optimizer.kind}_optimizer`);
  g.metadata.config = JSON.stringify(c);
  const P = layout.values.length;
  const params = addInput(g, INPUT.params, 'float32', [P]);
  const gradient = addInput(g, INPUT.gradient, 'float32', [P]);
  const o = optimizerInputs(g, P);
  optimizerOutputs(g, adamStep(g, { params, m: o.m, v: o.v }, gradient, o.step, o.lr, c.training.optimizer));
  return g;
}

export function buildEvalModel(c: ModelConfig, layout = paramLayout(c)): Graph {
  const f = forward('unet_eval', c, layout, false);
  const { batch, perImage } = lossGraph(f.g, f.logits, f.target, f.eps, c.training.loss);
  addOutput(f.g, OUTPUT.loss, batch);
  addOutput(f.g, OUTPUT.perImageLoss, perImage);
  addOutput(f.g, OUTPUT.probability, op1(f.g, 'Sigmoid', [f.logits]));
  return f.g;
}

interface AdamState {
  m: Value;
  v: Value;
  /** t ≥ 1: the number of this update. */
  step: Value;
  lr: Value;
}

/** One train step on `d`: loss, per-image losses and the updated parameters and moments. */
function trainStep(g: Graph, c: ModelConfig, layout: ParamLayout, d: StepData, o: AdamState, stream: number) {
  const f: Forward = { g, params: d.params, logits: logitsOf(g, c, layout, d, stream), target: d.target, eps: d.eps };
  const { loss, perImage, gradient } = lossAndGradient(f, c);
  const next = adamStep(g, { params: d.params, m: o.m, v: o.v }, gradient, o.step, o.lr, c.training.optimizer);
  return { loss, perImage, next };
}

/** Forward + backward + optimizer in one session run; `dropoutStream` picks the Dropout seeds. */
export function buildTrainStepModel(c: ModelConfig, layout = paramLayout(c), dropoutStream = 0): Graph {
  checkTrainable(c);
  const g = createGraph('unet_train_step');
  g.metadata.config = JSON.stringify(c);
  const d = stepInputs(g, c, layout, true);
  const o = optimizerInputs(g, layout.values.length);
  const { loss, perImage, next } = trainStep(g, c, layout, d, o, dropoutStream);
  addOutput(g, OUTPUT.loss, loss);
  addOutput(g, OUTPUT.perImageLoss, perImage);
  optimizerOutputs(g, next);
  return g;
}

/**
 * K train steps in one session run: an ONNX Loop whose body is the fused train step, with the
 * parameters, both Adam moments and the update count carried from one iteration to the next, so
 * that they cross between host and device once per K steps instead of every step (onnxruntime-node
 * can keep outputs on a CUDA device between runs only for WebGPU). Inputs: the state as in the
 * one-step model, the K batches stacked (`images` [K,B,3,H,W], `targets` [K,B,1,H,W], `eps_steps`
 * [K,B]), `steps` (int64: how many of the K to run, ≤ K; the rest of the stacked inputs is ignored),
 * lr and dropout_ratio. Outputs: the state after the last step run (`step_out` = its update count),
 * `losses` [K] and `per_image_losses` [K,B] (zeros for steps not run).
 * The body's Dropout nodes carry the same seeds as the one-step model's, and onnxruntime advances a
 * Dropout's generator at each execution, so K iterations draw what K one-step runs of one session draw.
 */
export function buildTrainLoopModel(c: ModelConfig, k: number, layout = paramLayout(c), dropoutStream = 0): Graph {
  checkTrainable(c);
  if (!(Number.isInteger(k) && k >= 1)) throw new ConfigError('steps-per-run', k, 'a positive integer');
  const g = createGraph('unet_train_loop');
  g.metadata.config = JSON.stringify(c);
  g.metadata.steps_per_run = String(k);
  const { batch: b, imageSize: size } = c;
  const P = layout.values.length;
  const params = addInput(g, INPUT.params, 'float32', [P]);
  const o = optimizerInputs(g, P);
  const images = addInput(g, INPUT.images, 'float32', [k, b, c.unet.inChannels, size, size]);
  const targets = addInput(g, INPUT.targets, 'float32', [k, b, 1, size, size]);
  const epsSteps = addInput(g, INPUT.epsSteps, 'float32', [k, b]);
  const ratio = hasDropout(c) ? addInput(g, INPUT.dropoutRatio, 'float32', []) : undefined;
  const steps = addInput(g, INPUT.steps, 'int64', []);

  // The body's inputs and outputs are local names, not graphIO's: the Loop binds them by position
  // and nothing outside this function feeds or reads them.
  const body = createSubgraph(g, 'unet_train_loop_body');
  const iter = addInput(body, 'iteration', 'int64', []);
  const cond = addInput(body, 'condition', 'bool', []);
  const carried = {
    params: addInput(body, 'carried_params', 'float32', [P]),
    m: addInput(body, 'carried_adam_m', 'float32', [P]),
    v: addInput(body, 'carried_adam_v', 'float32', [P]),
    step: addInput(body, 'carried_step', 'float32', []),
    losses: addInput(body, 'carried_losses', 'float32', [k]),
    perImage: addInput(body, 'carried_per_image_losses', 'float32', [k, b]),
  };
  const pick = (v: Value): Value => op1(body, 'Gather', [v, iter], { axis: 0 });
  const d: StepData = {
    params: carried.params,
    image: pick(images),
    target: pick(targets),
    eps: pick(epsSteps),
    ratio,
  };
  const t = op1(body, 'Add', [carried.step, constant(body, 'one', 'float32', [], [1])]);
  const { loss, perImage, next } = trainStep(
    body,
    c,
    layout,
    d,
    { m: carried.m, v: carried.v, step: t, lr: o.lr },
    dropoutStream,
  );
  // Static shapes: per-step results go into carried [K] / [K,B] accumulators at row `iteration`.
  const row = op1(body, 'Equal', [
    constant(
      body,
      'rows',
      'int64',
      [k],
      Array.from({ length: k }, (_, i) => i),
    ),
    iter,
  ]); // [K]
  const losses = op1(body, 'Where', [row, loss, carried.losses]);
  const rowB = op1(body, 'Reshape', [row, constant(body, 'row_shape', 'int64', [2], [k, 1])]);
  const perImages = op1(body, 'Where', [
    rowB,
    op1(body, 'Reshape', [perImage, constant(body, 'per_image_shape', 'int64', [2], [1, b])]),
    carried.perImage,
  ]);
  addOutput(body, 'condition_out', op1(body, 'Identity', [cond]));
  addOutput(body, 'carried_params_out', next.params);
  addOutput(body, 'carried_adam_m_out', next.m);
  addOutput(body, 'carried_adam_v_out', next.v);
  addOutput(body, 'carried_step_out', t);
  addOutput(body, 'carried_losses_out', losses);
  addOutput(body, 'carried_per_image_losses_out', perImages);

  const zeros = (name: string, shape: number[]): Value =>
    constant(g, name, 'float32', shape, new Float32Array(shape.reduce((x, y) => x * y, 1)));
  const out = op(
    g,
    'Loop',
    [
      steps,
      constant(g, 'always', 'bool', [], [1]),
      params,
      o.m,
      o.v,
      o.step,
      zeros('no_losses', [k]),
      zeros('no_per_image_losses', [k, b]),
    ],
    { body },
  );
  optimizerOutputs(g, { params: out[0]!, m: out[1]!, v: out[2]! });
  addOutput(g, OUTPUT.step, out[3]!);
  addOutput(g, OUTPUT.losses, out[4]!);
  addOutput(g, OUTPUT.perImageLosses, out[5]!);
  return g;
}
