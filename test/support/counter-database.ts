// What the counter tests share: a counter writer that flushes only when told to,
// and the one L2 web service they report on (the database: useTestApiDatabase).
import { LocalBus } from '@tula/control';
import type { Database } from '@tula/db';
import { CounterWriter } from '../../packages/gateway/src/counters.ts';
import { DEFAULT_RETENTION } from '../../packages/gateway/src/retention.ts';

/** A counter writer that stores only when `flush()` is called (its timer is an hour). */
export function manualCounterWriter(db: Database, bus = new LocalBus()): CounterWriter {
  return new CounterWriter(db, bus, { flushMs: 3_600_000, retention: DEFAULT_RETENTION, log: () => {} });
}

/** The L2 TCP service `web` on 10.20.0.1:80 with a backend per address (returned with them). */
export function createWebService(db: Database, organizationId: string, backends: string[]) {
  return db.prisma.service.create({
    data: {
      organizationId,
      name: 'web',
      vip: '10.20.0.1',
      portStart: 80,
      portEnd: 80,
      protocol: 'tcp',
      mode: 'l2',
      backends: { create: backends.map((address) => ({ organizationId, address })) },
    },
    include: { backends: true },
  });
}
