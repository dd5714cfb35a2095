// Per-backend traffic on the service page: each backend's share of the new flows
// its balancers sent (per balancer too) and of the return-path bytes its own host
// sent from the VIP, from the per-node 10 s detail the counter writer stores; a
// backend whose host runs no agent is "not measured", never 0. And its share of
// new flows right now, from the last seconds' sums: a backend no balancer sends
// new flows to any more reads 0 now while its five-minute share only fades.
import type { CountersReport } from '@tula/protocol';
import { expect, it } from 'vitest';
import { balancerNode, memberCaller, useTestApiDatabase } from './support/caller.ts';
import { createWebService, manualCounterWriter } from './support/counter-database.ts';

const counters = useTestApiDatabase();

it("shows each backend's share of new flows (per balancer) and of the return path, from what agents reported", async () => {
  const { db } = counters;
  const { api, organizationId } = await memberCaller(db, { name: 'Traffic' });
  const service = await createWebService(db, organizationId, ['10.20.1.1', '10.20.1.2', '10.20.1.3']);
  const lb1 = await balancerNode(db, organizationId, 'lb1', '10.30.0.1');
  const lb2 = await balancerNode(db, organizationId, 'lb2', '10.30.0.2');
  // Hosts of the first two backends run agents (found by address); the third's host has none.
  const web1 = await balancerNode(db, organizationId, 'web1', '10.20.1.1');
  const web2 = await balancerNode(db, organizationId, 'web2', '10.20.1.2');
  await db.prisma.node.updateMany({ where: { id: { in: [web1.id, web2.id] } }, data: { lastSeenAt: new Date() } });

  const writer = manualCounterWriter(db);
  // Written once their 10 s bucket has closed: reports from 30 s ago.
  const at = Date.now() - 30_000;
  const report = (
    boot: string,
    services: CountersReport['services'],
    vips: CountersReport['vips'],
    seq = 1,
    when = at,
  ): CountersReport => ({
    type: 'counters',
    boot,
    seq,
    at: when,
    services,
    vips,
  });
  const flows = (address: string, newFlows: number) => ({ address, packets: newFlows, bytes: 100 * newFlows, newFlows, healthy: true });
  const push = (nodeId: string, r: CountersReport) => writer.push({ nodeId, organizationId, report: r, done: () => {} });
  push(
    lb1.id,
    report(
      'a',
      [{ name: 'web', packets: 9, bytes: 900, newFlows: 9, drops: 0, backends: [flows('10.20.1.1', 6), flows('10.20.1.2', 3)] }],
      [],
    ),
  );
  push(
    lb2.id,
    report(
      'b',
      [{ name: 'web', packets: 3, bytes: 300, newFlows: 3, drops: 0, backends: [flows('10.20.1.1', 2), flows('10.20.1.3', 1)] }],
      [],
    ),
  );
  // Just now: 10.20.1.1 gets no new flows any more (out of rotation), the others take them.
  const now = Date.now();
  push(
    lb1.id,
    report('a', [{ name: 'web', packets: 4, bytes: 400, newFlows: 4, drops: 0, backends: [flows('10.20.1.2', 4)] }], [], 2, now),
  );
  push(
    lb2.id,
    report('b', [{ name: 'web', packets: 1, bytes: 100, newFlows: 1, drops: 0, backends: [flows('10.20.1.3', 1)] }], [], 2, now),
  );
  push(web1.id, report('c', [], [{ vip: '10.20.0.1', packets: 10, bytes: 30_000 }]));
  push(web2.id, report('d', [], [{ vip: '10.20.0.1', packets: 10, bytes: 10_000 }]));
  await writer.flush();
  // A second flush writes the closed 10 s buckets.
  await writer.close();

  const r = await api.services.backendTraffic({ serviceId: service.id });
  expect(
    r.backends.map((b) => ({
      address: b.address,
      newFlows: b.newFlows,
      newFlowShare: b.newFlowShare,
      newFlowShareNow: b.newFlowShareNow,
      returnBytes: b.returnBytes,
      returnShare: b.returnShare,
      byBalancer: b.byBalancer.map((x) => `${x.name}:${x.newFlows}`),
    })),
  ).toEqual([
    {
      address: '10.20.1.1',
      newFlows: 8,
      newFlowShare: 8 / 12,
      newFlowShareNow: 0,
      returnBytes: 30_000,
      returnShare: 0.75,
      byBalancer: ['lb1:6', 'lb2:2'],
    },
    {
      address: '10.20.1.2',
      newFlows: 3,
      newFlowShare: 3 / 12,
      newFlowShareNow: 4 / 5,
      returnBytes: 10_000,
      returnShare: 0.25,
      byBalancer: ['lb1:3'],
    },
    {
      address: '10.20.1.3',
      newFlows: 1,
      newFlowShare: 1 / 12,
      newFlowShareNow: 1 / 5,
      returnBytes: null,
      returnShare: null,
      byBalancer: ['lb2:1'],
    },
  ]);
  expect(r.dsr).toBe(true);

  // The same service in NAT mode: its backends answer the balancer, so the VIP's return path the hosts counted is not
  // its own (here there is no other service; in the lab it was a DSR service's on the same VIP). New flows are still its.
  await db.prisma.service.update({ where: { id: service.id }, data: { mode: 'nat' } });
  const nat = await api.services.backendTraffic({ serviceId: service.id });
  expect(nat.dsr).toBe(false);
  expect(nat.backends.map((b) => [b.address, b.returnBytes, b.returnShare])).toEqual([
    ['10.20.1.1', null, null],
    ['10.20.1.2', null, null],
    ['10.20.1.3', null, null],
  ]);
  expect(nat.backends.map((b) => b.newFlows)).toEqual(r.backends.map((b) => b.newFlows));

  await expect((await memberCaller(db, { name: 'Other' })).api.services.backendTraffic({ serviceId: service.id })).rejects.toThrow(
    /No such service/,
  );
});
