// `npm run db:migration:new -- <name>`: writes prisma/migrations/<timestamp>_<name>/migration.sql
// with the SQL that takes the database from the datamodel of the newest migration
// (prisma/migrations/schema.snapshot.prisma) to prisma/schema.prisma.
//
// Prisma's CLI cannot introspect a database on these machines (its WASM engine
// fails on PostgreSQL), so the previous datamodel is kept as a snapshot file
// instead of being read back from a database.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startEmbeddedPostgres } from '../embedded.ts';
import { MIGRATIONS_DIR } from '../migrate.ts';

const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error('usage: npm run db:migration:new -- <name>   (name: lower case letters, digits and _)');
  process.exit(2);
}
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const schema = join(repoRoot, 'prisma/schema.prisma');
const snapshot = join(MIGRATIONS_DIR, 'schema.snapshot.prisma');

// The JS schema engine opens a connection even for a pure datamodel diff; a
// throwaway in-memory-like embedded database serves when DATABASE_URL is unset.
const scratch = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres(mkdtempSync(join(tmpdir(), 'tula-diff-')));
try {
  const from = existsSync(snapshot) ? ['--from-schema-datamodel', snapshot] : ['--from-empty'];
  // Asynchronous: the embedded server answers from this process's event loop.
  const { stdout: sql } = await promisify(execFile)(
    join(repoRoot, 'node_modules/.bin/prisma'),
    ['migrate', 'diff', ...from, '--to-schema-datamodel', schema, '--script'],
    { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, DATABASE_URL: process.env.DATABASE_URL ?? scratch!.url } },
  );
  if (!/\b(CREATE|ALTER|DROP)\b/.test(sql)) {
    console.log('prisma/schema.prisma matches the newest migration; nothing to write.');
  } else {
    const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
    const dir = join(MIGRATIONS_DIR, `${stamp}_${name}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'migration.sql'), sql);
    copyFileSync(schema, snapshot);
    console.log(`wrote ${dir}/migration.sql; review it before committing`);
  }
} finally {
  await scratch?.stop();
}
