import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from './embedded.ts';
import { MigrationError, migrate, readMigrations } from './migrate.ts';
import { createTestDatabase, schemaFingerprint, type TestDatabase } from './testing.ts';

describe('migration runner on PostgreSQL', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url });
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('applies every migration to a fresh database, and a second run is a no-op', async () => {
    const all = readMigrations();
    expect(all.length).toBeGreaterThan(0);
    const first = await migrate(pool);
    expect(first.applied).toEqual(all.map((m) => m.name));
    const before = await schemaFingerprint(pool);
    const { rows: recordsBefore } = await pool.query('SELECT * FROM "_prisma_migrations" ORDER BY migration_name');

    const second = await migrate(pool);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(all.map((m) => m.name));
    expect(await schemaFingerprint(pool)).toEqual(before);
    const { rows: recordsAfter } = await pool.query('SELECT * FROM "_prisma_migrations" ORDER BY migration_name');
    expect(recordsAfter).toEqual(recordsBefore);
  });

  it('records migrations in Prisma\'s format', async () => {
    const { rows } = await pool.query('SELECT * FROM "_prisma_migrations"');
    for (const r of rows) {
      expect(r.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(r.finished_at).toBeInstanceOf(Date);
      expect(r.applied_steps_count).toBe(1);
      expect(r.rolled_back_at).toBeNull();
    }
  });

  it('rolls back a failing migration, names it, quotes PostgreSQL, and stops', async () => {
    const bad = [
      { name: '30000101000000_half_good', sql: 'CREATE TABLE "ShouldVanish" (id int);\nALTER TABLE "NoSuchTable" ADD COLUMN x int;', checksum: 'a'.repeat(64) },
      { name: '30000102000000_never_reached', sql: 'CREATE TABLE "NeverCreated" (id int);', checksum: 'b'.repeat(64) },
    ];
    const err = await migrate(pool, [...readMigrations(), ...bad]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    const message = (err as Error).message;
    expect(message).toContain('30000101000000_half_good');
    expect(message).toContain('relation "NoSuchTable" does not exist');
    const { rows } = await pool.query(
      `SELECT to_regclass('"ShouldVanish"') AS half, to_regclass('"NeverCreated"') AS later,
              (SELECT count(*)::int FROM "_prisma_migrations" WHERE migration_name LIKE '3000%') AS recorded`,
    );
    expect(rows[0]).toEqual({ half: null, later: null, recorded: 0 });
  });
});

describe('migration runner on the embedded database (PGlite)', () => {
  it('applies every migration, persists them, and a reopen is a no-op', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tula-embedded-'));
    try {
      const first = await startEmbeddedPostgres(dir);
      let pool = new pg.Pool({ connectionString: first.url, max: 2 });
      const report = await migrate(pool);
      expect(report.applied).toEqual(readMigrations().map((m) => m.name));
      const fingerprint = await schemaFingerprint(pool);
      await pool.end();
      await first.stop();

      const again = await startEmbeddedPostgres(dir);
      pool = new pg.Pool({ connectionString: again.url, max: 2 });
      expect((await migrate(pool)).applied).toEqual([]);
      expect(await schemaFingerprint(pool)).toEqual(fingerprint);
      await pool.end();
      await again.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a data directory another live process holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tula-embedded-'));
    try {
      const { writeFileSync } = await import('node:fs');
      // PID 1 is always alive.
      writeFileSync(join(dir, 'embedded-postgres.pid'), '1\n');
      await expect(startEmbeddedPostgres(dir)).rejects.toThrow(/in use by process 1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run db:migrate', () => {
  it('applies migrations, and a second run is a no-op', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const db = await createTestDatabase();
    try {
      const run = () =>
        promisify(execFile)('npm', ['run', '--silent', 'db:migrate'], {
          cwd: new URL('../../../', import.meta.url).pathname,
          env: { ...process.env, DATABASE_URL: db.url },
        });
      const first = await run();
      expect(first.stdout).toMatch(/DATABASE_URL: applied \d+_init/);
      const second = await run();
      expect(second.stdout).toMatch(/DATABASE_URL: up to date \(\d+ migrations applied earlier\)/);
    } finally {
      await db.drop();
    }
  });
});
