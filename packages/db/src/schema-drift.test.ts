// Fails when prisma/schema.prisma changed without a migration that matches it:
// the schema the migrations build must equal the one Prisma derives from the
// datamodel. Fix with `npm run db:migration:new -- <name>`.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { migrate } from './migrate.ts';
import { createTestDatabase, schemaFingerprint, type TestDatabase } from './testing.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const cleanup: TestDatabase[] = [];
afterAll(async () => {
  for (const d of cleanup) await d.drop();
});

it('the migrations produce exactly the schema in prisma/schema.prisma', async () => {
  const fromMigrations = await createTestDatabase();
  const fromSchema = await createTestDatabase();
  cleanup.push(fromMigrations, fromSchema);

  const a = new pg.Pool({ connectionString: fromMigrations.url });
  await migrate(a);
  const { stdout: sql } = await promisify(execFile)(
    `${repoRoot}node_modules/.bin/prisma`,
    ['migrate', 'diff', '--from-empty', '--to-schema-datamodel', 'prisma/schema.prisma', '--script'],
    { cwd: repoRoot, env: { ...process.env, DATABASE_URL: fromSchema.url } },
  );
  const b = new pg.Pool({ connectionString: fromSchema.url });
  await b.query(sql);

  const [fa, fb] = [await schemaFingerprint(a), await schemaFingerprint(b)];
  await a.end();
  await b.end();
  expect(fa.length).toBeGreaterThan(50);
  const missing = fb.filter((l) => !fa.includes(l));
  const extra = fa.filter((l) => !fb.includes(l));
  expect({ inSchemaButNotMigrations: missing, inMigrationsButNotSchema: extra }).toEqual({
    inSchemaButNotMigrations: [],
    inMigrationsButNotSchema: [],
  });
});
