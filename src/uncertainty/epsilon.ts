/**
 * The ε_1 policy of a run, the one description of how each image's ε_1 of PolyDice-1 is set, and its
 * difficulty → ε_1 mappings (METHOD.md §4; the function is **open** in the note).
 *
 *   fixed    ε = eps for every image (the fixed-ε baseline; `--eps E` is fixed:E, and ε = 0
 *            approximates Dice to second order in θ)
 *   linear   t = (d − d_min)/(d_max − d_min), the min-max normalised difficulty over the images
 *            measured at the latest MC phase
 *   rank     t = (r − 1)/(n − 1), r the 1-based rank of d among the n measured images, ties given
 *            their average rank (so tied images get the same ε)
 *   and then ε = ε_min + t·(ε_max − ε_min) for direction 'up' (harder images get larger ε, a steeper
 *   penalty on angular misalignment) or ε = ε_max − t·(ε_max − ε_min) for 'down'.
 *
 * Properties: monotone in d (non-decreasing for 'up', non-increasing for 'down'); bounded in
 * [ε_min, ε_max]; when every measured difficulty is equal (or one image was measured) t = ½, so
 * everyone gets the midpoint (ε_min + ε_max)/2.
 *
 * Images not measured yet (before the first MC phase, or absent from it) get a documented default:
 * the midpoint (ε_min + ε_max)/2 for linear and rank (no information → the neutral middle of the
 * range), eps for fixed. See `unmeasuredEps`.
 *
 * Validity: ε_1 must stay above −½. PolyDice-1 is (1 − s) + s·(½ + ε_1)·θ²; at ε_1 = −½ the θ² term
 * vanishes and the loss no longer depends on the overlap, and below it the loss rewards misalignment.
 */

import { averageRanks } from '../common/stats.js';

/** How each image's ε_1 is set: one value for all, or from its MC-Dropout difficulty (linear, rank). */
export type EpsPolicy =
  | { kind: 'fixed'; eps: number }
  | { kind: 'linear' | 'rank'; epsMin: number; epsMax: number; direction: 'up' | 'down' };

export const EPS_FLOOR = -0.5;
export const EPS_POLICY_KINDS = ['fixed', 'linear', 'rank'] as const;

/** Throw (message naming the option) unless the policy is usable. Returns it for chaining. */
export function validateEpsPolicy(m: EpsPolicy): EpsPolicy {
  const above = (flag: string, v: number): void => {
    if (!Number.isFinite(v)) throw new Error(`--${flag} must be a finite number, got ${v}`);
    if (!(v > EPS_FLOOR))
      throw new Error(
        `--${flag} must be greater than -0.5 (at ε_1 = -0.5 PolyDice-1 stops depending on the overlap; below it rewards misalignment), got ${v}`,
      );
  };
  switch (m.kind) {
    case 'fixed':
      above('eps', m.eps);
      return m;
    case 'linear':
    case 'rank':
      above('eps-min', m.epsMin);
      above('eps-max', m.epsMax);
      if (!(m.epsMin <= m.epsMax)) throw new Error(`--eps-min (${m.epsMin}) must not exceed --eps-max (${m.epsMax})`);
      if (m.direction !== 'up' && m.direction !== 'down')
        throw new Error(`the ε mapping direction must be up or down, got "${String(m.direction)}"`);
      return m;
    default:
      throw new Error(`unknown ε policy kind "${(m as { kind: string }).kind}"`);
  }
}

/** ε for an image with no difficulty measured yet (see the header). */
export function unmeasuredEps(m: EpsPolicy): number {
  switch (m.kind) {
    case 'fixed':
      return m.eps;
    case 'linear':
    case 'rank':
      return (m.epsMin + m.epsMax) / 2;
  }
}

/**
 * ε for each measured image (index → difficulty, the latest MC phase) under policy `m`.
 * Difficulties must be finite (a NaN would mean a broken measurement; it is reported, not guessed).
 */
export function mapDifficulties(m: EpsPolicy, difficulties: ReadonlyMap<number, number>): Map<number, number> {
  validateEpsPolicy(m);
  const out = new Map<number, number>();
  const idx = [...difficulties.keys()];
  const d = idx.map((i) => difficulties.get(i)!);
  d.forEach((v, k) => {
    if (!Number.isFinite(v)) throw new Error(`mapDifficulties: difficulty of image ${idx[k]} is ${v}`);
  });
  if (m.kind === 'fixed') {
    for (const i of idx) out.set(i, unmeasuredEps(m));
    return out;
  }
  const n = d.length;
  let t: number[];
  if (m.kind === 'linear') {
    const lo = Math.min(...d);
    const hi = Math.max(...d);
    t = d.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 0.5));
  } else {
    const r = averageRanks(d);
    t = r.map((v) => (n > 1 ? (v - 1) / (n - 1) : 0.5));
  }
  const span = m.epsMax - m.epsMin;
  idx.forEach((i, k) => {
    const tk = m.direction === 'up' ? t[k]! : 1 - t[k]!;
    // Clamp: guards [ε_min, ε_max] against the last bit of rounding.
    out.set(i, Math.min(m.epsMax, Math.max(m.epsMin, m.epsMin + tk * span)));
  });
  return out;
}

/** ε by image index: the phase's ε where measured, else the unmeasured default. */
export function epsLookup(m: EpsPolicy, difficulties: ReadonlyMap<number, number>): (index: number) => number {
  const table = mapDifficulties(m, difficulties);
  const fallback = unmeasuredEps(m);
  return (index) => table.get(index) ?? fallback;
}

/**
 * Parse a CLI spec: `fixed:EPS`, `linear:MIN,MAX[:up|down]`, `rank:MIN,MAX[:up|down]` (direction
 * defaults to up); `off`, read by earlier versions, is fixed:0. The result is validated. `flag` names
 * the option in syntax errors.
 */
export function parseEpsPolicy(spec: string, flag = 'eps-map'): EpsPolicy {
  const s = spec.trim();
  const forms = 'fixed:EPS, linear:MIN,MAX[:up|down] or rank:MIN,MAX[:up|down]';
  const bad = (why: string): Error => new Error(`--${flag}: ${why}; expected ${forms}, got "${spec}"`);
  const num = (v: string | undefined, what: string): number => {
    const x = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(x)) throw bad(`${what} must be a number`);
    return x;
  };
  const parts = s.split(':');
  const kind = parts[0];
  if (kind === 'off') {
    if (parts.length !== 1) throw bad('off takes no arguments');
    return { kind: 'fixed', eps: 0 };
  }
  if (kind === 'fixed') {
    if (parts.length !== 2) throw bad('fixed takes one value');
    return validateEpsPolicy({ kind: 'fixed', eps: num(parts[1], 'EPS') });
  }
  if (kind === 'linear' || kind === 'rank') {
    if (parts.length < 2 || parts.length > 3) throw bad(`${kind} takes MIN,MAX and an optional direction`);
    const range = parts[1]!.split(',');
    if (range.length !== 2) throw bad(`${kind} needs MIN,MAX`);
    const direction = parts[2] ?? 'up';
    if (direction !== 'up' && direction !== 'down') throw bad(`the direction must be up or down, not "${direction}"`);
    return validateEpsPolicy({ kind, epsMin: num(range[0], 'MIN'), epsMax: num(range[1], 'MAX'), direction });
  }
  throw bad(`unknown kind "${kind}"`);
}

/** The spec string parseEpsPolicy reads back (for logs and help texts). */
export function formatEpsPolicy(m: EpsPolicy): string {
  switch (m.kind) {
    case 'fixed':
      return `fixed:${m.eps}`;
    default:
      return `${m.kind}:${m.epsMin},${m.epsMax}:${m.direction}`;
  }
}
