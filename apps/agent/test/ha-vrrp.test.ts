// Flat L2 high availability: two balancers on one bridge share an L2 VIP
// through VRRP (keepalived, driven by tula-agent); one owns it at a time. The
// owner dies as a host dies (link down, agent and keepalived killed with
// SIGKILL): the standby takes the VIP and announces it by gratuitous ARP, and
// sends the flows to the same backends (the same Maglev table), so a download
// completes and a request loop on new connections loses nothing. Both
// namespaces are polled all along: two owners at once fail the test.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, type Lab, type LabHost } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostDeath, pause, revive, RunningAgent, startDownload, startRequestLoop, waitUntil } from './ha-support.ts';
import { AgentHost, kernelTestsUnavailable } from './support.ts';

const run = promisify(execFile);
const unavailable =
  (await kernelTestsUnavailable()) ??
  (await run('keepalived', ['--version']).then(
    () => undefined,
    () => 'keepalived is not installed (apt-get install keepalived)',
  ));

const VIP = LAB.l2Vip.v4;
const ADVERT_MS = 500;

function balancerDoc(lab: Lab, i: number, version: number): DesiredStateInput {
  return {
    apiVersion: 'tula/v1',
    version,
    balancer: {
      announce: { vrrp: { interface: 'e0', virtualRouterId: 42, priority: i === 0 ? 150 : 100, advertIntervalMs: ADVERT_MS } },
      services: [
        {
          name: 'web',
          vip: VIP,
          port: 80,
          protocol: 'tcp',
          mode: 'l2',
          interface: 'e0',
          healthCheck: { type: 'tcp', intervalMs: 500, timeoutMs: 400 },
          backends: lab.backends.map((b) => ({ address: b.v4 })),
        },
      ],
    },
  };
}

/** Whether the host answers for the VIP on the segment: the VIP on e0, and e0 up. */
async function owns(host: LabHost): Promise<boolean> {
  const { stdout } = await run('ip', ['-n', host.ns, '-j', 'addr', 'show', 'dev', 'e0']);
  const [link] = JSON.parse(stdout) as { operstate: string; addr_info: { local: string }[] }[];
  return link!.operstate === 'UP' && link!.addr_info.some((a) => a.local === VIP);
}

describe.skipIf(unavailable)(`VRRP active/standby${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  let agents: RunningAgent[] = [];
  /** The balancer the host-death test killed. */
  let victim = 0;
  let polling = true;
  let poller: Promise<void> | undefined;
  const bothOwned: number[] = [];
  const owners = async () => (await Promise.all(lab.balancers.map(owns))).flatMap((o, i) => (o ? [i] : []));

  beforeAll(async () => {
    lab = await createLab({ prefix: 'hvr', balancers: 2, managementNet: 42 });
    for (const b of lab.backends)
      await new AgentHost(lab, b).apply({ apiVersion: 'tula/v1', version: 1, backend: { vips: [{ vip: VIP, mode: 'l2' }] } });
    agents = lab.balancers.map((b, i) => new RunningAgent(new AgentHost(lab, b), balancerDoc(lab, i, 1)).start());
    poller = (async () => {
      while (polling) {
        // A probe caught by a host death's SIGKILL (it ran inside that namespace) proves nothing: poll again.
        const now = await owners().catch(() => []);
        if (now.length > 1) bothOwned.push(Date.now());
        await pause(20);
      }
    })();
  }, 120_000);

  afterAll(async () => {
    polling = false;
    await poller;
    for (const a of agents) await a.stop('SIGKILL');
    await lab?.destroy();
  });

  it('one balancer owns the VIP, and it serves', async () => {
    const [owner] = await waitUntil(
      'a balancer to own the VIP',
      async () => {
        const o = await owners();
        return o.length === 1 ? o : undefined;
      },
      60_000,
    );
    const body = (await lab.exec(lab.client.ns, ['curl', '-sS', '--max-time', '5', `http://${VIP}/`])).stdout.trim();
    expect(['b1', 'b2', 'b3']).toContain(body);
    // Both agents have converged by now; the other stays the standby.
    await pause(3000);
    expect(await owners()).toEqual([owner]);
    expect(bothOwned).toEqual([]);
  });

  it('the owner dies mid-download: the standby owns the VIP within 3 s, the download completes and no request fails', async () => {
    const [owner] = await owners();
    const standby = 1 - owner!;
    // Let both agents settle (the standby's keepalived listening) before the fault.
    await pause(2000);
    const loop = await startRequestLoop(lab, `http://${VIP}/`, 5000);
    const size = 16 * 1024 * 1024;
    const download = startDownload(lab, `http://${VIP}/bytes/${size}`, size, 1024 * 1024);
    await pause(4000);
    const killedAt = await hostDeath(lab, lab.balancers[owner!]!, agents[owner!]!);
    const tookOver = await waitUntil(
      'the standby to own the VIP',
      async () => (await owns(lab.balancers[standby]!)) && Date.now(),
      10_000,
      10,
    );
    const result = await download.done;
    expect(result, result.out).toMatchObject({ code: 0, size, intact: true });
    const loopResult = await loop.stop();
    console.log(
      `VRRP failover (advert ${ADVERT_MS} ms): the standby owned the VIP ${tookOver - killedAt} ms after the host death; ${loopResult.sent} requests, ${loopResult.failed} failed; download intact`,
    );
    expect(tookOver - killedAt).toBeLessThan(3000);
    expect(loopResult.failures).toEqual([]);
    expect(bothOwned).toEqual([]);
    victim = owner!;
  }, 120_000);

  it('the dead balancer comes back as the standby (no preemption), and still no request fails and there is one owner', async () => {
    const loop = await startRequestLoop(lab, `http://${VIP}/`, 5000);
    await pause(2000);
    // As after a reboot: the agent starts (dropping the VIP the killed keepalived left behind), then the link comes up.
    agents[victim]!.start();
    await waitUntil(
      'the agent to drop the stale VIP',
      async () => {
        const { stdout } = await run('ip', ['-n', lab.balancers[victim]!.ns, '-j', 'addr', 'show', 'dev', 'e0']);
        return !stdout.includes(`"${VIP}"`);
      },
      30_000,
    );
    await revive(lab, lab.balancers[victim]!);
    await waitUntil(
      'keepalived to run again on the returning balancer',
      async () => {
        const s = (await agents[victim]!.agent.status()) as unknown as { announce?: { vrrp?: { running: boolean } } };
        return s.announce?.vrrp?.running;
      },
      30_000,
    );
    await pause(3000);
    const loopResult = await loop.stop();
    expect(await owners()).toEqual([1 - victim]);
    expect(loopResult.failures).toEqual([]);
    expect(bothOwned).toEqual([]);
  }, 120_000);

  it('a stopping owner hands the VIP over at once', async () => {
    const [owner] = await owners();
    const loop = await startRequestLoop(lab, `http://${VIP}/`, 5000);
    await pause(2000);
    await agents[owner!]!.stop('SIGTERM');
    await waitUntil('the other balancer to own the VIP', async () => (await owners()).join() === String(1 - owner!), 5000, 10);
    await pause(1000);
    expect((await loop.stop()).failures).toEqual([]);
    expect(bothOwned).toEqual([]);
  }, 60_000);
});
