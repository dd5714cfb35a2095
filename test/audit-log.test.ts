// The audit log on a real PostgreSQL database: each change links to its
// revision; filters by service, person and time range; CSV export; and the
// migration that introduced revisions gives existing services revision 1.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, readMigrations, startEmbeddedPostgres, type Database } from '@tula/db';
import { createTestDatabase } from '@tula/db/testing';
import type { ServiceInput } from '@tula/validators';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadServiceDocument, revisionDocument } from '../packages/api/src/revisions.ts';
import { balancerNode, memberCaller, openTestApi, useTestApiDatabase, type Caller } from './support/caller.ts';
import { testBackend, testService } from './support/service-input.ts';

const ODD_NAME = 'Ada, "the" Operator\nof Lovelace';
let db: Database;
let ada: { api: Caller; userId: string; email: string };
let bo: { api: Caller; userId: string; email: string };
let org: string;
let s1: string;
let s2: string;

const service = (name: string, vip: string, lb: string, extra: Partial<ServiceInput> = {}): ServiceInput =>
  testService({ name, vip, balancerNodeIds: [lb], backends: [testBackend('10.1.0.1')], ...extra });

const testApi = useTestApiDatabase();
beforeAll(async () => {
  db = testApi.db;
  const a = await memberCaller(db, { name: ODD_NAME });
  org = a.organizationId;
  ada = a;
  bo = await memberCaller(db, { name: 'Bo', role: 'admin', join: org });
  const lb = (await balancerNode(db, org, 'lb1', '10.9.0.1')).id;
  s1 = (await ada.api.services.create(service('s1', '10.9.9.1', lb))).id;
  await bo.api.services.update({ id: s1, service: service('s1', '10.9.9.1', lb, { mode: 'l3' }) });
  s2 = (await bo.api.services.create(service('s2', '10.9.9.2', lb))).id;
  // One event far in the past, for the time filter.
  await db.prisma.auditEvent.updateMany({
    where: { organizationId: org, action: 'service.create', targetId: s1 },
    data: { createdAt: new Date('2026-01-15T10:00:00Z') },
  });
});

const actions = (r: { items: { action: string; targetId: string | null }[] }) =>
  r.items.map((e) => `${e.action} ${e.targetId === s1 ? 's1' : e.targetId === s2 ? 's2' : e.targetId}`);

describe('audit log filters', () => {
  it('by service, by person and by time range, each event linked to the revision it made', async () => {
    expect(actions(await ada.api.audit.list({ serviceId: s1 }))).toEqual(['service.update s1', 'service.create s1']);
    expect(actions(await ada.api.audit.list({ actorUserId: bo.userId }))).toEqual(['service.create s2', 'service.update s1']);
    expect(actions(await ada.api.audit.list({ from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-02-01T00:00:00Z') }))).toEqual([
      'service.create s1',
    ]);
    expect(actions(await ada.api.audit.list({ serviceId: s1, from: new Date('2026-02-01T00:00:00Z') }))).toEqual(['service.update s1']);
    const s1Events = (await ada.api.audit.list({ serviceId: s1 })).items;
    expect(s1Events.map((e) => [e.revision?.number, e.revision?.serviceId])).toEqual([
      [2, s1],
      [1, s1],
    ]);
    expect(await ada.api.audit.actors()).toEqual(
      expect.arrayContaining([
        { userId: ada.userId, label: ada.email },
        { userId: bo.userId, label: bo.email },
      ]),
    );
  });

  it("does not see another organisation's events or revisions", async () => {
    const eve = await memberCaller(db, { name: 'Eve' });
    expect((await eve.api.audit.list({ serviceId: s1 })).items).toEqual([]);
    expect((await eve.api.audit.export({})).rows).toBe(0);
    await expect(eve.api.services.history({ id: s1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(eve.api.services.rollback({ id: s1, number: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('the audit log in words', () => {
  it('names actor and target with links, and says field by field what a change did', async () => {
    const [update, create] = (await ada.api.audit.list({ serviceId: s1 })).items;
    expect(update).toMatchObject({
      what: 'changed service',
      actor: { kind: 'person', name: `Bo (${bo.email})` },
      target: { name: 's1', href: `/app/services/${s1}` },
      changes: ['mode l2 → l3'],
    });
    expect(create).toMatchObject({ what: 'created service', changes: ['service created', 'VIP 10.9.9.1', 'ports 80'] });
  });

  it('names an agent by the node it runs on, and filters by what and by target', async () => {
    const lb = await db.prisma.node.findFirstOrThrow({ where: { organizationId: org, name: 'lb1' } });
    await db.prisma.auditEvent.createMany({
      data: [
        {
          organizationId: org,
          actorLabel: 'agent on host-17',
          action: 'node.enroll',
          targetType: 'node',
          targetId: lb.id,
          data: { name: 'lb1' },
        },
        {
          organizationId: org,
          actorLabel: 'agent',
          action: 'node.drift_repaired',
          targetType: 'node',
          targetId: lb.id,
          data: { what: 'nft table' },
        },
      ],
    });
    const nodeEvents = (await ada.api.audit.list({ targetType: 'node' })).items;
    expect(nodeEvents.map((e) => [e.actor.kind, e.actor.name, e.actor.href, e.what, e.target?.name, e.changes])).toEqual([
      ['agent', 'agent on lb1', `/app/fleet/${lb.id}`, 'repaired drift on node', 'lb1', ['found: nft table']],
      ['agent', 'agent on lb1', `/app/fleet/${lb.id}`, 'enrolled node', 'lb1', ['as lb1']],
    ]);
    expect(actions(await ada.api.audit.list({ action: 'service.update' }))).toEqual(['service.update s1']);
    expect(actions(await ada.api.audit.list({ targetType: 'service', targetId: s2 }))).toEqual(['service.create s2']);
    await expect(ada.api.audit.list({ action: 'service.explode' as never })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('audit CSV export', () => {
  it("exports the filtered events newest first in the audit page's words, with names holding commas, quotes and line breaks intact", async () => {
    const { csv, rows, truncated } = await ada.api.audit.export({ serviceId: s1 });
    expect({ rows, truncated }).toEqual({ rows: 2, truncated: false });
    const events = (await ada.api.audit.list({ serviceId: s1 })).items;
    expect(csv).toBe(
      'time,who,what,target,changes,revision,action_code,actor,target_type,target_id,details\r\n' +
        `${events[0]!.createdAt.toISOString()},Bo (${bo.email}),changed service,s1,mode l2 → l3,2,service.update,${bo.email},service,${s1},"{""name"":""s1""}"\r\n` +
        `${events[1]!.createdAt.toISOString()},"Ada, ""the"" Operator\nof Lovelace (${ada.email})",created service,s1,service created; VIP 10.9.9.1; ports 80,1,service.create,${ada.email},service,${s1},"{""vip"":""10.9.9.1"",""name"":""s1"",""ports"":""80""}"\r\n`,
    );
  });

  it('says what a node event did in words (not node.undrain), with the code kept for machines', async () => {
    const lb = await db.prisma.node.findFirstOrThrow({ where: { organizationId: org, name: 'lb1' } });
    await db.prisma.auditEvent.create({
      data: {
        organizationId: org,
        actorUserId: bo.userId,
        actorLabel: bo.email,
        action: 'node.undrain',
        targetType: 'node',
        targetId: lb.id,
        data: {},
      },
    });
    const { csv } = await ada.api.audit.export({ targetType: 'node', action: 'node.undrain' });
    const [header, row, end] = csv.split('\r\n');
    expect(end).toBe('');
    // As the audit page's row reads: "Bo undrained balancer lb1".
    expect(row!.split(',').slice(1, 7)).toEqual([`Bo (${bo.email})`, 'undrained balancer', 'lb1', '', '', 'node.undrain']);
    expect(header!.split(',').slice(1, 7)).toEqual(['who', 'what', 'target', 'changes', 'revision', 'action_code']);
  });
});

describe('the audit log says each thing once, the same way on the page and in the CSV', () => {
  it('a backend change is one line; the CSV is newest first, its actor agrees with who, its what reads alone', async () => {
    const lb = await db.prisma.node.findFirstOrThrow({ where: { organizationId: org, name: 'lb1' } });
    const s3 = (await bo.api.services.create(service('s3', '10.9.9.3', lb.id))).id;
    await bo.api.services.setBackendState({ serviceId: s3, address: '10.1.0.1', state: 'draining' });
    await bo.api.services.setBackendState({ serviceId: s3, address: '10.1.0.1', state: 'active' });
    const page = (await ada.api.audit.list({ serviceId: s3 })).items;
    expect(page.slice(0, 2).map((e) => [e.what, e.changes])).toEqual([
      ['activated a backend of', ['backend 10.1.0.1 state draining → active']],
      ['drained a backend of', ['backend 10.1.0.1 state active → draining']],
    ]);

    const { csv } = await ada.api.audit.export({ serviceId: s3 });
    // Bo's name has no comma or line break, and the columns checked come before the JSON details.
    const rows = csv
      .split('\r\n')
      .slice(1, -1)
      .map((l) => l.split(','));
    // Newest first, as the page lists them.
    expect(rows.map((r) => r[6])).toEqual(['backend.activate', 'backend.drain', 'service.create']);
    expect(rows.map((r) => r[0])).toEqual(page.map((e) => e.createdAt.toISOString()));
    expect(rows[1]!.slice(1, 5)).toEqual([`Bo (${bo.email})`, 'drained a backend of s3', 's3', 'backend 10.1.0.1 state active → draining']);

    // An agent's event: the actor column names the node as `who` does, and keeps the hostname the agent gave.
    const lb9 = await balancerNode(db, org, 'lb9', '10.9.0.9');
    await db.prisma.auditEvent.create({
      data: {
        organizationId: org,
        actorLabel: 'agent on vm',
        action: 'node.enroll',
        targetType: 'node',
        targetId: lb9.id,
        data: { name: 'lb9' },
      },
    });
    const { csv: nodes } = await ada.api.audit.export({ targetType: 'node', targetId: lb9.id, action: 'node.enroll' });
    const enroll = nodes.split('\r\n')[1]!.split(',');
    expect([enroll[1], enroll[7]]).toEqual(['agent on lb9', 'agent on lb9 (hostname vm)']);
  });
});

describe('the migration that introduced revisions', () => {
  /** Migrates to just before revisions, adds a service the old way, migrates the rest; returns revision 1's row. */
  async function migrateOldService(pool: pg.Pool) {
    const all = readMigrations();
    const cut = all.findIndex((m) => m.name.endsWith('_service_revisions'));
    expect(cut).toBeGreaterThan(0);
    await migrate(pool, all.slice(0, cut));
    await pool.query(`INSERT INTO "Organization" (id, name, slug) VALUES ('o1', 'old', 'old')`);
    await pool.query(
      `INSERT INTO "Node" (id, "organizationId", name, role, "credentialHash", addresses) VALUES ('nb', 'o1', 'lb-b', 'balancer', 'h1', '{}'), ('na', 'o1', 'lb-a', 'balancer', 'h2', '{}')`,
    );
    await pool.query(
      `INSERT INTO "Service" (id, "organizationId", name, vip, "portStart", "portEnd", protocol, mode, "hcPath", "updatedAt") VALUES ('s', 'o1', 'legacy', '10.2.0.1', 80, 81, 'tcp', 'l3', '/x', '2026-03-01T00:00:00Z')`,
    );
    await pool.query(`INSERT INTO "ServiceBalancer" ("organizationId", "serviceId", "nodeId") VALUES ('o1', 's', 'nb'), ('o1', 's', 'na')`);
    await pool.query(`INSERT INTO "Backend" (id, "organizationId", "serviceId", address, weight, state, "nodeId", "updatedAt") VALUES
      ('b1', 'o1', 's', '10.0.0.9', 1, 'active', NULL, now()), ('b2', 'o1', 's', '10.0.0.10', 3, 'draining', 'na', now()), ('b3', 'o1', 's', 'fd00::1', 1, 'disabled', NULL, now())`);
    await migrate(pool, all);
    const { rows } = await pool.query(`SELECT number, action, "actorLabel", document, "createdAt" FROM "ServiceRevision"`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      number: 1,
      action: 'service.import',
      actorLabel: 'existing configuration',
      createdAt: new Date('2026-03-01T00:00:00Z'),
    });
    expect(rows[0].document.backends.map((b: { address: string }) => b.address)).toEqual(['10.0.0.10', '10.0.0.9', 'fd00::1']);
    expect(rows[0].document.balancerNodeIds).toEqual(['na', 'nb']);
    return rows[0].document;
  }

  it('gives each existing service revision 1 with exactly the document a change would record', async () => {
    const old = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: old.url });
    try {
      const document = await migrateOldService(pool);
      const migrated = await openTestApi(old.url);
      try {
        // Read as every stored revision is read: fields added since (draft) take their defaults.
        expect(revisionDocument(document)).toEqual(await loadServiceDocument(migrated.prisma, 'o1', 's'));
      } finally {
        await migrated.close();
      }
    } finally {
      await pool.end();
      await old.drop();
    }
  });

  it('does the same on the embedded database (PGlite)', async () => {
    const embedded = await startEmbeddedPostgres(mkdtempSync(join(tmpdir(), 'tula-rv-pglite-')));
    const pool = new pg.Pool({ connectionString: embedded.url, max: 1 });
    try {
      expect(await migrateOldService(pool)).toMatchObject({ name: 'legacy', portStart: 80, portEnd: 81, mode: 'l3', hcPath: '/x' });
    } finally {
      await pool.end();
      await embedded.stop();
    }
    // Every migration in PGlite (WebAssembly): 61 s at load average 22.
  }, 180_000);
});
