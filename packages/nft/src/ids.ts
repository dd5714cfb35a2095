// Stable numbers for backends, services and backend hosts: an id never changes
// while its owner exists, and a removed backend's id stays out of use while
// pins naming it may live.
import { FLOW_DEFAULTS } from '@tula/protocol';
import { ModelError } from './checks.ts';
import { fnv1a32 } from './hash.ts';

/**
 * How long a backend id stays unused after its backend left (seconds): pins
 * name backends by id, and a pin of the old backend lives at most its flow
 * timeout after its last packet, so a new backend given the id within that
 * time would inherit them. The floor covers services removed at the same time.
 */
export const MIN_ID_QUARANTINE_S = Math.max(...Object.values(FLOW_DEFAULTS.timeoutS));

/** Backend address -> the id it had and until when (epoch seconds) no other backend may take it. */
export type RetiredIds = Record<string, { id: number; until: number }>;

/**
 * Stable ids: kept from the previous model, new ones from a hash of the key,
 * probing past collisions and reserved values.
 */
export function allocateIds(
  keys: Iterable<string>,
  max: number,
  previous: Record<string, number> = {},
  reserved: number[] = [],
): Record<string, number> {
  const ids: Record<string, number> = {};
  const taken = new Set<number>(reserved);
  const missing = new Set<string>();
  for (const k of keys) {
    if (ids[k] !== undefined) continue;
    const id = previous[k];
    if (id !== undefined && id >= 1 && id <= max && !taken.has(id)) {
      ids[k] = id;
      taken.add(id);
    } else missing.add(k);
  }
  // New keys in a fixed order, so the same input always gives the same ids.
  for (const k of [...missing].sort()) {
    if (ids[k] !== undefined) continue;
    if (taken.size >= max) throw new ModelError(`more than ${max - reserved.length} distinct ids needed`);
    let id = (fnv1a32(k) % max) + 1;
    while (taken.has(id)) id = (id % max) + 1;
    ids[k] = id;
    taken.add(id);
  }
  return ids;
}
