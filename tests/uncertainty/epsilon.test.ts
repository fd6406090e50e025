import { describe, expect, it } from 'vitest';
import {
  type EpsPolicy,
  epsLookup,
  formatEpsPolicy,
  mapDifficulties,
  parseEpsPolicy,
  unmeasuredEps,
  validateEpsPolicy,
} from '../../src/uncertainty/epsilon.js';

const M = (entries: [number, number][]) => new Map(entries);
const lin = (direction: 'up' | 'down'): EpsPolicy => ({ kind: 'linear', epsMin: 0, epsMax: 2, direction });
const rank = (direction: 'up' | 'down'): EpsPolicy => ({ kind: 'rank', epsMin: -0.25, epsMax: 1, direction });

describe('mapDifficulties', () => {
  const d = M([
    [0, 1],
    [1, 3],
    [2, 2],
    [3, 5],
  ]);

  it('linear: min-max normalised difficulty, both directions', () => {
    expect([...mapDifficulties(lin('up'), d).values()]).toEqual([0, 1, 0.5, 2]);
    expect([...mapDifficulties(lin('down'), d).values()]).toEqual([2, 1, 1.5, 0]);
  });

  it('rank: normalised ranks, ties share their average rank', () => {
    const ties = M([
      [10, 1],
      [11, 2],
      [12, 2],
      [13, 4],
    ]); // ranks 1, 2.5, 2.5, 4 → t 0, ½, ½, 1
    const up = mapDifficulties({ kind: 'rank', epsMin: 0, epsMax: 2, direction: 'up' }, ties);
    expect([...up.entries()]).toEqual([
      [10, 0],
      [11, 1],
      [12, 1],
      [13, 2],
    ]);
    const down = mapDifficulties({ kind: 'rank', epsMin: 0, epsMax: 2, direction: 'down' }, ties);
    expect([...down.values()]).toEqual([2, 1, 1, 0]);
    // Rank ignores spacing: 1, 3, 2, 5 → ranks 1, 3, 2, 4 → t 0, ⅔, ⅓, 1.
    const r = mapDifficulties({ kind: 'rank', epsMin: 0, epsMax: 3, direction: 'up' }, d);
    expect([...r.values()].map((v) => +v.toFixed(12))).toEqual([0, 2, 1, 3]);
  });

  it('monotone and bounded for every kind and direction', () => {
    // 50 images, a tie group (every 7th image) in the middle of the range.
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const diff = M(Array.from({ length: 50 }, (_, i) => [i, i % 7 === 0 ? 0.005 : rand() * 0.01] as [number, number]));
    for (const m of [lin('up'), lin('down'), rank('up'), rank('down')]) {
      const eps = mapDifficulties(m, diff);
      const lo = m.kind === 'fixed' ? 0 : m.epsMin;
      const hi = m.kind === 'fixed' ? 0 : m.epsMax;
      const sign = m.kind !== 'fixed' && m.direction === 'up' ? 1 : -1;
      const pairs = [...diff.entries()].sort((a, b) => a[1] - b[1]).map(([i]) => eps.get(i)!);
      for (const e of pairs) {
        expect(e).toBeGreaterThanOrEqual(lo);
        expect(e).toBeLessThanOrEqual(hi);
      }
      for (let k = 1; k < pairs.length; k++) expect(sign * (pairs[k]! - pairs[k - 1]!)).toBeGreaterThanOrEqual(0);
      expect(Math.min(...pairs)).toBe(lo); // the range is used in full
      expect(Math.max(...pairs)).toBe(hi);
    }
  });

  it('equal difficulties (or a single image) give everyone the midpoint', () => {
    for (const m of [lin('up'), lin('down'), rank('up'), rank('down')]) {
      const mid = unmeasuredEps(m);
      expect([
        ...mapDifficulties(
          m,
          M([
            [0, 0.3],
            [1, 0.3],
            [2, 0.3],
          ]),
        ).values(),
      ]).toEqual([mid, mid, mid]);
      expect([...mapDifficulties(m, M([[5, 0.1]])).values()]).toEqual([mid]);
    }
    expect(unmeasuredEps(lin('up'))).toBe(1);
    expect(unmeasuredEps(rank('down'))).toBe(0.375);
  });

  it('fixed ignores difficulty', () => {
    expect([...mapDifficulties({ kind: 'fixed', eps: 0.5 }, d).values()]).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  it('rejects non-finite difficulties', () => {
    expect(() =>
      mapDifficulties(
        lin('up'),
        M([
          [0, 1],
          [4, Number.NaN],
        ]),
      ),
    ).toThrow(/image 4 is NaN/);
  });
});

describe('epsLookup', () => {
  it('unmeasured images get the documented default', () => {
    const d = M([
      [0, 1],
      [1, 2],
    ]);
    expect(epsLookup(lin('up'), d)(0)).toBe(0);
    expect(epsLookup(lin('up'), d)(1)).toBe(2);
    expect(epsLookup(lin('up'), d)(99)).toBe(1); // midpoint
    expect(epsLookup(lin('up'), new Map())(0)).toBe(1); // before the first MC phase
    expect(epsLookup({ kind: 'fixed', eps: 0.3 }, new Map())(3)).toBe(0.3);
    expect(epsLookup({ kind: 'fixed', eps: 0 }, d)(3)).toBe(0);
  });
});

describe('validateEpsPolicy', () => {
  it('names the offending option', () => {
    const ranged =
      (kind: 'linear' | 'rank', epsMin: number, epsMax: number, direction: 'up' | 'down' = 'up') =>
      () =>
        validateEpsPolicy({ kind, epsMin, epsMax, direction });
    expect(ranged('linear', -0.5, 1)).toThrow(/--eps-min must be greater than -0.5/);
    expect(ranged('rank', 0, -0.6)).toThrow(/--eps-max must be greater than -0.5/);
    expect(ranged('linear', 1, 0.5, 'down')).toThrow(/--eps-min \(1\) must not exceed --eps-max \(0.5\)/);
    expect(ranged('linear', 0, Infinity)).toThrow(/--eps-max must be a finite number/);
    expect(() => validateEpsPolicy({ kind: 'fixed', eps: -0.7 })).toThrow(/--eps must be greater than -0.5/);
    expect(ranged('linear', 0.5, 0.5)()).toMatchObject({ kind: 'linear' }); // equal bounds are fine
  });
});

describe('parseEpsPolicy', () => {
  it('reads the documented forms', () => {
    expect(parseEpsPolicy('linear:0,2:up')).toEqual({ kind: 'linear', epsMin: 0, epsMax: 2, direction: 'up' });
    expect(parseEpsPolicy('rank:-0.25,1:down')).toEqual({ kind: 'rank', epsMin: -0.25, epsMax: 1, direction: 'down' });
    expect(parseEpsPolicy('linear:0,1')).toEqual({ kind: 'linear', epsMin: 0, epsMax: 1, direction: 'up' });
    expect(parseEpsPolicy('fixed:0.5')).toEqual({ kind: 'fixed', eps: 0.5 });
    expect(parseEpsPolicy(' off ')).toEqual({ kind: 'fixed', eps: 0 }); // what earlier versions read as off
  });

  it('round-trips through formatEpsPolicy', () => {
    for (const s of ['fixed:0.5', 'linear:0,2:up', 'rank:-0.25,1:down']) {
      expect(formatEpsPolicy(parseEpsPolicy(s))).toBe(s);
    }
  });

  it('rejects malformed specs, naming the flag', () => {
    for (const bad of [
      '',
      'linear',
      'linear:0',
      'linear:0,1:sideways',
      'linear:a,1',
      'fixed',
      'fixed:x',
      'off:1',
      'cubic:0,1',
      'rank:0,1:up:x',
    ]) {
      expect(() => parseEpsPolicy(bad, 'eps-map')).toThrow(/--eps-map/);
    }
    expect(() => parseEpsPolicy('linear:2,1')).toThrow(/--eps-min \(2\) must not exceed --eps-max/);
    expect(() => parseEpsPolicy('rank:-0.5,1')).toThrow(/--eps-min must be greater than -0.5/);
  });
});
