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

  it("records migrations in Prisma's format", async () => {
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
      {
        name: '30000101000000_half_good',
        sql: 'CREATE TABLE "ShouldVanish" (id int);\nALTER TABLE "NoSuchTable" ADD COLUMN x int;',
        checksum: 'a'.repeat(64),
      },
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
    // PGlite runs in WebAssembly: every migration and two starts took 49 s at load average 15.
  }, 180_000);

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

describe('per-node detail into arrays (20261205013000_node_detail_arrays)', () => {
  it('regroups existing per-node rows into one row per series and bucket, every node kept with its values', async () => {
    const db = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: db.url });
    try {
      const all = readMigrations();
      const at = all.findIndex((m) => m.name === '20261205013000_node_detail_arrays');
      await migrate(pool, all.slice(0, at));
      const t = '2026-12-04 10:00:00';
      const t2 = '2026-12-04 10:00:10';
      await pool.query(
        `INSERT INTO "CounterNodeSample" ("organizationId", "nodeId", kind, "seriesKey", at, packets, bytes, "newFlows", drops) VALUES
           ('o', 'n2', 'service', 's', $1, 2, 200, 20, 2), ('o', 'n1', 'service', 's', $1, 1, 100, 10, 1),
           ('o', 'n1', 'service', 's', $2, 3, 300, 30, 3), ('o', 'n1', 'backend', 'b', $1, 4, 400, 40, 0)`,
        [t, t2],
      );
      await migrate(pool, all.slice(0, at + 1));
      const { rows } = await pool.query(
        `SELECT kind::text, "seriesKey", to_char(at, 'HH24:MI:SS') AS at, replica, batch::int, "nodeIds", packets::int[], bytes::int[], "newFlows"::int[], drops::int[]
           FROM "CounterNodeSample" ORDER BY 1, 3`,
      );
      expect(rows).toEqual([
        {
          kind: 'backend',
          seriesKey: 'b',
          at: '10:00:00',
          replica: 'migrated',
          batch: 0,
          nodeIds: ['n1'],
          packets: [4],
          bytes: [400],
          newFlows: [40],
          drops: [0],
        },
        {
          kind: 'service',
          seriesKey: 's',
          at: '10:00:00',
          replica: 'migrated',
          batch: 0,
          nodeIds: ['n1', 'n2'],
          packets: [1, 2],
          bytes: [100, 200],
          newFlows: [10, 20],
          drops: [1, 2],
        },
        {
          kind: 'service',
          seriesKey: 's',
          at: '10:00:10',
          replica: 'migrated',
          batch: 0,
          nodeIds: ['n1'],
          packets: [3],
          bytes: [300],
          newFlows: [30],
          drops: [3],
        },
      ]);
    } finally {
      await pool.end();
      await db.drop();
    }
  });
});
