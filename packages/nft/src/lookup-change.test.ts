import { describe, expect, it } from 'vitest';
import { lookupChange, serviceLookupTable, type LookupBackend } from './lookup-change.ts';
import { maglevPopulate, maglevTableSize } from './maglev.ts';

const equal = (keys: string[], usable: (k: string) => boolean = () => true): LookupBackend[] =>
  keys.map((key) => ({ key, weight: 1, usable: usable(key) }));
const four = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];

describe('lookupChange', () => {
  it("removing one of four equal backends: its quarter of the table moves, and the counts are the tables' own", () => {
    for (const removed of four) {
      const rest = four.filter((k) => k !== removed);
      const c = lookupChange(serviceLookupTable(equal(four)), serviceLookupTable(equal(rest)));
      // Straight from the two populated tables (same size, 401: both within 100 x N of the ladder's step).
      const m = maglevTableSize(4);
      expect(maglevTableSize(3)).toBe(m);
      const before = maglevPopulate(
        four.map((key) => ({ key, weight: 1 })),
        m,
      );
      const after = maglevPopulate(
        rest.map((key) => ({ key, weight: 1 })),
        m,
      );
      let ofRemoved = 0;
      let ofSurvivors = 0;
      let slotsOfRemoved = 0;
      for (let s = 0; s < m; s++) {
        const was = four[before[s]!]!;
        if (was === removed) slotsOfRemoved++;
        if (was === rest[after[s]!]) continue;
        if (was === removed) ofRemoved++;
        else ofSurvivors++;
      }
      expect(c).toEqual({
        sizeBefore: m,
        sizeAfter: m,
        entries: m,
        changed: ofRemoved + ofSurvivors,
        fromLeaving: ofRemoved,
        fromStaying: ofSurvivors,
        toNone: 0,
        establishedMoving: ofRemoved,
      });
      // All of the removed backend's entries move, and they are a quarter of the table (100 or 101 of 401).
      expect(ofRemoved).toBe(slotsOfRemoved);
      expect(Math.abs(slotsOfRemoved - m / 4)).toBeLessThan(1);
      // Maglev repopulates: a few survivor entries change owner too (new flows only; established ones stay pinned).
      expect(ofSurvivors).toBeLessThan(m / 50);
    }
  });

  it("disabling one of four moves exactly that backend's entries and none of the others", () => {
    const c = lookupChange(serviceLookupTable(equal(four)), serviceLookupTable(equal(four, (k) => k !== '10.0.0.2')));
    expect(c).toMatchObject({ entries: 401, changed: 100, fromLeaving: 100, fromStaying: 0, toNone: 0 });
  });

  it('a weight change moves entries of staying backends only, none established', () => {
    const c = lookupChange(
      serviceLookupTable(equal(four)),
      serviceLookupTable(four.map((key) => ({ key, weight: key === '10.0.0.1' ? 2 : 1, usable: true }))),
    );
    expect(c.fromLeaving).toBe(0);
    expect(c.establishedMoving).toBe(0);
    // 10.0.0.1 goes from 1/4 to 2/5 of the table: at least the difference changes hands.
    expect(c.changed).toBeGreaterThanOrEqual(Math.floor(401 * (2 / 5 - 1 / 4)));
  });

  it('when the table size changes, counts over the pairs of slots exactly as hashing every residue would', () => {
    const before = serviceLookupTable(equal(['10.0.0.1']));
    const after = serviceLookupTable(equal(['10.0.0.1', '10.0.0.2']));
    const m1 = before.table.length;
    const m2 = after.table.length;
    expect([m1, m2]).toEqual([101, 211]);
    let changed = 0;
    for (let h = 0; h < m1 * m2; h++) if (before.keys[before.table[h % m1]!] !== after.keys[after.table[h % m2]!]) changed++;
    expect(lookupChange(before, after)).toMatchObject({ entries: m1 * m2, changed, fromLeaving: 0, fromStaying: changed, toNone: 0 });
  });

  it('every entry leads nowhere when the last backend goes, and nothing moves from an empty table', () => {
    expect(lookupChange(serviceLookupTable(equal(['a'])), serviceLookupTable(equal(['a'], () => false)))).toMatchObject({
      entries: 101,
      changed: 101,
      toNone: 101,
      fromLeaving: 101,
    });
    expect(lookupChange(serviceLookupTable([]), serviceLookupTable(equal(['a'])))).toMatchObject({ changed: 0 });
  });
});
