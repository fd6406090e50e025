/**
 * Seeded pseudo-random numbers: every random choice in the toolkit (weights, folds, augmentation,
 * dropout seeds) comes from one of these so that a config and a seed reproduce a run exactly.
 * sfc32 (Chris Doty-Humphrey's Small Fast Counter), seeded through splitmix32.
 */
export interface Prng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** The four 32-bit words of state, for checkpoints. */
  state(): [number, number, number, number];
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** prng(42).next() → 0.xx, the same on every machine. Pass `state` to resume a saved stream. */
export function prng(seed: number, state?: readonly number[]): Prng {
  const sm = splitmix32(seed);
  let [a, b, c, d] = state ? [state[0]!, state[1]!, state[2]!, state[3]!] : [sm(), sm(), sm(), sm()];
  const nextU32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  if (!state) for (let i = 0; i < 12; i++) nextU32(); // mix away the seed's structure
  return {
    next: () => nextU32() / 4294967296,
    state: () => [a >>> 0, b >>> 0, c >>> 0, d >>> 0],
  };
}

/** Fisher-Yates, in place (the one shuffle of folds, epochs and study v2's shuffled ε₁). */
export function shuffleInPlace<T>(items: T[], r: Prng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(r.next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Standard normal sample (Box-Muller). */
export function normal(r: Prng): number {
  const u = 1 - r.next(); // (0, 1]: log stays finite
  const v = r.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A seed for a named sub-stream, so that adding a consumer does not shift the others. */
export function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return splitmix32(h >>> 0)();
}
