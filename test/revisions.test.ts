// Change safety on a real PostgreSQL database: every change to a service is a
// numbered revision written with the change, a rollback is a new revision equal
// to the old one, a stale review cannot overwrite a newer change, and the
// preview says what a change would do without writing anything.
import { type Database } from '@tula/db';
import { maglevPopulate, maglevTableSize } from '@tula/nft';
import { describeChange, type ServiceInput } from '@tula/validators';
import { beforeAll, describe, expect, it } from 'vitest';
import { balancerNode, memberCaller, useTestApiDatabase, type Caller } from './support/caller.ts';
import { testBackend, testService } from './support/service-input.ts';

let db: Database;
let api: Caller;
let org: string;
let email: string;
let lb1: string;
let lb2: string;

const testApi = useTestApiDatabase();
beforeAll(async () => {
  db = testApi.db;
  ({ api, organizationId: org, email } = await memberCaller(db, { name: 'Ada Operator' }));
  lb1 = (await balancerNode(db, org, 'lb1', '10.9.0.1')).id;
  lb2 = (await balancerNode(db, org, 'lb2', '10.9.0.2')).id;
});

const four = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];
function web(extra: Partial<ServiceInput> = {}): ServiceInput {
  return testService({ vip: '10.9.9.10', balancerNodeIds: [lb1], backends: four.map((address) => testBackend(address)), ...extra });
}
const texts = (changes: Parameters<typeof describeChange>[0][]) => changes.map((c) => describeChange(c));

describe('revisions', () => {
  it('numbers every change per service, with who, when and the whole service, and diffs any two field by field', async () => {
    const { id } = await api.services.create(web());
    const v1 = await api.services.history({ id });
    expect(v1.items.map((r) => [r.number, r.action, r.actorLabel])).toEqual([[1, 'service.create', email]]);
    expect(v1.items[0]!.document).toMatchObject({ name: 'web', mode: 'l2', portStart: 80, balancerNodeIds: [lb1] });
    expect(v1.items[0]!.document.backends.map((b) => b.address)).toEqual(four);

    // mode, a weight, a backend added, a balancer added: one revision, each difference listed.
    const edited = web({
      mode: 'l3',
      balancerNodeIds: [lb1, lb2],
      backends: [
        ...four.map((address) => ({ address, port: null, weight: address === '10.0.0.2' ? 2 : 1, state: 'active' as const, nodeId: null })),
        { address: '10.0.0.5', port: null, weight: 1, state: 'active', nodeId: null },
      ],
    });
    await api.services.update({ id, service: edited });
    await api.services.setBackendState({ serviceId: id, address: '10.0.0.3', state: 'draining' });
    const h = await api.services.history({ id });
    expect(h.items.map((r) => [r.number, r.action])).toEqual([
      [3, 'backend.drain'],
      [2, 'service.update'],
      [1, 'service.create'],
    ]);
    expect(texts(h.items[1]!.changes)).toEqual([
      'mode l2 → l3',
      'balancer lb2 added',
      'backend 10.0.0.2 weight 1 → 2',
      'backend 10.0.0.5 added',
    ]);
    expect(texts(h.items[0]!.changes)).toEqual(['backend 10.0.0.3 state active → draining']);
    expect(texts(h.items[2]!.changes)).toEqual(['service created']);

    // Any two revisions, not only neighbours.
    const d = await api.services.diff({ id, from: 1, to: 3 });
    expect(texts(d.changes)).toEqual([
      'mode l2 → l3',
      'balancer lb2 added',
      'backend 10.0.0.2 weight 1 → 2',
      'backend 10.0.0.3 state active → draining',
      'backend 10.0.0.5 added',
    ]);

    // Each change's audit event links to its revision.
    const audit = await api.audit.list({ serviceId: id });
    expect(audit.items.map((e) => [e.action, e.revision?.number])).toEqual([
      ['backend.drain', 3],
      ['service.update', 2],
      ['service.create', 1],
    ]);
  });

  it('writes no revision and no audit event when the change fails, and none for a save that changes nothing', async () => {
    const { id } = await api.services.create(web({ name: 'api', vip: '10.9.9.11' }));
    const events = await db.prisma.auditEvent.count({ where: { organizationId: org } });
    await expect(api.services.update({ id, service: web({ name: 'web', vip: '10.9.9.11' }) })).rejects.toThrow(/already exists/);
    expect(await db.prisma.auditEvent.count({ where: { organizationId: org } })).toBe(events);
    await api.services.update({ id, service: web({ name: 'api', vip: '10.9.9.11' }) });
    expect((await api.services.history({ id })).items.map((r) => r.number)).toEqual([1]);
    const revisions = await db.prisma.serviceRevision.count({ where: { serviceId: id } });
    expect(revisions).toBe(1);
  });

  it('rolls back by making a new revision equal to the old one, through the normal change path', async () => {
    const { id } = await api.services.create(web({ name: 'rb', vip: '10.9.9.12' }));
    await api.services.update({
      id,
      service: web({
        name: 'rb',
        vip: '10.9.9.12',
        mode: 'l3',
        backends: [{ address: '10.0.0.9', port: null, weight: 3, state: 'active', nodeId: null }],
      }),
    });
    const before = await db.prisma.node.findUniqueOrThrow({ where: { id: lb1 } });
    const r = await api.services.rollback({ id, number: 1 });
    expect(r.number).toBe(3);
    const h = await api.services.history({ id });
    expect(h.items[0]).toMatchObject({ number: 3, action: 'service.rollback', restoredNumber: 1, actorLabel: email });
    expect(h.items[0]!.document).toEqual(h.items[2]!.document);
    expect(texts(h.items[0]!.changes)).toEqual([
      'mode l3 → l2',
      'backend 10.0.0.1 added',
      'backend 10.0.0.2 added',
      'backend 10.0.0.3 added',
      'backend 10.0.0.4 added',
      'backend 10.0.0.9 removed',
    ]);
    // The rows and the balancer's document follow (recompiled in the same transaction).
    const svc = await api.services.get({ id });
    expect(svc.mode).toBe('l2');
    expect(svc.backends.map((b) => b.address)).toEqual(four);
    const after = await db.prisma.node.findUniqueOrThrow({ where: { id: lb1 } });
    expect(after.desiredVersion).toBe(before.desiredVersion + 1);
    const event = (await api.audit.list({ serviceId: id })).items[0]!;
    expect(event).toMatchObject({ action: 'service.rollback', revision: { number: 3 }, data: { restoredNumber: 1 } });
    await expect(api.services.rollback({ id, number: 99 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses to apply a reviewed change when the service changed since the review', async () => {
    const { id } = await api.services.create(web({ name: 'stale', vip: '10.9.9.13' }));
    await api.services.setBackendState({ serviceId: id, address: '10.0.0.1', state: 'disabled' });
    await expect(
      api.services.update({ id, baseRevision: 1, service: web({ name: 'stale', vip: '10.9.9.13', mode: 'l3' }) }),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('revision 2'),
    });
    expect((await api.services.get({ id })).mode).toBe('l2');
    await api.services.update({ id, baseRevision: 2, service: web({ name: 'stale', vip: '10.9.9.13', mode: 'l3' }) });
    expect((await api.services.get({ id })).mode).toBe('l3');
  });

  it('records a revision for each service a deleted node leaves, by the person who deleted it', async () => {
    const lb3 = (await balancerNode(db, org, 'lb3', '10.9.0.3')).id;
    const { id } = await api.services.create(web({ name: 'lost-node', vip: '10.9.9.15', balancerNodeIds: [lb1, lb3] }));
    await db.prisma.node.update({ where: { id: lb3 }, data: { revokedAt: new Date() } });
    await api.nodes.delete({ id: lb3 });
    const h = await api.services.history({ id });
    expect(h.items.map((r) => [r.number, r.action, r.actorLabel])).toEqual([
      [2, 'node.delete', email],
      [1, 'service.create', email],
    ]);
    expect(texts(h.items[0]!.changes)).toEqual([`balancer ${lb3} removed`]);
  });

  it('keeps the history of a deleted service, ending in a revision without a document', async () => {
    const { id } = await api.services.create(web({ name: 'gone', vip: '10.9.9.14' }));
    await api.services.delete({ id });
    const rows = await db.prisma.serviceRevision.findMany({ where: { serviceId: id }, orderBy: { number: 'asc' } });
    expect(rows.map((r) => [r.number, r.action, r.document === null])).toEqual([
      [1, 'service.create', false],
      [2, 'service.delete', true],
    ]);
  });
});

describe('preview', () => {
  /** Slots whose owner differs, counted straight from the two real tables (same size here). */
  function tableCounts(before: string[], after: string[]) {
    const m = maglevTableSize(before.length);
    expect(maglevTableSize(after.length)).toBe(m);
    const tb = maglevPopulate(
      before.map((key) => ({ key, weight: 1 })),
      m,
    );
    const ta = maglevPopulate(
      after.map((key) => ({ key, weight: 1 })),
      m,
    );
    let changed = 0;
    let ofRemoved = 0;
    let removedSlots = 0;
    for (let s = 0; s < m; s++) {
      const was = before[tb[s]!]!;
      if (!after.includes(was)) removedSlots++;
      if (was !== after[ta[s]!]) {
        changed++;
        if (!after.includes(was)) ofRemoved++;
      }
    }
    return { m, changed, ofRemoved, ofStaying: changed - ofRemoved, removedSlots };
  }

  it('lists the changes, the nodes that get a new document and the flows that move, and writes nothing', async () => {
    const { id } = await api.services.create(web({ name: 'pv', vip: '10.9.9.20' }));
    await api.services.create(web({ name: 'other', vip: '10.9.9.21', balancerNodeIds: [lb2] }));
    const proposed = web({
      name: 'pv',
      vip: '10.9.9.20',
      backends: four.filter((a) => a !== '10.0.0.2').map((address) => ({ address, port: null, weight: 1, state: 'active', nodeId: null })),
    });

    const snapshot = async () => ({
      nodes: await db.prisma.node.findMany({
        where: { organizationId: org },
        select: { id: true, desiredVersion: true, desiredHash: true },
        orderBy: { id: 'asc' },
      }),
      revisions: await db.prisma.serviceRevision.count({ where: { organizationId: org } }),
      audit: await db.prisma.auditEvent.count({ where: { organizationId: org } }),
      backends: await db.prisma.backend.count({ where: { serviceId: id } }),
    });
    const untouched = await snapshot();
    const p = await api.services.preview({ id, service: proposed });
    expect(await snapshot()).toEqual(untouched);

    expect(p.currentRevision).toBe(1);
    expect(texts(p.changes)).toEqual(['backend 10.0.0.2 removed']);
    // lb1 carries pv and gets a new document; lb2 carries only "other" and does not.
    expect(p.nodes.map((n) => n.name)).toEqual(['lb1']);

    // Removing one of four equal backends: a quarter of the table, as the tables say.
    const t = tableCounts(
      four,
      four.filter((a) => a !== '10.0.0.2'),
    );
    expect(p.flows).toMatchObject({ entries: t.m, changed: t.changed, fromLeaving: t.ofRemoved, fromStaying: t.ofStaying });
    expect(t.ofRemoved).toBe(t.removedSlots); // every flow of the removed backend moves...
    expect(p.flows!.fromLeaving / p.flows!.entries).toBeCloseTo(0.25, 1);
    // ...and no established flow of a surviving backend does (they stay pinned in the flow table).
    expect(p.flows!.establishedMoving).toBe(t.removedSlots);

    // What the preview said is what applying does: exactly those nodes get a new version.
    const versions = new Map(untouched.nodes.map((n) => [n.id, n.desiredVersion]));
    await api.services.update({ id, baseRevision: p.currentRevision!, service: proposed });
    const bumped = (await db.prisma.node.findMany({ where: { organizationId: org }, orderBy: { id: 'asc' } }))
      .filter((n) => n.desiredVersion !== versions.get(n.id))
      .map((n) => n.id);
    expect(bumped).toEqual(p.nodes.map((n) => n.id));
  });

  it('counts no flow of the survivors when a backend is disabled, and reports the checks the save would fail', async () => {
    const { id } = await api.services.create(web({ name: 'pv2', vip: '10.9.9.22' }));
    const disabled = web({
      name: 'pv2',
      vip: '10.9.9.22',
      backends: four.map((address) => ({
        address,
        port: null,
        weight: 1,
        state: address === '10.0.0.4' ? 'disabled' : 'active',
        nodeId: null,
      })),
    });
    const p = await api.services.preview({ id, service: disabled });
    const t = tableCounts(four, four);
    const m = maglevTableSize(4);
    const slotsOf4 = Array.from(
      maglevPopulate(
        four.map((key) => ({ key, weight: 1 })),
        m,
      ),
    ).filter((i) => four[i] === '10.0.0.4').length;
    expect(t.changed).toBe(0);
    expect(p.flows).toMatchObject({ entries: m, changed: slotsOf4, fromLeaving: slotsOf4, fromStaying: 0 });
    await expect(api.services.preview({ id, service: web({ name: 'pv', vip: '10.9.9.22' }) })).rejects.toThrow(/already exists/);
  });

  it('previews a new service: every balancer it names gets a document, no flows to move', async () => {
    const p = await api.services.preview({ service: web({ name: 'fresh', vip: '10.9.9.23', balancerNodeIds: [lb2] }) });
    expect(p.currentRevision).toBeNull();
    expect(p.nodes.map((n) => n.name)).toEqual(['lb2']);
    expect(p.flows).toBeNull();
    expect(texts(p.changes)).toEqual(['service created']);
  });
});
