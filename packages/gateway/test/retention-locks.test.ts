// Partition upkeep beside the panel's writers, on PostgreSQL. Creating a partition of AuditEvent
// (foreign keys to Organization and ServiceRevision) locks the parent, then the tables it references;
// a transaction that wrote an organisation and then records an audit event takes the same two the other
// way round. PostgreSQL broke that cycle by failing the writer once, as the local lab started
// ("lab: could not start: deadlock detected", npm test on 2026-12-06): the upkeep must give way.
// (The embedded database has one connection: no two transactions ever wait for each other there.)
import { openTestDatabase, type OpenTestDatabase } from '@tula/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensurePartitions, partitionName } from '../src/retention.ts';

let testDb: OpenTestDatabase;

beforeAll(async () => {
  testDb = await openTestDatabase();
});

afterAll(async () => {
  await testDb?.close();
});

it('a writer that holds an organisation and records an audit event commits; the partition upkeep gives way and makes it next round', async () => {
  const { db } = testDb;
  await db.pool.query(`INSERT INTO "Organization" (id, name, slug) VALUES ('o1', 'locks', 'locks')`);
  // A month with no partition yet: the upkeep creates the daily ones of its first days, then AuditEvent's.
  const later = Date.UTC(2031, 0, 15);
  const auditPartition = partitionName('AuditEvent', 'month', new Date(Date.UTC(2031, 0, 1)));

  const writer = new pg.Client({ connectionString: testDb.url });
  const watcher = new pg.Client({ connectionString: testDb.url });
  await Promise.all([writer.connect(), watcher.connect()]);
  try {
    await writer.query('BEGIN');
    await writer.query(`UPDATE "Organization" SET name = 'locks, renamed' WHERE id = 'o1'`);
    const upkeep = ensurePartitions(db, later).then(
      (created) => ({ created }),
      (err: Error) => ({ error: err.message }),
    );
    // Until the upkeep holds AuditEvent's lock and waits for Organization's, which the writer holds
    // (asked without a pause: the upkeep waits for half a second at most).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const waiting = await watcher.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
        [`CREATE TABLE IF NOT EXISTS "${auditPartition}"%`],
      );
      if (waiting.rowCount) break;
      if (Date.now() > deadline) throw new Error(`the upkeep never waited on creating ${auditPartition}: ${JSON.stringify(await upkeep)}`);
    }
    // The writer's audit event: into the parent whose lock the upkeep holds.
    const recorded = await writer
      .query(
        `INSERT INTO "AuditEvent" (id, "organizationId", "actorLabel", action, "targetType") VALUES ('e1', 'o1', 'test', 'organization.rename', 'organization')`,
      )
      .then(
        () => 'recorded',
        (err: Error) => err.message,
      );
    expect(recorded).toBe('recorded');
    await writer.query('COMMIT');

    const outcome = await upkeep;
    expect(outcome).not.toHaveProperty('error');
    expect((outcome as { created: string[] }).created).not.toContain(auditPartition);
    expect((await db.pool.query(`SELECT name FROM "Organization" WHERE id = 'o1'`)).rows).toEqual([{ name: 'locks, renamed' }]);
    // The next round, with the writer gone, makes it.
    expect(await ensurePartitions(db, later)).toContain(auditPartition);
  } finally {
    await writer.end();
    await watcher.end();
  }
});
