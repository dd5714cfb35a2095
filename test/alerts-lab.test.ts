// Alerts end to end with real agents: a panel (and a second replica on the same
// database) on real PostgreSQL, a balancer and three backends in network
// namespaces, and real HTTP receivers in this process. A backend's server
// stops and starts again: each receiver gets one signed alert for the failure
// and one for the recovery, however many replicas evaluate. A receiver that
// answers 500 is retried with doubling delays, and the delivery log shows it.
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { createLab, type Lab } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, enrollLab, labWebService, signUp, waitFor, type AgentProcess, type Api } from './support/control.ts';
import { latestMail } from './support/outbox.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';
import { startReceiver, type Receiver } from './support/webhook-receiver.ts';

const unavailable =
  process.getuid?.() !== 0 ? 'needs root for network namespaces and nftables (run the suite as root, as CI does)' : undefined;
const RETRY_BASE_MS = 400;

describe.skipIf(unavailable)(`alerts with real agents${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let db: TestDatabase;
  let panel: PanelProcess;
  let replica: PanelProcess;
  let lab: Lab;
  let api: Api;
  let agents = new Map<string, AgentProcess>();
  let ok: Receiver;
  let failing: Receiver;
  let failingHook = '';
  let okHook = '';
  const email = `alerts-${Date.now()}@example.com`;

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = {
      DATABASE_URL: db.url,
      TULA_AUTH_SECRET: 'a'.repeat(40),
      HOST: '0.0.0.0',
      TULA_ALERT_RETRY_BASE_MS: String(RETRY_BASE_MS),
    };
    panel = await startPanel(env);
    // A second replica on the same database: it evaluates and sends too, and must not double anything.
    replica = await startPanel(env);
    api = apiClient(panel.url, await signUp(panel.url, email));
    ok = await startReceiver();
    // Fails the first two attempts of every delivery.
    failing = await startReceiver((_r, attempt) => (attempt <= 2 ? 500 : 200));
    ({ id: okHook, secret: ok.secret } = await api.webhooks.create.mutate({ name: 'ok', url: ok.url, format: 'json' }));
    ({ id: failingHook, secret: failing.secret } = await api.webhooks.create.mutate({ name: 'flaky', url: failing.url, format: 'json' }));
    lab = await createLab({ prefix: 'alr', managementNet: 52 });
    let nodeIds: Map<string, string>;
    ({ agents, nodeIds } = await enrollLab(api, lab, panel.port));
    await api.services.create.mutate(labWebService(lab, nodeIds.get('lb1')!, { intervalMs: 500, timeoutMs: 400, fall: 2 }));
    await waitFor(
      'every backend of web to be healthy',
      async () => (await api.services.list.query()).find((s) => s.name === 'web' && s.health.state === 'healthy'),
      60_000,
    );
  }, 240_000);

  afterAll(async () => {
    for (const a of agents.values()) await a.stop();
    await lab?.destroy();
    await replica?.stop();
    await panel?.stop();
    await ok?.close();
    await failing?.close();
    await db?.drop();
  });

  /** Every evaluation and delivery that was due when this was called has happened once a test alert queued now arrives. */
  const settle = async () => {
    const before = ok.received.filter((r) => r.body.type === 'test').length;
    await api.webhooks.sendTest.mutate({ id: okHook });
    await waitFor('the test alert to arrive', () => ok.received.filter((r) => r.body.type === 'test').length > before, 20_000);
  };

  it('a backend whose server stops raises one signed alert, and its recovery one more, at every receiver', async () => {
    const b1 = lab.backends[0]!;
    const about = (r: Receiver['received'][number]) => r.body.kind === 'backend_down' && r.body.data.backend === b1.v4;
    await lab.stopServer(b1);
    await waitFor('the "down" alert', () => ok.received.find((r) => about(r) && r.body.state === 'firing'), 30_000);
    await lab.startServer(b1);
    await waitFor('the "recovered" alert', () => ok.received.find((r) => about(r) && r.body.state === 'resolved'), 30_000);
    // Two more rounds of every replica's evaluation and sending.
    await settle();
    await settle();

    const got = ok.received.filter(about);
    expect(got.map((r) => r.body.state)).toEqual(['firing', 'resolved']);
    expect(got.every((r) => r.verified && r.status === 200)).toBe(true);
    expect(got[0]!.body.title).toBe(`Backend ${b1.v4} of web is down`);
    expect(got[1]!.body.title).toBe(`Backend ${b1.v4} of web recovered`);
    // No other backend was alerted about.
    expect(ok.received.filter((r) => r.body.kind === 'backend_down' && !about(r))).toEqual([]);
    // A signature over another body (or under another secret) does not verify.
    const { verifySignature } = await import('./support/webhook-receiver.ts');
    expect(verifySignature(ok.secret, got[0]!.timestamp, got[0]!.raw.replace('down', 'up'), got[0]!.signature)).toBe(false);
    expect(verifySignature(failing.secret, got[0]!.timestamp, got[0]!.raw, got[0]!.signature)).toBe(false);

    // The notification list has each transition once, and the owner was mailed.
    const list = await api.alerts.list.query({ unacknowledged: false, limit: 100 });
    expect(list.items.filter((a) => a.kind === 'backend_down').map((a) => a.state)).toEqual(['resolved', 'firing']);
    const mail = await latestMail(db.url, email, /is down/);
    expect(mail.subject).toBe(`[Tula] Backend ${b1.v4} of web is down`);

    // Acknowledging is recorded and audited.
    const firing = list.items.find((a) => a.kind === 'backend_down' && a.state === 'firing')!;
    await api.alerts.acknowledge.mutate({ id: firing.id });
    const after = await api.alerts.list.query({ unacknowledged: true, limit: 100 });
    expect(after.items.map((a) => a.id)).not.toContain(firing.id);
    expect((await api.audit.list.query({})).items.map((e) => e.action)).toContain('alert.acknowledge');
  });

  it('a receiver answering 500 is retried with doubling delays until it accepts, and the delivery log shows each answer', async () => {
    const log = await waitFor(
      'the flaky receiver to take the "down" alert',
      async () => {
        const deliveries = await api.webhooks.deliveries.query({ id: failingHook, limit: 50 });
        return deliveries.find((d) => /is down$/.test(d.title) && d.status === 'delivered');
      },
      30_000,
    );
    expect(log.log.map((a) => a.statusCode)).toEqual([500, 500, 200]);
    expect(log.log.map((a) => a.retryAfterMs)).toEqual([RETRY_BASE_MS, 2 * RETRY_BASE_MS, null]);
    expect(log.log.map((a) => a.error)).toEqual(['answered 500', 'answered 500', null]);
    // The receiver saw the same delivery three times, each signed.
    const seen = failing.received.filter((r) => r.delivery === log.id);
    expect(seen.map((r) => [r.status, r.verified])).toEqual([
      [500, true],
      [500, true],
      [200, true],
    ]);
  });
});
