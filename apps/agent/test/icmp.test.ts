// What reaches a VIP besides the traffic of its services: ICMP errors about DSR
// responses (path MTU discovery), pings, and packets for ports no service has.
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, type Lab } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentHost, curlFromClient, kernelTestsUnavailable } from './support.ts';

const unavailable = await kernelTestsUnavailable();
const NARROW_MTU = 1400;

function balancerDoc(lab: Lab, version: number): DesiredStateInput {
  const v4 = lab.backends.map((b) => ({ address: b.v4 }));
  const v6 = lab.backends.map((b) => ({ address: b.v6 }));
  return {
    apiVersion: 'tula/v1',
    version,
    balancer: {
      services: [
        { name: 'l2', vip: LAB.l2Vip.v4, port: 80, protocol: 'tcp', mode: 'l2', backends: v4 },
        { name: 'l2v6', vip: LAB.l2Vip.v6, port: 80, protocol: 'tcp', mode: 'l2', backends: v6 },
        { name: 'l3', vip: LAB.l3Vip.v4, port: 80, protocol: 'tcp', mode: 'l3', tunnel: 'vxlan', backends: v4 },
        { name: 'l3v6', vip: LAB.l3Vip.v6, port: 80, protocol: 'tcp', mode: 'l3', tunnel: 'vxlan', backends: v4 },
      ],
    },
  };
}

function backendDoc(lab: Lab, version: number): DesiredStateInput {
  const balancers = lab.balancers.map((b) => b.v4);
  return {
    apiVersion: 'tula/v1',
    version,
    backend: {
      vips: [
        { vip: LAB.l2Vip.v4, mode: 'l2' },
        { vip: LAB.l2Vip.v6, mode: 'l2' },
        { vip: LAB.l3Vip.v4, mode: 'l3', tunnel: 'vxlan', balancers },
        { vip: LAB.l3Vip.v6, mode: 'l3', tunnel: 'vxlan', balancers },
      ],
    },
  };
}

describe.skipIf(unavailable)(`ICMP to VIPs${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  let lb: AgentHost;

  beforeAll(async () => {
    lab = await createLab({ prefix: 'dic', narrowLink: NARROW_MTU });
    lb = new AgentHost(lab, lab.balancers[0]!);
    for (const b of lab.backends) await new AgentHost(lab, b).apply(backendDoc(lab, 1));
    await lb.apply(balancerDoc(lab, 1));
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  // The backends answer from a 1,500-byte link, the client advertises a 1,460-byte
  // MSS, and the router in between can pass only 1,400: every full segment needs
  // the router's "fragmentation needed" / "packet too big" to reach its backend.
  const size = 4 * 1024 * 1024;
  for (const [label, host] of [
    ['L2 IPv4', LAB.l2Vip.v4],
    ['L2 IPv6', `[${LAB.l2Vip.v6}]`],
    ['L3 IPv4 (vxlan)', LAB.l3Vip.v4],
    ['L3 IPv6 (vxlan)', `[${LAB.l3Vip.v6}]`],
  ] as const) {
    it(`completes a 4 MB download through ${label} across a ${NARROW_MTU}-byte link (path MTU discovery)`, async () => {
      const got = await curlFromClient(lab, `http://${host}/bytes/${size}`, [
        '-o',
        '/dev/null',
        '-w',
        '%{size_download}',
        '--max-time',
        '15',
      ]).catch((e: Error) => `failed: ${e.message.split('\n')[0]}`);
      expect(got).toBe(String(size));
    });
  }

  it('steers an error to the backend the flow is pinned to, not to the one Maglev now picks', async () => {
    // A slow download starts while the path is wide; its backend then drains
    // (Maglev gives its slots to others, the pinned flow stays), and only then
    // does the path narrow: the router's errors must follow the flow table.
    const narrow = (mtu: number) =>
      Promise.all([
        lab.exec(`${lab.prefix}-wan`, ['ip', 'link', 'set', 'n0', 'mtu', String(mtu)]),
        lab.exec(lab.router.ns, ['ip', 'link', 'set', 'e1', 'mtu', String(mtu)]),
      ]);
    await narrow(1500);
    // A small receive buffer keeps most of the download on the wire, not in the client's socket.
    const rmem = (await lab.exec(lab.client.ns, ['sysctl', '-n', 'net.ipv4.tcp_rmem'])).stdout.trim();
    await lab.exec(lab.client.ns, ['sysctl', '-qw', 'net.ipv4.tcp_rmem=4096 65536 131072']);
    // Forget the path MTU the backends learnt in the tests above.
    for (const b of lab.backends) await lab.exec(b.ns, ['ip', 'route', 'flush', 'cache']);
    const download = lab.spawn(lab.client.ns, [
      'curl',
      '-sS',
      '--max-time',
      '30',
      '--limit-rate',
      '1M',
      '-D',
      '-',
      '-o',
      '/dev/null',
      '-w',
      '%{size_download}\n',
      `http://${LAB.l2Vip.v4}/bytes/${size}`,
    ]);
    let out = '';
    download.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    download.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((resolve) => download.once('exit', () => resolve()));
    try {
      for (let i = 0; i < 50 && !/x-backend: (\S+)/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      const serving = /x-backend: (\S+)/.exec(out)?.[1];
      expect(serving, out).toBeDefined();
      const doc = balancerDoc(lab, 2);
      for (const s of doc.balancer!.services) {
        if (s.name !== 'l2') continue;
        s.backends = s.backends!.map((b) =>
          b.address === lab.backends.find((h) => h.name === serving)!.v4 ? { ...b, state: 'draining' as const } : b,
        );
      }
      await lb.apply(doc);
      await narrow(NARROW_MTU);
      await done;
      expect(out.trim().split('\n').at(-1)).toBe(String(size));
    } finally {
      download.kill();
      await lab.exec(lab.client.ns, ['sysctl', '-qw', `net.ipv4.tcp_rmem=${rmem}`]);
      await narrow(NARROW_MTU);
      await lb.apply(balancerDoc(lab, 3));
    }
  });

  // Without a rule for it, a packet to an L3 VIP is routed by the balancer back to
  // the router, which routes it to the balancer again, until its TTL runs out.
  const routerPackets = async () => (await lab.linkStats(lab.router.ns)).rxPackets;
  for (const [family, vip] of [
    ['IPv4', LAB.l3Vip.v4],
    ['IPv6', LAB.l3Vip.v6],
  ] as const) {
    it(`answers one ping to an ${family} L3 VIP once, without looping it through the router`, async () => {
      const before = await routerPackets();
      const ping = await lab.exec(lab.client.ns, ['ping', '-c', '1', '-W', '2', vip], { allowFailure: true });
      const after = await routerPackets();
      // Request in, reply out, and a neighbour exchange at most.
      expect(after - before).toBeLessThan(8);
      expect(ping.stdout).toMatch(/1 received/);
    });

    it(`drops a packet to an ${family} L3 VIP port no service has, without looping it`, async () => {
      const before = await routerPackets();
      const url = `http://${family === 'IPv4' ? vip : `[${vip}]`}:81/`;
      const r = await lab.exec(lab.client.ns, ['curl', '-sS', '--max-time', '2', url], { allowFailure: true });
      const after = await routerPackets();
      expect(r.code).not.toBe(0);
      // curl's SYN and its retransmissions, never dozens of copies.
      expect(after - before).toBeLessThan(8);
    });
  }
});
