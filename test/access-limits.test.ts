// Promises of the panel's front door, over real sockets from several loopback
// addresses (127.0.0.2, .3, ... are all this host): a limit counts the address
// the connection comes from, or the one a configured proxy vouches for, never a
// header anyone can write; limits hold across two panel processes on one
// database; better-auth's organisation routes are closed; /metrics wants its
// scrape token; the development outbox does not exist in a production build.
import { request } from 'node:http';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, signUp, verifyEmail } from './support/control.ts';
import { latestMail } from './support/outbox.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';

let db: TestDatabase;
/** Trusts 127.0.0.4 as a reverse proxy; serves /metrics to its scrape token. */
let panel: PanelProcess;
/** A second replica on the same database, with no scrape token configured. */
let replica: PanelProcess;
let cookie = '';
const METRICS_TOKEN = 'scrape-'.padEnd(40, 'x');
const PROXY = '127.0.0.4';

beforeAll(async () => {
  db = await createTestDatabase();
  const common = {
    DATABASE_URL: db.url,
    TULA_AUTH_SECRET: 's'.repeat(40),
    TULA_SIGNINS_PER_MINUTE: '5',
    TULA_SIGNUPS_PER_MINUTE: '5',
    TULA_ENROLLMENTS_PER_MINUTE: '6',
    TULA_INVITATIONS_PER_HOUR: '3',
  };
  [panel, replica] = await Promise.all([
    startPanel({ ...common, TULA_TRUSTED_PROXIES: `${PROXY}/32`, TULA_METRICS_TOKEN: METRICS_TOKEN, TULA_DEV_OUTBOX: '1' }),
    startPanel(common),
  ]);
  cookie = await signUp(panel.url, 'owner@example.com');
}, 180_000);
afterAll(async () => {
  await Promise.all([panel?.stop(), replica?.stop()]);
  await db?.drop();
});

interface Reply {
  status: number;
  body: string;
}

/** One HTTP request from a chosen local address (a real socket, so the panel sees that address). */
function call(url: string, options: { from: string; method?: string; headers?: Record<string, string>; body?: unknown }): Promise<Reply> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? (body ? 'POST' : 'GET'),
        localAddress: options.from,
        headers: { ...(body && { 'content-type': 'application/json', origin: new URL(url).origin }), ...options.headers },
        agent: false,
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const signIn = (from: string, headers: Record<string, string> = {}, target = panel) =>
  call(`${target.url}/api/auth/sign-in/email`, {
    from,
    headers,
    body: { email: 'owner@example.com', password: 'not the password at all' },
  });
const enroll = (from: string, headers: Record<string, string> = {}, target = panel) =>
  call(`${target.url}/api/agent/enroll`, { from, headers, body: { token: 'tet_'.padEnd(40, 'z'), name: 'n1', hostname: 'h1' } });
/** Headers an attacker would forge, different on every attempt. */
const forged = (i: number) => ({
  'x-forwarded-for': `203.0.113.${i + 1}`,
  forwarded: `for=198.51.100.${i + 1}`,
  'x-real-ip': `192.0.2.${i + 1}`,
});

describe('client address', () => {
  it('sign-in: once an address is limited, forged forwarding headers from it change nothing', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await signIn('127.0.0.2')).status);
    expect(statuses, `statuses: ${statuses.join(' ')}`).toEqual([401, 401, 401, 401, 401, 429]);
    const forgedStatuses: number[] = [];
    for (let i = 0; i < 4; i++) forgedStatuses.push((await signIn('127.0.0.2', forged(i))).status);
    expect(forgedStatuses, `with forged headers: ${forgedStatuses.join(' ')}`).toEqual([429, 429, 429, 429]);
  });

  it("sign-in: one address's failures do not lock out another", async () => {
    expect((await signIn('127.0.0.3')).status).toBe(401);
  });

  it("sign-in: a trusted proxy's X-Forwarded-For names the client", async () => {
    const viaProxy = (client: string) => signIn(PROXY, { 'x-forwarded-for': `${client}, ${PROXY}` });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await viaProxy('198.51.100.20')).status);
    expect(statuses.at(-1), `statuses: ${statuses.join(' ')}`).toBe(429);
    expect((await viaProxy('198.51.100.21')).status).toBe(401);
    // A Forwarded header from the same proxy is read too.
    expect((await signIn(PROXY, { forwarded: 'for=198.51.100.22' })).status).toBe(401);
  });

  it('enrollment: forged headers change nothing, other addresses are not locked out', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await enroll('127.0.0.5', forged(i))).status);
    expect(statuses[0]).toBe(401);
    expect(statuses.at(-1), `statuses: ${statuses.join(' ')}`).toBe(429);
    expect((await enroll('127.0.0.6')).status).toBe(401);
  });

  it('password-reset requests and sign-ups are limited per address as well', async () => {
    const reset = (from: string, i: number) =>
      call(`${panel.url}/api/auth/request-password-reset`, {
        from,
        headers: forged(i),
        body: { email: 'owner@example.com', redirectTo: '/reset-password' },
      });
    const resets: number[] = [];
    for (let i = 0; i < 8; i++) resets.push((await reset('127.0.0.7', i)).status);
    expect(resets.at(-1), `statuses: ${resets.join(' ')}`).toBe(429);
    expect((await reset('127.0.0.8', 0)).status).toBe(200);
  });
});

describe('limits shared by replicas', () => {
  it('enrollment attempts count across two panel processes on one database', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await enroll('127.0.0.9', {}, panel)).status);
      statuses.push((await enroll('127.0.0.9', {}, replica)).status);
    }
    // 6 a minute in all: the 7th and 8th attempt, whichever replica took them, are refused.
    expect(statuses, `statuses: ${statuses.join(' ')}`).toEqual([401, 401, 401, 401, 401, 401, 429, 429]);
  });

  it('sign-in attempts count across two panel processes on one database', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await signIn('127.0.0.10', {}, panel)).status);
      statuses.push((await signIn('127.0.0.10', {}, replica)).status);
    }
    expect(statuses, `statuses: ${statuses.join(' ')}`).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
  });
});

describe('invitations', () => {
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (e: { data?: { code?: string }; message?: string }) => `${e.data?.code}: ${e.message}`,
    );

  it('come only from a verified address, go only to one, and are limited per organisation across replicas', async () => {
    const owner = apiClient(panel.url, cookie);
    expect(await refusal(owner.team.invite.mutate({ email: 'first@example.com', role: 'viewer' }))).toMatch(
      /^FORBIDDEN: Confirm your email address/,
    );
    await verifyEmail(db.url, 'owner@example.com');
    expect(await refusal(owner.team.invite.mutate({ email: 'first@example.com', role: 'viewer' }))).toBe('accepted');

    // The invitee must confirm the invited address before joining.
    const invitee = apiClient(panel.url, await signUp(panel.url, 'first@example.com'));
    const token = /\/invite\/([A-Za-z0-9_-]+)/.exec((await latestMail(db.url, 'first@example.com', /invited you/)).link)![1]!;
    expect(await refusal(invitee.team.accept.mutate({ token }))).toMatch(/^FORBIDDEN: Confirm your email address/);
    await verifyEmail(db.url, 'first@example.com');
    expect(await refusal(invitee.team.accept.mutate({ token }))).toBe('accepted');

    // 3 an hour per organisation, whichever replica takes them.
    const onReplica = apiClient(replica.url, cookie);
    expect(await refusal(onReplica.team.invite.mutate({ email: 'second@example.com', role: 'viewer' }))).toBe('accepted');
    expect(await refusal(owner.team.invite.mutate({ email: 'third@example.com', role: 'viewer' }))).toBe('accepted');
    expect(await refusal(onReplica.team.invite.mutate({ email: 'fourth@example.com', role: 'viewer' }))).toMatch(
      /^TOO_MANY_REQUESTS: At most 3 invitations an hour/,
    );
    await expect(latestMail(db.url, 'fourth@example.com', undefined, 500)).rejects.toThrow(/no mail/);
  });
});

describe("better-auth's organisation routes", () => {
  // Every mutating route of the organization plugin (better-auth 1.x): all
  // organisation, membership and invitation changes go through our API and its audit log.
  const routes: [string, unknown][] = [
    ['create', { name: 'Second trial', slug: 'second-trial' }],
    ['update', { data: { name: 'renamed' } }],
    ['delete', { organizationId: 'x' }],
    ['set-active', { organizationId: 'x' }],
    ['invite-member', { email: 'mallory@example.com', role: 'owner' }],
    ['accept-invitation', { invitationId: 'x' }],
    ['reject-invitation', { invitationId: 'x' }],
    ['cancel-invitation', { invitationId: 'x' }],
    ['remove-member', { memberIdOrEmail: 'x' }],
    ['update-member-role', { memberId: 'x', role: 'owner' }],
    ['leave', { organizationId: 'x' }],
    ['add-member', { userId: 'x', role: 'owner' }],
    ['check-slug', { slug: 'x' }],
    ['create-team', { name: 'x' }],
    ['create-role', { role: 'x', permission: {} }],
  ];
  for (const [route, body] of routes) {
    it(`POST /api/auth/organization/${route} answers 404 or 403`, async () => {
      const res = await call(`${panel.url}/api/auth/organization/${route}`, { from: '127.0.0.11', headers: { cookie }, body });
      expect([403, 404], `${route}: ${res.status} ${res.body.slice(0, 200)}`).toContain(res.status);
    });
  }

  // Routes that would add people or organisations beside our API: single sign-on
  // provider registration (@better-auth/sso, not loaded: sso.ts says why), the
  // admin plugin, deleting an account (its memberships would go unaudited), and
  // linking an organisation's SSO provider to an account that is not a member.
  const others: [string, unknown][] = [
    ['sso/register', { providerId: 'x', issuer: 'https://idp.example.com', domain: 'example.com', organizationId: 'x' }],
    ['sso/update-provider', { providerId: 'x' }],
    ['sso/delete-provider', { providerId: 'x' }],
    ['sign-in/sso', { email: 'a@example.com', callbackURL: '/app' }],
    ['admin/create-user', { email: 'x@example.com', password: 'x'.repeat(12), name: 'x' }],
    ['admin/remove-user', { userId: 'x' }],
    ['delete-user', {}],
  ];
  for (const [route, body] of others) {
    it(`POST /api/auth/${route} answers 404 or 403`, async () => {
      const res = await call(`${panel.url}/api/auth/${route}`, { from: '127.0.0.11', headers: { cookie }, body });
      expect([403, 404], `${route}: ${res.status} ${res.body.slice(0, 200)}`).toContain(res.status);
    });
  }

  it("made no organisation: there is one per account (its sign-up trial) and none of the plugin's", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const counts = await client
      .query<{ orgs: number; users: number; plugin: number }>(
        `SELECT (SELECT count(*)::int FROM "Organization") AS orgs, (SELECT count(*)::int FROM "User") AS users,
                (SELECT count(*)::int FROM "Organization" WHERE slug = 'second-trial' OR name = 'renamed') AS plugin`,
      )
      .finally(() => client.end());
    expect(counts.rows[0]).toEqual({ orgs: counts.rows[0]!.users, users: counts.rows[0]!.users, plugin: 0 });
  });
});

describe('/metrics', () => {
  it('refuses a scrape without the bearer token, or with a wrong one', async () => {
    expect((await call(`${panel.url}/metrics`, { from: '127.0.0.12' })).status).toBe(401);
    expect(
      (await call(`${panel.url}/metrics`, { from: '127.0.0.12', headers: { authorization: `Bearer ${METRICS_TOKEN}y` } })).status,
    ).toBe(401);
    expect((await call(`${panel.url}/metrics`, { from: '127.0.0.12', headers: { authorization: 'Bearer ' } })).status).toBe(401);
  });

  it('serves the scrape token', async () => {
    const res = await call(`${panel.url}/metrics`, { from: '127.0.0.12', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.body).toContain('tula_gateway_connections');
  });

  it('is off (404) on a panel with no scrape token configured', async () => {
    expect((await call(`${replica.url}/metrics`, { from: '127.0.0.12' })).status).toBe(404);
  });
});

describe('/dev/outbox', () => {
  it('does not exist in a production build, whatever the settings', async () => {
    const res = await call(`${panel.url}/dev/outbox`, { from: '127.0.0.1' });
    expect(res.status).toBe(404);
    expect(res.body).not.toContain('reset your Tula password');
  });
});
