// stats.series on a real database: a bucket where one series has no stored counters
// gives null for it (the chart draws a gap, the legend a dash), never 0. A second's
// backend reports are often stored before the balancer's; other services' rows make
// no point of this service's chart.
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import type { Database } from '@tula/db';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { memberCaller, openTestApi } from './support/caller.ts';

let t: TestDatabase;
let db: Database;

beforeAll(async () => {
  t = await createTestDatabase();
  db = await openTestApi(t.url);
}, 120_000);

afterAll(async () => {
  await db?.close();
  await t?.drop();
});

it('a series with no counters stored for a second is null there, not 0', async () => {
  const { api, organizationId } = await memberCaller(db, { name: 'Series' });
  const svc = await db.prisma.service.create({
    data: { organizationId, name: 'web', vip: '10.20.0.1', portStart: 80, portEnd: 80, protocol: 'tcp', mode: 'l2' },
  });
  const base = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const row = (at: number, kind: 'service' | 'vip_return', seriesKey: string, bytes: number) => ({
    organizationId,
    replica: 'aa',
    batch: at,
    kind,
    seriesKey,
    at: new Date(at),
    packets: 1,
    bytes,
    newFlows: kind === 'service' ? 2 : 0,
    drops: 0,
  });
  await db.prisma.counterSample.createMany({
    data: [
      // Second 0: the balancer and the backends reported.
      row(base, 'service', svc.id, 100),
      row(base, 'vip_return', '10.20.0.1', 60_000),
      // Second 1: only the backends' report is in so far.
      row(base + 1000, 'vip_return', '10.20.0.1', 50_000),
      // Second 2: another service only.
      row(base + 2000, 'service', 'another-service', 999),
    ],
  });
  const { points } = await api.stats.series({ range: 'live', serviceId: svc.id });
  expect(points.map((p) => [p.t - base, p.inbound, p.returnPath, p.newFlowsPerSecond])).toEqual([
    [0, 100, 60_000, 2],
    [1000, null, 50_000, null],
  ]);
});
