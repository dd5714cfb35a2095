// Every configuration change runs under row-level security for the caller's
// organisation: a change whose query forgot its organisation filter touches
// nothing of another tenant (real PostgreSQL, the real change() path).
import { LocalBus } from '@tula/control';
import type { Database } from '@tula/db';
import { openTestDatabase, type OpenTestDatabase } from '@tula/db/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { change } from '../src/change.ts';

let testDb: OpenTestDatabase;
let db: Database;
const org = { a: '', b: '' };

beforeAll(async () => {
  testDb = await openTestDatabase();
  db = testDb.db;
  for (const name of ['a', 'b'] as const) {
    const o = await db.prisma.organization.create({ data: { name, slug: `${name}-${Date.now()}` } });
    org[name] = o.id;
    await db.prisma.node.create({ data: { organizationId: o.id, name: `${name}-node`, credentialHash: `${name}-${o.id}` } });
  }
});
afterAll(async () => {
  await testDb?.close();
});

/** What change() reads of a request: the database, the bus, who asks and in which organisation. */
const asOwnerOf = (organizationId: string) =>
  ({
    db,
    bus: new LocalBus(),
    user: { id: 'u', email: 'owner@example.com', name: 'o' },
    actor: { userId: null, tokenId: null, label: 'owner@example.com' },
    org: { id: organizationId, role: 'owner', trialEndsAt: new Date(Date.now() + 86_400_000) },
  }) as unknown as Parameters<typeof change>[0];

it("a change with an unscoped query changes only the caller's organisation", async () => {
  const count = await change(
    asOwnerOf(org.a),
    { action: 'test.unscoped', targetType: 'node' },
    async (tx) => (await tx.node.updateMany({ data: { hostname: 'renamed by a' } })).count,
  );
  expect(count).toBe(1);
  const hostnames = Object.fromEntries((await db.prisma.node.findMany()).map((n) => [n.name, n.hostname]));
  expect(hostnames).toEqual({ 'a-node': 'renamed by a', 'b-node': null });
  // The audit event was written, for A.
  expect((await db.prisma.auditEvent.findMany({ where: { action: 'test.unscoped' } })).map((e) => e.organizationId)).toEqual([org.a]);
});

it("a change cannot delete another organisation's rows, even naming them", async () => {
  const bNode = await db.prisma.node.findFirstOrThrow({ where: { organizationId: org.b } });
  const deleted = await change(
    asOwnerOf(org.a),
    { action: 'test.delete', targetType: 'node' },
    async (tx) => (await tx.node.deleteMany({ where: { id: bNode.id } })).count,
  );
  expect(deleted).toBe(0);
  expect(await db.prisma.node.count({ where: { id: bNode.id } })).toBe(1);
});
