// Promises: tenants are isolated, sessions are new at every sign-in, and
// nothing secret reaches the log. Every tRPC procedure is called by a member of
// organisation B with organisation A's ids; each must answer NOT_FOUND or
// FORBIDDEN, or (lists, summaries) show nothing of A. The table below must name
// every procedure of the router: a new procedure fails this test until it is
// added here.
import { appRouter } from '@tula/api';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, signIn, signUp, waitFor, type Api } from './support/control.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';

let db: TestDatabase;
let panel: PanelProcess;
let a: Api;
let b: Api;
const A = { token: '', node: '', service: '', membership: '', invitation: '' };
const SECRET_NAME = 'a-private-service';
/** The secret part of each cookie's value (before the signature). */
const cookieSecrets = (cookie: string) => cookie.split('; ').map((kv) => decodeURIComponent(kv.split('=')[1]!).split('.')[0]!);
/** Secrets this run handled, none of which may appear in the panel's log. */
const secrets: string[] = ['t'.repeat(40), 'a long enough password'];

beforeAll(async () => {
  db = await createTestDatabase();
  panel = await startPanel({ DATABASE_URL: db.url, TULA_AUTH_SECRET: 't'.repeat(40), TULA_DEV_OUTBOX: '1' });
  const cookies = [await signUp(panel.url, 'tenant-a@example.com'), await signUp(panel.url, 'tenant-b@example.com')];
  secrets.push(...cookies.flatMap(cookieSecrets));
  a = apiClient(panel.url, cookies[0]!);
  b = apiClient(panel.url, cookies[1]!);
  const { id: tokenId, token } = await a.tokens.create.mutate({ maxUses: 2 });
  A.token = tokenId;
  const enrolled = await fetch(`${panel.url}/api/agent/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, name: 'a-node', hostname: 'a-host' }) });
  const credential = (await enrolled.json()) as { nodeId: string; credential: string };
  A.node = credential.nodeId;
  secrets.push(token, credential.credential);
  await a.nodes.setRole.mutate({ id: A.node, role: 'balancer' });
  A.service = (await a.services.create.mutate({ name: SECRET_NAME, vip: '10.77.0.1', ports: '80', protocol: 'tcp', mode: 'l2', balancerNodeIds: [A.node], backends: [{ address: '10.77.0.11' }] })).id;
  A.membership = (await a.team.list.query()).members[0]!.id;
  await a.team.invite.mutate({ email: 'someone@example.com', role: 'viewer' });
  const outbox = await (await fetch(`${panel.url}/dev/outbox`)).text();
  A.invitation = /\/invite\/([A-Za-z0-9_-]+)/.exec(outbox)![1]!;
  secrets.push(A.invitation);
}, 120_000);
afterAll(async () => {
  await panel?.stop();
  await db?.drop();
});

const validService = { name: 'x', vip: '10.78.0.1', ports: '80', protocol: 'tcp' as const, mode: 'l2' as const, backends: [{ address: '10.78.0.2' }] };
type Check = { refused: () => Promise<unknown> } | { showsNothingOfA: () => Promise<unknown> } | { ownOrganisation: () => Promise<unknown> } | { notAboutTenants: string };

/** Every procedure, as organisation B would misuse it against organisation A. */
const checks: Record<string, Check> = {
  'health.status': { notAboutTenants: 'public health of the panel process' },
  'tokens.create': { ownOrganisation: () => b.tokens.create.mutate({}) },
  'tokens.list': { showsNothingOfA: () => b.tokens.list.query() },
  'tokens.revoke': { refused: () => b.tokens.revoke.mutate({ id: A.token }) },
  'nodes.list': { showsNothingOfA: () => b.nodes.list.query() },
  'nodes.page': { showsNothingOfA: () => b.nodes.page.query({ search: 'a-node' }) },
  'nodes.get': { refused: () => b.nodes.get.query({ id: A.node }) },
  'nodes.rotateCredential': { refused: () => b.nodes.rotateCredential.mutate({ id: A.node }) },
  'nodes.revoke': { refused: () => b.nodes.revoke.mutate({ id: A.node }) },
  'nodes.delete': { refused: () => b.nodes.delete.mutate({ id: A.node }) },
  'nodes.setRole': { refused: () => b.nodes.setRole.mutate({ id: A.node, role: 'backend' }) },
  'services.list': { showsNothingOfA: () => b.services.list.query() },
  'services.get': { refused: () => b.services.get.query({ id: A.service }) },
  'services.create': { refused: () => b.services.create.mutate({ ...validService, balancerNodeIds: [A.node] }) },
  'services.update': { refused: () => b.services.update.mutate({ id: A.service, service: validService }) },
  'services.delete': { refused: () => b.services.delete.mutate({ id: A.service }) },
  'services.setBackendState': { refused: () => b.services.setBackendState.mutate({ serviceId: A.service, address: '10.77.0.11', state: 'disabled' }) },
  'services.history': { refused: () => b.services.history.query({ id: A.service }) },
  'services.diff': { refused: () => b.services.diff.query({ id: A.service, from: 1, to: 1 }) },
  'services.rollback': { refused: () => b.services.rollback.mutate({ id: A.service, number: 1 }) },
  'services.preview': { refused: () => b.services.preview.mutate({ id: A.service, service: validService }) },
  'live.counters': { showsNothingOfA: () => firstEvents((o) => b.live.counters.subscribe(undefined, o)) },
  'live.fleet': { showsNothingOfA: () => firstEvents((o) => b.live.fleet.subscribe(undefined, o)) },
  'org.summary': { showsNothingOfA: () => b.org.summary.query() },
  'audit.list': { showsNothingOfA: () => b.audit.list.query({}) },
  'audit.actors': { showsNothingOfA: () => b.audit.actors.query() },
  'audit.export': { showsNothingOfA: () => b.audit.export.query({}) },
  'stats.series': { refused: () => b.stats.series.query({ range: 'live', serviceId: A.service }) },
  'stats.health': { refused: () => b.stats.health.query({ serviceId: A.service, range: '1h' }) },
  'team.list': { showsNothingOfA: () => b.team.list.query() },
  'team.invite': { ownOrganisation: () => b.team.invite.mutate({ email: 'friend@example.com', role: 'viewer' }) },
  'team.accept': { refused: () => b.team.accept.mutate({ token: A.invitation }) },
  'team.setRole': { refused: () => b.team.setRole.mutate({ membershipId: A.membership, role: 'viewer' }) },
  'team.remove': { refused: () => b.team.remove.mutate({ membershipId: A.membership }) },
  'lab.status': { showsNothingOfA: () => b.lab.status.query() },
  'lab.setBackendServing': { refused: () => b.lab.setBackendServing.mutate({ backend: 'b1', serving: false }) },
};

/** What a subscription delivers in its first 1.5 s while A's fleet changes. */
async function firstEvents(subscribe: (o: { onData: (d: unknown) => void }) => { unsubscribe(): void }): Promise<unknown[]> {
  const got: unknown[] = [];
  const sub = subscribe({ onData: (d) => got.push(d) });
  await new Promise((r) => setTimeout(r, 300));
  await a.nodes.setRole.mutate({ id: A.node, role: 'both' });
  await a.nodes.setRole.mutate({ id: A.node, role: 'balancer' });
  await new Promise((r) => setTimeout(r, 1200));
  sub.unsubscribe();
  return got;
}

describe('tenant isolation', () => {
  it('the table names every procedure of the router', () => {
    expect(Object.keys(checks).sort()).toEqual(Object.keys(appRouter._def.procedures).sort());
  });

  for (const [name, check] of Object.entries(checks)) {
    it(`${name}: ${'refused' in check ? "refuses A's ids" : 'showsNothingOfA' in check ? 'shows nothing of A' : 'ownOrganisation' in check ? "acts on B's own organisation only" : check.notAboutTenants}`, async () => {
      if ('refused' in check) {
        const err = await check.refused().then(() => undefined, (e: unknown) => e);
        expect(err, `${name} succeeded for another organisation`).toBeInstanceOf(TRPCClientError);
        expect(['NOT_FOUND', 'FORBIDDEN']).toContain((err as { data?: { code?: string } }).data?.code);
      } else if ('showsNothingOfA' in check) {
        const text = JSON.stringify(await check.showsNothingOfA());
        for (const secret of [A.node, A.service, A.token, A.membership, SECRET_NAME, 'a-node', 'tenant-a@example.com', '10.77.0.1']) expect(text).not.toContain(secret);
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
    const signOut = await fetch(`${panel.url}/api/auth/sign-out`, { method: 'POST', headers: { cookie: first, origin: panel.url, 'content-type': 'application/json' }, body: '{}' });
    expect(signOut.status, await signOut.clone().text()).toBe(200);
    const after = await apiClient(panel.url, first).nodes.list.query().then(() => 'allowed', (e: { data?: { code?: string } }) => e.data?.code);
    expect(after).toBe('UNAUTHORIZED');
    expect((await apiClient(panel.url, second).nodes.list.query()).length).toBe(1);
  });

  it('sign-in is limited per address: guessing passwords ends in 429, and then even the right password waits', async () => {
    const attempt = (password: string) =>
      fetch(`${panel.url}/api/auth/sign-in/email`, { method: 'POST', headers: { 'content-type': 'application/json', origin: panel.url }, body: JSON.stringify({ email: 'tenant-b@example.com', password }) });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await attempt(`wrong password ${i}`)).status);
    expect(statuses[0]).toBe(401);
    expect(statuses.at(-1)).toBe(429);
    expect((await attempt('a long enough password')).status).toBe(429);
  });

  it('nothing secret appears in the panel\'s log of this whole run', () => {
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
