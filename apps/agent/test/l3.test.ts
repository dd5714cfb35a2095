// L3 DSR end to end: the router sends VIP traffic to the balancer, which tunnels
// it to the backends; they answer the client directly through the router.
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, type Lab } from '@tula/netlab';
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
        ...(tunnel === 'ipip' ? [] : [{ name: 'web6', vip: LAB.l3Vip.v6, port: 80, protocol: 'tcp' as const, mode: 'l3' as const, tunnel, backends }]),
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
        { vip: LAB.l3Vip.v4, mode: 'l3', tunnel, balancers: lab.balancers.map((b) => b.v4), mss: 1400 },
        ...(tunnel === 'ipip' ? [] : [{ vip: LAB.l3Vip.v6, mode: 'l3' as const, tunnel, balancers: lab.balancers.map((b) => b.v4), mss: 1380 }]),
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

  it('clamps the TCP MSS of SYN-ACKs leaving a backend from the VIP', async () => {
    const ruleset = (await lab.exec(lab.backends[0]!.ns, ['nft', 'list', 'table', 'inet', 'tula'])).stdout;
    expect(ruleset).toMatch(/ip saddr 10\.97\.0\.100 .*maxseg size set 1400/);
  });
});

for (const tunnel of ['ipip', 'gre'] as const) {
  describe.skipIf(unavailable)(`L3 DSR over ${tunnel}`, () => {
    it('forwards TCP through the tunnel, or skips with the kernel\'s reason', async (ctx) => {
      const lab = await createLab({ prefix: `t${tunnel.slice(0, 2)}` });
      try {
        const probe = await lab.exec(lab.client.ns, ['ip', 'link', 'add', 'probe0', 'type', tunnel, 'external'], { allowFailure: true });
        ctx.skip(probe.code !== 0, `this kernel cannot create ${tunnel} devices: ${probe.stderr.trim()}`);
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
