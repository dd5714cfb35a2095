// Alert rules and evaluation on a real PostgreSQL database, without agents (the
// lab test, alerts-lab.test.ts, drives them with real ones): the default
// rules, one alert per transition however many evaluators race, the kinds
// that come from recorded events, the sealed webhook secret and the sender's
// claim.
import { evaluateAlerts, evaluateOrganization, sendDueDeliveries, webhookSecretBox } from '@tula/api';
import { type Database } from '@tula/db';
import { beforeAll, describe, expect, it } from 'vitest';
import { balancerNode, memberCaller, reportStatus, useTestApiDatabase, type Caller } from './support/caller.ts';
import { startReceiver } from './support/webhook-receiver.ts';

let db: Database;
let api: Caller;
let org: string;
let lb1: string;
const URL = 'http://127.0.0.1:1';

const testApi = useTestApiDatabase();
beforeAll(async () => {
  db = testApi.db;
  ({ api, organizationId: org } = await memberCaller(db, { name: 'Ada Alerts' }));
  lb1 = (await balancerNode(db, org, 'lb1', '10.9.0.1')).id;
});

/** A service of the organisation balanced by `balancer`, and a staged rollout of it rolled back (at `at`, or now). */
async function rolledBackService(name: string, vip: string, balancer: string, reason: string, at?: Date): Promise<string> {
  const { id } = await api.services.create({
    name,
    vip,
    ports: '80',
    protocol: 'tcp',
    mode: 'l2',
    balancerNodeIds: [balancer],
    backends: [{ address: '10.0.0.9' }],
  });
  await db.prisma.rollout.create({
    data: {
      organizationId: org,
      serviceId: id,
      fromRevision: 1,
      toRevision: 2,
      holdSeconds: 60,
      batchSize: 1,
      status: 'rolled_back',
      reason,
      ...(at && { updatedAt: at }),
    },
  });
  return id;
}

/** Four evaluators at once, as four replicas would tick. */
const race = async () => (await Promise.all([1, 2, 3, 4].map(() => evaluateOrganization(db, org, URL)))).flat();

describe('alerts', () => {
  it('a new organisation has one enabled rule of every kind', async () => {
    const rules = await api.alerts.rules();
    expect(rules.map((r) => [r.kind, r.enabled, r.seconds]).sort()).toEqual(
      [
        ['backend_down', true, null],
        ['drift', true, null],
        ['nack', true, null],
        ['node_offline', true, 60],
        ['rollout_rolled_back', true, null],
        ['service_down', true, null],
        ['trial_ending', true, 259_200],
      ].sort(),
    );
  });

  it('a NACK raises one alert and its clearing one more, however many evaluators race', async () => {
    await db.prisma.node.update({ where: { id: lb1 }, data: { lastError: 'version 3: nft: syntax error', lastErrorAt: new Date() } });
    expect((await race()).map((a) => [a.kind, a.state, a.title])).toEqual([['nack', 'firing', 'Node lb1 rejected its configuration']]);
    expect(await race()).toEqual([]);
    await db.prisma.node.update({ where: { id: lb1 }, data: { lastError: null, lastErrorAt: null } });
    expect((await race()).map((a) => [a.kind, a.state])).toEqual([['nack', 'resolved']]);
    expect(await race()).toEqual([]);
  });

  it('each drift repair raises one alert; a disabled rule raises none', async () => {
    await db.prisma.node.update({ where: { id: lb1 }, data: { lastDriftAt: new Date(), lastDrift: ['map lut: 3 elements missing'] } });
    expect((await race()).map((a) => [a.kind, a.detail])).toEqual([['drift', 'map lut: 3 elements missing']]);
    expect(await race()).toEqual([]);
    const drift = (await api.alerts.rules()).find((r) => r.kind === 'drift')!;
    await api.alerts.updateRule({ id: drift.id, enabled: false });
    await db.prisma.node.update({ where: { id: lb1 }, data: { lastDriftAt: new Date() } });
    expect(await race()).toEqual([]);
    // Turned on again, it does not report the repair made while it was off.
    await api.alerts.updateRule({ id: drift.id, enabled: true });
    expect(await race()).toEqual([]);
  });

  it('a "backend down" rule scoped to one backend alerts about that backend only; "service down" when every backend fails', async () => {
    const backends = ['10.0.0.1', '10.0.0.2'];
    const { id: serviceId } = await api.services.create({
      name: 'web',
      vip: '10.9.9.10',
      ports: '80',
      protocol: 'tcp',
      mode: 'l2',
      balancerNodeIds: [lb1],
      backends: backends.map((address) => ({ address })),
      healthCheck: { type: 'tcp', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2 },
    });
    const rules = await api.alerts.rules();
    const all = rules.find((r) => r.kind === 'backend_down')!;
    await api.alerts.updateRule({ id: all.id, enabled: false });
    const second = (await api.services.get({ id: serviceId })).backends.find((b) => b.address === '10.0.0.2')!;
    await api.alerts.createRule({ kind: 'backend_down', serviceId, backendId: second.id });
    // What the gateway keeps from a live balancer's status report: both backends failing.
    const report = (failing: string[]) => reportStatus(db, lb1, { failing });
    await report([]);
    expect(await race()).toEqual([]);
    await report(backends);
    expect((await race()).map((a) => a.title).sort()).toEqual([
      'Backend 10.0.0.2 of web is down',
      'Service web is down: every backend is failing',
    ]);
    await report(['10.0.0.1']);
    expect((await race()).map((a) => a.title).sort()).toEqual(['Backend 10.0.0.2 of web recovered', 'Service web is up again']);
    expect(await race()).toEqual([]);
    await api.alerts.updateRule({ id: all.id, enabled: true });
    await api.services.delete({ id: serviceId });
    await db.prisma.node.update({ where: { id: lb1 }, data: { connected: false } });
  });

  it('a node offline longer than the rule allows, a rolled-back rollout and the trial ending each raise their alert once', async () => {
    const lb2 = (await balancerNode(db, org, 'lb2', '10.9.0.2')).id;
    await db.prisma.node.update({ where: { id: lb2 }, data: { connected: true, lastSeenAt: new Date() } });
    expect(await race()).toEqual([]);
    // Offline for 30 s: under the default 60 s, nothing yet; at 61 s, the alert.
    await db.prisma.node.update({ where: { id: lb2 }, data: { connected: false, lastSeenAt: new Date(Date.now() - 30_000) } });
    expect(await race()).toEqual([]);
    await db.prisma.node.update({ where: { id: lb2 }, data: { lastSeenAt: new Date(Date.now() - 61_000) } });
    expect((await race()).map((a) => [a.kind, a.state, a.title])).toEqual([['node_offline', 'firing', 'Node lb2 is offline']]);
    await db.prisma.node.update({ where: { id: lb2 }, data: { connected: true, lastSeenAt: new Date() } });
    expect((await race()).map((a) => [a.kind, a.state])).toEqual([['node_offline', 'resolved']]);

    const serviceId = await rolledBackService('mail', '10.9.9.20', lb2, 'lb2 rejected revision 2');
    expect((await race()).map((a) => [a.kind, a.detail])).toEqual([
      ['rollout_rolled_back', 'revision 2 stopped, revision 1 restored: lb2 rejected revision 2'],
    ]);
    expect(await race()).toEqual([]);

    await db.prisma.organization.update({ where: { id: org }, data: { trialEndsAt: new Date(Date.now() + 86_400_000) } });
    expect((await race()).map((a) => [a.kind, a.title])).toEqual([['trial_ending', 'The free trial ends soon']]);
    expect(await race()).toEqual([]);
    await db.prisma.organization.update({ where: { id: org }, data: { trialEndsAt: new Date(Date.now() - 1000) } });
    expect((await race()).map((a) => [a.kind, a.title])).toEqual([['trial_ending', 'The free trial has ended']]);
    await db.prisma.organization.update({ where: { id: org }, data: { trialEndsAt: new Date(Date.now() + 14 * 86_400_000) } });
    await api.services.delete({ id: serviceId });
    await db.prisma.node.delete({ where: { id: lb2 } });
  });

  it('a webhook secret is shown once and stored sealed; a test delivery is signed with it and logged', async () => {
    const receiver = await startReceiver();
    const { id, secret } = await api.webhooks.create({ name: 'hook', url: receiver.url, format: 'slack' });
    receiver.secret = secret;
    const row = await db.prisma.webhook.findUniqueOrThrow({ where: { id } });
    expect(row.secretSealed).not.toContain(secret.slice(6));
    expect(JSON.stringify(await api.webhooks.list())).not.toContain(secret.slice(6));
    await api.webhooks.sendTest({ id });
    const box = webhookSecretBox('test secret for sealing, not for signing in');
    const mailer = { kind: 'outbox' as const, send: async () => undefined };
    // Two senders at once: the claim lets only one send each (the earlier alerts' mails to the owner are due too).
    const due = await db.prisma.alertDelivery.count({ where: { organizationId: org, status: 'pending' } });
    expect(due).toBeGreaterThan(1);
    const sent = await Promise.all([1, 2].map(() => sendDueDeliveries(db, box, mailer, { retryBaseMs: 1000, maxAttempts: 3 })));
    expect(sent.reduce((a, b) => a + b, 0)).toBe(due);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.verified).toBe(true);
    expect(receiver.received[0]!.body).toMatchObject({ text: ':information_source: Test alert from Tula' });
    const [d] = await api.webhooks.deliveries({ id, limit: 50 });
    expect(d).toMatchObject({ status: 'delivered', test: true, log: [{ attempt: 1, statusCode: 200, error: null, retryAfterMs: null }] });
    expect((await api.audit.list({})).items.map((e) => e.action)).toEqual(expect.arrayContaining(['webhook.create', 'webhook.test']));
    await receiver.close();
  });

  it("one tick reads every organisation's inputs at once and raises each one's alerts from its own only", async () => {
    const b = await memberCaller(db, { name: 'Bea Batch' });
    const nackedInB = (await balancerNode(db, b.organizationId, 'lb1', '10.9.1.1')).id;
    // The tick's shared reads pick the organisations to evaluate; each is then decided on its own reads, under its
    // lock. A's rollout rule changed just now, B's earlier: the shared read takes rolled-back rollouts since B's,
    // and A's rollout from between the two is older than A's own rule: history for A, not news.
    const ruleChanged = new Date();
    const aRule = (await api.alerts.rules()).find((r) => r.kind === 'rollout_rolled_back')!;
    await db.prisma.alertRule.update({ where: { id: aRule.id }, data: { updatedAt: ruleChanged } });
    await db.prisma.alertRule.updateMany({
      where: { organizationId: b.organizationId, kind: 'rollout_rolled_back' },
      data: { updatedAt: new Date(ruleChanged.getTime() - 60_000) },
    });
    const serviceId = await rolledBackService(
      'batch',
      '10.9.9.30',
      lb1,
      'before the rule changed',
      new Date(ruleChanged.getTime() - 30_000),
    );
    await db.prisma.node.update({ where: { id: nackedInB }, data: { lastError: 'version 2: nft: syntax error', lastErrorAt: new Date() } });
    const raised = (await evaluateAlerts(db, URL)).filter((a) => [org, b.organizationId].includes(a.organizationId));
    expect(raised.map((a) => [a.organizationId, a.kind, a.title])).toEqual([
      [b.organizationId, 'nack', 'Node lb1 rejected its configuration'],
    ]);
    expect((await evaluateAlerts(db, URL)).filter((a) => [org, b.organizationId].includes(a.organizationId))).toEqual([]);
    await api.services.delete({ id: serviceId });
  });

  it('another organisation sees none of the alerts and cannot acknowledge them', async () => {
    const { api: other } = await memberCaller(db, { name: 'Other Org' });
    const mine = await api.alerts.list({ unacknowledged: false, limit: 50 });
    expect(mine.items.length).toBeGreaterThan(0);
    expect((await other.alerts.list({ unacknowledged: false, limit: 50 })).items).toEqual([]);
    await expect(other.alerts.acknowledge({ id: mine.items[0]!.id })).rejects.toThrow(/No such alert/);
  });
});
