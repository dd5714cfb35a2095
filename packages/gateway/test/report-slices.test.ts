// How a report's deltas are cut over the seconds it covers (pure, no database).
import { describe, expect, it } from 'vitest';
import { share, slicesOf } from '../src/counters.ts';

const T = 1_700_000_000_000;

describe('report slices', () => {
  it('puts a report without an interval, or with an empty one, in the second of its end', () => {
    expect(slicesOf(undefined, T + 999)).toEqual([{ at: T, weight: 1 }]);
    expect(slicesOf(T + 999, T + 999)).toEqual([{ at: T, weight: 1 }]);
  });

  it('weights each second by its part of the interval', () => {
    const s = slicesOf(T + 800, T + 1800);
    expect(s.map((x) => x.at)).toEqual([T, T + 1000]);
    expect(s[0]!.weight).toBeCloseTo(0.2);
    expect(s[1]!.weight).toBeCloseTo(0.8);
  });

  it('cuts a long interval into at most 120 slices of whole seconds, and reaches back at most an hour', () => {
    const day = slicesOf(T - 86_400_000, T);
    expect(day.length).toBeLessThanOrEqual(120);
    expect(day[0]!.at).toBe(T - 3_600_000);
    expect(day.every((x) => x.at % 1000 === 0)).toBe(true);
    expect(day.reduce((a, x) => a + x.weight, 0)).toBeCloseTo(1);
  });

  it('shares whole counts that add up exactly', () => {
    const slices = slicesOf(T + 5, T + 35_005);
    for (const value of [0, 1, 7, 140, 35_000, 9_007_199_254]) {
      const parts = share(value, slices);
      expect(parts.reduce((a, b) => a + b, 0)).toBe(value);
      expect(parts.every((p) => Number.isInteger(p) && p >= 0)).toBe(true);
    }
    expect(Math.max(...share(140, slices))).toBe(4);
  });

  it('gives the units left over to the largest remainders, the later slice on a tie', () => {
    const thirds = [0, 1, 2].map((i) => ({ at: T + i * 1000, weight: 1 / 3 }));
    expect(share(2, thirds)).toEqual([0, 1, 1]);
    expect(
      share(5, [
        { at: T, weight: 0.1 },
        { at: T + 1000, weight: 0.5 },
        { at: T + 2000, weight: 0.4 },
      ]),
    ).toEqual([0, 3, 2]);
  });
});
