// How a service's VIP reaches a balancer when the balancer announces nothing
// (no BGP, no VRRP): the truth the panel states instead of "not announced".
//   - L2/NAT VIP with one balancer: the agent puts the VIP on the ingress
//     interface, so that balancer answers ARP/NDP for it and owns it. Correct as is.
//   - L2/NAT VIP shared by several balancers: each would answer ARP for it, and
//     neighbours flip between them; VRRP makes one owner at a time.
//   - L3 VIP: nothing on the link answers for it; the router needs a route to the
//     VIP via the balancer (BGP from the node page, or a static route).

export type VipReach = 'arp' | 'arp-shared' | 'route-needed';

export function vipReach(mode: string, balancers: number): VipReach {
  if (mode === 'l3') return 'route-needed';
  return balancers > 1 ? 'arp-shared' : 'arp';
}

/** For the node page: how many of the node's VIPs reach it each way. */
export function vipReachCounts(services: { mode: string; balancers: number }[]): Record<VipReach, number> {
  const counts: Record<VipReach, number> = { arp: 0, 'arp-shared': 0, 'route-needed': 0 };
  for (const s of services) counts[vipReach(s.mode, s.balancers)] += 1;
  return counts;
}
