// ICMP errors about DSR flows. A router that cannot pass a backend's response
// (Fragmentation Needed, Packet Too Big) or a client that refuses it sends the
// error to the response's source: the VIP, that is the balancer. The error
// quotes the response (VIP:port -> client:port), so the balancer looks the flow
// up with the quoted addresses and ports, through the same flow table and
// Maglev table its packets took, and hands the error to that backend.
//
// nft 1.0.6 has no inner-header expressions; the quoted header is read with raw
// payload expressions from the ICMP header (8 bytes) on. Only quoted headers
// without options or extension headers (IPv4 IHL 5, IPv6 next header TCP/UDP)
// and first fragments are steered; others go on as before (to the stack for an
// L2 VIP, dropped for an L3 VIP by the guard below).

import { flowKeys, forwardL2, keepMark, maglevMark, markFrom, pinnedMark, type FlowFields, type FlowSettings } from './flows.ts';
import { MARK_NEW_FLOW, SERVICE_MASK } from './marks.ts';
import {
  ACCEPT,
  addressInteger,
  concat,
  DROP,
  goto,
  gotoElement,
  hexValue,
  int,
  MARK,
  match,
  type Expr,
  type Statement,
} from './syntax.ts';
import { addElement, type NftChain, type NftSet } from './tables.ts';

const th = (offset: number, bits: number): Expr => ({ kind: 'raw', offset, bits });
/** The quoted response, oriented as the flow's client packets (see FlowFields). */
const QUOTED_FIELDS: Record<4 | 6, FlowFields & { proto: Expr }> = {
  4: { vip: th(160, 32), client: th(192, 32), vport: th(224, 16), cport: th(240, 16), proto: th(136, 8) },
  6: { vip: th(128, 128), client: th(256, 128), vport: th(384, 16), cport: th(400, 16), proto: th(112, 8) },
};
const PROTOCOL_NUMBERS = { tcp: 6, udp: 17 } as const;
const icmpDispatch = (family: 4 | 6, ifname: string) => `icmp_dispatch${family}_${ifname}`;

/** A service's entries for steering ICMP errors: (VIP, protocol, port) -> service, service -> its class's ICMP chain. */
export function addIcmpElements(
  elements: Map<string, Map<string, string | null>>,
  a: { svc: string; vip: string; family: 4 | 6; protocol: 'tcp' | 'udp'; portKey: string; ifname: string; m: number; flows: FlowSettings },
) {
  addElement(elements, icmpDispatch(a.family, a.ifname), concat(addressInteger(a.vip), PROTOCOL_NUMBERS[a.protocol], a.portKey), a.svc);
  addElement(elements, 'icmp_classes', a.svc, gotoElement(icmpClassChain(a.ifname, a.flows, a.m)[0]));
}

/** Flow table first (the backend the flow is pinned to), else the Maglev slot of the quoted client address and port. */
export function icmpClassChain(ifname: string, f: FlowSettings, m: number): [string, NftChain] {
  const keys = flowKeys(QUOTED_FIELDS[f.family]);
  const out = `icmp_out_${ifname}`;
  return [
    // The flow table is the class's (by protocol and size), named in f.name.
    `i_${ifname}_${f.name}_m${m}`,
    {
      rules: [
        [...pinnedMark(keys.pin, f.map), goto(out)],
        [keepMark(SERVICE_MASK)],
        [maglevMark(keys.hash, m), keepMark(~MARK_NEW_FLOW), goto(out)],
        [DROP],
      ],
    },
  ];
}

/** Quoted headers of the errors steered, by the ICMP message that carries them. */
const ERRORS: Record<4 | 6, { types: string[]; quoted: Statement[] }> = {
  // Quoted IPv4 header without options (0x45), first fragment (offset 0).
  4: {
    types: ['destination-unreachable', 'source-quench', 'time-exceeded', 'parameter-problem'],
    quoted: [match(th(64, 8), hexValue(0x45, 2)), match(th(115, 13), int(0))],
  },
  // Quoted IPv6 header (version 6); its next header is checked by the dispatch map's protocol.
  6: {
    types: ['destination-unreachable', 'packet-too-big', 'time-exceeded', 'parameter-problem'],
    quoted: [match(th(64, 4), int(6))],
  },
};

/** Per ingress interface: the rules that catch ICMP errors, the dispatch maps of quoted packets, the output chain. */
export function icmpInterface(
  ifname: string,
  mac: string,
): { rules: Statement[][]; sets: [string, NftSet][]; chains: [string, NftChain][] } {
  const families = [4, 6] as const;
  const quotedKey = (family: 4 | 6): Expr => {
    const q = QUOTED_FIELDS[family];
    return { kind: 'concat', parts: [q.vip, q.proto, q.vport] };
  };
  return {
    rules: families.map((family) => {
      const e = ERRORS[family];
      return [
        match({ kind: 'icmp-type', family }, { kind: 'anon', names: e.types }),
        ...e.quoted,
        markFrom(quotedKey(family), icmpDispatch(family, ifname)),
        { kind: 'vmap', of: MARK, map: 'icmp_classes' },
      ];
    }),
    sets: families.map((family) => [
      icmpDispatch(family, ifname),
      { key: { typeof: quotedKey(family) }, value: { typeof: MARK }, interval: true },
    ]),
    chains: [
      [
        `icmp_out_${ifname}`,
        {
          rules: [
            // L3 backends: into the tunnel; L2 backends: out of the interface it came in on.
            [markFrom(MARK, 'tunnels'), ACCEPT],
            forwardL2(ifname, mac),
            [DROP],
          ],
        },
      ],
    ],
  };
}
