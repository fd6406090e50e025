/**
 * The names of the shipped graphs' inputs and outputs: the contract between the builders that
 * create them (models.ts, trainingModels.ts) and the code that feeds and reads them (training's
 * runtime, the MC phase, prediction, benchmarks, scripts). Both sides import these constants, so a
 * renamed input is one edit and a misspelt feed a compile error, not an onnxruntime error at run
 * time. The browser page (src/serve/public/app.js) cannot import TypeScript and repeats `image`,
 * `dropout_ratio`, `probability` and `samples`; keep it in step.
 *
 * Which graph has which (see the builders for shapes):
 *   inference     image → logits, probability
 *   MC-Dropout    image, dropoutRatio → samples
 *   training      params, image, target, eps, [dropoutRatio] → loss, perImageLoss, gradient
 *   optimizer     params, gradient, adamM, adamV, step, lr → params, adamM, adamV
 *   eval          params, image, target, eps → loss, perImageLoss, probability
 *   train step    params, image, target, eps, [dropoutRatio], adamM, adamV, step, lr
 *                 → loss, perImageLoss, params, adamM, adamV
 *   K-step Loop   params, adamM, adamV, step, lr, images, targets, epsSteps, [dropoutRatio], steps
 *                 → params, adamM, adamV, step, losses, perImageLosses
 * [dropoutRatio]: present only when the network has Dropout layers.
 */

/** Graph input names. */
export const INPUT = {
  /** float32 [B,3,H,W], RGB in [0,1]. */
  image: 'image',
  /** float32 [B,1,H,W], the 0/1 mask. */
  target: 'target',
  /** float32 [B]: each image's ε_1 of PolyDice-1 (METHOD.md §2). */
  eps: 'eps',
  /** float32 scalar: the Dropout probability p, fed at every run (no initializer behind it). */
  dropoutRatio: 'dropout_ratio',
  /** float32 [P]: all parameters, flat in the inference model's initializer order. */
  params: 'params',
  /** float32 [P]: the optimizer model's flat gradient. */
  gradient: 'gradient',
  adamM: 'adam_m',
  adamV: 'adam_v',
  /** float32 scalar: the update count t ≥ 1 (the K-step Loop: the count before its first step). */
  step: 'step',
  lr: 'lr',
  /** The K-step Loop's stacked batches: [K,B,3,H,W], [K,B,1,H,W], [K,B]. */
  images: 'images',
  targets: 'targets',
  epsSteps: 'eps_steps',
  /** int64 scalar: how many of the Loop's K steps to run. */
  steps: 'steps',
} as const;

/** Graph output names. */
export const OUTPUT = {
  logits: 'logits',
  /** Sigmoid of the logits, [B,1,H,W]. */
  probability: 'probability',
  /** MC-Dropout probabilities [B,N,H,W]. */
  samples: 'samples',
  /** The batch loss (a scalar) and each image's loss [B]. */
  loss: 'loss',
  perImageLoss: 'per_image_loss',
  /** float32 [P]: the training model's flat gradient. */
  gradient: 'gradient',
  /** The state after the update. */
  params: 'params_out',
  adamM: 'adam_m_out',
  adamV: 'adam_v_out',
  /** The K-step Loop's update count after its last step, its batch losses [K] and per-image losses [K,B]. */
  step: 'step_out',
  losses: 'losses',
  perImageLosses: 'per_image_losses',
} as const;

/** Keys of a shipped model's metadata_props (models.ts writes them; modelFile.ts reads `config` back). */
export const METADATA = {
  /** which graph: inference, mc-dropout, … */
  kind: 'kind',
  /** the ModelConfig as JSON: what a trained model.onnx is rebuilt from */
  config: 'config',
  /** a description of the image input */
  input: 'input',
  /** MC-Dropout models: passes per image */
  samples: 'samples',
  /** MC-Dropout models: the Dropout ratio the model was built with */
  defaultDropoutRatio: 'default_dropout_ratio',
} as const;
