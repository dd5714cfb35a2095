// A service's Maglev lookup table as every balancer builds it, and what a change
// to the backends does to it: which share of the hash space changes owner. Pure,
// so the panel's preview computes the figure from the same tables the
// balancers load.
import { byString } from './hash.ts';
import { maglevOverlay, maglevPopulate, maglevTableSize, type MaglevBackend } from './maglev.ts';

export interface LookupBackend extends MaglevBackend {
  /** Takes new flows (not down, draining, disabled or unresolved). */
  usable: boolean;
}

export interface LookupTable {
  /** Backend keys in table order (sorted); `table` holds indexes into it, -1 for no backend. */
  keys: string[];
  table: Int32Array;
}

/**
 * Maglev over every configured backend (whatever its state) in key order, with
 * the unusable ones overlaid, so a state change moves only that backend's slots.
 */
export function serviceLookupTable(backends: readonly LookupBackend[]): LookupTable {
  const sorted = [...backends].sort(byString((b) => b.key));
  const weights = sorted.map((b) => ({ key: b.key, weight: b.weight }));
  const table = maglevOverlay(
    maglevPopulate(weights, maglevTableSize(sorted.length)),
    weights,
    sorted.map((b) => b.usable),
  );
  return { keys: sorted.map((b) => b.key), table };
}

export interface LookupChange {
  sizeBefore: number;
  sizeAfter: number;
  /**
   * Lookup entries compared: the table size when it stays; when it changes, the
   * M1 × M2 pairs (hash mod M1, hash mod M2), each of which a uniform hash hits
   * equally often (Chinese remainder theorem, M1 and M2 distinct primes).
   */
  entries: number;
  /** Entries that had a backend and now lead to another one or to none. */
  changed: number;
  /** Of those, entries of backends that take no new flows after the change (removed, drained, disabled). */
  fromLeaving: number;
  /** Of those, entries of backends that still take new flows. */
  fromStaying: number;
  /** Entries that lead to no backend after the change. */
  toNone: number;
  /**
   * Entries whose established flows move: those of leaving backends. Flows of
   * staying backends keep their backend through the flow table (docs/dataplane.md);
   * only their new flows follow the changed entries.
   */
  establishedMoving: number;
}

export function lookupChange(before: LookupTable, after: LookupTable): LookupChange {
  const m1 = before.table.length;
  const m2 = after.table.length;
  const ownerAfter = (i: number) => (i < 0 ? null : after.keys[i]!);
  const stays = new Set<string>();
  for (const i of after.table) if (i >= 0) stays.add(after.keys[i]!);
  let changed = 0;
  let fromLeaving = 0;
  let toNone = 0;
  let entries: number;
  if (m1 === m2) {
    entries = m1;
    for (let s = 0; s < m1; s++) {
      const i = before.table[s]!;
      if (i < 0) continue;
      const was = before.keys[i]!;
      const now = ownerAfter(after.table[s]!);
      if (now === was) continue;
      changed++;
      if (now === null) toNone++;
      if (!stays.has(was)) fromLeaving++;
    }
  } else {
    entries = m1 * m2;
    const countsAfter = new Map<string | null, number>();
    for (const i of after.table) countsAfter.set(ownerAfter(i), (countsAfter.get(ownerAfter(i)) ?? 0) + 1);
    const noneAfter = countsAfter.get(null) ?? 0;
    for (const i of before.table) {
      if (i < 0) continue;
      const was = before.keys[i]!;
      // This slot pairs with every slot of the new table once; it keeps its backend where that is the same.
      const moved = m2 - (countsAfter.get(was) ?? 0);
      changed += moved;
      toNone += noneAfter;
      if (!stays.has(was)) fromLeaving += moved;
    }
  }
  return {
    sizeBefore: m1,
    sizeAfter: m2,
    entries,
    changed,
    fromLeaving,
    fromStaying: changed - fromLeaving,
    toNone,
    establishedMoving: fromLeaving,
  };
}
