// L3 VIPs are routed to the balancer but are not its addresses: a packet for
// one that no service steers (a ping, another port, a later fragment, an ICMP
// error about no known flow) would be routed back towards the router, which
// sends it here again until its TTL runs out. Pings are answered (redirected to
// the balancer itself; conntrack puts the VIP back as the reply's source), the
// rest is dropped before routing. A VIP that is also a local address of the
// balancer is left to the local stack.
import { ipFamily } from '@tula/protocol';
import type { MarkRange } from './marks.ts';
import { ACCEPT, DROP, int, ipAddress, MARK, masked, match, name, setRef, type Statement } from './syntax.ts';
import { addElement, fragmentOf, type NftChain, type NftTable } from './tables.ts';

export function l3VipGuard(inet: NftTable, vips: string[], range: MarkRange) {
  const elements = new Map<string, Map<string, string | null>>();
  for (const v of vips) addElement(elements, `l3_vips${ipFamily(v)}`, v, null);
  inet.fragments.set('l3 vips', fragmentOf(elements));
  inet.sets.set('l3_vips4', { key: { type: ['ipv4_addr'] } });
  inet.sets.set('l3_vips6', { key: { type: ['ipv6_addr'] } });
  const toVip = (family: 4 | 6) => match(ipAddress(family, 'daddr'), setRef(`l3_vips${family}`));
  const ping = (family: 4 | 6): Statement[] => [toVip(family), match({ kind: 'icmp-type', family }, name('echo-request'))];
  inet.chains.set('l3_vip_guard', {
    hook: { type: 'filter', hook: 'prerouting', priority: 'raw' },
    rules: [
      [tunnelled(range), ACCEPT],
      [...ping(4), ACCEPT],
      [...ping(6), ACCEPT],
      [toVip(4), match({ kind: 'fib-daddr-type' }, name('local'), '!='), DROP],
      [toVip(6), match({ kind: 'fib-daddr-type' }, name('local'), '!='), DROP],
    ],
  });
  inet.chains.set('l3_vip_echo', {
    hook: { type: 'nat', hook: 'prerouting', priority: 'dstnat' },
    rules: [
      [...ping(4), { kind: 'redirect' }],
      [...ping(6), { kind: 'redirect' }],
    ],
  });
}

/** A packet Tula steers into a tunnel: the top bit of the mark range is set. */
const tunnelled = (range: MarkRange): Statement => match(masked(MARK, range.tunnel, true), int(0), '!=');

/**
 * Tunnelled packets are not tracked, in either direction: the balancer sees one
 * direction of each flow only, and the encapsulated packets it sends (which keep
 * the mark) would fill the conntrack table of a host whose firewall tracks.
 */
export function notrackChains(range: MarkRange): [string, NftChain][] {
  const rule: Statement[] = [tunnelled(range), { kind: 'notrack' }];
  return [
    ['l3_notrack', { hook: { type: 'filter', hook: 'prerouting', priority: 'raw' }, rules: [rule] }],
    ['l3_notrack_out', { hook: { type: 'filter', hook: 'output', priority: 'raw' }, rules: [rule] }],
  ];
}
