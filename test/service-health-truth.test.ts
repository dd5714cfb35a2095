// What the panel says about a service is only what a balancer reporting now can
// vouch for, and how it reaches its VIP is said truthfully. In-process API on a
// real PostgreSQL database; the agents' reports are written as the gateway writes
// them (connected, lastSeenAt, statusAt, appliedHash, failingBackends).
import { type Database } from '@tula/db';
import { beforeAll, describe, expect, it } from 'vitest';
import { balancerNode, memberCaller, reportStatus, useTestApiDatabase, type Caller } from './support/caller.ts';
import { DEFAULT_HEALTH_CHECK } from '@tula/validators';
import { testBackend, testService } from './support/service-input.ts';

let db: Database;
let api: Caller;
let org: string;

const testApi = useTestApiDatabase();
beforeAll(async () => {
  db = testApi.db;
  ({ api, organizationId: org } = await memberCaller(db, { name: 'Ada Operator' }));
});

/** The node's agent reported its status at `at`, having applied its current document; `online`: its link is alive now. */
const reported = (id: string, at: Date, online: boolean) => reportStatus(db, id, { at, online });

describe('an offline balancer vouches for nothing', () => {
  it('a service whose only balancer went silent is health unknown, counted on the overview, its backends stale', async () => {
    const lb = await balancerNode(db, org, 'lb1', '10.61.0.1');
    const { id } = await api.services.create(
      testService({ name: 'lonely', vip: '10.61.0.100', balancerNodeIds: [lb.id], backends: [testBackend('10.61.0.11')] }),
    );
    await reported(lb.id, new Date(), true);
    expect((await api.services.get({ id })).health.state).toBe('healthy');
    const before = (await api.org.summary()).counts;

    // The agent stops answering (SIGSTOP, a lost link): the gateway marks it disconnected; its last report stays.
    const lastReport = new Date(Date.now() - 45_000);
    await reported(lb.id, lastReport, false);
    expect((await api.nodes.get({ id: lb.id })).online).toBe(false);
    const svc = await api.services.get({ id });
    expect(svc.health.state).toBe('unknown');
    expect((await api.services.list()).find((s) => s.id === id)?.health.state).toBe('unknown');
    // The overview counts it: "1 with no balancer reporting", not silently among the fine ones.
    const counts = (await api.org.summary()).counts;
    expect(counts.unknownServices).toBe((before.unknownServices ?? 0) + 1);
    expect(counts.degradedServices).toBe(before.degradedServices);
    expect(svc.health.reporting).toBe(0);
    expect(svc.backends[0]!.health.checks).toEqual([
      {
        nodeId: lb.id,
        node: 'lb1',
        state: 'unknown',
        since: null,
        error: null,
        lastKnown: { state: 'healthy', at: lastReport, online: false },
      },
    ]);
  });
});

describe("an offline balancer's warnings are stale", () => {
  it('warnings make a service degraded only while their balancer is online; offline, they are shown as from its last report', async () => {
    const lb = await balancerNode(db, org, 'lb-warn', '10.63.0.1');
    const lb2 = await balancerNode(db, org, 'lb-fine', '10.63.0.2');
    const warned = await api.services.create(
      testService({ name: 'warned', vip: '10.63.0.100', balancerNodeIds: [lb.id], backends: [testBackend('10.63.0.11')] }),
    );
    const pair = await api.services.create(
      testService({ name: 'pair', vip: '10.63.0.101', balancerNodeIds: [lb.id, lb2.id], backends: [testBackend('10.63.0.12')] }),
    );
    const warnings = ['service warned: no MAC known for backend 10.63.0.11', 'service pair: no MAC known for backend 10.63.0.12'];
    await reported(lb.id, new Date(), true);
    await reported(lb2.id, new Date(), true);
    const before = (await api.org.summary()).counts;
    // Online, with the agent's warnings about both services: both degraded, the node counted "with warnings".
    await db.prisma.node.update({ where: { id: lb.id }, data: { warnings } });
    expect((await api.services.get({ id: warned.id })).health.state).toBe('degraded');
    expect((await api.services.get({ id: pair.id })).health.state).toBe('degraded');
    let counts = (await api.org.summary()).counts;
    expect(counts.degradedServices).toBe(before.degradedServices + 2);
    expect(counts.nodesWithWarnings).toBe(before.nodesWithWarnings + 1);

    // The agent stops: its last report (and its warnings) stay in the row.
    const lastReport = new Date(Date.now() - 300_000);
    await reported(lb.id, lastReport, false);
    const stale = await api.services.get({ id: warned.id });
    // Its only balancer is offline: health unknown, not degraded by what it said 5 minutes ago.
    expect(stale.health.state).toBe('unknown');
    expect(stale.health.warnings).toEqual([]);
    expect(stale.health.staleWarnings).toEqual([
      { nodeId: lb.id, node: 'lb-warn', message: warnings[0], reportedAt: lastReport, lastSeenAt: lastReport },
    ]);
    expect((await api.services.list()).find((s) => s.id === warned.id)?.health.state).toBe('unknown');
    // lb-fine still reports for "pair": healthy by what it says now; lb-warn's warning is stale there too.
    const both = await api.services.get({ id: pair.id });
    expect([both.health.state, both.health.reporting, both.health.balancers]).toEqual(['healthy', 1, 2]);
    expect(both.health.staleWarnings.map((w) => w.message)).toEqual([warnings[1]]);
    counts = (await api.org.summary()).counts;
    expect(counts.degradedServices).toBe(before.degradedServices);
    expect(counts.unknownServices).toBe(before.unknownServices + 1);
    // The fleet roll-up: an offline node is counted offline, not "with warnings"; its row says the warnings are stale.
    expect(counts.nodesWithWarnings).toBe(before.nodesWithWarnings);
    expect((await api.nodes.page({ filter: 'warnings' })).items.map((n) => n.name)).not.toContain('lb-warn');
    expect((await api.nodes.get({ id: lb.id })).warningsStale).toBe(true);

    // Back online with the same warnings: degraded again.
    await reported(lb.id, new Date(), true);
    expect((await api.services.get({ id: warned.id })).health.state).toBe('degraded');
    expect((await api.nodes.get({ id: lb.id })).warningsStale).toBe(false);
  });
});

describe("an offline node's rollout is from its last report", () => {
  it('a balancer offline for 16 minutes is counted offline, not among the nodes that applied', async () => {
    const gone = await balancerNode(db, org, 'lb-gone', '10.64.0.1');
    const here = await balancerNode(db, org, 'lb-here', '10.64.0.2');
    const { id } = await api.services.create(
      testService({ name: 'half-seen', vip: '10.64.0.100', balancerNodeIds: [gone.id, here.id], backends: [testBackend('10.64.0.11')] }),
    );
    await reported(gone.id, new Date(), true);
    await reported(here.id, new Date(), true);
    expect((await api.services.get({ id })).rollout).toMatchObject({ nodes: 2, applied: 2, errors: [] });

    // lb-gone's agent stopped 16 minutes ago, having applied: its appliedHash still matches, from its last report.
    await reported(gone.id, new Date(Date.now() - 16 * 60_000), false);
    expect((await api.services.get({ id })).rollout).toEqual({ nodes: 2, applied: 1, offline: 1, errors: [] });
    expect((await api.services.list()).find((s) => s.id === id)?.rollout).toEqual({ nodes: 2, applied: 1, offline: 1, errors: [] });
  });
});

describe('how a VIP reaches a balancer that announces nothing', () => {
  it('one L2 balancer answers ARP and owns the VIP; a shared L2 VIP needs VRRP; an L3 VIP needs a route', async () => {
    const lb2 = await balancerNode(db, org, 'lb2', '10.62.0.2');
    const lb3 = await balancerNode(db, org, 'lb3', '10.62.0.3');
    const lb4 = await balancerNode(db, org, 'lb4', '10.62.0.4');
    const sole = await api.services.create(
      testService({ name: 'sole', vip: '10.62.0.100', balancerNodeIds: [lb2.id], backends: [testBackend('10.62.0.11')] }),
    );
    const shared = await api.services.create(
      testService({ name: 'shared', vip: '10.62.0.101', balancerNodeIds: [lb3.id, lb4.id], backends: [testBackend('10.62.0.11')] }),
    );
    const routed = await api.services.create(
      testService({ name: 'routed', mode: 'l3', vip: '10.62.0.102', balancerNodeIds: [lb4.id], backends: [testBackend('10.62.0.11')] }),
    );
    const reach = async (id: string) => (await api.services.get({ id })).balancers.map((b) => [b.node.name, b.announce, b.reach]);
    expect(await reach(sole.id)).toEqual([['lb2', null, 'arp']]);
    expect((await reach(shared.id)).sort()).toEqual([
      ['lb3', null, 'arp-shared'],
      ['lb4', null, 'arp-shared'],
    ]);
    expect(await reach(routed.id)).toEqual([['lb4', null, 'route-needed']]);
    // The node page: lb2 is fine as is; lb4 shares an L2 VIP and has an L3 VIP to route.
    expect((await api.nodes.get({ id: lb2.id })).vipReach).toEqual({ arp: 1, 'arp-shared': 0, 'route-needed': 0 });
    expect((await api.nodes.get({ id: lb4.id })).vipReach).toEqual({ arp: 0, 'arp-shared': 1, 'route-needed': 1 });
  });
});

describe('a service with no health check', () => {
  it('is not called checked: its roll-up says no backend is health-checked, and one with a check says they are', async () => {
    const lb = await balancerNode(db, org, 'lb-nocheck', '10.65.0.1');
    const plain = { vip: '10.65.0.100', balancerNodeIds: [lb.id], backends: [testBackend('10.65.0.11')] };
    const { id: unchecked } = await api.services.create(
      testService({ ...plain, name: 'nocheck', healthCheck: { ...DEFAULT_HEALTH_CHECK, type: 'none' } }),
    );
    const { id: checked } = await api.services.create(testService({ ...plain, name: 'checked', ports: '81' }));
    await reported(lb.id, new Date(), true);
    const none = await api.services.get({ id: unchecked });
    expect(none.health).toMatchObject({ state: 'healthy', unchecked: true });
    expect(none.backends[0]!.health.state).toBe('unchecked');
    expect((await api.services.list()).find((s) => s.id === unchecked)?.health.unchecked).toBe(true);
    expect((await api.services.get({ id: checked })).health).toMatchObject({ state: 'healthy', unchecked: false });
  });
});

describe('a balancer that has not applied the current version', () => {
  it('is online but vouches for nothing yet, and says so rather than "not reporting"', async () => {
    const lb = await balancerNode(db, org, 'lb-pending', '10.66.0.1');
    const { id } = await api.services.create(
      testService({ name: 'pending', vip: '10.66.0.100', balancerNodeIds: [lb.id], backends: [testBackend('10.66.0.11')] }),
    );
    await reported(lb.id, new Date(), true);
    expect((await api.services.get({ id })).backends[0]!.health.checks[0]).not.toHaveProperty('notApplied');
    // A change on its way to it (or one it refused): its applied document is not the one it was given.
    await db.prisma.node.update({ where: { id: lb.id }, data: { appliedHash: 'an-older-version' } });
    const svc = await api.services.get({ id });
    expect(svc.health.state).toBe('unknown');
    expect(svc.backends[0]!.health.checks[0]).toMatchObject({ state: 'unknown', notApplied: true, lastKnown: { online: true } });
    // Offline, it is offline: not "waiting".
    await reported(lb.id, new Date(Date.now() - 45_000), false);
    await db.prisma.node.update({ where: { id: lb.id }, data: { appliedHash: 'an-older-version' } });
    expect((await api.services.get({ id })).backends[0]!.health.checks[0]).not.toHaveProperty('notApplied');
  });
});

describe('the overview every open page polls', () => {
  it('reads everything it counts in one transaction: one connection from the pool, not one per read', async () => {
    const lb = await balancerNode(db, org, 'lb-overview', '10.67.0.1');
    await api.services.create(
      testService({ name: 'overview', vip: '10.67.0.100', balancerNodeIds: [lb.id], backends: [testBackend('10.67.0.11')] }),
    );
    await reported(lb.id, new Date(), true);
    let checkouts = 0;
    const count = () => checkouts++;
    // The tenant view wraps every read in a transaction of its own (BEGIN, the tenant's settings, COMMIT), each on a
    // connection it takes from the pool; the overview's ten reads (nodes by state, services and their health, tokens,
    // traffic) took ten, every few seconds for every open page.
    db.pool.on('acquire', count);
    try {
      const summary = await api.org.summary();
      expect(summary.counts).toMatchObject({ nodes: expect.any(Number), services: expect.any(Number) });
      expect(summary.counts.services).toBeGreaterThan(0);
    } finally {
      db.pool.off('acquire', count);
    }
    expect(checkouts).toBe(1);
  });
});
