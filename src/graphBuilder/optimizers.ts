/**
 * Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019) as graphs over flat vectors:
 * parameters, gradient and both moment estimates are each one [P] tensor, so the update is a
 * handful of elementwise ops whatever the network.
 */
import { type Graph, constant, op1, scope } from './graph.js';
import type { Value } from './types.js';

export interface OptimizerConfig {
  kind: 'adam' | 'adamw';
  beta1: number;
  beta2: number;
  epsilon: number;
  /** adam: L2 penalty added to the gradient; adamw: decoupled decay of the weights. */
  weightDecay: number;
}

export const DEFAULT_OPTIMIZER: OptimizerConfig = {
  kind: 'adam',
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  weightDecay: 0,
};

export interface OptimizerState {
  params: Value; // [P]
  m: Value; // first moment [P]
  v: Value; // second moment [P]
}

/**
 * One step. `step` is t ≥ 1 (float scalar, counts this update), `lr` the learning rate scalar.
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
 *   p ← p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)   [AdamW: also p ← p − lr·λ·p]
 */
export function adamStep(
  g: Graph,
  state: OptimizerState,
  grad: Value,
  step: Value,
  lr: Value,
  cfg: OptimizerConfig,
): OptimizerState {
  return scope(g, cfg.kind, () => {
    const c = (name: string, v: number): Value => constant(g, name, 'float32', [], [v]);
    const mul = (a: Value, b: Value): Value => op1(g, 'Mul', [a, b]);
    const add = (a: Value, b: Value): Value => op1(g, 'Add', [a, b]);
    const { params: p } = state;
    const grad2 =
      cfg.kind === 'adam' && cfg.weightDecay > 0 ? add(grad, mul(p, c('weight_decay', cfg.weightDecay))) : grad;
    const m = add(mul(state.m, c('beta1', cfg.beta1)), mul(grad2, c('one_minus_beta1', 1 - cfg.beta1)));
    const v = add(mul(state.v, c('beta2', cfg.beta2)), mul(mul(grad2, grad2), c('one_minus_beta2', 1 - cfg.beta2)));
    // Bias corrections 1 − β^t = 1 − exp(t·ln β): scalars, so computed once per step.
    const correction = (name: string, beta: number): Value =>
      op1(g, 'Sub', [c('one', 1), op1(g, 'Exp', [mul(step, c(`ln_${name}`, Math.log(beta)))])]);
    const mHat = op1(g, 'Div', [m, correction('beta1', cfg.beta1)]);
    const vHat = op1(g, 'Div', [v, correction('beta2', cfg.beta2)]);
    const update = op1(g, 'Div', [mHat, add(op1(g, 'Sqrt', [vHat]), c('epsilon', cfg.epsilon))]);
    let next = op1(g, 'Sub', [p, mul(update, lr)]);
    if (cfg.kind === 'adamw' && cfg.weightDecay > 0)
      next = op1(g, 'Sub', [next, mul(p, mul(lr, c('weight_decay', cfg.weightDecay)))]);
    return { params: next, m, v };
  });
}
