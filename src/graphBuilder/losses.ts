/**
 * Segmentation losses as graph nodes: BCE, smoothed Dice and PolyDice-1 (METHOD.md §2), per image,
 * and their weighted sum. Built from differentiable primitives only (Add Sub Mul Div Neg Sqrt Exp Log
 * Abs Acos Sigmoid Clip ReduceSum ReduceMean), without control flow, so the autodiff engine
 * can derive their gradients from the same graph.
 *
 * Shapes: logits z and target t are float32 [B,C,H,W] (C = 1 here), t in {0,1}; eps is float32 [B]
 * (ε_1 of each image); every term returns one value per image, [B].
 */
import { type Graph, constant, op1, scope } from './graph.js';
import { type Value, fmtShape } from './types.js';

/** δ of smoothed Dice and of PolyDice-1's s and cos θ. */
export const SMOOTH = 1;
/** η inside a = sqrt(Σp² + η), b = sqrt(Σt² + η): keeps the derivative of sqrt finite at 0. */
export const NORM_EPS = 1e-12;
/** cos θ is clipped to [−1 + CLIP, 1 − CLIP] before arccos. */
export const COS_CLIP = 1e-6;

/** Scalar float32 constant `scope.name`. */
const scalar = (g: Graph, name: string, v: number): Value => constant(g, name, 'float32', [], [v]);

/** Binary-op shorthands over one graph. */
function arith(g: Graph) {
  return {
    add: (a: Value, b: Value) => op1(g, 'Add', [a, b]),
    sub: (a: Value, b: Value) => op1(g, 'Sub', [a, b]),
    mul: (a: Value, b: Value) => op1(g, 'Mul', [a, b]),
    div: (a: Value, b: Value) => op1(g, 'Div', [a, b]),
  };
}

/**
 * The one per-image reduction: returns `sum(x)`, x [B,C,H,W] → [B], summing over C, H and W.
 * Creates its axes constant (`scope.axes`) once, so call it once per scope and reuse the result.
 */
function perImageSum(g: Graph, like: Value): (x: Value) => Value {
  const axes = constant(
    g,
    'axes',
    'int64',
    [like.shape.length - 1],
    like.shape.slice(1).map((_, i) => i + 1),
  );
  return (x) => op1(g, 'ReduceSum', [x, axes], { keepdims: 0 });
}

/** The sums both Dice losses need: a2 = Σp², b2 = Σt², d = Σp·t, each [B]. */
function diceSums(g: Graph, p: Value, t: Value): { a2: Value; b2: Value; d: Value } {
  const { mul } = arith(g);
  const sum = perImageSum(g, p);
  return { a2: sum(mul(p, p)), b2: sum(mul(t, t)), d: sum(mul(p, t)) };
}

/**
 * Smoothed Dice loss with squared denominator (METHOD.md §2, "L_Dice = 1 − 2d/(a² + b²)"):
 * L = 1 − (2d + δ)/(a2 + b2 + δ), δ = SMOOTH. p: probabilities, t: target, both [B,C,H,W] → [B].
 * Empty target: L = a2/(a2 + δ), still > 0 for any non-zero prediction; all-zero prediction on a
 * non-empty target: L = b2/(b2 + δ) with ∂L/∂d = −2/(b2 + δ) < 0. No division by zero anywhere.
 */
export function diceLoss(g: Graph, p: Value, t: Value): Value {
  return scope(g, 'dice', () => {
    const { add, sub, mul, div } = arith(g);
    const { a2, b2, d } = diceSums(g, p, t);
    const delta = scalar(g, 'smooth', SMOOTH);
    const ratio = div(add(mul(scalar(g, 'two', 2), d), delta), add(add(a2, b2), delta));
    return sub(scalar(g, 'one', 1), ratio);
  });
}

/**
 * PolyDice-1 (METHOD.md §2): with a = ||p||, b = ||t||, d = <p, t>,
 *   s = 2ab/(a² + b²)   (the decomposition's s, not the note's 2d/(a² + b²), see METHOD.md §2),
 *   cos θ = d/(ab),  L = (1 − s) + s·(1/2 + ε_1)·θ²     (the first term of the Taylor series of
 *   L_Dice = 1 − s·cos θ, α_1 = 1/2, perturbed by ε_1 as in PolyLoss).
 * Smoothed and clipped so that the value and every derivative the autodiff takes are finite:
 *   a = sqrt(a2 + η), b = sqrt(b2 + η)                       η = NORM_EPS
 *   s = (2ab + δ)/(a2 + b2 + δ)                             δ = SMOOTH
 *   cos θ = clip((d + δ)/(ab + δ), −1 + c, 1 − c),  θ = arccos(cos θ)    c = COS_CLIP
 *
 * Why each choice keeps gradients finite:
 * - η: d sqrt(x)/dx = 1/(2 sqrt x) is infinite at x = 0, and the chain rule then multiplies it by
 *   ∂a2/∂p = 2p = 0, giving NaN for an all-zero prediction (or an empty target: b). With η the
 *   factor is at most 1/(2 sqrt η) = 5e5, and ∂a/∂p_i = p_i/sqrt(a2 + η) lies in [0, 1]. η is far
 *   below float32 resolution of any non-trivial sum, so it changes no value elsewhere.
 * - δ in s and cos θ: no 0/0 when a or b is 0 (see the cases below).
 * - clip: d/dx arccos x = −1/sqrt(1 − x²) is infinite at x = ±1. Cauchy–Schwarz gives d ≤ ab, so
 *   (d + δ)/(ab + δ) ≤ 1 and it reaches 1 at perfect overlap (and at an empty target, below).
 *   Clipping at 1 − c bounds |d arccos/dx| by 1/sqrt(2c − c²) ≈ 707 while inside, and outside
 *   (saturated) Clip's derivative is 0, so the gradient through θ is exactly 0 there while s keeps
 *   its gradient. Cost: θ² never drops below arccos(1 − c)² ≈ 2c = 2e-6, a loss floor of
 *   ≈ s·(1/2 + ε_1)·2e-6. (The lower clip never binds: p, t ≥ 0 make cos θ ≥ 0.)
 *
 * The edges (values for δ = 1; float32 makes η vanish next to any sum ≳ 1e-5):
 * - Perfect overlap p = t: a = b, d = ab, so s = 1 (and ∂s/∂a = 0: s = 2ab/(a² + b²) is maximal
 *   at a = b) and cos θ = 1 → clipped, θ-gradient 0. L ≈ (1/2 + ε_1)·2e-6: the optimum.
 * - Empty ground truth (b2 = 0, b = sqrt η ≈ 0): s = (2ab + δ)/(a2 + δ) ≈ δ/(a2 + δ) and
 *   cos θ = δ/(ab + δ) → 1 (clipped while a < 1), so L ≈ 1 − s = a2/(a2 + δ): the same as smoothed
 *   Dice, with ∂L/∂a2 = δ/(a2 + δ)² > 0, which pushes the prediction to 0. Without δ, s = 0 and
 *   the loss would be constant (METHOD.md §2, numerical edges).
 * - All-zero prediction (a2 = 0, a = sqrt η), non-empty target: s ≈ δ/(b2 + δ), cos θ ≈
 *   δ/(ab + δ) ≈ 1 − b·1e-6, so L ≈ b2/(b2 + δ) (≈ Dice's value), and ∂L/∂d =
 *   −2s(1/2 + ε_1)·θ/(sin θ·(ab + δ)) ≈ −(1 + 2ε_1)/(b2 + δ) < 0 raises p on the target (for
 *   b2 > 1; a one-pixel target sits at the clip and learns through s only). Note ε_1 = −1/2
 *   removes the θ term entirely (L = 1 − s, blind to overlap), and ε_1 < −1/2 rewards misalignment.
 *
 * p, t: [B,C,H,W]; eps: [B] (ε_1 per image) → [B].
 */
export function polyDice1Loss(g: Graph, p: Value, t: Value, eps: Value): Value {
  return scope(g, 'polydice1', () => {
    const { add, sub, mul, div } = arith(g);
    const { a2, b2, d } = diceSums(g, p, t);
    const delta = scalar(g, 'smooth', SMOOTH);
    const eta = scalar(g, 'norm_eps', NORM_EPS);
    const one = scalar(g, 'one', 1);
    const ab = mul(op1(g, 'Sqrt', [add(a2, eta)]), op1(g, 'Sqrt', [add(b2, eta)]));
    const s = div(add(mul(scalar(g, 'two', 2), ab), delta), add(add(a2, b2), delta));
    const cos = op1(g, 'Clip', [
      div(add(d, delta), add(ab, delta)),
      scalar(g, 'cos_min', -1 + COS_CLIP),
      scalar(g, 'cos_max', 1 - COS_CLIP),
    ]);
    const theta = op1(g, 'Acos', [cos]);
    const coef = add(scalar(g, 'alpha1', 0.5), eps); // α_1 + ε_1
    return add(sub(one, s), mul(mul(s, coef), mul(theta, theta)));
  });
}

/**
 * Binary cross-entropy on logits, mean over each image's pixels:
 * max(z, 0) − z·t + log(1 + exp(−|z|)), the stable form of −t·log σ(z) − (1 − t)·log(1 − σ(z))
 * (exp never overflows, log never sees 0). z, t: [B,C,H,W] → [B].
 * max(z, 0) is written (z + |z|)/2 rather than Relu(z): both pieces have a kink at z = 0 that the
 * smooth sum does not, and the autodiff takes Relu'(0) = 0 and |·|'(0) = Sign(0) = 0, which would
 * give ∂/∂z = −t there instead of σ(0) − t = 1/2 − t (exact zeros are real: zero-initialised biases
 * on black borders). With (z + |z|)/2 the derivative is 1/2 + A/2 − A·σ(−|z|), A = |·|'(z), which is
 * σ(z) for z ≠ 0 and 1/2 at z = 0 whatever A is.
 */
export function bceWithLogits(g: Graph, z: Value, t: Value): Value {
  return scope(g, 'bce', () => {
    const { add, sub, mul } = arith(g);
    const half = scalar(g, 'half', 0.5);
    const absZ = op1(g, 'Abs', [z]);
    const maxZ0 = mul(add(z, absZ), half);
    const softplusNegAbs = op1(g, 'Log', [add(scalar(g, 'one', 1), op1(g, 'Exp', [op1(g, 'Neg', [absZ])]))]);
    const pixel = add(sub(maxZ0, mul(z, t)), softplusNegAbs);
    const pixels = z.shape.slice(1).reduce((a, b) => a * b, 1);
    return mul(perImageSum(g, z)(pixel), scalar(g, 'inv_pixels', 1 / pixels));
  });
}

/** Weight of each per-image term in the total; absent or 0 means the term is not built. */
export interface LossWeights {
  bce?: number;
  dice?: number;
  polydice1?: number;
}

export const LOSS_PRESETS = {
  bce: { bce: 1 },
  dice: { dice: 1 },
  polydice1: { polydice1: 1 },
  'dice+bce': { dice: 1, bce: 1 },
} as const satisfies Record<string, LossWeights>;
export type LossName = keyof typeof LOSS_PRESETS;

/** The weights of a `--loss` value, or an Error naming the option and the valid names. */
export function parseLoss(name: string): LossWeights {
  if (!Object.hasOwn(LOSS_PRESETS, name)) {
    throw new Error(`--loss must be one of ${Object.keys(LOSS_PRESETS).join(', ')}, got "${name}"`);
  }
  return { ...LOSS_PRESETS[name as LossName] };
}

/**
 * The training loss: per-image Σ_k w_k·L_k over the weighted terms, and its mean over the batch
 * (METHOD.md §2: "the batch loss is the mean of the per-image losses"). p = σ(logits) is computed
 * once and shared by Dice and PolyDice-1; BCE reads the logits. logits, target: [B,C,H,W];
 * eps: [B] (only PolyDice-1 uses it, but it is always an operand so one signature fits all).
 */
export function lossGraph(
  g: Graph,
  logits: Value,
  target: Value,
  eps: Value,
  weights: LossWeights,
): { perImage: Value; batch: Value } {
  const B = logits.shape[0];
  if (logits.shape.length < 2 || fmtShape(logits.shape) !== fmtShape(target.shape)) {
    throw new Error(
      `lossGraph: logits ${fmtShape(logits.shape)} and target ${fmtShape(target.shape)} must have the same shape [B,C,H,W]`,
    );
  }
  if (fmtShape(eps.shape) !== fmtShape([B!])) throw new Error(`lossGraph: eps ${fmtShape(eps.shape)} must be [${B}]`);
  const used = (['bce', 'dice', 'polydice1'] as const).filter((k) => {
    const w = weights[k] ?? 0;
    if (!Number.isFinite(w)) throw new Error(`lossGraph: weight ${k} = ${w} is not finite`);
    return w !== 0;
  });
  if (used.length === 0) throw new Error('lossGraph: every loss weight is zero');

  return scope(g, 'loss', () => {
    const p = used.some((k) => k !== 'bce') ? op1(g, 'Sigmoid', [logits]) : undefined;
    const term = {
      bce: () => bceWithLogits(g, logits, target),
      dice: () => diceLoss(g, p!, target),
      polydice1: () => polyDice1Loss(g, p!, target, eps),
    };
    const weighted = used.map((k) => {
      const l = term[k]();
      return weights[k] === 1 ? l : op1(g, 'Mul', [l, scalar(g, `w_${k}`, weights[k]!)]);
    });
    const perImage = weighted.reduce((acc, l) => op1(g, 'Add', [acc, l]));
    const batch = op1(g, 'ReduceMean', [perImage], { axes: [0], keepdims: 0 });
    return { perImage, batch };
  });
}
