// Staged rollouts through the API on a real PostgreSQL database: the per-node
// documents while a rollout runs, pause, resume and abort, no other change to
// the service meanwhile, and another organisation sees none of it. The lab test
// (staged-rollout-lab.test.ts) drives the same rollouts with real agents.
import { type Database } from '@tula/db';
import { LocalBus } from '@tula/control';
import { tickRollouts } from '@tula/api';
import type { ServiceInput } from '@tula/validators';
import { beforeAll, describe, expect, it } from 'vitest';
import { balancerNode, memberCaller, useTestApiDatabase, type Caller } from './support/caller.ts';
import { testBackend, testService } from './support/service-input.ts';

let db: Database;
let api: Caller;
let org: string;
let lb1: string;
let lb2: string;

const testApi = useTestApiDatabase();
beforeAll(async () => {
  db = testApi.db;
  ({ api, organizationId: org } = await memberCaller(db, { name: 'Rhea Operator' }));
  lb1 = (await balancerNode(db, org, 'lb1', '10.9.0.1')).id;
  lb2 = (await balancerNode(db, org, 'lb2', '10.9.0.2')).id;
});

function web(weight: number): ServiceInput {
  return testService({
    vip: '10.9.9.10',
    balancerNodeIds: [lb1, lb2],
    backends: ['10.0.0.1', '10.0.0.2'].map((address) => testBackend(address, weight)),
  });
}
const weightOn = async (nodeId: string) => {
  const n = await db.prisma.node.findUniqueOrThrow({ where: { id: nodeId } });
  return (n.desiredState as { balancer: { services: { backends: { weight: number }[] }[] } }).balancer.services[0]!.backends[0]!.weight;
};

describe('staged rollouts', () => {
  it('runs the canary on the new revision and the rest on the previous one; pause, resume and abort; no other change meanwhile', async () => {
    const { id } = await api.services.create(web(1));
    await api.services.update({ id, service: web(3), staged: { canary: lb2, holdSeconds: 60, batchSize: 1 } });
    expect([await weightOn(lb1), await weightOn(lb2)]).toEqual([1, 3]);
    const r = (await api.rollouts.get({ serviceId: id }))!;
    expect(r).toMatchObject({ status: 'running', fromRevision: 1, toRevision: 2, batch: 0, batches: 2, holdUntil: null });
    expect(r.nodes.map((n) => [n.name, n.batch, n.revision])).toEqual([
      ['lb2', 0, 2],
      ['lb1', 1, 1],
    ]);

    await expect(api.services.update({ id, service: web(4) })).rejects.toThrow(/staged rollout of revision 2 of this service is running/);
    await expect(api.services.setBackendState({ serviceId: id, address: '10.0.0.1', state: 'draining' })).rejects.toThrow(/abort it/);
    await expect(api.rollouts.resume({ serviceId: id })).rejects.toThrow(/no paused staged rollout/);

    await api.rollouts.pause({ serviceId: id });
    // A paused rollout does not move, even with its batch applied and no hold left.
    await db.prisma.node.update({
      where: { id: lb2 },
      data: { appliedHash: (await db.prisma.node.findUniqueOrThrow({ where: { id: lb2 } })).desiredHash },
    });
    await tickRollouts(db, new LocalBus(), new Date(Date.now() + 3_600_000));
    expect(await api.rollouts.get({ serviceId: id })).toMatchObject({ status: 'paused', batch: 0, holdUntil: null });
    await api.rollouts.resume({ serviceId: id });
    expect((await api.rollouts.get({ serviceId: id }))!.status).toBe('running');

    await api.rollouts.abort({ serviceId: id });
    const aborted = (await api.rollouts.get({ serviceId: id }))!;
    expect(aborted.status).toBe('aborted');
    expect(aborted.reason).toMatch(/^aborted by rhea\.operator/);
    expect([await weightOn(lb1), await weightOn(lb2)]).toEqual([1, 1]);
    const history = await api.services.history({ id });
    expect(history.items[0]).toMatchObject({ number: 3, action: 'rollout.abort', restoredNumber: 1 });
    const actions = (await api.audit.list({})).items.map((e) => e.action);
    expect(actions.slice(0, 3)).toEqual(['rollout.abort', 'rollout.resume', 'rollout.pause']);
    // Finished: the service takes changes again.
    await api.services.update({ id, service: web(2) });
    expect([await weightOn(lb1), await weightOn(lb2)]).toEqual([2, 2]);
  });

  it('a NACK from the canary rolls the rollout back on the next tick, and the reason says so', async () => {
    const { id } = await api.services.create({ ...web(1), name: 'api', vip: '10.9.9.11' });
    await api.services.update({
      id,
      service: { ...web(5), name: 'api', vip: '10.9.9.11' },
      staged: { canary: lb1, holdSeconds: 60, batchSize: 1 },
    });
    // What the gateway writes when an agent NACKs.
    await db.prisma.node.update({ where: { id: lb1 }, data: { lastError: 'version 9: nft: syntax error', lastErrorAt: new Date() } });
    await tickRollouts(db, new LocalBus());
    const r = (await api.rollouts.get({ serviceId: id }))!;
    expect(r.status).toBe('rolled_back');
    expect(r.reason).toBe(`lb1 rejected revision ${r.toRevision}: version 9: nft: syntax error`);
    expect((await api.services.history({ id })).items[0]).toMatchObject({
      action: 'rollout.rolled_back',
      actorLabel: 'staged rollout',
      restoredNumber: r.fromRevision,
    });
    await db.prisma.node.update({ where: { id: lb1 }, data: { lastError: null, lastErrorAt: null } });
  });

  it('drift repaired on the canary during the rollout is a regression; drift on a node it has not reached is not', async () => {
    const { id } = await api.services.create({ ...web(1), name: 'dns', vip: '10.9.9.13' });
    await api.services.update({
      id,
      service: { ...web(5), name: 'dns', vip: '10.9.9.13' },
      staged: { canary: lb1, holdSeconds: 60, batchSize: 1 },
    });
    // What the gateway writes when an agent reports a drift message: first on lb2, which still runs the old revision.
    await db.prisma.node.update({
      where: { id: lb2 },
      data: { lastDriftAt: new Date(), lastDrift: ['table ip tula: chain ingress: 1 rule missing'] },
    });
    await tickRollouts(db, new LocalBus());
    expect((await api.rollouts.get({ serviceId: id }))!.status).toBe('running');
    await db.prisma.node.update({
      where: { id: lb1 },
      data: { lastDriftAt: new Date(), lastDrift: ['map dispatch4_eth0: 2 elements missing'] },
    });
    await tickRollouts(db, new LocalBus());
    const r = (await api.rollouts.get({ serviceId: id }))!;
    expect(r.status).toBe('rolled_back');
    expect(r.reason).toBe(`lb1 repaired drift under revision ${r.toRevision}: map dispatch4_eth0: 2 elements missing`);
    await db.prisma.node.updateMany({ where: { id: { in: [lb1, lb2] } }, data: { lastDriftAt: null, lastDrift: [] } });
  });

  it('drops that rose on the reached balancers are a regression, summed over every stored part; drops elsewhere are not', async () => {
    const { id } = await api.services.create({ ...web(1), name: 'smtp', vip: '10.9.9.14' });
    await api.services.update({
      id,
      service: { ...web(5), name: 'smtp', vip: '10.9.9.14' },
      staged: { canary: lb1, holdSeconds: 60, batchSize: 1 },
    });
    const rollout = await db.prisma.rollout.findFirstOrThrow({ where: { serviceId: id }, orderBy: { createdAt: 'desc' } });
    const t = rollout.createdAt.getTime();
    // Per-node detail as the counter writer stores it: a row per series, bucket, replica and flush, nodes in arrays.
    // lb2 has not been reached: its drops do not count. After the rollout began, two replicas each hold a part.
    const detail = (replica: string, at: number, drops: number[]) =>
      db.prisma.counterNodeSample.create({
        data: {
          organizationId: org,
          replica,
          batch: at,
          kind: 'service',
          seriesKey: id,
          at: new Date(at),
          nodeIds: [lb1, lb2],
          packets: [0, 0],
          bytes: [0, 0],
          newFlows: [0, 0],
          drops,
        },
      });
    await detail('a', t - 20_000, [1, 100]);
    await detail('a', t + 10_000, [1, 0]);
    await detail('b', t + 10_000, [1, 0]);
    await tickRollouts(db, new LocalBus(), new Date(t + 30_000));
    expect((await api.rollouts.get({ serviceId: id }))!.status).toBe('running');
    await detail('b', t + 20_000, [1, 0]);
    await tickRollouts(db, new LocalBus(), new Date(t + 30_000));
    const r = (await api.rollouts.get({ serviceId: id }))!;
    expect(r.status).toBe('rolled_back');
    expect(r.reason).toBe(
      `drops rose on the balancers running revision ${r.toRevision}: 3 since the rollout began, 1 in the same time before`,
    );
  });

  it('another organisation neither sees nor controls the rollout', async () => {
    const { id } = await api.services.create({ ...web(1), name: 'mail', vip: '10.9.9.12' });
    await api.services.update({ id, service: { ...web(2), name: 'mail', vip: '10.9.9.12' }, staged: { holdSeconds: 60, batchSize: 1 } });
    const { api: other } = await memberCaller(db, { name: 'Other Org' });
    expect(await other.rollouts.get({ serviceId: id })).toBeNull();
    await expect(other.rollouts.abort({ serviceId: id })).rejects.toThrow(/No such service in this organisation/);
    await expect(other.rollouts.pause({ serviceId: id })).rejects.toThrow(/No such service in this organisation/);
    expect((await api.rollouts.get({ serviceId: id }))!.status).toBe('running');
    await api.rollouts.abort({ serviceId: id });
  });
});
