// API tokens on real PostgreSQL, through the same context the HTTP handlers
// build from request headers: a viewer token cannot change anything, expired and
// revoked tokens are refused, a token of organisation A sees nothing of B, and
// the audit log names the token (not the person who made it).
import { DEFAULT_TRIAL_LIMITS, LocalBus } from '@tula/control';
import type { Database } from '@tula/db';
import { openTestDatabase, type OpenTestDatabase } from '@tula/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCaller, createContext, type PanelServices } from '../src/index.ts';

let testDb: OpenTestDatabase;
let db: Database;
let services: PanelServices;
const orgs: Record<'a' | 'b', { id: string; owner: { id: string; email: string; name: string } }> = {} as never;

beforeAll(async () => {
  testDb = await openTestDatabase();
  db = testDb.db;
  // Bearer requests never reach the session lookup; a session would make this test pass without a token.
  const noSessions = { api: { getSession: async () => null } };
  services = {
    db,
    bus: new LocalBus(),
    auth: noSessions,
    limits: DEFAULT_TRIAL_LIMITS,
    startedAt: new Date(),
    publicUrl: 'http://127.0.0.1',
  } as unknown as PanelServices;
  for (const name of ['a', 'b'] as const) {
    const o = await db.prisma.organization.create({
      data: { name, slug: `${name}-${Date.now()}`, trialEndsAt: new Date(Date.now() + 14 * 86_400_000) },
    });
    const u = await db.prisma.user.create({ data: { email: `owner-${name}@example.com`, name: `owner ${name}`, emailVerified: true } });
    await db.prisma.membership.create({ data: { organizationId: o.id, userId: u.id, role: 'owner' } });
    orgs[name] = { id: o.id, owner: { id: u.id, email: u.email, name: u.name } };
  }
});
afterAll(async () => {
  await testDb?.close();
});

/** The owner of an organisation, signed in (as the panel's session would make it). */
const asOwner = (name: 'a' | 'b') =>
  createCaller({
    ...services,
    user: orgs[name].owner,
    org: { id: orgs[name].id, role: 'owner', trialEndsAt: new Date(Date.now() + 86_400_000) },
  });
/** A caller that carries only `Authorization: Bearer <token>`, through the request path's context. */
const withBearer = async (token: string) => createCaller(await createContext(services, new Headers({ authorization: `Bearer ${token}` })));
const service = (name: string) => ({
  name,
  vip: '10.90.0.1',
  ports: '80',
  protocol: 'tcp' as const,
  mode: 'l2' as const,
  backends: [{ address: '10.90.0.11' }],
  draft: true,
});

describe('API tokens', () => {
  it('an admin token changes the configuration, and the audit log names the token', async () => {
    const { token, id } = await asOwner('a').apiTokens.create({ name: 'deploy bot', role: 'admin' });
    expect(token).toMatch(/^tula_/);
    // Stored hashed: no column holds the token.
    expect(JSON.stringify(await db.prisma.apiToken.findUniqueOrThrow({ where: { id } }))).not.toContain(token);
    const api = await withBearer(token);
    const s = await api.services.create(service('by-token'));
    await api.services.setBackendState({ serviceId: s.id, address: '10.90.0.11', state: 'draining' });
    const events = (await api.audit.list({})).items.filter((e) => e.targetId === s.id);
    expect(events.map((e) => [e.action, e.actorLabel, e.actorTokenId, e.actorUserId])).toEqual([
      ['backend.drain', `API token "deploy bot" (${token.slice(0, 9)}…)`, id, null],
      ['service.create', `API token "deploy bot" (${token.slice(0, 9)}…)`, id, null],
    ]);
    const listed = (await asOwner('a').apiTokens.list()).find((t) => t.id === id)!;
    expect(listed.lastUsedAt).toBeInstanceOf(Date);
    expect(listed).not.toHaveProperty('tokenHash');
  });

  it('a viewer token reads but cannot change anything', async () => {
    const { token } = await asOwner('a').apiTokens.create({ name: 'dashboard', role: 'viewer' });
    const api = await withBearer(token);
    expect(Array.isArray(await api.services.list())).toBe(true);
    await expect(api.services.create(service('by-viewer'))).rejects.toThrow(/viewer role/);
    await expect(api.apiTokens.revoke({ id: 'anything' })).rejects.toThrow(/viewer role/);
    expect(await db.prisma.service.count({ where: { name: 'by-viewer' } })).toBe(0);
  });

  it('expired and revoked tokens are refused, and a bad token never falls back to a session', async () => {
    const owner = asOwner('a');
    const expired = await owner.apiTokens.create({ name: 'short', role: 'admin', expiresInDays: 1 });
    await db.prisma.apiToken.update({ where: { id: expired.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    await expect((await withBearer(expired.token)).services.list()).rejects.toThrow(/expired/);
    const revoked = await owner.apiTokens.create({ name: 'leaked', role: 'admin' });
    expect((await (await withBearer(revoked.token)).services.list()).length).toBeGreaterThanOrEqual(0);
    await owner.apiTokens.revoke({ id: revoked.id });
    await expect((await withBearer(revoked.token)).services.list()).rejects.toThrow(/revoked/);
    await expect((await withBearer('tula_made-up')).services.list()).rejects.toThrow(/not valid/);
    expect((await owner.apiTokens.list()).filter((t) => [expired.id, revoked.id].includes(t.id)).map((t) => t.usable)).toEqual([
      false,
      false,
    ]);
  });

  it("a token of organisation A sees and changes nothing of B's", async () => {
    const bService = await asOwner('b').services.create(service('b-private'));
    const bToken = await asOwner('b').apiTokens.create({ name: 'b bot', role: 'admin' });
    const { token } = await asOwner('a').apiTokens.create({ name: 'a bot', role: 'admin' });
    const api = await withBearer(token);
    expect((await api.services.list()).map((s) => s.name)).not.toContain('b-private');
    expect((await api.apiTokens.list()).map((t) => t.name)).not.toContain('b bot');
    expect(JSON.stringify((await api.audit.list({})).items)).not.toContain(orgs.b.id);
    await expect(api.services.get({ id: bService.id })).rejects.toThrow(/NOT_FOUND|No such/i);
    await expect(api.services.setBackendState({ serviceId: bService.id, address: '10.90.0.11', state: 'disabled' })).rejects.toThrow(
      /No such/,
    );
    await expect(api.apiTokens.revoke({ id: bToken.id })).rejects.toThrow(/No such/);
    expect((await db.prisma.apiToken.findUniqueOrThrow({ where: { id: bToken.id } })).revokedAt).toBeNull();
  });

  it('a token cannot mint tokens or manage the team', async () => {
    const { token } = await asOwner('a').apiTokens.create({ name: 'admin bot', role: 'admin' });
    const api = await withBearer(token);
    await expect(api.apiTokens.create({ name: 'child', role: 'admin' })).rejects.toThrow(/API tokens cannot/);
    await expect(api.team.invite({ email: 'x@example.com', role: 'admin' })).rejects.toThrow(/API tokens cannot/);
  });
});
