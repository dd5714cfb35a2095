// The counter path on a real database (PostgreSQL, and the embedded PGlite):
// many agents reporting the same service cost one raw row per second, not one
// per agent; the stored sums equal what the agents sent; a resent report is
// acknowledged without being counted twice; per-node detail is kept at a 10 s step;
// every table that grows with time is expired at its own retention.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBus } from '@tula/control';
import { openDatabase, readDatabaseEnv, startEmbeddedPostgres, type Database, type EmbeddedPostgres } from '@tula/db';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import type { CountersReport } from '@tula/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CounterWriter } from '../src/counters.ts';
import { DEFAULT_RETENTION, expireHistory } from '../src/retention.ts';

const AGENTS = 5;
const SECONDS = 3;
// Whole seconds in the past, within the raw retention.
const T0 = Math.floor(Date.now() / 10_000) * 10_000 - 60_000;

async function fleet(db: Database) {
  const org = await db.prisma.organization.create({ data: { name: 'counters', slug: `c-${randomBytes(4).toString('hex')}` } });
  const svc = await db.prisma.service.create({
    data: { organizationId: org.id, name: 'web', vip: '10.20.0.1', portStart: 80, portEnd: 80, protocol: 'tcp', mode: 'l2', backends: { create: [{ organizationId: org.id, address: '10.20.1.1' }] } },
    include: { backends: true },
  });
  const nodes = [];
  for (let i = 0; i < AGENTS; i++) {
    nodes.push(await db.prisma.node.create({ data: { organizationId: org.id, name: `n${i}`, role: 'balancer', credentialHash: randomBytes(16).toString('hex'), addresses: [`10.30.0.${i + 1}`] } }));
  }
  return { orgId: org.id, serviceId: svc.id, backendId: svc.backends[0]!.id, nodeIds: nodes.map((n) => n.id) };
}

function report(boot: string, seq: number, at: number, i: number): CountersReport {
  return {
    type: 'counters', boot, seq, at,
    services: [{ name: 'web', packets: 10 + i, bytes: 1000 * (i + 1) + seq, newFlows: i + 1, drops: i, backends: [{ address: '10.20.1.1', packets: 10 + i, bytes: 500 + i, newFlows: 1, healthy: true }] }],
    vips: [{ vip: '10.20.0.1', packets: 7, bytes: 700 + i }],
  };
}

async function exercise(db: Database) {
  const { orgId, serviceId, backendId, nodeIds } = await fleet(db);
  const writer = new CounterWriter(db, new LocalBus(), { flushMs: 3_600_000, retention: DEFAULT_RETENTION, log: () => {} });
  const acked: boolean[] = [];
  let sentBytes = 0;
  let sentBackendBytes = 0;
  const boots = nodeIds.map(() => randomBytes(8).toString('hex'));
  for (let s = 0; s < SECONDS; s++) {
    nodeIds.forEach((nodeId, i) => {
      // Each agent's clock reads a different moment within the same second.
      const r = report(boots[i]!, s + 1, T0 + s * 1000 + i * 97, i);
      sentBytes += r.services[0]!.bytes;
      sentBackendBytes += r.services[0]!.backends[0]!.bytes;
      writer.push({ nodeId, organizationId: orgId, report: r, done: (ok) => acked.push(ok) });
    });
    await writer.flush();
  }
  // Agent 0 resends its last report (its acknowledgement was lost): acknowledged, not counted again.
  writer.push({ nodeId: nodeIds[0]!, organizationId: orgId, report: report(boots[0]!, SECONDS, T0 + (SECONDS - 1) * 1000, 0), done: (ok) => acked.push(ok) });
  await writer.flush();
  await writer.close();

  expect(acked).toEqual(Array(AGENTS * SECONDS + 1).fill(true));
  const perSecond = await db.pool.query<{ at: Date; rows: number; bytes: string }>(
    `SELECT at, count(*)::int AS rows, sum(bytes)::text AS bytes FROM "CounterSample" WHERE "organizationId" = $1 AND kind = 'service' AND "seriesKey" = $2 GROUP BY at ORDER BY at`,
    [orgId, serviceId],
  );
  const sums = async (sql: string) => (await db.pool.query<{ bytes: string }>(sql, [orgId, serviceId])).rows[0]!.bytes;
  return { perSecond: perSecond.rows, sentBytes, sentBackendBytes, orgId, backendId, nodeIds, sums };
}

async function expectExact(db: Database) {
  const r = await exercise(db);
  // One row per service per second, whatever the number of agents.
  expect(r.perSecond.map((x) => [x.at.getTime(), x.rows])).toEqual(Array.from({ length: SECONDS }, (_, s) => [T0 + s * 1000, 1]));
  expect(r.perSecond.reduce((a, x) => a + Number(x.bytes), 0)).toBe(r.sentBytes);
  for (const resolution of ['minute', 'hour']) {
    expect(Number(await r.sums(`SELECT COALESCE(sum(bytes), 0)::text AS bytes FROM "CounterRollup" WHERE "organizationId" = $1 AND "seriesKey" = $2 AND resolution = '${resolution}'`))).toBe(r.sentBytes);
  }
  // Per-node detail: one row per node and series per 10 s, summing what that node sent.
  const nodes = await db.pool.query<{ nodeId: string; rows: number; bytes: string }>(
    `SELECT "nodeId", count(*)::int AS rows, sum(bytes)::text AS bytes FROM "CounterNodeSample" WHERE "organizationId" = $1 AND kind = 'backend' AND "seriesKey" = $2 GROUP BY "nodeId"`,
    [r.orgId, r.backendId],
  );
  expect(nodes.rows).toHaveLength(AGENTS);
  expect(nodes.rows.every((n) => n.rows === 1)).toBe(true);
  expect(nodes.rows.reduce((a, n) => a + Number(n.bytes), 0)).toBe(r.sentBackendBytes);
}

/** Each growing table holds a row just past its retention and one just inside it: only the first goes. */
async function expectRetention(db: Database) {
  const now = Date.UTC(2026, 5, 1);
  const H = 3_600_000;
  const D = 24 * H;
  const org = await db.prisma.organization.create({ data: { name: 'retention', slug: `r-${randomBytes(4).toString('hex')}` } });
  const o = org.id;
  const policy = { rawHours: 24, minuteDays: 30, hourDays: 400, historyDays: 400 };
  const old = (ms: number) => new Date(now - ms - 1000);
  const kept = (ms: number) => new Date(now - ms + 60_000);
  const v = { kind: 'service' as const, seriesKey: 's', packets: 1, bytes: 1 };
  for (const [at, tag] of [[old, 'old'], [kept, 'kept']] as const) {
    await db.prisma.counterSample.create({ data: { organizationId: o, replica: tag, at: at(24 * H), ...v } });
    await db.prisma.counterNodeSample.create({ data: { organizationId: o, nodeId: tag, at: at(24 * H), ...v } });
    await db.prisma.counterRollup.create({ data: { organizationId: o, resolution: 'minute', bucket: at(30 * D), replica: tag, ...v } });
    await db.prisma.counterRollup.create({ data: { organizationId: o, resolution: 'hour', bucket: at(400 * D), replica: tag, ...v } });
    await db.prisma.healthTransition.create({ data: { organizationId: o, nodeId: 'n', backendId: 'b', healthy: tag === 'kept', at: at(400 * D) } });
    await db.prisma.auditEvent.create({ data: { organizationId: o, actorLabel: tag, action: 'test', targetType: 'test', createdAt: at(400 * D) } });
  }
  // The only transition of a backend on a node is its state now, however old.
  await db.prisma.healthTransition.create({ data: { organizationId: o, nodeId: 'steady', backendId: 'b', healthy: true, at: old(800 * D) } });
  const deleted = await expireHistory(db, policy, now);
  expect(deleted).toEqual({ CounterSample: 1, CounterNodeSample: 1, CounterRollup: 2, HealthTransition: 1, AuditEvent: 1 });
  const left = await Promise.all([
    db.prisma.counterSample.findMany({ where: { organizationId: o }, select: { replica: true } }),
    db.prisma.counterNodeSample.findMany({ where: { organizationId: o }, select: { nodeId: true } }),
    db.prisma.counterRollup.findMany({ where: { organizationId: o }, select: { replica: true, resolution: true }, orderBy: { resolution: 'asc' } }),
    db.prisma.healthTransition.findMany({ where: { organizationId: o }, select: { nodeId: true, healthy: true }, orderBy: { nodeId: 'asc' } }),
    db.prisma.auditEvent.findMany({ where: { organizationId: o }, select: { actorLabel: true } }),
  ]);
  expect(left).toEqual([[{ replica: 'kept' }], [{ nodeId: 'kept' }], [{ replica: 'kept', resolution: 'minute' }, { replica: 'kept', resolution: 'hour' }], [{ nodeId: 'n', healthy: true }, { nodeId: 'steady', healthy: true }], [{ actorLabel: 'kept' }]]);
}

/** A failed write loses no health transition: the agent resends the report and the transition is stored then. */
async function expectTransitionSurvivesFailedWrite(db: Database) {
  const { orgId, backendId, nodeIds } = await fleet(db);
  const writer = new CounterWriter(db, new LocalBus(), { flushMs: 3_600_000, retention: DEFAULT_RETENTION, log: () => {} });
  const acked: boolean[] = [];
  const r = report(randomBytes(8).toString('hex'), 1, T0, 0);
  await db.pool.query(`CREATE FUNCTION refuse_transition() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$`);
  await db.pool.query(`CREATE TRIGGER refuse BEFORE INSERT ON "HealthTransition" FOR EACH ROW EXECUTE FUNCTION refuse_transition()`);
  writer.push({ nodeId: nodeIds[0]!, organizationId: orgId, report: r, done: (ok) => acked.push(ok) });
  await writer.flush();
  await db.pool.query(`DROP TRIGGER refuse ON "HealthTransition"`);
  await db.pool.query(`DROP FUNCTION refuse_transition()`);
  writer.push({ nodeId: nodeIds[0]!, organizationId: orgId, report: r, done: (ok) => acked.push(ok) });
  await writer.flush();
  await writer.close();
  expect(acked).toEqual([false, true]);
  expect(await db.prisma.healthTransition.findMany({ where: { organizationId: orgId, backendId }, select: { nodeId: true, healthy: true } })).toEqual([{ nodeId: nodeIds[0], healthy: true }]);
}

describe('counter writer on PostgreSQL', () => {
  let testDb: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openDatabase({ env: readDatabaseEnv({ DATABASE_URL: testDb.url }), migrate: true });
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('stores one row per service per second for many agents, with exact sums', () => expectExact(db));
  it('expires each growing table at its own retention', () => expectRetention(db));
  it('stores a health transition whose first write failed when the report is resent', () => expectTransitionSurvivesFailedWrite(db));
});

describe('counter writer on the embedded database (PGlite)', () => {
  let embedded: EmbeddedPostgres;
  let db: Database;
  beforeAll(async () => {
    embedded = await startEmbeddedPostgres(mkdtempSync(join(tmpdir(), 'tula-counters-pglite-')));
    db = await openDatabase({ env: readDatabaseEnv({ DATABASE_URL: embedded.url }), migrate: true });
  });
  afterAll(async () => {
    await db?.close();
    await embedded?.stop();
  });

  it('stores one row per service per second for many agents, with exact sums', () => expectExact(db));
  it('expires each growing table at its own retention', () => expectRetention(db));
  it('stores a health transition whose first write failed when the report is resent', () => expectTransitionSurvivesFailedWrite(db));
});
