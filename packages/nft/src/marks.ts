// The packet mark while Tula handles a packet:  [new:1][service:15][backend:16].
// That is scratch space inside the netdev ingress hook; a packet handed on to
// the host's stack (L3 tunnel, NAT) carries only a value in the mark range
// (`balancer.markMask`), see MarkRange.
import { DEFAULT_MARK_MASK } from '@tula/protocol';

export const MAX_BACKEND_ID = 0xffff;
export const MAX_SERVICE_ID = 0x7fff;
/** Set on marks chosen by the Maglev table rather than the flow table: a new flow. */
export const MARK_NEW_FLOW = 0x8000_0000;
export const SERVICE_MASK = 0x7fff_0000;
/** The backend part of a mark: zero in a service mark, so a mark with it set came from a pin. */
export const BACKEND_MASK = 0x0000_ffff;
/** Routing table of a backend host's tunnel route: base + its stack id. */
export const TUNNEL_TABLE_BASE = 0x5455_0000;
/** Never allocated (it once kept service marks apart from tunnel marks); still reserved so existing service ids stay. */
/** Never allocated (it once kept service marks apart from tunnel marks); still reserved so existing service ids stay. */
export const RESERVED_SERVICE_ID = TUNNEL_TABLE_BASE >>> 16;

/**
 * The bits of the packet mark Tula writes on packets it hands to the host's
 * stack. The highest bit of the range marks tunnelled packets (so the
 * encapsulated copy and notrack can tell them apart); the other bits number
 * the value: a backend host for L3, a NAT target for NAT.
 */
export interface MarkRange {
  mask: number;
  /** The highest bit of the mask. */
  tunnel: number;
  /** Largest id the other bits can hold. */
  maxId: number;
}

export function markRange(mask: number = DEFAULT_MARK_MASK): MarkRange {
  const m = mask >>> 0;
  const tunnel = 2 ** Math.floor(Math.log2(m));
  let bits = 0;
  for (let v = (m & ~tunnel) >>> 0; v; v &= v - 1) bits++;
  return { mask: m, tunnel, maxId: 2 ** bits - 1 };
}

/** The id's bits spread over the range's value bits, low to high (a bit deposit). */
export function markValue(range: MarkRange, id: number, tunnel: boolean): number {
  let out = tunnel ? range.tunnel : 0;
  let rest = id;
  for (let bit = 1; rest && bit < range.tunnel; bit *= 2) {
    if (!(range.mask & bit)) continue;
    if (rest & 1) out += bit;
    rest = Math.floor(rest / 2);
  }
  return out >>> 0;
}
