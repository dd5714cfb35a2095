// NAT mode end to end, the classic path: the balancer translates the VIP to the
// backend Maglev chose and the client's address to its own, so every response
// comes back through it. Backends need no setup (no VIP, no tunnel).
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, type Lab } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentHost, backendsSeen, curlFromClient, kernelTestsUnavailable, udpFlows } from './support.ts';

const unavailable = await kernelTestsUnavailable();

function natDoc(lab: Lab, version: number, disabled?: string): DesiredStateInput {
  const backends = lab.backends.map((b) => ({ address: b.v4, ...(b.v4 === disabled && { state: 'disabled' as const }) }));
  return {
    apiVersion: 'tula/v1',
    version,
    balancer: {
      services: [
        // NAT may change the port: the VIP's 8080 is the backends' 80.
        { name: 'web', vip: LAB.l2Vip.v4, port: 8080, protocol: 'tcp', mode: 'nat', backends: backends.map((b) => ({ ...b, port: 80 })) },
        { name: 'dns', vip: LAB.l2Vip.v4, port: 5353, protocol: 'udp', mode: 'nat', backends },
        { name: 'web6', vip: LAB.l2Vip.v6, port: 80, protocol: 'tcp', mode: 'nat', backends: lab.backends.map((b) => ({ address: b.v6 })) },
      ],
    },
  };
}

/** natDoc with `web` sending to `web` and a second service, `web-twin` on port 8081, to `twin`: the same targets (backend:80). */
function twinDoc(lab: Lab, version: number, web: Lab['backends'], twin: Lab['backends']): DesiredStateInput {
  const on80 = (backends: Lab['backends']) => backends.map((b) => ({ address: b.v4, port: 80 }));
  const [first, ...rest] = natDoc(lab, version).balancer!.services;
  return {
    apiVersion: 'tula/v1',
    version,
    balancer: {
      services: [
        { ...first!, backends: on80(web) },
        ...rest,
        { name: 'web-twin', vip: LAB.l2Vip.v4, port: 8081, protocol: 'tcp', mode: 'nat', backends: on80(twin) },
      ],
    },
  };
}

describe.skipIf(unavailable)(`NAT mode${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  let lb: AgentHost;

  beforeAll(async () => {
    lab = await createLab({ prefix: 'tnat' });
    lb = new AgentHost(lab, lab.balancers[0]!);
    await lb.apply(natDoc(lab, 1));
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('serves TCP from every backend, translating the port', async () => {
    expect(await backendsSeen(lab, `http://${LAB.l2Vip.v4}:8080/`)).toEqual(['b1', 'b2', 'b3']);
  });

  it('serves UDP from every backend, each flow from one', async () => {
    const answers = Object.values(await udpFlows(lab, LAB.l2Vip.v4, '23000-23099'));
    expect(answers.filter((a) => a === null)).toHaveLength(0);
    expect(new Set(answers)).toEqual(new Set(['b1', 'b2', 'b3']));
  });

  it('serves an IPv6 VIP', async () => {
    expect(await backendsSeen(lab, `http://[${LAB.l2Vip.v6}]/`)).toEqual(['b1', 'b2', 'b3']);
  });

  it('is not DSR: every response byte crosses the balancer, twice', async () => {
    const before = await lab.linkStats(lb.host.ns);
    const size = 10 * 1024 * 1024;
    const out = await curlFromClient(lab, `http://${LAB.l2Vip.v4}:8080/bytes/${size}`, ['-o', '/dev/null', '-w', '%{size_download}']);
    expect(Number(out)).toBe(size);
    const after = await lab.linkStats(lb.host.ns);
    // In from the backend and out to the client on the one link.
    expect((after.rxBytes - before.rxBytes + (after.txBytes - before.txBytes)) / size).toBeGreaterThan(1.9);
  });

  it('counts its traffic per service and backend, and a disabled backend gets no new flows', async () => {
    const status = await lb.status();
    const web = status.counters!.services.web!;
    expect(web.newFlows).toBeGreaterThan(0);
    expect(Object.values(web.backends).filter((b) => b.newFlows > 0).length).toBe(3);

    const b1 = lab.backends[0]!;
    await lb.apply(natDoc(lab, 2, b1.v4));
    expect(await backendsSeen(lab, `http://${LAB.l2Vip.v4}:8080/`, 3)).toEqual(['b2', 'b3']);
    // Applying the same document again changes nothing in the kernel.
    const ruleset = (await lab.exec(lb.host.ns, ['nft', 'list', 'table', 'inet', 'tula'])).stdout;
    await lb.apply(natDoc(lab, 2, b1.v4));
    expect((await lab.exec(lb.host.ns, ['nft', 'list', 'table', 'inet', 'tula'])).stdout).toBe(ruleset);
  });

  it('keeps a target two services share while either still sends to it, and applies a change where both drop it', async () => {
    const [b1, b2, b3] = lab.backends;
    const web = `http://${LAB.l2Vip.v4}:8080/`;
    const twin = `http://${LAB.l2Vip.v4}:8081/`;
    await lb.apply(twinDoc(lab, 3, [b1!, b2!, b3!], [b1!, b2!, b3!]));
    expect(await backendsSeen(lab, twin)).toEqual(['b1', 'b2', 'b3']);
    // The twin drops b1 and b2; web still sends to them.
    await lb.apply(twinDoc(lab, 4, [b1!, b2!, b3!], [b3!]));
    expect(await backendsSeen(lab, web)).toEqual(['b1', 'b2', 'b3']);
    expect(await backendsSeen(lab, twin, 2)).toEqual(['b3']);
    // Both drop b1 in one change.
    await lb.apply(twinDoc(lab, 5, [b1!, b2!, b3!], [b1!, b2!, b3!]));
    await lb.apply(twinDoc(lab, 6, [b2!, b3!], [b2!, b3!]));
    expect(await backendsSeen(lab, web, 2)).toEqual(['b2', 'b3']);
    expect(await backendsSeen(lab, twin, 2)).toEqual(['b2', 'b3']);
  });
});
