// Promises: tenants are isolated, sessions are new at every sign-in, and
// nothing secret reaches the log. Every tRPC procedure is called by a member of
// organisation B with organisation A's ids; each must answer NOT_FOUND or
// FORBIDDEN, or (lists, summaries) show nothing of A. The table below must name
// every procedure of the router: a new procedure fails this test until it is
// added here.
import { appRouter } from '@tula/api';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { TRPCClientError } from '@trpc/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, signIn, signUp, verifyEmail, waitFor, type Api } from './support/control.ts';
import { latestMail } from './support/outbox.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';
import { connectSimulatedAgents, insertSimulatedNodes, type SimulatedFleet } from './support/simulated-agents.ts';

let db: TestDatabase;
let panel: PanelProcess;
let a: Api;
let b: Api;
const A = {
  apiToken: '',
  token: '',
  node: '',
  service: '',
  membership: '',
  invitation: '',
  liveNode: '',
  liveService: '',
  alert: '',
  alertRule: '',
  webhook: '',
};
/** A live (simulated) agent of A's, reporting counters while B's subscriptions are checked. */
let liveAgentOfA: SimulatedFleet | undefined;
let sql: pg.Client;
const SECRET_NAME = 'a-private-service';
/** The secret part of each cookie's value (before the signature). */
const cookieSecrets = (cookie: string) => cookie.split('; ').map((kv) => decodeURIComponent(kv.split('=')[1]!).split('.')[0]!);
/** Secrets this run handled, none of which may appear in the panel's log. */
const secrets: string[] = ['t'.repeat(40), 'a long enough password'];

beforeAll(async () => {
  db = await createTestDatabase();
  panel = await startPanel({ DATABASE_URL: db.url, TULA_AUTH_SECRET: 't'.repeat(40) });
  const cookies = [await signUp(panel.url, 'tenant-a@example.com'), await signUp(panel.url, 'tenant-b@example.com')];
  await verifyEmail(db.url, 'tenant-a@example.com');
  await verifyEmail(db.url, 'tenant-b@example.com');
  secrets.push(...cookies.flatMap(cookieSecrets));
  a = apiClient(panel.url, cookies[0]!);
  b = apiClient(panel.url, cookies[1]!);
  const { id: tokenId, token } = await a.tokens.create.mutate({ maxUses: 2 });
  A.token = tokenId;
  const enrolled = await fetch(`${panel.url}/api/agent/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, name: 'a-node', hostname: 'a-host' }),
  });
  const credential = (await enrolled.json()) as { nodeId: string; credential: string };
  A.node = credential.nodeId;
  secrets.push(token, credential.credential);
  await a.nodes.setRole.mutate({ id: A.node, role: 'balancer' });
  A.service = (
    await a.services.create.mutate({
      name: SECRET_NAME,
      vip: '10.77.0.1',
      ports: '80',
      protocol: 'tcp',
      mode: 'l2',
      balancerNodeIds: [A.node],
      backends: [{ address: '10.77.0.11' }],
    })
  ).id;
  A.membership = (await a.team.list.query()).members[0]!.id;
  A.apiToken = (await a.apiTokens.create.mutate({ name: 'a bot', role: 'admin' })).id;
  await a.team.invite.mutate({ email: 'someone@example.com', role: 'viewer' });
  A.invitation = /\/invite\/([A-Za-z0-9_-]+)/.exec((await latestMail(db.url, 'someone@example.com')).link)![1]!;
  secrets.push(A.invitation);
  // A backend host of A's with a live agent: it receives A's documents and reports traffic.
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const orgOfA = (await sql.query<{ organizationId: string }>(`SELECT "organizationId" FROM "Node" WHERE id = $1`, [A.node])).rows[0]!
    .organizationId;
  // An alert of A's, as the evaluator records one; A's default rules and a webhook with its secret.
  A.alert = (
    await sql.query<{ id: string }>(
      `INSERT INTO "Alert" (id, "organizationId", kind, state, key, title, detail) VALUES ('alert-of-a', $1, 'nack', 'firing', 'k', 't', 'd') RETURNING id`,
      [orgOfA],
    )
  ).rows[0]!.id;
  A.alertRule = (await a.alerts.rules.query())[0]!.id;
  const hook = await a.webhooks.create.mutate({ name: 'a hook', url: 'http://127.0.0.1:9/a', format: 'json' });
  A.webhook = hook.id;
  secrets.push(hook.secret);
  const [live] = await insertSimulatedNodes(sql, orgOfA, 1);
  A.liveNode = live!.id;
  A.liveService = (await a.services.create.mutate(liveService(live!.address, '10.77.0.2'))).id;
  liveAgentOfA = await connectSimulatedAgents(panel.url, [live!], { reportEveryMs: 200 });
  // A's single sign-on (written here: saving through the API needs a live identity provider, e2e/sso.spec.ts has one).
  await sql.query(
    `INSERT INTO "SsoConnection" (id, "organizationId", issuer, "clientId", "clientSecretSealed", "allowedDomains", "defaultRole", "updatedAt")
     VALUES ('sso-of-a', $1, 'https://idp-of-a.example.com', 'a-client', 'v1.x.y.z', '{a-corp.example.com}', 'viewer', now())`,
    [orgOfA],
  );
}, 120_000);
afterAll(async () => {
  liveAgentOfA?.stop();
  await sql?.end();
  await panel?.stop();
  await db?.drop();
});

/** A service of A's whose backend is A's live agent; a new VIP gives that agent a new document to ACK. */
const liveService = (backend: string, vip: string) => ({
  name: 'a-live-service',
  vip,
  ports: '80',
  protocol: 'tcp' as const,
  mode: 'l2' as const,
  balancerNodeIds: [A.node],
  backends: [{ address: backend }],
});
const validService = {
  name: 'x',
  vip: '10.78.0.1',
  ports: '80',
  protocol: 'tcp' as const,
  mode: 'l2' as const,
  backends: [{ address: '10.78.0.2' }],
  draft: true,
};
type Subscribe = (api: Api, o: { onData: (d: unknown) => void }) => { unsubscribe(): void };
type Check =
  | { refused: () => Promise<unknown> }
  | { showsNothingOfA: () => Promise<unknown> }
  | { ownOrganisation: () => Promise<unknown> }
  | { notAboutTenants: string }
  /** A's own subscription must see `aLive` while A's agent reports and A's fleet changes; B's must not. */
  | { liveOfA: Subscribe; aLive: (event: unknown) => boolean };

/** Every procedure, as organisation B would misuse it against organisation A. */
const checks: Record<string, Check> = {
  'health.status': { notAboutTenants: 'public health of the panel process' },
  'tokens.create': { ownOrganisation: () => b.tokens.create.mutate({}) },
  'tokens.list': { showsNothingOfA: () => b.tokens.list.query() },
  'tokens.revoke': { refused: () => b.tokens.revoke.mutate({ id: A.token }) },
  'apiTokens.create': { ownOrganisation: () => b.apiTokens.create.mutate({ name: 'b bot', role: 'viewer' }) },
  'apiTokens.list': { showsNothingOfA: () => b.apiTokens.list.query() },
  'apiTokens.revoke': { refused: () => b.apiTokens.revoke.mutate({ id: A.apiToken }) },
  'account.sessions': { notAboutTenants: "the signed-in person's own sessions (where userId = the caller)" },
  'account.signOutOthers': { notAboutTenants: "ends the signed-in person's own other sessions" },
  'nodes.list': { showsNothingOfA: () => b.nodes.list.query() },
  'nodes.page': { showsNothingOfA: () => b.nodes.page.query({ search: 'a-node' }) },
  'nodes.get': { refused: () => b.nodes.get.query({ id: A.node }) },
  'nodes.rotateCredential': { refused: () => b.nodes.rotateCredential.mutate({ id: A.node }) },
  'nodes.revoke': { refused: () => b.nodes.revoke.mutate({ id: A.node }) },
  'nodes.delete': { refused: () => b.nodes.delete.mutate({ id: A.node }) },
  'nodes.setRole': { refused: () => b.nodes.setRole.mutate({ id: A.node, role: 'backend' }) },
  'nodes.setAnnounce': {
    refused: () =>
      b.nodes.setAnnounce.mutate({
        id: A.node,
        announce: { vrrp: { interface: 'e0', virtualRouterId: 1, priority: 100, advertIntervalMs: 1000 } },
      }),
  },
  'nodes.drain': { refused: () => b.nodes.drain.mutate({ id: A.node }) },
  'nodes.undrain': { refused: () => b.nodes.undrain.mutate({ id: A.node }) },
  'nodes.upgrade': { refused: () => b.nodes.upgrade.mutate({ id: A.node }) },
  'services.list': { showsNothingOfA: () => b.services.list.query() },
  'services.get': { refused: () => b.services.get.query({ id: A.service }) },
  'services.create': { refused: () => b.services.create.mutate({ ...validService, balancerNodeIds: [A.node] }) },
  'services.update': { refused: () => b.services.update.mutate({ id: A.service, service: validService }) },
  'services.delete': { refused: () => b.services.delete.mutate({ id: A.service }) },
  'services.setBackendState': {
    refused: () => b.services.setBackendState.mutate({ serviceId: A.service, address: '10.77.0.11', state: 'disabled' }),
  },
  'services.history': { refused: () => b.services.history.query({ id: A.service }) },
  'services.diff': { refused: () => b.services.diff.query({ id: A.service, from: 1, to: 1 }) },
  'services.rollback': { refused: () => b.services.rollback.mutate({ id: A.service, number: 1 }) },
  'services.preview': { refused: () => b.services.preview.mutate({ id: A.service, service: validService }) },
  'services.backendTraffic': { refused: () => b.services.backendTraffic.query({ serviceId: A.service }) },
  'services.setBackendWeight': {
    refused: () => b.services.setBackendWeight.mutate({ serviceId: A.service, address: '10.77.0.11', weight: 5 }),
  },
  'live.counters': {
    liveOfA: (api, o) => api.live.counters.subscribe(undefined, o),
    aLive: (e) => JSON.stringify(e).includes('10.77.0.2'),
  },
  'live.fleet': {
    liveOfA: (api, o) => api.live.fleet.subscribe(undefined, o),
    aLive: (e) => (e as { changed?: boolean }).changed === true,
  },
  'org.summary': { showsNothingOfA: () => b.org.summary.query() },
  'audit.list': { showsNothingOfA: () => b.audit.list.query({}) },
  'audit.actors': { showsNothingOfA: () => b.audit.actors.query() },
  'audit.export': { showsNothingOfA: () => b.audit.export.query({}) },
  'stats.series': { refused: () => b.stats.series.query({ range: 'live', serviceId: A.service }) },
  'stats.health': { refused: () => b.stats.health.query({ serviceId: A.service, range: '1h' }) },
  'sso.get': { showsNothingOfA: () => b.sso.get.query() },
  'sso.save': { notAboutTenants: "takes no ids: writes the caller's own organisation's connection in change() (tenant client)" },
  'sso.remove': {
    refused: () =>
      b.sso.remove.mutate().finally(async () => {
        expect((await sql.query(`SELECT 1 FROM "SsoConnection" WHERE id = 'sso-of-a'`)).rowCount, "A's SSO survives B's remove").toBe(1);
      }),
  },
  'sso.discover': { notAboutTenants: 'before sign-in: the provider id for an email domain or organisation ID, nothing else' },
  'rollouts.get': { showsNothingOfA: () => b.rollouts.get.query({ serviceId: A.service }) },
  'rollouts.pause': { refused: () => b.rollouts.pause.mutate({ serviceId: A.service }) },
  'rollouts.resume': { refused: () => b.rollouts.resume.mutate({ serviceId: A.service }) },
  'rollouts.abort': { refused: () => b.rollouts.abort.mutate({ serviceId: A.service }) },
  'team.list': { showsNothingOfA: () => b.team.list.query() },
  'team.outbox': { showsNothingOfA: () => b.team.outbox.query() },
  'team.invite': { ownOrganisation: () => b.team.invite.mutate({ email: 'friend@example.com', role: 'viewer' }) },
  'team.accept': { refused: () => b.team.accept.mutate({ token: A.invitation }) },
  'team.setRole': { refused: () => b.team.setRole.mutate({ membershipId: A.membership, role: 'viewer' }) },
  'team.remove': { refused: () => b.team.remove.mutate({ membershipId: A.membership }) },
  'team.revokeInvitation': { refused: async () => b.team.revokeInvitation.mutate({ id: (await a.team.list.query()).invitations[0]!.id }) },
  'team.renewInvitation': {
    refused: async () => b.team.renewInvitation.mutate({ id: (await a.team.list.query()).invitations[0]!.id, deliver: 'link' }),
  },
  'alerts.list': { showsNothingOfA: () => b.alerts.list.query({ unacknowledged: false, limit: 50 }) },
  'alerts.acknowledge': { refused: () => b.alerts.acknowledge.mutate({ id: A.alert }) },
  'alerts.rules': { showsNothingOfA: () => b.alerts.rules.query() },
  'alerts.createRule': { refused: () => b.alerts.createRule.mutate({ kind: 'backend_down', serviceId: A.service, backendId: null }) },
  'alerts.updateRule': { refused: () => b.alerts.updateRule.mutate({ id: A.alertRule, enabled: false }) },
  'alerts.deleteRule': { refused: () => b.alerts.deleteRule.mutate({ id: A.alertRule }) },
  'webhooks.create': { ownOrganisation: () => b.webhooks.create.mutate({ name: 'b hook', url: 'http://127.0.0.1:9/b', format: 'json' }) },
  'webhooks.list': { showsNothingOfA: () => b.webhooks.list.query() },
  'webhooks.delete': { refused: () => b.webhooks.delete.mutate({ id: A.webhook }) },
  'webhooks.sendTest': { refused: () => b.webhooks.sendTest.mutate({ id: A.webhook }) },
  'webhooks.deliveries': { refused: () => b.webhooks.deliveries.query({ id: A.webhook, limit: 50 }) },
  'lab.status': { showsNothingOfA: () => b.lab.status.query() },
  'lab.setBackendServing': { refused: () => b.lab.setBackendServing.mutate({ backend: 'b1', serving: false }) },
  'lab.setBalancerAlive': { refused: () => b.lab.setBalancerAlive.mutate({ balancer: 'lb1', alive: false }) },
};

/**
 * What A's and B's subscriptions deliver while A's agent reports and A's fleet
 * changes, until A's own has seen `aLive` (so there was something to leak).
 */
async function liveEvents(subscribe: Subscribe, aLive: (e: unknown) => boolean): Promise<{ ofA: unknown[]; ofB: unknown[] }> {
  const ofA: unknown[] = [];
  const ofB: unknown[] = [];
  const subs = [subscribe(a, { onData: (d) => ofA.push(d) }), subscribe(b, { onData: (d) => ofB.push(d) })];
  try {
    let round = 0;
    await waitFor("A's subscription to see A's live data", async () => {
      // A's live agent gets a new document (a moved VIP) and ACKs it, while it reports traffic.
      const { backends } = await a.services.get.query({ id: A.liveService });
      await a.services.update.mutate({
        id: A.liveService,
        service: liveService(backends[0]!.address, round++ % 2 ? '10.77.0.2' : '10.77.0.3'),
      });
      await new Promise((r) => setTimeout(r, 500));
      return ofA.some(aLive);
    });
    // B's stream is served by the same process from the same signals: what A just got, B would have too.
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    for (const sub of subs) sub.unsubscribe();
  }
  return { ofA, ofB };
}

describe('tenant isolation', () => {
  it('the table names every procedure of the router', () => {
    expect(Object.keys(checks).sort()).toEqual(Object.keys(appRouter._def.procedures).sort());
  });

  for (const [name, check] of Object.entries(checks)) {
    const what =
      'refused' in check
        ? "refuses A's ids"
        : 'showsNothingOfA' in check
          ? 'shows nothing of A'
          : 'ownOrganisation' in check
            ? "acts on B's own organisation only"
            : 'liveOfA' in check
              ? "streams nothing of A's live agents and changes"
              : check.notAboutTenants;
    it(`${name}: ${what}`, async () => {
      if ('liveOfA' in check) {
        const { ofA, ofB } = await liveEvents(check.liveOfA, check.aLive);
        expect(ofA.some(check.aLive)).toBe(true);
        expect(ofB.filter(check.aLive), `B received A's live data: ${JSON.stringify(ofB).slice(0, 300)}`).toEqual([]);
        const text = JSON.stringify(ofB);
        for (const secret of [A.node, A.liveNode, A.service, A.liveService, '10.77.0.1', '10.77.0.2', '10.77.0.3'])
          expect(text).not.toContain(secret);
      } else if ('refused' in check) {
        const err = await check.refused().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, `${name} succeeded for another organisation`).toBeInstanceOf(TRPCClientError);
        expect(['NOT_FOUND', 'FORBIDDEN']).toContain((err as { data?: { code?: string } }).data?.code);
      } else if ('showsNothingOfA' in check) {
        const text = JSON.stringify(await check.showsNothingOfA());
        for (const secret of [
          A.node,
          A.service,
          A.token,
          A.membership,
          SECRET_NAME,
          'a-node',
          'tenant-a@example.com',
          '10.77.0.1',
          'idp-of-a',
          'a-client',
          'a-corp',
        ])
          expect(text).not.toContain(secret);
      } else if ('ownOrganisation' in check) {
        const before = JSON.stringify([await a.tokens.list.query(), await a.team.list.query()]);
        await check.ownOrganisation();
        expect(JSON.stringify([await a.tokens.list.query(), await a.team.list.query()])).toBe(before);
      }
    });
  }

  it('a sign-in starts a new session: the token differs from every earlier one, and signing out ends it', async () => {
    const sessionToken = (cookie: string) => /better-auth\.session_token=([^;]+)/.exec(cookie)?.[1];
    const first = await signIn(panel.url, 'tenant-a@example.com', 'a long enough password');
    const second = await signIn(panel.url, 'tenant-a@example.com', 'a long enough password');
    secrets.push(...[first, second].flatMap(cookieSecrets));
    expect(sessionToken(first)).toBeTruthy();
    expect(sessionToken(second)).not.toBe(sessionToken(first));
    const signOut = await fetch(`${panel.url}/api/auth/sign-out`, {
      method: 'POST',
      headers: { cookie: first, origin: panel.url, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(signOut.status, await signOut.clone().text()).toBe(200);
    const after = await apiClient(panel.url, first)
      .nodes.list.query()
      .then(
        () => 'allowed',
        (e: { data?: { code?: string } }) => e.data?.code,
      );
    expect(after).toBe('UNAUTHORIZED');
    expect((await apiClient(panel.url, second).nodes.list.query()).length).toBe(2);
  });

  it('sign-in is limited per address: guessing passwords ends in 429, and then even the right password waits', async () => {
    const attempt = (password: string) =>
      fetch(`${panel.url}/api/auth/sign-in/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: panel.url },
        body: JSON.stringify({ email: 'tenant-b@example.com', password }),
      });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await attempt(`wrong password ${i}`)).status);
    expect(statuses[0]).toBe(401);
    expect(statuses.at(-1)).toBe(429);
    expect((await attempt('a long enough password')).status).toBe(429);
  });

  it("nothing secret appears in the panel's log of this whole run", () => {
    const log = panel.output();
    expect(log.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThanOrEqual(16);
      expect(log.includes(secret), `a secret (${secret.slice(0, 4)}…) is in the log`).toBe(false);
    }
  });

  it("A's data came through unchanged", async () => {
    const node = await a.nodes.get.query({ id: A.node });
    expect(node.revokedAt).toBeNull();
    expect(node.role).toBe('balancer');
    const service = await a.services.get.query({ id: A.service });
    expect(service.backends.map((x) => x.state)).toEqual(['active']);
    expect((await a.tokens.list.query()).find((t) => t.id === A.token)?.usable).toBe(true);
    expect((await a.team.list.query()).members.map((m) => m.role)).toEqual(['owner']);
    await waitFor('A to still see its service', async () => (await a.services.list.query()).some((s) => s.name === SECRET_NAME));
  });
});
