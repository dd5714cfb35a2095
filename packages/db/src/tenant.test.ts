// Row-level security on tenant tables, on a PostgreSQL server and on the
// embedded database: through the tenant client, a deliberately unscoped query
// sees and changes only its own organisation's rows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from './client.ts';
import { readDatabaseEnv } from './env.ts';
import { withTenant } from './tenant.ts';
import { createTestDatabase, type TestDatabase } from './testing.ts';

const embeddedDir = mkdtempSync(join(tmpdir(), 'tula-sec-rls-'));

for (const kind of ['server', 'embedded'] as const) {
  describe(`row-level security (${kind} database)`, () => {
    let testDb: TestDatabase | undefined;
    let db: Database;
    const org = { a: '', b: '' };

    beforeAll(async () => {
      if (kind === 'server') testDb = await createTestDatabase();
      db = await openDatabase({
        env: readDatabaseEnv(kind === 'server' ? { DATABASE_URL: testDb!.url } : { TULA_DATA_DIR: embeddedDir }),
        migrate: true,
      });
      for (const name of ['a', 'b'] as const) {
        const o = await db.prisma.organization.create({ data: { name, slug: `${name}-${Date.now()}` } });
        org[name] = o.id;
        await db.prisma.node.create({ data: { organizationId: o.id, name: `${name}-node`, credentialHash: `${name}-${o.id}` } });
        await db.prisma.auditEvent.create({ data: { organizationId: o.id, actorLabel: 't', action: 'test', targetType: 'test' } });
      }
    }, 300_000); // creating an embedded database takes tens of seconds on a busy machine
    afterAll(async () => {
      await db?.close();
      await testDb?.drop();
      if (kind === 'embedded') rmSync(embeddedDir, { recursive: true, force: true });
    });

    it('an unscoped read sees only its own organisation', async () => {
      const seen = await withTenant(db, org.a, async (tx) => ({
        nodes: (await tx.node.findMany()).map((n) => n.name),
        audit: (await tx.auditEvent.findMany()).map((e) => e.organizationId),
        orgs: (await tx.organization.findMany()).map((o) => o.id),
        raw: (await tx.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM "Node"`)[0]!.n,
      }));
      expect(seen).toEqual({ nodes: ['a-node'], audit: [org.a], orgs: [org.a], raw: 1 });
    });

    it("an unscoped write cannot touch or create another organisation's rows", async () => {
      const updated = await withTenant(db, org.a, (tx) => tx.node.updateMany({ data: { hostname: 'changed' } }));
      expect(updated.count).toBe(1);
      expect((await db.prisma.node.findFirstOrThrow({ where: { organizationId: org.b } })).hostname).toBeNull();
      await expect(
        withTenant(db, org.a, (tx) =>
          tx.node.create({ data: { organizationId: org.b, name: 'planted', credentialHash: `planted-${org.b}` } }),
        ),
      ).rejects.toThrow(/row-level security/);
      expect(await db.prisma.node.count({ where: { name: 'planted' } })).toBe(0);
    });

    it('every table with an organizationId is open to the tenant role under row-level security', async () => {
      const tables = await db.prisma.$queryRaw<{ table: string; rls: boolean; granted: boolean }[]>`
        SELECT c.relname::text AS table, c.relrowsecurity AS rls, has_table_privilege('tula_tenant', c.oid, 'SELECT, INSERT, UPDATE, DELETE') AS granted
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organizationId' AND NOT a.attisdropped
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`;
      expect(tables.length).toBeGreaterThan(5);
      expect(tables.filter((t) => !t.rls || !t.granted).map((t) => t.table)).toEqual([]);
    });

    it('outside the tenant client the connection keeps its full view (the setting and role end with the transaction)', async () => {
      await withTenant(db, org.a, (tx) => tx.node.count());
      expect(await db.prisma.node.count()).toBe(2);
    });
  });
}
