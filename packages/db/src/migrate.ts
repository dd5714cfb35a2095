import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

/** prisma/migrations at the repository root. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../prisma/migrations', import.meta.url));

export interface Migration {
  name: string;
  sql: string;
  /** sha256 of migration.sql, as Prisma records it. */
  checksum: string;
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: string[];
  /** Applied migrations whose file changed since; reported, not re-run. */
  modified: string[];
}

export class MigrationError extends Error {
  constructor(
    readonly migration: string,
    readonly postgresError: string,
  ) {
    super(`Migration ${migration} failed and was rolled back: ${postgresError}`);
    this.name = 'MigrationError';
  }
}

// Any constant works; it only has to be the same for every process that migrates.
const MIGRATION_LOCK_KEY = 7_243_001;

export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

// Prisma's own bookkeeping table, so `prisma migrate status` agrees with us.
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

function postgresMessage(err: unknown): string {
  if (err && typeof err === 'object' && 'message' in err) {
    const e = err as { message: string; code?: string; position?: string };
    return [e.message, e.code && `(SQLSTATE ${e.code})`, e.position && `at character ${e.position}`].filter(Boolean).join(' ');
  }
  return String(err);
}

/**
 * Applies pending migrations in name order, each in its own transaction.
 * A failing migration is rolled back and stops the run. Concurrent runners
 * (several panel replicas starting at once) serialise on an advisory lock.
 */
export async function migrate(pool: pg.Pool, migrations: Migration[] = readMigrations()): Promise<MigrationReport> {
  const client = await pool.connect();
  const report: MigrationReport = { applied: [], alreadyApplied: [], modified: [] };
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(CREATE_MIGRATIONS_TABLE);
    const { rows } = await client.query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
    }>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"');
    const unfinished = rows.find((r) => r.finished_at === null && r.rolled_back_at === null);
    if (unfinished) {
      throw new MigrationError(
        unfinished.migration_name,
        'it is recorded as started but never finished; repair the database by hand, then delete its row from "_prisma_migrations"',
      );
    }
    const done = new Map(rows.filter((r) => r.finished_at !== null).map((r) => [r.migration_name, r.checksum]));

    for (const m of migrations) {
      const recorded = done.get(m.name);
      if (recorded !== undefined) {
        report.alreadyApplied.push(m.name);
        if (recorded !== m.checksum) report.modified.push(m.name);
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
           VALUES ($1, $2, $3, now(), now(), 1)`,
          [randomUUID(), m.checksum, m.name],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new MigrationError(m.name, postgresMessage(err));
      }
      report.applied.push(m.name);
    }
    return report;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}
