// Tunnels between balancers and backend hosts: devices, the overhead that
// sets the default MSS, and which senders a backend decapsulates from.
import { canonicalIp, ipFamily, type TunnelType } from '@tula/protocol';
import { DROP, int, ipAddress, L4PROTO, match, name, payload, setRef, type Statement } from './syntax.ts';
import { addElement, fragmentOf, type NftTable } from './tables.ts';

export const VXLAN = {
  port: 4789,
  vni: 4242,
  /** Inner source MAC of frames balancers send into VXLAN (see the vxlan_out chain). */
  senderMac: '02:54:55:4c:41:01',
  /** MAC of every host's tula-vxlan device; balancers address inner frames to it. */
  receiverMac: '02:54:55:4c:41:02',
} as const;
export const TUNNEL_DEVICES: Record<TunnelType, string> = { ipip: 'tula-ipip', gre: 'tula-gre', vxlan: 'tula-vxlan' };

/** Bytes a tunnel adds in front of the inner IP packet (IPv4 underlay). */
export const TUNNEL_OVERHEAD: Record<TunnelType, number> = {
  // Outer IPv4 header only.
  ipip: 20,
  // Outer IPv4 + the 4-byte GRE header (Tula's routes set no key, checksum or sequence).
  gre: 24,
  // Outer IPv4 + UDP + VXLAN header + the inner Ethernet header.
  vxlan: 50,
};
/** The underlay MTU the default MSS assumes (Ethernet). */
export const UNDERLAY_MTU = 1500;

/**
 * The MSS a backend announces for a tunnelled VIP when the document sets none:
 * the largest segment a client can send that still fits the underlay once the
 * balancer has encapsulated it (inner IP and TCP headers without options).
 */
export function tunnelMss(tunnel: TunnelType, family: 4 | 6): number {
  return UNDERLAY_MTU - TUNNEL_OVERHEAD[tunnel] - (family === 4 ? 20 : 40) - 20;
}

/**
 * A backend decapsulates what arrives for Tula's tunnel devices only from the
 * balancers its document lists: anyone else could otherwise inject packets
 * that look as if they came from any client. The devices are external
 * (collect-metadata), so they would take every such packet the host receives.
 */
export function tunnelPeers(inet: NftTable, vips: { mode: string; balancers: string[] }[], tunnels: TunnelType[], warnings: string[]) {
  const elements = new Map<string, Map<string, string | null>>();
  for (const v of vips) {
    if (v.mode !== 'l3') continue;
    for (const b of v.balancers) addElement(elements, `tunnel_peers${ipFamily(b)}`, canonicalIp(b), null);
  }
  if (elements.size === 0) warnings.push('no balancers are listed for the tunnelled VIPs: every encapsulated packet is dropped');
  inet.fragments.set('tunnel peers', fragmentOf(elements));
  inet.sets.set('tunnel_peers4', { key: { type: ['ipv4_addr'] } });
  inet.sets.set('tunnel_peers6', { key: { type: ['ipv6_addr'] } });
  const encapsulated: Record<TunnelType, Statement[]> = {
    // Tula's port and VNI (at bit 96 of the UDP payload: after the UDP header and the VXLAN flags).
    vxlan: [match(payload('udp', 'dport'), int(VXLAN.port)), match({ kind: 'raw', offset: 96, bits: 24 }, int(VXLAN.vni))],
    ipip: [match(L4PROTO, name('ipip'))],
    gre: [match(L4PROTO, name('gre'))],
  };
  const fromStranger = (family: 4 | 6, t: TunnelType): Statement[] => [
    { kind: 'family', family },
    ...encapsulated[t],
    match(ipAddress(family, 'saddr'), setRef(`tunnel_peers${family}`), '!='),
    DROP,
  ];
  inet.chains.set('tunnel_in', {
    hook: { type: 'filter', hook: 'prerouting', priority: 'raw' },
    rules: tunnels.flatMap((t) => [
      fromStranger(4, t),
      // An external VXLAN device listens on IPv6 too; ipip and gre ones take IPv4 only.
      ...(t === 'vxlan' ? [fromStranger(6, t)] : []),
    ]),
  });
}
