// Maglev consistent hashing (Eisenbud et al., NSDI 2016), with weights, plus a
// failover overlay so that health and drain changes move only the flows of the
// backend whose state changed.
import { byString, fnv1a32, mix32 } from './hash.ts';

export interface MaglevBackend {
  /** Stable identity, e.g. the canonical address; only it decides the backend's permutation. */
  key: string;
  weight: number;
}

const PRIMES = [101, 211, 401, 809, 1601, 3203, 6421, 12809, 25601, 51203, 102407, 204803, 409609, 819229];

/**
 * Table size for n backends: the first prime of a fixed ladder that is at least
 * 100 × n. A ladder rather than the nearest prime, so that adding or removing a
 * backend usually keeps M, and with it every flow's slot.
 */
export function maglevTableSize(n: number): number {
  const need = Math.max(1, n) * 100;
  const m = PRIMES.find((p) => p >= need);
  if (m === undefined) throw new Error(`too many backends for one Maglev table: ${n}`);
  return m;
}

/**
 * Fills a lookup table of size m (a prime) with backend indexes. Each backend
 * claims slots in the order of its own permutation; a backend of weight w takes
 * w turns per round, so entries are proportional to weights (and within one of
 * each other when weights are equal).
 */
export function maglevPopulate(input: readonly MaglevBackend[], m: number): Int32Array {
  const table = new Int32Array(m).fill(-1);
  const n = input.length;
  if (n === 0) return table;
  // Turns are taken in key order, so the table does not depend on how the list was ordered.
  const order = input.map((_, i) => i).sort(byString((i) => input[i]!.key));
  const backends = order.map((i) => input[i]!);
  const offset = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const next = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const key = backends[i]!.key;
    offset[i] = fnv1a32(key, 0x811c9dc5) % m;
    skip[i] = (fnv1a32(key, 0x5bd1e995) % (m - 1)) + 1;
  }
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      const turns = backends[i]!.weight;
      for (let t = 0; t < turns; t++) {
        // Walk this backend's permutation to its next free slot.
        let c = (offset[i]! + next[i]! * skip[i]!) % m;
        while (table[c]! >= 0) {
          next[i]!++;
          c = (offset[i]! + next[i]! * skip[i]!) % m;
        }
        table[c] = order[i]!;
        next[i]!++;
        if (++filled === m) return table;
      }
    }
  }
}

/**
 * The table traffic uses: slots of usable backends stay as populated; each slot
 * of an unusable backend (down, draining, disabled) goes to a usable one picked
 * by a weighted probe sequence that depends only on the slot, so the result is
 * the same on every balancer and a state change moves only that backend's slots.
 * Slots are -1 when no backend is usable.
 */
export function maglevOverlay(populated: Int32Array, backends: readonly MaglevBackend[], usable: readonly boolean[]): Int32Array {
  const out = Int32Array.from(populated);
  const usableWeight = backends.reduce((s, b, i) => s + (usable[i] ? b.weight : 0), 0);
  if (usableWeight === 0) return out.fill(-1);
  const cumulative: number[] = [];
  let total = 0;
  for (const b of backends) cumulative.push((total += b.weight));
  const usableIndexes: number[] = [];
  const usableCumulative: number[] = [];
  let acc = 0;
  backends.forEach((b, i) => {
    if (!usable[i]) return;
    usableIndexes.push(i);
    usableCumulative.push((acc += b.weight));
  });
  for (let slot = 0; slot < out.length; slot++) {
    const owner = out[slot]!;
    if (owner >= 0 && usable[owner]) continue;
    // Probe all backends in a slot-specific pseudo-random weighted order until a
    // usable one; when most are unusable, pick among the usable ones directly.
    let chosen = -1;
    for (let k = 0; k < MAX_PROBES && chosen < 0; k++) {
      const i = weightedPick(cumulative, mix32((slot * 0x9e3779b1) ^ mix32(k + 1)) % total);
      if (usable[i]) chosen = i;
    }
    if (chosen < 0) chosen = usableIndexes[weightedPick(usableCumulative, mix32(slot ^ 0x5f356495) % usableWeight)]!;
    out[slot] = chosen;
  }
  return out;
}

const MAX_PROBES = 24;

/** Index of the first cumulative weight above r. */
function weightedPick(cumulative: readonly number[], r: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! > r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
