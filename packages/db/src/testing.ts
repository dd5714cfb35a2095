// Test support: throwaway PostgreSQL databases on the real server.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, readDatabaseEnv, type Database } from './index.ts';

/** The server tests create their databases on; the README's test command sets it. */
export const TEST_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Creates an empty database, or a copy of `template` when given. Named `tula_t_*`, which `npm test` drops
 * as stale when it starts; benchmarks pass `tula_b_`, so a test run started beside them leaves theirs alone.
 */
export async function createTestDatabase(template?: string, prefix: 'tula_t_' | 'tula_b_' = 'tula_t_'): Promise<TestDatabase> {
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ''}`));
  return {
    name,
    url: withDatabase(TEST_ADMIN_URL, name),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}

export interface OpenTestDatabase extends TestDatabase {
  db: Database;
  /** Closes the connection, then drops the database. */
  close(): Promise<void>;
}

/** A new database with the current schema, opened: for tests that talk to the database directly. */
export async function openTestDatabase(): Promise<OpenTestDatabase> {
  const t = await createTestDatabase();
  try {
    // NODE_ENV: the panel's Next types make it a required part of an environment.
    const db = await openDatabase({ env: readDatabaseEnv({ NODE_ENV: 'test', DATABASE_URL: t.url }), migrate: true });
    return { ...t, db, close: () => db.close().then(() => t.drop()) };
  } catch (err) {
    await t.drop();
    throw err;
  }
}

/**
 * Everything that makes up the schema, as sorted lines: columns, constraints,
 * indexes and enum labels. Two databases with equal fingerprints have the same
 * schema whatever order their objects were created in.
 */
export async function schemaFingerprint(client: pg.Client | pg.Pool): Promise<string[]> {
  const queries = [
    `SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || udt_name || ' null=' || is_nullable || ' default=' || coalesce(column_default, '') AS line
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
        AND table_name NOT IN (SELECT relname FROM pg_class WHERE relispartition)`,
    `SELECT 'constraint ' || rel.relname || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid) AS line
       FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid JOIN pg_namespace n ON n.oid = rel.relnamespace
      WHERE n.nspname = 'public' AND rel.relname <> '_prisma_migrations' AND NOT rel.relispartition`,
    `SELECT 'index ' || regexp_replace(indexdef, ' ON ONLY ', ' ON ') AS line FROM pg_indexes
      WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' AND tablename NOT IN (SELECT relname FROM pg_class WHERE relispartition)`,
    `SELECT 'enum ' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS line
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = 'public' GROUP BY t.typname`,
  ];
  const lines: string[] = [];
  for (const q of queries) {
    const { rows } = await client.query<{ line: string }>(q);
    lines.push(...rows.map((r) => r.line));
  }
  return lines.sort();
}
