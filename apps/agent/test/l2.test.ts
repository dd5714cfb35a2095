// L2 DSR end to end: real nftables in network namespaces, real TCP and UDP traffic.
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, withoutFlowEntries, type Lab } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_COMMAND,
  AgentHost,
  applyBackendVips,
  backendsSeen,
  curlFromClient,
  kernelTestsUnavailable,
  L2_BACKEND_VIPS,
  labPrefix,
  udpFlows,
} from './support.ts';

const unavailable = await kernelTestsUnavailable();

describe.skipIf(unavailable)(`L2 DSR (${AGENT_COMMAND.at(-1)!.split('/').pop()})${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  let lb: AgentHost;
  let backends: AgentHost[];

  const balancerDoc = (version: number, extra: Partial<DesiredStateInput> = {}): DesiredStateInput => ({
    apiVersion: 'tula/v1',
    version,
    balancer: {
      services: [
        {
          name: 'web',
          vip: LAB.l2Vip.v4,
          port: 80,
          protocol: 'tcp',
          mode: 'l2',
          backends: lab.backends.map((b) => ({ address: b.v4 })),
        },
        {
          name: 'dns',
          vip: LAB.l2Vip.v4,
          port: 5353,
          protocol: 'udp',
          mode: 'l2',
          backends: lab.backends.map((b) => ({ address: b.v4 })),
        },
        {
          name: 'web6',
          vip: LAB.l2Vip.v6,
          port: 80,
          protocol: 'tcp',
          mode: 'l2',
          backends: lab.backends.map((b) => ({ address: b.v6 })),
        },
      ],
    },
    ...extra,
  });

  beforeAll(async () => {
    lab = await createLab({ prefix: labPrefix('tl2') });
    lb = new AgentHost(lab, lab.balancers[0]!);
    backends = await applyBackendVips(lab, L2_BACKEND_VIPS);
    // Let the router learn neighbours from unsolicited announcements, to see them.
    await lab.exec(lab.router.ns, ['sysctl', '-qw', 'net.ipv4.conf.all.arp_accept=1', 'net.ipv4.conf.e0.arp_accept=1']);
    await lab.exec(lab.router.ns, ['sysctl', '-qw', 'net.ipv6.conf.all.accept_untracked_na=1', 'net.ipv6.conf.e0.accept_untracked_na=1'], {
      allowFailure: true,
    });
    await lb.apply(balancerDoc(1));
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  const curl = (url: string, extra: string[] = []) => curlFromClient(lab, url, extra);

  it('announces the VIPs it takes on (gratuitous ARP, unsolicited NA) before any client asks', async () => {
    const mac = JSON.parse((await lab.exec(lb.host.ns, ['ip', '-j', 'link', 'show', 'e0'])).stdout)[0].address as string;
    const neigh = async (vip: string) => (await lab.exec(lab.router.ns, ['ip', 'neigh', 'show', vip, 'dev', 'e0'])).stdout;
    expect(await neigh(LAB.l2Vip.v4)).toContain(`lladdr ${mac}`);
    // IPv6 announces after duplicate address detection (about a second). Routers
    // before Linux 5.18 cannot learn from unsolicited advertisements at all.
    const untracked = await lab.exec(lab.router.ns, ['sysctl', '-n', 'net.ipv6.conf.e0.accept_untracked_na'], { allowFailure: true });
    if (untracked.code === 0) {
      let v6 = '';
      for (let i = 0; i < 40 && !v6.includes('lladdr'); i++) {
        await new Promise((r) => setTimeout(r, 100));
        v6 = await neigh(LAB.l2Vip.v6);
      }
      expect(v6).toContain(`lladdr ${mac}`);
    }
  });

  it('serves TCP from every backend, answering from the VIP', async () => {
    expect(await backendsSeen(lab, `http://${LAB.l2Vip.v4}/`)).toEqual(['b1', 'b2', 'b3']);
  });

  it('serves UDP from every backend', async () => {
    const answers = Object.values(await udpFlows(lab, LAB.l2Vip.v4, '21000-21099'));
    expect(answers.filter((a) => a === null)).toHaveLength(0);
    expect(new Set(answers)).toEqual(new Set(['b1', 'b2', 'b3']));
  });

  it('serves an IPv6 VIP', async () => {
    expect(await backendsSeen(lab, `http://[${LAB.l2Vip.v6}]/`)).toEqual(['b1', 'b2', 'b3']);
  });

  it('keeps the balancer off the return path of a large download', async () => {
    const before = await lab.linkStats(lb.host.ns);
    const backendBefore = await Promise.all(lab.backends.map((b) => lab.linkStats(b.ns)));
    const size = 20 * 1024 * 1024;
    const out = await curl(`http://${LAB.l2Vip.v4}/bytes/${size}`, ['-o', '/dev/null', '-w', '%{size_download}']);
    expect(Number(out)).toBe(size);
    const after = await lab.linkStats(lb.host.ns);
    const backendAfter = await Promise.all(lab.backends.map((b) => lab.linkStats(b.ns)));
    const sent = Math.max(...backendAfter.map((a, i) => a.txBytes - backendBefore[i]!.txBytes));
    const handled = after.rxBytes - before.rxBytes + (after.txBytes - before.txBytes);
    expect(sent).toBeGreaterThan(size);
    expect(handled / sent).toBeLessThan(0.05);
  });

  it('counts per service and per backend', async () => {
    const s = await lb.status();
    const web = s.counters!.services.web!;
    expect(web.packets).toBeGreaterThan(0);
    expect(web.newFlows).toBeGreaterThan(0);
    const perBackend = Object.values(web.backends);
    expect(perBackend.reduce((a, b) => a + b.packets, 0)).toBe(web.packets);
    expect(s.counters!.services.dns!.newFlows).toBeGreaterThanOrEqual(100);
    const b1 = await backends[0]!.status();
    expect(b1.counters!.vips[LAB.l2Vip.v4]!.bytes).toBeGreaterThan(0);
  });

  it('a second apply of the same state changes nothing in the kernel', async () => {
    const snapshot = async () =>
      (
        await Promise.all([
          lab.exec(lb.host.ns, ['nft', 'list', 'ruleset']),
          lab.exec(lb.host.ns, ['ip', 'addr']),
          lab.exec(lb.host.ns, ['ip', 'rule']),
          lab.exec(lb.host.ns, ['ip', 'route', 'show', 'table', 'all']),
        ])
      )
        .map((r) =>
          withoutFlowEntries(r.stdout)
            .replace(/packets \d+ bytes \d+/g, 'packets N bytes N')
            .replace(/expires \S+/g, 'expires T'),
        )
        .join('\n');
    const before = await snapshot();
    const r = await lb.apply(balancerDoc(1));
    expect(r.stdout).toContain('already in place');
    expect(await snapshot()).toBe(before);
  });
});
