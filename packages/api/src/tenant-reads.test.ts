// Every read a procedure makes runs under row-level security: `ctx.db` in an
// organisation's procedure is the tenant view, for Prisma and for raw SQL
// (the live counters' and charts' queries), so a deliberately unscoped read
// through a procedure's path sees only its own organisation. The owner client
// is reachable only as ctx.crossTenantDb, in the files listed below.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, readDatabaseEnv, type Database } from '@tula/db';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiContext } from './context.ts';
import { createCallerFactory, orgProcedure, router } from './trpc.ts';

let testDb: TestDatabase;
let db: Database;
const org = { a: '', b: '' };

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = await openDatabase({ env: readDatabaseEnv({ DATABASE_URL: testDb.url }), migrate: true });
  for (const name of ['a', 'b'] as const) {
    const o = await db.prisma.organization.create({ data: { name, slug: `${name}-${Date.now()}` } });
    org[name] = o.id;
    await db.prisma.node.create({ data: { organizationId: o.id, name: `${name}-node`, credentialHash: `${name}-${o.id}` } });
  }
}, 120_000);
afterAll(async () => {
  await db?.close();
  await testDb?.drop();
});

// Procedures that forgot their organisation filter, on the same path as every real one.
const leaky = router({
  prismaRead: orgProcedure.query(({ ctx }) => ctx.db.prisma.node.findMany({ select: { organizationId: true } })),
  rawRead: orgProcedure.query(
    async ({ ctx }) => (await ctx.db.pool.query<{ organizationId: string }>('SELECT "organizationId" FROM "Node"')).rows,
  ),
  queryRaw: orgProcedure.query(({ ctx }) => ctx.db.prisma.$queryRaw<{ organizationId: string }[]>`SELECT "organizationId" FROM "Node"`),
});
const callerFor = (organizationId: string) =>
  createCallerFactory(leaky)({
    db,
    user: { id: 'u', email: 'u@example.com', name: 'u' },
    org: { id: organizationId, role: 'admin', trialEndsAt: new Date(Date.now() + 86_400_000) },
  } as unknown as ApiContext);

describe("a procedure's unscoped read", () => {
  it('through Prisma sees only its own organisation', async () => {
    expect(await callerFor(org.a).prismaRead()).toEqual([{ organizationId: org.a }]);
    expect(await callerFor(org.b).prismaRead()).toEqual([{ organizationId: org.b }]);
  });
  it('through raw SQL (pool.query, as the live counters and charts read) sees only its own organisation', async () => {
    expect(await callerFor(org.a).rawRead()).toEqual([{ organizationId: org.a }]);
  });
  it('through $queryRaw sees only its own organisation', async () => {
    expect(await callerFor(org.b).queryRaw()).toEqual([{ organizationId: org.b }]);
  });
});

it('only the reviewed files use the owner client (ctx.crossTenantDb)', () => {
  const root = fileURLToPath(new URL('./routers', import.meta.url));
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
  const users = files(root)
    .filter((f) => readFileSync(f, 'utf8').includes('crossTenantDb'))
    .map((f) => relative(root, f))
    .sort();
  expect(users).toEqual([
    // The user's own sessions (not an organisation's rows).
    'account/sessions.ts',
    'account/sign-out-others.ts',
    // Names of the people in the organisation's audit log (User rows are not a tenant's).
    'audit/export.ts',
    'audit/list.ts',
    // Accepting another organisation's invitation; the inviter's verified address and organisation name.
    'team/accept.ts',
    'team/invitations.ts',
    // Members with their accounts.
    'team/list.ts',
  ]);
});
