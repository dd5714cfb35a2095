import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maglevOverlay, maglevPopulate, maglevTableSize } from './maglev.ts';

const backends = (n: number, weight = 1) => Array.from({ length: n }, (_, i) => ({ key: `10.0.${i >> 8}.${i & 255}`, weight }));
const counts = (t: Int32Array, n: number) => {
  const c = new Array<number>(n).fill(0);
  for (const v of t) c[v]!++;
  return c;
};
const isPrime = (m: number) => {
  for (let d = 2; d * d <= m; d++) if (m % d === 0) return false;
  return m > 1;
};

describe('maglevTableSize', () => {
  it('is a prime at least 100 × N', () => {
    for (const n of [1, 2, 3, 16, 100, 1000, 8000]) {
      const m = maglevTableSize(n);
      expect(isPrime(m)).toBe(true);
      expect(m).toBeGreaterThanOrEqual(100 * n);
    }
  });
});

describe('maglevPopulate', () => {
  it('fills every slot and gives equal-weight backends entries within 1 of each other', () => {
    for (const [n, m] of [
      [3, 401],
      [16, 1601],
      [1000, 65537],
    ] as const) {
      const t = maglevPopulate(backends(n), m);
      expect(t.every((v) => v >= 0 && v < n)).toBe(true);
      const c = counts(t, n);
      expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
    }
  });

  it('honours weights by the number of entries', () => {
    const bs = [
      { key: 'a', weight: 1 },
      { key: 'b', weight: 2 },
      { key: 'c', weight: 5 },
    ];
    const c = counts(maglevPopulate(bs, 1601), 3);
    expect(c[1]! / c[0]!).toBeCloseTo(2, 1);
    expect(c[2]! / c[0]!).toBeCloseTo(5, 1);
  });

  it('is deterministic and independent of input order', () => {
    const bs = backends(10);
    const a = maglevPopulate(bs, 1601);
    const reversed = maglevPopulate([...bs].reverse(), 1601);
    // The same slot goes to the same key however the list was ordered.
    for (let s = 0; s < a.length; s++) {
      expect(bs[a[s]!]!.key).toBe([...bs].reverse()[reversed[s]!]!.key);
    }
  });

  it('moves about 1/N of slots when a backend is added', () => {
    const before = maglevPopulate(backends(9), 1601);
    const after = maglevPopulate(backends(10), 1601);
    let moved = 0;
    for (let s = 0; s < before.length; s++) if (before[s] !== after[s]) moved++;
    expect(moved / before.length).toBeLessThan(1 / 10 + 0.05);
  });
});

describe('maglevOverlay', () => {
  it('moves only the slots of a backend that becomes unusable, and restores them exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 40 }), fc.nat(), (n, pick) => {
        const bs = backends(n);
        const m = maglevTableSize(n);
        const base = maglevPopulate(bs, m);
        const all = bs.map(() => true);
        const down = all.map((_, i) => i !== pick % n);
        const healthy = maglevOverlay(base, bs, all);
        const degraded = maglevOverlay(base, bs, down);
        for (let s = 0; s < m; s++) {
          if (healthy[s] !== pick % n) expect(degraded[s]).toBe(healthy[s]);
          else expect(degraded[s]).not.toBe(pick % n);
        }
        expect(maglevOverlay(base, bs, all)).toEqual(healthy);
      }),
      { numRuns: 50 },
    );
  });

  it("spreads a failed backend's slots over the others and empties the table when none is usable", () => {
    const bs = backends(4);
    const base = maglevPopulate(bs, 401);
    const c = counts(maglevOverlay(base, bs, [true, true, true, false]), 4);
    expect(c[3]).toBe(0);
    for (const v of c.slice(0, 3)) expect(v).toBeGreaterThan(401 / 3 - 25);
    expect(maglevOverlay(base, bs, [false, false, false, false]).every((v) => v === -1)).toBe(true);
  });
});
