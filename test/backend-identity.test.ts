// Editing a service keeps its backends' identities (and with them their counter
// and health history, which are keyed by backend id): backends are matched by
// address; changed fields are updated, removed backends deleted, new ones inserted.
import type { ServiceInput } from '@tula/validators';
import { expect, it } from 'vitest';
import { replaceService } from '../packages/api/src/routers/services/write.ts';
import { balancerNode, useTestApiDatabase } from './support/caller.ts';
import { testBackend, testService } from './support/service-input.ts';

const testDb = useTestApiDatabase();

const backend = testBackend;
const service = (lb: string, backends: ServiceInput['backends']): ServiceInput =>
  testService({ vip: '10.40.0.1', balancerNodeIds: [lb], backends });

it('keeps the ids of backends an edit leaves in place, updates changed ones, deletes removed ones, inserts new ones', async () => {
  const { db } = testDb;
  // The save path itself (what services.update and services.rollback run in their transaction).
  const organizationId = (await db.prisma.organization.create({ data: { name: 'Ada', slug: 'ada-backends' } })).id;
  const lb = (await balancerNode(db, organizationId, 'lb1', '10.40.9.1')).id;
  const { id } = await db.prisma.service.create({ data: { organizationId, name: 'web', vip: '10.40.0.1', portStart: 80, portEnd: 80 } });
  const save = (input: ServiceInput) => db.prisma.$transaction((tx) => replaceService(tx, organizationId, id, input));
  await save(service(lb, [backend('10.40.1.1'), backend('10.40.1.2'), backend('10.40.1.3')]));
  const before = new Map((await db.prisma.backend.findMany({ where: { serviceId: id } })).map((b) => [b.address, b.id]));
  // Counter history of the first backend, keyed by its id.
  await db.prisma.counterNodeSample.create({
    data: {
      organizationId,
      replica: 'test',
      batch: 1,
      kind: 'backend',
      seriesKey: before.get('10.40.1.1')!,
      at: new Date(),
      nodeIds: [lb],
      bytes: [42],
    },
  });

  await save(service(lb, [backend('10.40.1.1'), backend('10.40.1.2', 5), backend('10.40.1.4')]));

  const after = await db.prisma.backend.findMany({
    where: { serviceId: id },
    orderBy: { address: 'asc' },
    select: { id: true, address: true, weight: true },
  });
  expect(after.map((b) => [b.address, b.weight])).toEqual([
    ['10.40.1.1', 1],
    ['10.40.1.2', 5],
    ['10.40.1.4', 1],
  ]);
  expect(after[0]!.id).toBe(before.get('10.40.1.1'));
  expect(after[1]!.id).toBe(before.get('10.40.1.2'));
  expect([...before.values()]).not.toContain(after[2]!.id);
  const history = await db.prisma.counterNodeSample.findMany({
    where: { organizationId, seriesKey: after[0]!.id },
    select: { bytes: true },
  });
  expect(history.map((h) => h.bytes.map(Number))).toEqual([[42]]);
});
