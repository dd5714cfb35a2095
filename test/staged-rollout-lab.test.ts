// Staged rollouts with real agents: a panel on real PostgreSQL, two balancers
// and three backends in network namespaces. The router sends the L3 VIP's
// traffic through lb2, so lb1 (the canary) can take a bad change while a
// request loop through lb2 counts failures.
import { LAB, type Lab } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allNodesApplied, waitFor, type AgentProcess, type Api } from './support/control.ts';
import { startPanelLab, type PanelLab } from './support/panel-lab.ts';

const unavailable =
  process.getuid?.() !== 0 ? 'needs root for network namespaces and nftables (run the suite as root, as CI does)' : undefined;

describe.skipIf(unavailable)(`staged rollouts with real agents${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let setup: PanelLab | undefined;
  let lab: Lab;
  let api: Api;
  let agents = new Map<string, AgentProcess>();
  let serviceId = '';
  const id = (name: string) => setup!.id(name);
  const url = `http://${LAB.l3Vip.v4}/`;

  const curl = async () => (await lab.exec(lab.client.ns, ['curl', '-sS', '--max-time', '3', url], { allowFailure: true })).stdout.trim();
  const allInSync = () => allNodesApplied(api, agents.size);
  const service = (change: Record<string, unknown> = {}) => ({
    name: 'web',
    vip: LAB.l3Vip.v4,
    ports: '80',
    protocol: 'tcp' as const,
    mode: 'l3' as const,
    tunnel: 'vxlan' as const,
    balancerNodeIds: [id('lb1'), id('lb2')],
    backends: lab.backends.map((b) => ({ address: b.v4 })),
    // Timeouts generous enough that two shared cores under a request loop do not flap a healthy backend.
    healthCheck: { type: 'http' as const, path: '/', expectStatus: 200, rise: 2, fall: 3, intervalMs: 1000, timeoutMs: 1000 },
    ...change,
  });
  /** Requests through lb2 until `until` settles and at least 20 were sent; returns how many were sent and how many failed. */
  const requestLoop = async (until: Promise<unknown>) => {
    let done = false;
    void until.finally(() => (done = true));
    let sent = 0;
    let failed = 0;
    while (!done || sent < 20) {
      sent++;
      if (!/^b\d$/.test(await curl())) failed++;
    }
    return { sent, failed };
  };
  const stopped = (status: string) =>
    waitFor(
      `the rollout to be ${status}`,
      async () => {
        const r = await api.rollouts.get.query({ serviceId });
        return r && r.status !== 'running' ? r : undefined;
      },
      60_000,
    );

  beforeAll(async () => {
    setup = await startPanelLab({
      prefix: 'rso',
      managementNet: 47,
      authSecret: 'r'.repeat(40),
      email: `rollout-${Date.now()}@example.com`,
    });
    ({ lab, api, agents } = setup);
    await lab.routeL3Vips([lab.balancers[1]!]);
    ({ id: serviceId } = await api.services.create.mutate(service()));
    await allInSync();
    await waitFor(
      'lb2 to forward to every backend',
      async () => {
        const s = new Set<string>();
        for (let i = 0; i < 30 && s.size < 3; i++) s.add(await curl());
        return s.size === 3 && [...s].every((b) => /^b\d$/.test(b));
      },
      30_000,
    );
  }, 240_000);

  afterAll(async () => {
    await setup?.stop();
  });

  it('a staged change reaches the canary first, then, after the hold, the other balancer', async () => {
    const weighted = service({ backends: lab.backends.map((b, i) => ({ address: b.v4, weight: i === 0 ? 5 : 1 })) });
    await api.services.update.mutate({ id: serviceId, service: weighted, staged: { canary: id('lb1'), holdSeconds: 3, batchSize: 1 } });
    const started = (await api.rollouts.get.query({ serviceId }))!;
    expect(started.nodes.map((n) => [n.name, n.batch, n.revision])).toEqual([
      ['lb1', 0, started.toRevision],
      ['lb2', 1, started.fromRevision],
    ]);
    const weightOn = async (name: string) =>
      JSON.stringify((await api.nodes.get.query({ id: id(name) })).desiredState).includes('"weight":5');
    expect(await weightOn('lb1')).toBe(true);
    expect(await weightOn('lb2')).toBe(false);

    const done = await stopped('completed');
    expect(done.status).toBe('completed');
    expect(done.reason).toBeNull();
    expect(await weightOn('lb2')).toBe(true);
    await allInSync();
    const audit = await api.audit.list.query({});
    expect(audit.items.map((e) => e.action)).toEqual(expect.arrayContaining(['rollout.advance', 'rollout.complete']));
  });

  it('a change the balancer rejects stops at the canary and is rolled back; traffic through lb2 has no failure', async () => {
    const before = (await api.nodes.get.query({ id: id('lb2') })).desiredHash;
    // No host has this interface: every agent refuses the document (NACK).
    await api.services.update.mutate({
      id: serviceId,
      service: service({ ingressInterface: 'rsonone0' }),
      staged: { canary: id('lb1'), holdSeconds: 3, batchSize: 1 },
    });
    const outcome = stopped('rolled back');
    const loop = await requestLoop(outcome);
    const r = await outcome;
    expect(r.status).toBe('rolled_back');
    expect(r.reason).toMatch(/^lb1 rejected revision \d+: .*rsonone0/);
    console.log(`request loop through lb2 during the rejected rollout: ${loop.sent} requests, ${loop.failed} failed`);
    expect(loop.failed).toBe(0);
    expect((await api.nodes.get.query({ id: id('lb2') })).desiredHash).toBe(before);
    expect((await api.services.get.query({ id: serviceId })).ingressInterface).toBeNull();
    const history = await api.services.history.query({ id: serviceId });
    expect(history.items[0]).toMatchObject({ action: 'rollout.rolled_back', restoredNumber: r.fromRevision });
    await allInSync();
  });

  it('a change to a backend that fails its health check stops at the canary and is rolled back; traffic through lb2 has no failure', async () => {
    // 10.99.0.77 is on the server network but no host answers there.
    const broken = service({ backends: [{ address: '10.99.0.77' }, ...lab.backends.map((b) => ({ address: b.v4 }))] });
    await api.services.update.mutate({ id: serviceId, service: broken, staged: { canary: id('lb1'), holdSeconds: 20, batchSize: 1 } });
    const outcome = stopped('rolled back');
    const loop = await requestLoop(outcome);
    const r = await outcome;
    expect(r.status).toBe('rolled_back');
    expect(r.reason).toMatch(/^lb1 reports backend 10\.99\.0\.77 unhealthy/);
    console.log(`request loop through lb2 during the unhealthy rollout: ${loop.sent} requests, ${loop.failed} failed`);
    expect(loop.failed).toBe(0);
    expect((await api.services.get.query({ id: serviceId })).backends.map((b: { address: string }) => b.address)).not.toContain(
      '10.99.0.77',
    );
    await allInSync();
  });
});
