// Enrollment on a real PostgreSQL database: its attempt limit is one count for
// every panel replica (two limiter instances, as two processes would hold, on
// one database), and a failure inside the panel answers a stable message while
// the detail goes to the log only.
import { LocalBus, newSecret, sha256, SharedLimiter } from '@tula/control';
import type { Database } from '@tula/db';
import { openTestDatabase, type OpenTestDatabase } from '@tula/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll, ENROLL_FAILED, enrollmentLimiter } from '../src/enroll.ts';

let testDb: OpenTestDatabase;
let db: Database;

beforeAll(async () => {
  testDb = await openTestDatabase();
  db = testDb.db;
});
afterAll(async () => {
  await testDb?.close();
});

describe('SharedLimiter', () => {
  it('two instances on one database share one count per key', async () => {
    const [one, two] = [new SharedLimiter(db, 'shared-test', 5, 60), new SharedLimiter(db, 'shared-test', 5, 60)];
    const results: boolean[] = [];
    for (let i = 0; i < 4; i++) results.push(await one.take('198.51.100.1'), await two.take('198.51.100.1'));
    expect(results).toEqual([true, true, true, true, true, false, false, false]);
    // Another key has its own count; another limiter name too.
    expect(await two.take('198.51.100.2')).toBe(true);
    expect(await new SharedLimiter(db, 'other-test', 5, 60).take('198.51.100.1')).toBe(true);
  });

  it('concurrent hits are counted exactly once each (one atomic upsert per hit)', async () => {
    const limiters = Array.from({ length: 4 }, () => new SharedLimiter(db, 'race-test', 10, 60));
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => limiters[i % 4]!.take('203.0.113.9')));
    expect(results.filter(Boolean)).toHaveLength(10);
  });

  it('a window that has ended starts a new one', async () => {
    const limiter = new SharedLimiter(db, 'window-test', 1, 60);
    expect(await limiter.take('k')).toBe(true);
    expect(await limiter.take('k')).toBe(false);
    await db.pool.query(`UPDATE "LimitWindow" SET "windowStart" = "windowStart" - interval '61 seconds' WHERE key = 'window-test:k'`);
    expect(await limiter.take('k')).toBe(true);
  });
});

describe('enrollment errors', () => {
  it('a failure inside the panel answers a stable message and logs the detail', async () => {
    const org = await db.prisma.organization.create({ data: { name: 'o', slug: `o-${Date.now()}` } });
    const token = newSecret('tet');
    await db.prisma.enrollmentToken.create({
      data: { organizationId: org.id, tokenHash: sha256(token), prefix: token.slice(0, 8), expiresAt: new Date(Date.now() + 3_600_000) },
    });
    // The audit table is gone: the enrollment transaction fails inside the panel.
    await db.pool.query('ALTER TABLE "AuditEvent" RENAME TO "AuditEventAway"');
    const logged: string[] = [];
    try {
      const res = await enroll(
        {
          db,
          bus: new LocalBus(),
          limits: { nodes: 10, services: 10 },
          enrollAttempts: enrollmentLimiter(db, 10),
          log: (m) => logged.push(m),
        },
        new Request('http://panel/api/agent/enroll', { method: 'POST', body: JSON.stringify({ token, name: 'n1', hostname: 'h1' }) }),
        '192.0.2.50',
      );
      const body = (await res.json()) as { error: string };
      expect(res.status).toBe(500);
      expect(body).toEqual({ error: ENROLL_FAILED });
      expect(logged.join('\n')).toContain('AuditEvent');
      expect(logged.join('\n')).not.toContain(token);
    } finally {
      await db.pool.query('ALTER TABLE "AuditEventAway" RENAME TO "AuditEvent"');
    }
  });
});
