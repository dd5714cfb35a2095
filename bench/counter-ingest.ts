// CPU the counter writer spends per agent report, without a database: flushes of
// AGENTS reports of 50 series (10 services with 4 backends, as `bench:counters`
// sends) through the real `CounterWriter.store`, whose database calls are answered
// at once by an in-process stand-in (the SQL arguments are still built), so only
// the writer's own work is timed. Each flush is one second of the fleet's reports,
// back to back for SECONDS of wall time, so 10 s node buckets close as in a panel.
// Reports without `from` (as the fleet simulator sends: one second each) and with
// it (as agents send: an interval spanning two seconds).
// Usage: npx tsx bench/counter-ingest.ts [agents] [seconds per shape] [counters module, to compare another version]
import { resolve } from 'node:path';
import { LocalBus } from '@tula/control';
import type { Database } from '@tula/db';
import type { CountersReport } from '@tula/protocol';
import { DEFAULT_RETENTION } from '../packages/gateway/src/retention.ts';

const AGENTS = Number(process.argv[2] ?? 5000);
const SECONDS = Number(process.argv[3] ?? 10);
const MODULE = resolve(process.argv[4] ?? 'packages/gateway/src/counters.ts');
const SERVICES = 10;
const BACKENDS = 4;
const ORG = 'org-bench';

const { CounterWriter } = (await import(MODULE)) as typeof import('../packages/gateway/src/counters.ts');

const serviceRows = Array.from({ length: SERVICES }, (_, s) => ({
  id: `svc-${s}`,
  name: `bench-${s}`,
  backends: Array.from({ length: BACKENDS }, (_, b) => ({ id: `be-${s}-${b}`, address: `10.200.${s}.${b + 1}` })),
}));
const services = serviceRows.map((s) => ({
  name: s.name,
  packets: 40,
  bytes: 4000,
  newFlows: 4,
  drops: 0,
  backends: s.backends.map((b) => ({ address: b.address, packets: 10, bytes: 1000, newFlows: 1, healthy: true })),
}));

// Stands in for Prisma: the names query gets the services, other reads nothing, writes a count.
function standIn(path: string): unknown {
  return new Proxy(() => {}, {
    get: (_, key) => (key === 'then' ? undefined : standIn(`${path}.${String(key)}`)),
    apply: (_, __, args: unknown[]) => {
      if (path.endsWith('$transaction')) return (args[0] as (tx: unknown) => Promise<unknown>)(standIn('tx'));
      if (path.endsWith('service.findMany')) return Promise.resolve(serviceRows);
      if (path.endsWith('findMany') || path.endsWith('$queryRaw')) return Promise.resolve([]);
      return Promise.resolve(0);
    },
  });
}
const db = { prisma: standIn('prisma'), pool: standIn('pool'), kind: 'server', url: '', close: async () => {} } as unknown as Database;

async function run(withFrom: boolean) {
  const writer = new CounterWriter(db, new LocalBus(), { flushMs: 3_600_000, retention: DEFAULT_RETENTION, log: () => {} });
  let reports = 0;
  let flushes = 0;
  let cpuMicros = 0;
  let wallMs = 0;
  const maxFlushMs: number[] = [];
  const end = Date.now() + SECONDS * 1000;
  for (let seq = 1; Date.now() < end; seq++) {
    const at = Date.now();
    for (let i = 0; i < AGENTS; i++) {
      const report: CountersReport = { type: 'counters', boot: 'b', seq, at, services, vips: [] };
      // An agent reads 5-70 ms into each second and reports the interval since its last read.
      if (withFrom) report.from = at - 1000;
      writer.push({ nodeId: `node-${i}`, organizationId: ORG, report, done: () => {} });
    }
    const cpu = process.cpuUsage();
    const t = performance.now();
    await writer.flush();
    const ms = performance.now() - t;
    const used = process.cpuUsage(cpu);
    cpuMicros += used.user + used.system;
    wallMs += ms;
    maxFlushMs.push(ms);
    reports += AGENTS;
    flushes++;
  }
  await writer.close();
  maxFlushMs.sort((a, b) => a - b);
  return {
    shape: withFrom ? 'with from (2 seconds)' : 'without from (1 second)',
    flushes,
    reports,
    usPerReport: Math.round((wallMs * 1000) / reports),
    cpuUsPerReport: Math.round(cpuMicros / reports),
    flushMsMedian: Math.round(maxFlushMs[Math.floor(flushes / 2)]!),
  };
}

process.stdout.write(`${MODULE}, ${AGENTS} agents, ${SECONDS} s per shape\n`);
for (const withFrom of [false, true]) process.stdout.write(`${JSON.stringify(await run(withFrom))}\n`);
process.exit(0);
