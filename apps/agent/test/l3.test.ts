// L3 DSR end to end: the router sends VIP traffic to the balancer, which tunnels
// it to the backends; they answer the client directly through the router.
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, type Lab } from '@tula/netlab';
import { VXLAN } from '@tula/nft';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentHost, backendsSeen, curlFromClient, kernelTestsUnavailable, udpFlows } from './support.ts';

const unavailable = await kernelTestsUnavailable();

function balancerDoc(lab: Lab, version: number, tunnel: 'vxlan' | 'ipip' | 'gre'): DesiredStateInput {
  const backends = lab.backends.map((b) => ({ address: b.v4 }));
  return {
    apiVersion: 'tula/v1',
    version,
    balancer: {
      services: [
        { name: 'web', vip: LAB.l3Vip.v4, port: 80, protocol: 'tcp', mode: 'l3', tunnel, backends },
        { name: 'dns', vip: LAB.l3Vip.v4, port: 5353, protocol: 'udp', mode: 'l3', tunnel, backends },
        ...(tunnel === 'ipip'
          ? []
          : [{ name: 'web6', vip: LAB.l3Vip.v6, port: 80, protocol: 'tcp' as const, mode: 'l3' as const, tunnel, backends }]),
      ],
    },
  };
}

function backendDoc(lab: Lab, version: number, tunnel: 'vxlan' | 'ipip' | 'gre'): DesiredStateInput {
  return {
    apiVersion: 'tula/v1',
    version,
    backend: {
      vips: [
        // No `mss`: the default for the tunnel type applies.
        { vip: LAB.l3Vip.v4, mode: 'l3', tunnel, balancers: lab.balancers.map((b) => b.v4) },
        ...(tunnel === 'ipip' ? [] : [{ vip: LAB.l3Vip.v6, mode: 'l3' as const, tunnel, balancers: lab.balancers.map((b) => b.v4) }]),
      ],
    },
  };
}

describe.skipIf(unavailable)(`L3 DSR over VXLAN${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  let lb: AgentHost;

  beforeAll(async () => {
    lab = await createLab({ prefix: 'tl3' });
    lb = new AgentHost(lab, lab.balancers[0]!);
    for (const b of lab.backends) await new AgentHost(lab, b).apply(backendDoc(lab, 1, 'vxlan'));
    await lb.apply(balancerDoc(lab, 1, 'vxlan'));
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  const curl = (url: string, extra: string[] = []) => curlFromClient(lab, url, extra);

  it('serves TCP from every backend through the tunnel', async () => {
    expect(await backendsSeen(lab, `http://${LAB.l3Vip.v4}/`)).toEqual(['b1', 'b2', 'b3']);
  });

  it('serves UDP from every backend', async () => {
    const answers = Object.values(await udpFlows(lab, LAB.l3Vip.v4, '22000-22099'));
    expect(answers.filter((a) => a === null)).toHaveLength(0);
    expect(new Set(answers)).toEqual(new Set(['b1', 'b2', 'b3']));
  });

  it('carries an IPv6 VIP over the IPv4 tunnel', async () => {
    expect(await backendsSeen(lab, `http://[${LAB.l3Vip.v6}]/`)).toEqual(['b1', 'b2', 'b3']);
  });

  it('keeps the balancer off the return path of a large download', async () => {
    const before = await lab.linkStats(lb.host.ns);
    const size = 20 * 1024 * 1024;
    const out = await curl(`http://${LAB.l3Vip.v4}/bytes/${size}`, ['-o', '/dev/null', '-w', '%{size_download}']);
    expect(Number(out)).toBe(size);
    const after = await lab.linkStats(lb.host.ns);
    const handled = after.rxBytes - before.rxBytes + (after.txBytes - before.txBytes);
    expect(handled / size).toBeLessThan(0.05);
  });

  it('forwards even when the VIP is also a local address of the balancer', async () => {
    await lab.exec(lb.host.ns, ['ip', 'addr', 'add', `${LAB.l3Vip.v4}/32`, 'dev', 'lo']);
    try {
      await lb.apply(balancerDoc(lab, 2, 'vxlan'));
      expect(await backendsSeen(lab, `http://${LAB.l3Vip.v4}/`)).toEqual(['b1', 'b2', 'b3']);
    } finally {
      await lab.exec(lb.host.ns, ['ip', 'addr', 'del', `${LAB.l3Vip.v4}/32`, 'dev', 'lo']);
    }
    // With the local copy gone, the local routing rule returns to its place.
    await lb.apply(balancerDoc(lab, 3, 'vxlan'));
    const rules = (await lab.exec(lb.host.ns, ['ip', 'rule'])).stdout;
    expect(rules).toMatch(/^0:\s+from all lookup local/m);
  });

  // The balancer can put at most 1,450 bytes into VXLAN over a 1,500-byte link.
  // A larger IPv4 segment is sent as two outer fragments; a larger IPv6 one gets
  // a "packet too big" back, lost here (a router that drops ICMP, as many do).
  // Segments the clamped MSS keeps small need neither.
  const fragmentsCreated = async () => {
    const snmp = (await lab.exec(lb.host.ns, ['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Ip: '));
    const [names, values] = snmp.map((l) => l.split(/\s+/));
    return Number(values![names!.indexOf('FragCreates')]);
  };
  for (const [family, vip] of [
    ['IPv4', LAB.l3Vip.v4],
    ['IPv6', `[${LAB.l3Vip.v6}]`],
  ] as const) {
    it(`takes a 2 MB ${family} upload through the tunnel unfragmented with the default MSS, the path dropping ICMP`, async () => {
      const router = lab.router.ns;
      const blackhole =
        'table inet dpi_blackhole { chain transit { type filter hook forward priority 0; ip saddr 10.99.0.2 icmp type destination-unreachable drop; ip6 saddr fd00:99::2 icmpv6 type packet-too-big drop; }; }';
      await lab.exec(router, ['nft', '-f', '-'], { input: blackhole });
      try {
        const size = 2 * 1024 * 1024;
        const fragmentsBefore = await fragmentsCreated();
        const r = await lab.exec(
          lab.client.ns,
          [
            'sh',
            '-c',
            `head -c ${size} /dev/zero | curl -sS --max-time 10 --data-binary @- -H 'content-type: application/octet-stream' http://${vip}/upload`,
          ],
          { allowFailure: true },
        );
        expect(`${r.stdout.trim()}${r.stderr.trim()}`).toBe(String(size));
        expect(await fragmentsCreated()).toBe(fragmentsBefore);
      } finally {
        await lab.exec(router, ['nft', 'delete', 'table', 'inet', 'dpi_blackhole']);
      }
    });
  }

  it('tracks no tunnelled packet in either direction, even under a host firewall that uses ct state', async () => {
    const ns = lb.host.ns;
    const firewall =
      'table inet dpi_hostfw { chain out { type filter hook output priority 0; ct state established,related accept; }; chain in { type filter hook input priority 0; ct state established,related accept; }; }';
    await lab.exec(ns, ['nft', '-f', '-'], { input: firewall });
    try {
      await lab.exec(ns, ['conntrack', '-F'], { allowFailure: true });
      const answers = Object.values(await udpFlows(lab, LAB.l3Vip.v4, '24000-24999'));
      expect(answers.filter((a) => a === null)).toHaveLength(0);
      const count = Number((await lab.exec(ns, ['sysctl', '-n', 'net.netfilter.nf_conntrack_count'])).stdout.trim());
      // 1,000 flows in, 1,000 encapsulated out: none of them is tracked (the
      // few left are the test's own management traffic, if any).
      expect(count).toBeLessThan(20);
    } finally {
      await lab.exec(ns, ['nft', 'delete', 'table', 'inet', 'dpi_hostfw']);
    }
  });

  it('keeps router advertisements accepted on the interfaces once it forwards IPv6', async () => {
    const read = async (key: string) => (await lab.exec(lb.host.ns, ['sysctl', '-n', key])).stdout.trim();
    expect(await read('net.ipv6.conf.all.forwarding')).toBe('1');
    expect(await read('net.ipv6.conf.e0.accept_ra')).toBe('2');
    expect(await read('net.ipv6.conf.default.accept_ra')).toBe('2');
  });

  it('drops VXLAN packets from a host that is not one of the listed balancers', async () => {
    const b1 = lab.backends[0]!;
    const c = lab.client.ns;
    // The client sends its own VXLAN straight to b1, addressed as a balancer would.
    await lab.exec(c, [
      'ip',
      'link',
      'add',
      'spoof0',
      'address',
      VXLAN.senderMac,
      'type',
      'vxlan',
      'external',
      'dstport',
      String(VXLAN.port),
    ]);
    try {
      await lab.exec(c, ['ip', 'link', 'set', 'spoof0', 'up']);
      await lab.exec(c, [
        'ip',
        'route',
        'add',
        `${LAB.l3Vip.v4}/32`,
        'encap',
        'ip',
        'id',
        String(VXLAN.vni),
        'dst',
        b1.v4,
        'dev',
        'spoof0',
      ]);
      await lab.exec(c, ['ip', 'neigh', 'replace', LAB.l3Vip.v4, 'lladdr', VXLAN.receiverMac, 'dev', 'spoof0', 'nud', 'permanent']);
      const before = await lab.linkStats(b1.ns, 'tula-vxlan');
      const answers = Object.values(await udpFlows(lab, LAB.l3Vip.v4, '23000-23019'));
      const after = await lab.linkStats(b1.ns, 'tula-vxlan');
      expect(answers.filter((a) => a !== null)).toEqual([]);
      expect(after.rxPackets - before.rxPackets).toBe(0);
    } finally {
      await lab.exec(c, ['ip', 'link', 'del', 'spoof0']);
    }
    // The same flows through the listed balancer arrive, and are answered.
    const before = await lab.linkStats(b1.ns, 'tula-vxlan');
    expect(Object.values(await udpFlows(lab, LAB.l3Vip.v4, '23000-23019')).filter((a) => a === null)).toEqual([]);
    expect((await lab.linkStats(b1.ns, 'tula-vxlan')).rxPackets).toBeGreaterThan(before.rxPackets);
  });
});

for (const tunnel of ['ipip', 'gre'] as const) {
  describe.skipIf(unavailable)(`L3 DSR over ${tunnel}`, () => {
    it("forwards TCP through the tunnel, or skips with the kernel's reason", async (ctx) => {
      const lab = await createLab({ prefix: `t${tunnel.slice(0, 2)}` });
      try {
        const probe = await lab.exec(lab.client.ns, ['ip', 'link', 'add', 'probe0', 'type', tunnel, 'external'], { allowFailure: true });
        ctx.skip(
          probe.code !== 0,
          `${tunnel} does not run end to end on this kernel, which cannot create ${tunnel} devices (${probe.stderr.trim()}); VXLAN is the path proven above`,
        );
        const lb = new AgentHost(lab, lab.balancers[0]!);
        for (const b of lab.backends) await new AgentHost(lab, b).apply(backendDoc(lab, 1, tunnel));
        await lb.apply(balancerDoc(lab, 1, tunnel));
        expect(await backendsSeen(lab, `http://${LAB.l3Vip.v4}/`)).toEqual(['b1', 'b2', 'b3']);
      } finally {
        await lab.destroy();
      }
    });
  });
}

describe.skipIf(unavailable)('two balancers behind ECMP', () => {
  it('send every flow to the same backend, before and after a reload', async () => {
    const lab = await createLab({ prefix: 'tec', balancers: 2 });
    try {
      for (const b of lab.backends) await new AgentHost(lab, b).apply(backendDoc(lab, 1, 'vxlan'));
      const lbs = lab.balancers.map((h) => new AgentHost(lab, h));
      for (const lb of lbs) await lb.apply(balancerDoc(lab, 1, 'vxlan'));
      const flows = (sports: string) => udpFlows(lab, LAB.l3Vip.v4, sports);
      await lab.routeL3Vips([lab.balancers[0]!]);
      const viaFirst = await flows('40000-40999');
      expect(Object.values(viaFirst).filter((v) => v === null)).toHaveLength(0);
      await lab.routeL3Vips([lab.balancers[1]!]);
      expect(await flows('40000-40999')).toEqual(viaFirst);

      // Both at once, the router hashing on ports too: each flow may reach either balancer.
      await lab.exec(lab.router.ns, ['sysctl', '-qw', 'net.ipv4.fib_multipath_hash_policy=1']);
      await lab.routeL3Vips(lab.balancers);
      const before = await Promise.all(lab.balancers.map((b) => lab.linkStats(b.ns)));
      expect(await flows('40000-40999')).toEqual(viaFirst);
      const after = await Promise.all(lab.balancers.map((b) => lab.linkStats(b.ns)));
      for (let i = 0; i < 2; i++) expect(after[i]!.rxPackets - before[i]!.rxPackets).toBeGreaterThan(100);

      // A reload from nothing (flow tables gone) hashes every flow the same way.
      await lbs[0]!.agent(['reset']);
      await lbs[0]!.apply(balancerDoc(lab, 2, 'vxlan'));
      await lab.routeL3Vips([lab.balancers[0]!]);
      expect(await flows('40000-40999')).toEqual(viaFirst);
    } finally {
      await lab.destroy();
    }
  });
});
