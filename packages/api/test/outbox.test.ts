// With no mail server, owners read their organisation's outgoing mail in the
// panel: invitations (admins too), and the reset and confirmation links of their
// members (owners only). Real PostgreSQL and the real sign-up and password-reset
// paths of better-auth; another organisation's mail is never in the answer.
import { DEFAULT_TRIAL_LIMITS, LocalBus, SharedLimiter } from '@tula/control';
import { openDatabase, readDatabaseEnv, type Database } from '@tula/db';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuth, createCaller, createMailer, type Auth, type PanelServices, type Role } from '../src/index.ts';

let testDb: TestDatabase;
let db: Database;
let auth: Auth;
let services: PanelServices;
const people: Record<string, { id: string; email: string; name: string; orgId: string }> = {};

async function signUp(key: string) {
  const email = `${key}@example.com`;
  await auth.api.signUpEmail({ body: { email, password: 'a long enough password', name: key } });
  const user = await db.prisma.user.update({ where: { email }, data: { emailVerified: true } });
  const m = await db.prisma.membership.findFirstOrThrow({ where: { userId: user.id } });
  people[key] = { id: user.id, email, name: key, orgId: m.organizationId };
}

/** `who`, signed in, working in `orgOf`'s organisation with `role`. */
const as = (who: string, role: Role = 'owner', orgOf = who) =>
  createCaller({
    ...services,
    user: { id: people[who]!.id, email: people[who]!.email, name: who },
    org: { id: people[orgOf]!.orgId, role, trialEndsAt: new Date(Date.now() + 86_400_000) },
  });

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = await openDatabase({ env: readDatabaseEnv({ DATABASE_URL: testDb.url }), migrate: true });
  const mailer = createMailer(db, undefined, 'tula@example.com');
  auth = createAuth({
    db,
    mailer,
    baseURL: 'http://127.0.0.1',
    secret: 's'.repeat(40),
    secureCookies: false,
    rateLimits: { signUpPerMinute: 1000, signInPerMinute: 1000 },
    clientAddressHeader: 'x-test-client',
  });
  services = {
    db,
    bus: new LocalBus(),
    auth,
    mailer,
    limits: DEFAULT_TRIAL_LIMITS,
    inviteAttempts: new SharedLimiter(db, 'invite-test', 1000, 3600),
    startedAt: new Date(),
    publicUrl: 'http://127.0.0.1',
  } as unknown as PanelServices;
  for (const key of ['owner-a', 'admin-a', 'owner-b', 'member-b', 'both']) await signUp(key);
  // admin-a works in A; member-b in B (and nowhere else: their sign-up organisations are removed); both in A and B.
  await db.prisma.membership.deleteMany({ where: { userId: { in: [people['admin-a']!.id, people['member-b']!.id] } } });
  await db.prisma.membership.createMany({
    data: [
      { organizationId: people['owner-a']!.orgId, userId: people['admin-a']!.id, role: 'admin' },
      { organizationId: people['owner-b']!.orgId, userId: people['member-b']!.id, role: 'viewer' },
      { organizationId: people['owner-a']!.orgId, userId: people['both']!.id, role: 'viewer' },
      { organizationId: people['owner-b']!.orgId, userId: people['both']!.id, role: 'viewer' },
    ],
  });
}, 120_000);
afterAll(async () => {
  await db?.close();
  await testDb?.drop();
});

const subjects = async (caller: ReturnType<typeof as>) => (await caller.team.outbox()).messages.map((m) => `${m.to}: ${m.subject}`).sort();

describe('the owners’ outbox (no mail server)', () => {
  it("keeps each organisation's mail to its own owners: invitations, and its members' resets", async () => {
    await as('owner-a').team.invite({ email: 'new-a@example.com', role: 'viewer' });
    await as('owner-b').team.invite({ email: 'new-b@example.com', role: 'admin' });
    for (const who of ['member-b', 'owner-a', 'both'])
      await auth.api.requestPasswordReset({ body: { email: people[who]!.email, redirectTo: '/reset-password' } });

    const a = await as('owner-a').team.outbox();
    expect(a.kept).toBe(true);
    expect(await subjects(as('owner-a'))).toEqual([
      "new-a@example.com: owner-a invited you to owner-a's organisation on Tula",
      'owner-a@example.com: Confirm your email address for Tula',
      'owner-a@example.com: Reset your Tula password',
    ]);
    expect(await subjects(as('owner-b'))).toEqual([
      'member-b@example.com: Reset your Tula password',
      "new-b@example.com: owner-b invited you to owner-b's organisation on Tula",
      'owner-b@example.com: Confirm your email address for Tula',
    ]);
    // The reset link itself is there for the owner to pass on.
    const reset = (await as('owner-b').team.outbox()).messages.find((m) => m.to === 'member-b@example.com')!;
    expect(reset.text).toMatch(/http:\/\/127\.0\.0\.1\/\S*reset-password\S*/);
  });

  it("an admin reads the invitations but not an owner's reset link, and a viewer reads nothing", async () => {
    expect(await subjects(as('admin-a', 'admin', 'owner-a'))).toEqual([
      "new-a@example.com: owner-a invited you to owner-a's organisation on Tula",
    ]);
    await expect(as('member-b', 'viewer', 'owner-b').team.outbox()).rejects.toThrow(/Only owners and admins/);
  });

  it('mail of a person in two organisations is in neither', async () => {
    const all = [...(await subjects(as('owner-a'))), ...(await subjects(as('owner-b')))];
    expect(all.filter((s) => s.startsWith('both@'))).toEqual([]);
    // It was kept (for the operator's development mailbox), under no organisation.
    expect(
      await db.prisma.outboxMessage.count({ where: { to: 'both@example.com', subject: 'Reset your Tula password', organizationId: null } }),
    ).toBe(1);
  });

  it("row-level security keeps another organisation's mail out even of an unscoped read", async () => {
    const { withTenant } = await import('@tula/db/tenant');
    const seen = await withTenant(db, people['owner-a']!.orgId, (tx) => tx.outboxMessage.findMany({ select: { to: true } }));
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((m) => /-b@|both@/.test(m.to))).toEqual([]);
  });
});
