// Flow pinning: the flow tables, the key a flow is known by, and the chains of
// one class of services (pin, Maglev, send).
import { type BalancerService, FLOW_DEFAULTS } from '@tula/protocol';
import { checkMac } from './checks.ts';
import { BACKEND_MASK, MARK_NEW_FLOW, SERVICE_MASK } from './marks.ts';
import {
  ACCEPT,
  assign,
  DROP,
  goto,
  int,
  ipAddress,
  MARK,
  masked,
  match,
  name,
  payload,
  setRef,
  type Expr,
  type Statement,
} from './syntax.ts';
import type { NftChain, NftSet } from './tables.ts';

/** One seed for every Maglev hash: the same on every balancer and across reloads. */
export const HASH_SEED = 0x7475_6c61;
const FLOW_SEEDS = [0x5eed_0001, 0x5eed_0002] as const;

/** How a class of services pins flows: which table, and for how long. */
export interface FlowSettings {
  family: 4 | 6;
  protocol: 'tcp' | 'udp';
  size: number;
  /** Idle timeout of an established flow. */
  timeout: number;
  /** TCP: timeouts of a flow that has sent only a SYN, and of one that sent a FIN or RST. */
  syn: number;
  close: number;
  /** The flow table. The protocol and size are in its name rather than its key:
   * nft 1.0.6 cannot compile a dynamic update with a five-part key, and the class
   * chain knows its protocol anyway. */
  map: string;
  /** Names the settings in chain names. */
  name: string;
}

export function flowSettings(s: BalancerService, family: 4 | 6): FlowSettings {
  const timeout = s.flowTimeoutS ?? FLOW_DEFAULTS.timeoutS[s.protocol];
  const size = s.flowTableSize ?? FLOW_DEFAULTS.tableSize;
  const syn = s.synTimeoutS ?? FLOW_DEFAULTS.synTimeoutS;
  const close = s.closeTimeoutS ?? FLOW_DEFAULTS.closeTimeoutS;
  return {
    family,
    protocol: s.protocol,
    size,
    timeout,
    syn,
    close,
    map: `flows${family}_${s.protocol}_${size}`,
    name: `${s.protocol}${family}_t${timeout}${s.protocol === 'tcp' ? `_s${syn}_c${close}` : ''}_n${size}`,
  };
}

export function flowTableSet(f: FlowSettings): NftSet {
  // Keyed by two 32-bit hashes: see flowKeys.
  const hash: Expr = { kind: 'numgen', mod: 2 };
  // No default timeout: services with other timeouts share the table, and every update names its own.
  return { key: { typeof: { kind: 'concat', parts: [hash, hash] } }, value: { typeof: MARK }, size: f.size, dynamic: true };
}

/**
 * Where a flow's addresses and ports are read, oriented as the client's packets
 * travel (client -> VIP): from the packet itself, or from the response an ICMP
 * error quotes (see icmpChains).
 */
export interface FlowFields {
  client: Expr;
  cport: Expr;
  vip: Expr;
  vport: Expr;
}

export const PACKET_FIELDS: Record<4 | 6, FlowFields> = {
  4: { client: ipAddress(4, 'saddr'), cport: payload('th', 'sport'), vip: ipAddress(4, 'daddr'), vport: payload('th', 'dport') },
  6: { client: ipAddress(6, 'saddr'), cport: payload('th', 'sport'), vip: ipAddress(6, 'daddr'), vport: payload('th', 'dport') },
};

/** The key that identifies a flow in the flow tables, and the key Maglev hashes. */
export function flowKeys(f: FlowFields): { pin: Expr; hash: Expr } {
  // Flows are keyed by two independent 32-bit hashes of the tuple (64 bits,
  // collisions negligible), for two reasons: nft 1.0.6 cannot compile a dynamic
  // update keyed by IPv6 addresses and ports (it aborts in register allocation),
  // and a hash is the only key an ICMP error's quoted packet (raw payload, which
  // nft types as plain integers) can look up: the bytes hashed are the same.
  const tuple: Expr = { kind: 'concat', parts: [f.vip, f.vport, f.client, f.cport] };
  return {
    pin: { kind: 'concat', parts: FLOW_SEEDS.map((seed) => ({ kind: 'jhash', of: tuple, mod: 0xffffffff, seed })) },
    hash: { kind: 'concat', parts: [f.client, f.cport] },
  };
}

const flagsOf = (names: string[]): Expr => ({ kind: 'and', of: payload('tcp', 'flags'), mask: { kind: 'flags', names }, symbol: true });
/** A TCP packet whose flags, of those in `mask`, are exactly `set` (a SYN: of SYN and ACK, SYN alone). */
export const tcpFlags = (mask: string[], set: string[]): Statement => match(flagsOf(mask), { kind: 'flags', names: set }, '==');
/** A TCP packet with any of these flags. */
const anyTcpFlag = (names: string[]): Statement => match(flagsOf(names), int(0), '!=');

/** The packet's mark, looked up in a map, becomes its mark. */
export const markFrom = (key: Expr, map: string): Statement => assign(MARK, { kind: 'lookup', of: key, map });

/** A pin of this flow to a backend that still takes traffic: its mark. */
export const pinnedMark = (pin: Expr, map: string): Statement[] => [markFrom(pin, map), match(MARK, setRef('takes_traffic'))];

/** The Maglev slot of the flow's hash, within the service the mark names: its backend's mark (new-flow bit set). */
export const maglevMark = (hash: Expr, m: number): Statement =>
  markFrom({ kind: 'concat', parts: [MARK, { kind: 'jhash', of: hash, mod: m, seed: HASH_SEED }] }, 'lut');

/** The mark, less the bits outside `mask`. */
export const keepMark = (mask: number): Statement => assign(MARK, masked(MARK, mask));

/** The chains of one class of services, and the shared chains it jumps to. */
export function classChains(
  name: string,
  out: string,
  f: FlowSettings,
  m: number,
  l2: { ifname: string; mac: string } | undefined,
): [string, NftChain][] {
  const keys = flowKeys(PACKET_FIELDS[f.family]);
  const syn: Statement[] = f.protocol === 'tcp' ? [tcpFlags(['syn', 'ack'], ['syn'])] : [];
  const outChain = `o_${out}_${f.name}`;
  const newChain = `n_${out}_${f.name}`;
  const sendChain = `s_${out}`;
  const pin = (timeout: number): Statement[] => [
    { kind: 'update', set: f.map, key: keys.pin, timeoutS: timeout, value: MARK },
    goto(sendChain),
  ];
  const counted = (set: string) => match(MARK, setRef(set));
  return [
    [
      name,
      {
        rules: [
          [counted('svc_packets')],
          // Established flows keep their backend while it takes traffic ...
          [...pinnedMark(keys.pin, f.map), goto(outChain)],
          // ... a pin to a backend that takes none (down, disabled, removed) is
          // forgotten here, by the packet, so the flow is pinned afresh below: no
          // second transaction lists and releases pins after a change.
          [match(masked(MARK, BACKEND_MASK, true), int(0), '!='), { kind: 'delete', set: f.map, key: keys.pin, value: MARK }],
          [keepMark(SERVICE_MASK)],
          [...syn, counted('svc_new')],
          // ... new ones take the Maglev slot of their hash ...
          [maglevMark(keys.hash, m), goto(newChain)],
          // ... and with no usable backend, the traffic is dropped where it shows.
          [counted('svc_drops'), DROP],
        ],
      },
    ],
    [newChain, { rules: [[...syn, counted('backend_new')], [keepMark(~MARK_NEW_FLOW)], [goto(outChain)]] }],
    [
      outChain,
      {
        rules: [
          // TCP: a flow that has sent only a SYN (perhaps spoofed) is pinned
          // briefly, one that is closing briefly again, an established one for the
          // service's idle timeout. An existing entry is refreshed even when the
          // table is full, so established flows keep their backend under a flood.
          ...(f.protocol === 'tcp'
            ? [
                [anyTcpFlag(['fin', 'rst']), ...pin(f.close)],
                [tcpFlags(['syn', 'ack'], ['syn']), ...pin(f.syn)],
              ]
            : []),
          pin(f.timeout),
          // Only a new flow the full table could not take gets here: it is counted,
          // and still forwarded by its Maglev slot.
          [match(masked(MARK, SERVICE_MASK, true), setRef('svc_flows_full'))],
          [goto(sendChain)],
        ],
      },
    ],
    [
      sendChain,
      {
        rules: [
          [counted('backend_packets')],
          l2
            ? forwardL2(l2.ifname, l2.mac)
            : out === 'nat'
              ? // On to the stack with the target's value in the mark: the inet table's nat_in chain translates.
                [markFrom(MARK, 'nat_values'), ACCEPT]
              : [markFrom(MARK, 'tunnels'), ACCEPT],
          [DROP],
        ],
      },
    ],
  ];
}

/** L2: both MACs rewritten (source: the balancer's own), out of the interface the packet came in on. */
export function forwardL2(ifname: string, mac: string): Statement[] {
  return [
    assign(payload('ether', 'saddr'), name(checkMac(mac))),
    assign(payload('ether', 'daddr'), { kind: 'lookup', of: MARK, map: 'macs' }),
    { kind: 'fwd', device: ifname },
  ];
}
