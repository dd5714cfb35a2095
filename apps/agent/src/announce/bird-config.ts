// bird2's configuration for a balancer: one BGP session per peer, exporting
// only the VIP host routes held by two static protocols (one per family). The
// routes are blackholes inside bird only: there is no kernel protocol, so bird
// never touches the balancer's routing table. Withdrawing a VIP is removing its
// route and reconfiguring, which leaves the sessions up (bird reconfigures a
// static protocol in place). Pure: every value was validated by the
// desired-state schema (addresses, ASNs, a password without quotes), so none
// can break out of its statement.
import { ipFamily, type BgpAnnouncement } from '@tula/protocol';

export interface BirdInput {
  bgp: BgpAnnouncement;
  /** Canonical VIPs to announce now. */
  vips: string[];
}

export function renderBirdConfig({ bgp, vips }: BirdInput): string {
  const lines: string[] = ['# Written by tula-agent: edits are overwritten.', `router id ${bgp.routerId};`, '', 'protocol device {', '}'];
  if (bgp.peers.some((p) => p.bfd)) {
    const bfd = bgp.bfd ?? { intervalMs: 100, multiplier: 3 };
    lines.push(
      '',
      'protocol bfd tula_bfd {',
      '  interface "*" {',
      `    min rx interval ${bfd.intervalMs} ms;`,
      `    min tx interval ${bfd.intervalMs} ms;`,
      `    multiplier ${bfd.multiplier};`,
      '  };',
      '}',
    );
  }
  for (const family of [4, 6] as const) {
    lines.push('', `protocol static tula_vips${family} {`, `  ipv${family};`);
    for (const vip of vips.filter((v) => ipFamily(v) === family)) lines.push(`  route ${vip}/${family === 4 ? 32 : 128} blackhole;`);
    lines.push('}');
  }
  bgp.peers.forEach((peer, i) => {
    const family = ipFamily(peer.address);
    lines.push(
      '',
      `protocol bgp tula_peer${i + 1} {`,
      `  local as ${bgp.localAsn};`,
      `  neighbor ${peer.address} as ${peer.asn};`,
      `  hold time ${peer.holdTimeS};`,
      // Come back quickly after a peer restarts or a link returns (bird waits 120 s / 60 s by default).
      '  connect retry time 5;',
      '  error wait time 1, 30;',
      ...(peer.bfd ? ['  bfd on;'] : []),
      ...(peer.password ? [`  password "${peer.password}";`] : []),
      // A session carries the VIPs of its own address family.
      `  ipv${family} {`,
      '    import none;',
      `    export where proto = "tula_vips${family}";`,
      '  };',
      '}',
    );
  });
  return `${lines.join('\n')}\n`;
}
