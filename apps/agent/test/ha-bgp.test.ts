// Routed high availability: two balancers announce an L3 VIP over BGP (bird2,
// driven by tula-agent) to a router that spreads flows over them by ECMP. One
// balancer dies as a host dies (its link down, its agent and bird killed with
// SIGKILL, no goodbye): BFD tells the router within a few hundred ms, the flows
// it carried move to the other balancer, which sends them to the same backends
// (the same Maglev table), so a download through it completes byte for byte
// and a request loop on new connections loses nothing. Then it returns and
// takes its share again, still without a failure.
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, startRouterBgp, type Lab, type RouterBgp } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientPort,
  hostDeath,
  pause,
  revive,
  RunningAgent,
  startDownload,
  startRequestLoop,
  startUdpStream,
  waitUntil,
} from './ha-support.ts';
import { AgentHost, kernelTestsUnavailable } from './support.ts';

const unavailable =
  (await kernelTestsUnavailable()) ??
  (await import('node:child_process').then(({ execFileSync }) => {
    try {
      execFileSync('bird', ['--version'], { stdio: 'ignore' });
      return undefined;
    } catch {
      return 'bird2 is not installed (apt-get install bird2)';
    }
  }));

const ROUTER_ASN = 65000;
const BALANCER_ASN = 65001;
const BFD = { intervalMs: 100, multiplier: 3 };
const VIP = LAB.l3Vip.v4;

function balancerDoc(lab: Lab, i: number, version: number, extra: { draining?: boolean } = {}): DesiredStateInput {
  const backends = lab.backends.map((b) => ({ address: b.v4 }));
  const healthCheck = { type: 'tcp' as const, port: 80, intervalMs: 500, timeoutMs: 400, fall: 2, rise: 1 };
  return {
    apiVersion: 'tula/v1',
    version,
    balancer: {
      ...extra,
      announce: {
        bgp: {
          localAsn: BALANCER_ASN,
          routerId: lab.balancers[i]!.v4,
          peers: [{ address: lab.router.v4, asn: ROUTER_ASN, holdTimeS: 9, bfd: true }],
          bfd: BFD,
        },
      },
      services: [
        { name: 'web', vip: VIP, port: 80, protocol: 'tcp', mode: 'l3', tunnel: 'vxlan', healthCheck, backends },
        {
          name: 'dns',
          vip: VIP,
          port: 5353,
          protocol: 'udp',
          mode: 'l3',
          tunnel: 'vxlan',
          healthCheck: { ...healthCheck, type: 'udp', port: 5353, payload: 'who' },
          backends,
        },
      ],
    },
  };
}

function backendDoc(lab: Lab): DesiredStateInput {
  return {
    apiVersion: 'tula/v1',
    version: 1,
    backend: { vips: [{ vip: VIP, mode: 'l3', tunnel: 'vxlan', balancers: lab.balancers.map((b) => b.v4), mss: 1400 }] },
  };
}

describe.skipIf(unavailable)(`BGP + ECMP failover${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  let router: RouterBgp;
  let agents: RunningAgent[] = [];
  /** The balancer the host-death test killed. */
  let victim = 0;
  const viaBoth = () =>
    waitUntil('the router to route the VIP over both balancers', async () => (await router.nexthops(VIP)).length === 2, 60_000);

  beforeAll(async () => {
    lab = await createLab({ prefix: 'hbgp', balancers: 2, managementNet: 43 });
    for (const b of lab.backends) await new AgentHost(lab, b).apply(backendDoc(lab));
    router = await startRouterBgp(lab, {
      asn: ROUTER_ASN,
      peers: lab.balancers.map((b) => ({ address: b.v4, asn: BALANCER_ASN })),
      bfd: BFD,
    });
    agents = lab.balancers.map((b, i) => new RunningAgent(new AgentHost(lab, b), balancerDoc(lab, i, 1)).start());
  }, 120_000);

  afterAll(async () => {
    for (const a of agents) await a.stop('SIGKILL');
    await lab?.destroy();
  });

  it('both balancers announce the VIP once their kernels serve it; the router installs two nexthops', async () => {
    await viaBoth();
    expect(await router.nexthops(VIP)).toEqual(lab.balancers.map((b) => b.v4).sort());
    const status = await agents[0]!.agent.status();
    expect(status).toMatchObject({ running: true });
  });

  it('a balancer dies mid-download: the download completes byte for byte and no request fails', async () => {
    const loop = await startRequestLoop(lab, `http://${VIP}/`, 3000);
    const stream = await startUdpStream(lab, VIP);
    const size = 16 * 1024 * 1024;
    const download = startDownload(lab, `http://${VIP}/bytes/${size}`, size, 1024 * 1024);
    // The download's flow goes through one balancer, the one the router's lookup for that flow names: kill that one.
    // (Packets on the balancers' links cannot tell: the download's ACKs are few, beside the loop's and the stream's.)
    await waitUntil('the download to start', async () => download.received() > 0, 60_000);
    const sport = await waitUntil("the download's connection in the client's socket table", () => clientPort(lab, VIP, 80), 10_000);
    const via = await router.nexthopOfFlow({ from: lab.client.v4, to: VIP, sport, dport: 80 });
    victim = lab.balancers.findIndex((b) => b.v4 === via);
    expect(victim, `the router's nexthop for the download (${via}) is a balancer`).toBeGreaterThanOrEqual(0);
    const killedAt = await hostDeath(lab, lab.balancers[victim]!, agents[victim]!);
    const gone = await waitUntil(
      'the router to drop the dead balancer',
      async () => (await router.nexthops(VIP)).length === 1 && Date.now(),
      20_000,
      10,
    );
    const result = await download.done;
    expect(result, result.out).toMatchObject({ code: 0, size, intact: true });
    await pause(1000);
    const lost = (await stream.stop()).lost.filter((t) => t >= killedAt - 50);
    const failover = lost.length ? Math.max(...lost) - killedAt : 0;
    console.log(
      `BGP failover (BFD ${BFD.intervalMs} ms × ${BFD.multiplier}): router dropped the nexthop ${gone - killedAt} ms after the host death; ` +
        `last lost UDP probe sent ${failover} ms after it (${lost.length} of the probes lost); download of ${size} bytes intact`,
    );
    const loopResult = await loop.stop();
    console.log(`BGP failover: ${loopResult.sent} requests on new connections, ${loopResult.failed} failed`);
    expect(loopResult.failures).toEqual([]);
    expect(loopResult.sent).toBeGreaterThan(100);
  }, 120_000);

  it('the balancer comes back: traffic spreads over both again, and no request fails', async () => {
    const loop = await startRequestLoop(lab, `http://${VIP}/`, 3000);
    await pause(1000);
    await revive(lab, lab.balancers[victim]!);
    agents[victim]!.start();
    await viaBoth();
    const before = await Promise.all(lab.balancers.map((b) => lab.linkStats(b.ns)));
    await pause(3000);
    const after = await Promise.all(lab.balancers.map((b) => lab.linkStats(b.ns)));
    const loopResult = await loop.stop();
    const carried = after.map((a, i) => a.rxPackets - before[i]!.rxPackets);
    console.log(
      `BGP return: packets received by lb1, lb2 over 3 s: ${carried.join(', ')}; ${loopResult.sent} requests, ${loopResult.failed} failed`,
    );
    expect(loopResult.failures).toEqual([]);
    // Both carry requests again (the loop makes ~150 connections of ~6 packets each in 3 s).
    for (const c of carried) expect(c).toBeGreaterThan(50);
  }, 120_000);

  it('a draining balancer withdraws its announcement and takes no new flows; undrained it returns', async () => {
    agents[0]!.update(balancerDoc(lab, 0, 2, { draining: true }));
    await waitUntil(
      'the router to drop the draining balancer',
      async () => (await router.nexthops(VIP)).join() === lab.balancers[1]!.v4,
      20_000,
    );
    const status = (await agents[0]!.agent.status()) as unknown as {
      announce: { vips: { vip: string; fit: boolean; reason?: string }[]; bgp: { peers: { established: boolean }[] } };
    };
    expect(status.announce.vips).toEqual([{ vip: VIP, family: 4, via: 'bgp', fit: false, reason: 'draining' }]);
    // The session stays up, ready to announce again.
    expect(status.announce.bgp.peers.map((p) => p.established)).toEqual([true]);
    // New connections all go to the other balancer. Each balancer also receives BGP, BFD and its
    // health checks' answers (some 30 packets a second), counted first without the loop and taken off:
    // on a busy machine the loop runs slower, and that background alone came near a quarter of it.
    const received = () => Promise.all(lab.balancers.map((b) => lab.linkStats(b.ns).then((s) => s.rxPackets)));
    const idleStart = await received();
    await pause(2000);
    const idle = (await received()).map((n, i) => n - idleStart[i]!);
    const loop = await startRequestLoop(lab, `http://${VIP}/`);
    await pause(2000);
    const before = await received();
    await pause(2000);
    const after = await received();
    expect((await loop.stop()).failures).toEqual([]);
    const carried = after.map((n, i) => n - before[i]! - idle[i]!);
    console.log(`BGP drain: packets from the request loop over 2 s (background taken off): lb1 ${carried[0]}, lb2 ${carried[1]}`);
    expect(carried[1]).toBeGreaterThan(150);
    expect(carried[0]).toBeLessThan(carried[1]! / 4);
    agents[0]!.update(balancerDoc(lab, 0, 3));
    await viaBoth();
  }, 60_000);

  it('withdraws the VIP when no backend is healthy, and announces it again when one is', async () => {
    for (const b of lab.backends) await lab.stopServer(b);
    try {
      await waitUntil('both balancers to withdraw', async () => (await router.nexthops(VIP)).length === 0, 30_000);
      const status = (await agents[0]!.agent.status()) as unknown as { announce: { vips: unknown[] } };
      expect(status.announce.vips).toEqual([{ vip: VIP, family: 4, via: 'bgp', fit: false, reason: 'no healthy backend' }]);
    } finally {
      for (const b of lab.backends) await lab.startServer(b);
    }
    await viaBoth().catch((err: Error) => {
      throw new Error(`${err.message}\n${agents.map((a) => a.output().split('\n').slice(-15).join('\n')).join('\n---\n')}`);
    });
  }, 120_000);

  it('an unreachable peer is reported as not established, and the data plane is unaffected', async () => {
    const doc = balancerDoc(lab, 1, 4);
    doc.balancer!.announce!.bgp!.peers.push({ address: '10.99.0.250', asn: ROUTER_ASN });
    agents[1]!.update(doc);
    // On a loaded machine the first status after bird's reconfiguration can come while birdc does not
    // answer yet; the router's nexthops below show the data plane kept both balancers.
    const peers = await waitUntil(
      'the status to list both peers, the first one established',
      async () => {
        const s = (await agents[1]!.agent.status()) as unknown as {
          announce?: { bgp?: { peers: { address: string; established: boolean; info: string }[] } };
        };
        const p = s.announce?.bgp?.peers;
        return p?.length === 2 && p[0]!.established ? p : undefined;
      },
      15_000,
    );
    expect(peers.map((p) => [p.address, p.established])).toEqual([
      [lab.router.v4, true],
      ['10.99.0.250', false],
    ]);
    expect((await router.nexthops(VIP)).length).toBe(2);
  }, 60_000);

  it('a stopping agent withdraws its announcements', async () => {
    await agents[1]!.stop('SIGTERM');
    await waitUntil(
      'the router to drop the stopped balancer',
      async () => (await router.nexthops(VIP)).join() === lab.balancers[0]!.v4,
      10_000,
    );
  }, 30_000);
});
