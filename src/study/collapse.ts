/**
 * The collapse analysis of PolyDice-1 (docs/results/collapse.md) as plain float64 functions: the per-image
 * loss exactly as src/graphBuilder/losses.ts builds it (same δ, η and cos θ clip, the clip bounds rounded to
 * float32 as the graph stores them), its analytic gradient with respect to each pixel's probability p_i and
 * logit z_i (p = σ(z)), and the closed forms of the large-image limit (δ → 0) used by the derivation.
 *
 * Notation (collapse.md): A = Σp² (a2), B = Σg² (b2), d = Σp·g, a = √(A + η), b = √(B + η),
 *   s = (2ab + δ)/(A + B + δ),  u = (d + δ)/(ab + δ),  θ = arccos(clip(u)),  k = ½ + ε₁,
 *   L = (1 − s) + s·k·θ².
 * The gradient has the same form for every pixel: ∂L/∂p_i = α·p_i − β·g_i, with
 *   α = 2(kθ² − 1)(b/a − s)/(A + B + δ) + 2skθ·u·b / (a·(ab + δ)·sin θ)     (θ-term 0 when u is clipped)
 *   β = 2skθ / ((ab + δ)·sin θ) ≥ 0                                          (0 when u is clipped)
 * so all background pixels (g_i = 0) move in the same direction, up exactly when α < 0, and a foreground
 * pixel is always pushed up by β more than a background pixel with the same p. α and β are linear in k,
 * so the ε₁ at which α changes sign is closed form for any prediction (`backgroundEpsThreshold`).
 *
 * Clip convention: the graph's autodiff passes the gradient of Clip where lo ≤ u ≤ hi (inclusive) and
 * drops it outside; the same here.
 */
import { COS_CLIP, NORM_EPS, SMOOTH } from '../graphBuilder/losses.js';

/** cos θ bounds as the graph holds them (float32 constants): 1 − fround(1 − 1e-6) = 1.0133e-6. */
export const COS_MAX = Math.fround(1 - COS_CLIP);
export const COS_MIN = Math.fround(-1 + COS_CLIP);

export const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** The three sums the loss reads: A = Σp², B = Σg², d = Σp·g. */
export interface DiceSums {
  a2: number;
  b2: number;
  d: number;
}

/** Everything the loss and its gradient need, for one image. */
export interface PolyDiceState extends DiceSums {
  /** a = √(A + η), b = √(B + η) */
  a: number;
  b: number;
  /** s = (2ab + δ)/(A + B + δ) */
  s: number;
  /** u = (d + δ)/(ab + δ), before the clip */
  u: number;
  /** u outside [COS_MIN, COS_MAX]: θ is the clip's and carries no gradient */
  clipped: boolean;
  theta: number;
  /** k = ½ + ε₁ */
  k: number;
  loss: number;
}

export function diceSums(p: ArrayLike<number>, g: ArrayLike<number>): DiceSums {
  if (p.length !== g.length) throw new Error(`diceSums: ${p.length} predictions for ${g.length} mask pixels`);
  let a2 = 0;
  let b2 = 0;
  let d = 0;
  for (let i = 0; i < p.length; i++) {
    a2 += p[i]! * p[i]!;
    b2 += g[i]! * g[i]!;
    d += p[i]! * g[i]!;
  }
  return { a2, b2, d };
}

/** The sums of a uniform prediction p_i = c on an image of n pixels, nFg of them foreground. */
export function uniformSums(n: number, nFg: number, c: number): DiceSums {
  return { a2: n * c * c, b2: nFg, d: c * nFg };
}

/** s, θ and L from the sums, as losses.ts's polyDice1Loss computes them. */
export function polyDiceState(sums: DiceSums, eps: number): PolyDiceState {
  const { a2, b2, d } = sums;
  const a = Math.sqrt(a2 + NORM_EPS);
  const b = Math.sqrt(b2 + NORM_EPS);
  const s = (2 * a * b + SMOOTH) / (a2 + b2 + SMOOTH);
  const u = (d + SMOOTH) / (a * b + SMOOTH);
  const clipped = u < COS_MIN || u > COS_MAX;
  const theta = Math.acos(Math.min(Math.max(u, COS_MIN), COS_MAX));
  const k = 0.5 + eps;
  return { a2, b2, d, a, b, s, u, clipped, theta, k, loss: 1 - s + s * k * theta * theta };
}

/** PolyDice-1 of one image: probabilities p, mask g (flattened, same length), ε₁ = eps. */
export function polyDice1Value(p: ArrayLike<number>, g: ArrayLike<number>, eps: number): number {
  return polyDiceState(diceSums(p, g), eps).loss;
}

/** ∂L/∂p_i = α·p_i − β·g_i (see the header). */
export interface PixelCoefficients {
  alpha: number;
  beta: number;
}

/** α and β of a state; each is a0 + k·a1 (b0 + k·b1), returned with its parts for the ε₁ thresholds. */
export function pixelCoefficients(st: PolyDiceState): PixelCoefficients & { alpha0: number; alpha1: number } {
  const { a2, b2, a, b, s, u, clipped, theta, k } = st;
  const ds = (2 * (b / a - s)) / (a2 + b2 + SMOOTH); // ∂s/∂A·2, so ∂s/∂p_i = ds·p_i
  // ∂θ/∂u = −1/√(1 − u²) (the graph's Acos rule; u is inside the clip bounds here)
  const dTheta = clipped ? 0 : -1 / Math.sqrt(1 - u * u);
  const abd = a * b + SMOOTH;
  // ∂L/∂p_i = (kθ² − 1)·ds·p_i + 2skθ·dTheta·(g_i − u·b·p_i/a)/(ab + δ)
  const alpha0 = -ds;
  const alpha1 = theta * theta * ds - (2 * s * theta * dTheta * u * b) / (a * abd);
  const beta = clipped ? 0 : (-2 * s * k * theta * dTheta) / abd;
  return { alpha: alpha0 + k * alpha1, beta, alpha0, alpha1 };
}

/** ∂L/∂p_i for every pixel. */
export function polyDice1GradP(p: ArrayLike<number>, g: ArrayLike<number>, eps: number): Float64Array {
  const { alpha, beta } = pixelCoefficients(polyDiceState(diceSums(p, g), eps));
  return Float64Array.from(p, (pi, i) => alpha * pi - beta * g[i]!);
}

/** ∂L/∂z_i for logits z (p = σ(z)): ∂L/∂p_i·σ(z_i)(1 − σ(z_i)). */
export function polyDice1GradZ(z: ArrayLike<number>, g: ArrayLike<number>, eps: number): Float64Array {
  const p = Float64Array.from(z, sigmoid);
  const gp = polyDice1GradP(p, g, eps);
  return gp.map((v, i) => v * p[i]! * (1 - p[i]!));
}

/**
 * ε₁ at which background pixels change direction, for this prediction (α = α0 + kα1 = 0 ⇔ k = −α0/α1):
 * `up: 'above'` means background pixels are pushed up for ε₁ > eps, `'below'` for ε₁ < eps;
 * `eps: null` when the sign does not depend on ε₁ (α1 = 0), `always` then says which way it goes.
 * The state's own k is ignored.
 */
export function backgroundEpsThreshold(st: PolyDiceState): {
  eps: number | null;
  up: 'above' | 'below' | 'always' | 'never';
} {
  const { alpha0, alpha1 } = pixelCoefficients(st);
  if (alpha1 === 0) return { eps: null, up: alpha0 < 0 ? 'always' : 'never' };
  return { eps: -alpha0 / alpha1 - 0.5, up: alpha1 < 0 ? 'above' : 'below' };
}

// ---------------------------------------------------------------------------------------------------------
// The large-image limit (δ, η → 0) of a uniform prediction p_i = c, foreground fraction f = B/N

/** θ of a uniform prediction in the limit: cos θ = cf N/(c√N·√(fN)) = √f, whatever c is. */
export const uniformTheta = (f: number): number => Math.acos(Math.sqrt(f));

/**
 * The background bracket of the limit: ∂L/∂p_i (g_i = 0) = 2p_i·b/(a(a² + b²))·[(kθ² − 1)ρ + 2kθ·cot θ],
 * ρ = (b² − a²)/(a² + b²) = (f − c²)/(f + c²). Negative ⇔ background pixels are pushed up.
 */
export function limitBackgroundBracket(eps: number, f: number, c: number): number {
  const k = 0.5 + eps;
  const t = uniformTheta(f);
  const rho = (f - c * c) / (f + c * c);
  const tCot = f === 0 ? 0 : (t * Math.sqrt(f)) / Math.sqrt(1 - f);
  return (k * t * t - 1) * rho + 2 * k * tCot;
}

/** The foreground bracket of the limit (same positive factor): (kθ² − 1)ρ − 2kθ·tan θ. */
export function limitForegroundBracket(eps: number, f: number, c: number): number {
  const k = 0.5 + eps;
  const t = uniformTheta(f);
  const rho = (f - c * c) / (f + c * c);
  return (k * t * t - 1) * rho - 2 * k * t * Math.tan(t);
}

/**
 * ε₁*(f, c) of the limit: the bracket is k(θ²ρ + 2θcot θ) − ρ, linear in k, zero at k0 = ρ/(θ²ρ + 2θcot θ).
 * Over-covering (c² > f, ρ < 0): pushed up for ε₁ > k0 − ½ when θ²|ρ| > 2θcot θ, never otherwise.
 * Under-covering (c² < f, ρ > 0): pushed up for ε₁ < k0 − ½. c² = f: never (for k > 0).
 */
export function limitEpsThreshold(f: number, c: number): { eps: number | null; up: 'above' | 'below' | 'never' } {
  const t = uniformTheta(f);
  const rho = (f - c * c) / (f + c * c);
  const tCot = (t * Math.sqrt(f)) / Math.sqrt(1 - f);
  const slope = t * t * rho + 2 * tCot;
  if (rho === 0 || slope === 0) return { eps: null, up: 'never' };
  const eps = rho / slope - 0.5;
  if (rho < 0) return slope < 0 ? { eps, up: 'above' } : { eps: null, up: 'never' };
  return { eps, up: 'below' };
}

/** θ above which ∂L/∂s = kθ² − 1 > 0 (the first study's condition): 1/√k; as a foreground fraction
 * of a uniform prediction, f < cos²(1/√k) (every f when 1/√k ≥ π/2). */
export function scaleConditionF(eps: number): number {
  const t = 1 / Math.sqrt(0.5 + eps);
  return t >= Math.PI / 2 ? 0 : Math.cos(t) ** 2;
}

/**
 * The f intervals (within [fMin, fMax]) where background pixels of a uniform prediction c are pushed up at
 * ε₁ = eps, in the limit: the sign of `limitBackgroundBracket` on a log-spaced grid, each change refined by
 * bisection. Usually one interval (0, f*): small polyps.
 */
export function limitPushUpIntervals(
  eps: number,
  c: number,
  fMin = 1e-5,
  fMax = 0.999,
  steps = 4000,
): [number, number][] {
  const up = (f: number): boolean => limitBackgroundBracket(eps, f, c) < 0;
  const fs = Array.from({ length: steps + 1 }, (_, i) => fMin * (fMax / fMin) ** (i / steps));
  const out: [number, number][] = [];
  let start: number | null = up(fs[0]!) ? fs[0]! : null;
  for (let i = 1; i < fs.length; i++) {
    const [lo0, hi0] = [fs[i - 1]!, fs[i]!];
    if (up(lo0) === up(hi0)) continue;
    let [lo, hi] = [lo0, hi0];
    for (let it = 0; it < 80; it++) {
      const mid = (lo + hi) / 2;
      if (up(mid) === up(lo)) lo = mid;
      else hi = mid;
    }
    const edge = (lo + hi) / 2;
    if (start === null) start = edge;
    else {
      out.push([start, edge]);
      start = null;
    }
  }
  if (start !== null) out.push([start, fMax]);
  return out;
}
