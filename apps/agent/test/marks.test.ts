// The packet mark and the values it carries, with real nftables and traffic in
// network namespaces: Tula writes only its bit range of the mark on packets it
// hands to the host's stack, so other users of the mark (kube-proxy, CNIs) keep
// theirs; and a backend id freed by a removed backend is not given to a new
// backend while pins of the old one can still exist.
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, type Lab } from '@tula/netlab';
import { fnv1a32, MAX_BACKEND_ID } from '@tula/nft';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentHost, applyBackendVips, backendsSeen, kernelTestsUnavailable, labPrefix, udpFlows } from './support.ts';

const unavailable = await kernelTestsUnavailable();
/** kube-proxy's masquerade bit: set by iptables in prerouting on traffic it will masquerade. */
const FOREIGN_BIT = 0x4000;

describe.skipIf(unavailable)(`packet marks${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  let lb: AgentHost;

  beforeAll(async () => {
    lab = await createLab({ prefix: labPrefix('dqm'), managementNet: 58 });
    lb = new AgentHost(lab, lab.balancers[0]!);
    await applyBackendVips(lab, [
      { vip: LAB.l2Vip.v4, mode: 'l2' },
      { vip: LAB.l3Vip.v4, mode: 'l3', tunnel: 'vxlan', balancers: lab.balancers.map((b) => b.v4) },
    ]);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  const [b1, b2, b3] = [0, 1, 2].map((i) => `${LAB.serverNet.v4}.${11 + i}`) as [string, string, string];

  it('L3: forwards with a foreign bit set in the mark after its ingress hook, and the bit survives to the tunnel', async () => {
    const doc: DesiredStateInput = {
      apiVersion: 'tula/v1',
      version: 1,
      balancer: {
        services: [
          {
            name: 'web',
            vip: LAB.l3Vip.v4,
            port: 80,
            protocol: 'tcp',
            mode: 'l3',
            tunnel: 'vxlan',
            backends: [b1, b2, b3].map((address) => ({ address })),
          },
        ],
      },
    };
    await lb.apply(doc);
    // As kube-proxy's KUBE-MARK-MASQ does: OR a bit into the mark in prerouting
    // (mangle runs after Tula's netdev ingress hook and before routing), and count
    // the encapsulated packets that still carry it on their way out.
    const foreign = `table inet dq_foreign {
      chain pre { type filter hook prerouting priority mangle; policy accept; ip daddr ${LAB.l3Vip.v4} meta mark set meta mark or ${FOREIGN_BIT}; }
      chain post { type filter hook postrouting priority 0; policy accept; udp dport 4789 meta mark & ${FOREIGN_BIT} == ${FOREIGN_BIT} counter; }
    }`;
    await lab.exec(lb.host.ns, ['nft', '-f', '-'], { input: foreign });
    try {
      expect(await backendsSeen(lab, `http://${LAB.l3Vip.v4}/`)).toEqual(['b1', 'b2', 'b3']);
      const listed = JSON.parse((await lab.exec(lb.host.ns, ['nft', '-j', 'list', 'chain', 'inet', 'dq_foreign', 'post'])).stdout) as {
        nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[];
      };
      const counted = listed.nftables.flatMap((o) => o.rule?.expr ?? []).find((e) => e.counter)?.counter?.packets ?? 0;
      expect(counted).toBeGreaterThan(0);
    } finally {
      await lab.exec(lb.host.ns, ['nft', 'delete', 'table', 'inet', 'dq_foreign']);
    }
  });

  it('a new backend never inherits the idle pins of a removed backend whose id it could take', async () => {
    const service = (backends: { address: string; mac?: string; state?: 'draining' }[]) => ({
      name: 'dns',
      vip: LAB.l2Vip.v4,
      port: 5353,
      protocol: 'udp' as const,
      mode: 'l2' as const,
      backends,
    });
    const doc = (version: number, backends: Parameters<typeof service>[0]): DesiredStateInput => ({
      apiVersion: 'tula/v1',
      version,
      balancer: { services: [service(backends)] },
    });
    await lb.apply(doc(10, [{ address: b1 }, { address: b2 }]));
    const pinned = await udpFlows(lab, LAB.l2Vip.v4, '31000-31199');
    const onB1 = Object.keys(pinned).filter((p) => pinned[p] === 'b1');
    expect(onB1.length).toBeGreaterThan(0);

    // b1 is removed; its pins stay in the flow table, idle.
    await lb.apply(doc(11, [{ address: b2 }]));
    // The ids given out are saved with the document's inputs (converge.ts, APPLIED_INPUTS_FILE).
    const ids = (JSON.parse(readFileSync(join(lb.stateDir, 'applied-inputs.json'), 'utf8')) as { ids: Record<string, number> }).ids;
    const b1Id = (fnv1a32(b1) % MAX_BACKEND_ID) + 1;
    expect(ids[b1]).toBeUndefined();
    // A new backend address whose id would be b1's: the host b3 under a second
    // address, added draining (pinned flows only, no new ones).
    let fresh = '';
    for (let n = 0; n < 1 << 24 && !fresh; n++) {
      const a = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
      if ((fnv1a32(a) % MAX_BACKEND_ID) + 1 === b1Id && a !== b1) fresh = a;
    }
    expect(fresh).not.toBe('');
    const mac = (JSON.parse((await lab.exec(lab.backends[2]!.ns, ['ip', '-j', 'link', 'show', 'e0'])).stdout) as { address: string }[])[0]!
      .address;
    await lb.apply(doc(12, [{ address: b2 }, { address: fresh, mac, state: 'draining' }]));

    // b1's flows send again: their pins name a backend that is gone, so they are
    // hashed afresh, and only b2 takes new flows.
    const after = await udpFlows(lab, LAB.l2Vip.v4, `31000-31199`);
    const moved = onB1.map((p) => after[p]);
    expect(moved.filter((b) => b !== 'b2')).toEqual([]);
  });
});
