// Which second do an agent's counters land in? A source counting exactly 4 new
// flows and 1,000 B per second is reported the way an agent does it (one report
// in flight; the next second's read is not sent until the panel acknowledged)
// to the real counter writer on PostgreSQL, twice side by side: reports without
// `from` (the old agent: each report counted in the second of `at`) and with it
// (spread over the seconds it covers). Then 35 s of the process paused.
// Counts seconds with no flows and seconds with more than 4.
// Usage: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<db> npx tsx bench/counter-seconds.ts [seconds] [flush phase ms]
import { randomBytes } from 'node:crypto';
import { LocalBus } from '@tula/control';
import { openDatabase, readDatabaseEnv } from '@tula/db';
import { CounterWriter } from '../packages/gateway/src/counters.ts';
import { DEFAULT_RETENTION } from '../packages/gateway/src/retention.ts';
import { SecondTicker } from '../apps/agent/src/server/second-ticker.ts';

const SECONDS = Number(process.argv[2] ?? 90);
const db = await openDatabase({ env: readDatabaseEnv(), migrate: true });
const org = await db.prisma.organization.create({ data: { name: 'seconds', slug: `s-${randomBytes(4).toString('hex')}` } });
const node = await db.prisma.node.create({
  data: { organizationId: org.id, name: 'n', role: 'balancer', credentialHash: randomBytes(16).toString('hex'), addresses: ['10.30.0.1'] },
});
const ids: Record<string, string> = {};
for (const name of ['old', 'new'])
  ids[name] = (
    await db.prisma.service.create({
      data: {
        organizationId: org.id,
        name,
        vip: name === 'old' ? '10.20.0.1' : '10.20.0.2',
        portStart: 80,
        portEnd: 80,
        protocol: 'tcp',
        mode: 'l2',
      },
    })
  ).id;
// The writer flushes once a second from when it starts. PHASE_MS (second argument) sets where in the second:
// at 0 a report read just after a second begins waits almost a whole second for the flush, so its
// acknowledgement misses the next read (the worst phase; an agent's drifting timer passes through it).
const PHASE_MS = Number(process.argv[3] ?? 500);
await new Promise((r) => setTimeout(r, (PHASE_MS - (Date.now() % 1000) + 1000) % 1000));
const writer = new CounterWriter(db, new LocalBus(), { retention: DEFAULT_RETENTION, log: console.log });
const start = Date.now();
const counted = (t: number) => ({ flows: Math.floor(((t - start) * 4) / 1000), bytes: Math.floor(t - start) });
const boot = randomBytes(8).toString('hex');
let seq = 0;
const agent = {
  old: { base: { flows: 0, bytes: 0, at: start }, waiting: false },
  new: { base: { flows: 0, bytes: 0, at: start }, waiting: false },
};
let skipped = 0;
let ticks = 0;
let paused = false;
const ticker = new SecondTicker(() => {
  if (paused) return;
  ticks++;
  const at = Date.now();
  const now = counted(at);
  for (const name of ['old', 'new'] as const) {
    const a = agent[name];
    if (a.waiting) {
      if (name === 'old') skipped++;
      continue;
    }
    a.waiting = true;
    const report = {
      type: 'counters' as const,
      boot,
      seq: ++seq,
      at,
      ...(name === 'new' && { from: a.base.at }),
      services: [{ name, packets: 0, bytes: now.bytes - a.base.bytes, newFlows: now.flows - a.base.flows, drops: 0, backends: [] }],
      vips: [],
    };
    writer.push({
      nodeId: node.id,
      organizationId: org.id,
      report,
      done: (ok) => {
        a.waiting = false;
        if (ok) a.base = { ...now, at };
      },
    });
  }
});
// Halfway: the agent's process stops for 35 s (nothing read, nothing sent), then goes on.
setTimeout(() => (paused = true), (SECONDS * 1000) / 2);
setTimeout(() => (paused = false), (SECONDS * 1000) / 2 + 35_000);
await new Promise((r) => setTimeout(r, SECONDS * 1000 + 35_000));
ticker.stop();
await new Promise((r) => setTimeout(r, 3000));
await writer.close();
for (const name of ['old', 'new']) {
  const rows = (
    await db.pool.query<{ at: Date; f: string; b: string }>(
      `SELECT at, sum("newFlows")::text AS f, sum(bytes)::text AS b FROM "CounterSample" WHERE "seriesKey" = $1 GROUP BY at ORDER BY at`,
      [ids[name]],
    )
  ).rows.map((r) => ({ s: r.at.getTime() / 1000, f: Number(r.f), b: Number(r.b) }));
  const first = rows[1]!.s;
  const last = rows.at(-2)!.s;
  const inner = rows.filter((r) => r.s >= first && r.s <= last);
  const bySecond = new Map(inner.map((r) => [r.s, r]));
  let empty = 0;
  for (let s = first; s <= last; s++) if (!bySecond.get(s)?.f) empty++;
  const over = inner.filter((r) => r.f > 4);
  console.log(
    `${name === 'old' ? 'without from (old)' : 'with from (new)  '}: ${last - first + 1} s, seconds without flows ${empty}, seconds with > 4 flows ${over.length} (max ${Math.max(...inner.map((r) => r.f))}/s), max bytes in a second ${Math.max(...inner.map((r) => r.b))} (source 1000 B/s)`,
  );
}
console.log(`flush phase ${PHASE_MS} ms, ticks ${ticks}, reads not sent because the last report was not yet acknowledged: ${skipped}`);
await db.close();
