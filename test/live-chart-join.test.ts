// The live chart joins the stored history (stats.series, range live) and the live
// stream (live.counters) as the panel does: seeded from the history, the stream's
// samples added (addLiveSamples), the stream subscribed from the cursor the history
// hands out. Flushes stored before the history, between it and the subscription,
// and after, from this replica (memory) and another (database): every second's sum
// on the chart equals what the database stored for it, none missing, none twice.
// Also a replica's first flush in flight while the cursor is read: its batch id (the
// flush's start) is before the cursor, its rows are committed after.
import { randomBytes } from 'node:crypto';
import { isTrackedEnvelope } from '@trpc/server';
import { LocalBus } from '@tula/control';
import { WATERMARK_BOUND_MS } from '@tula/db/samples';
import type { CountersReport } from '@tula/protocol';
import { expect, it } from 'vitest';
import { addLiveSamples, chartSteps, completeThroughOf, type ChartPoint, type LiveSample } from '../apps/web/src/lib/chart-points.ts';
import { balancerNode, memberCaller, useTestApiDatabase, type Caller } from './support/caller.ts';
import { createWebService, manualCounterWriter } from './support/counter-database.ts';
import type { CounterWriter } from '../packages/gateway/src/counters.ts';

const counters = useTestApiDatabase();

/** An organisation with the web service (backend 10.20.1.1) and its member's caller on `bus`; `signal` ends its streams. */
async function orgWithService(name: string, bus = new LocalBus(), liveCounters?: CounterWriter) {
  const signal = new AbortController();
  const { api, organizationId } = await memberCaller(counters.db, {
    name,
    services: liveCounters ? { bus, liveCounters } : { bus },
    signal: signal.signal,
  });
  const service = await createWebService(counters.db, organizationId, ['10.20.1.1']);
  return { bus, signal, api, organizationId, service };
}

/** The same with two replicas' counter writers on its bus: `here` serves the caller's live stream, `elsewhere` is another replica. */
async function twoReplicaOrg(name: string) {
  const bus = new LocalBus();
  const here = manualCounterWriter(counters.db, bus);
  const elsewhere = manualCounterWriter(counters.db, bus);
  return { ...(await orgWithService(name, bus, here)), here, elsewhere };
}

/** Rows of the web service's series as a replica's flush writes them (one packet and no drops each), through `q`: the pool, or a client in a transaction. */
async function insertServiceSamples(
  q: { query(text: string, values: unknown[]): Promise<unknown> },
  flush: { organizationId: string; replica: string; batch: number; serviceId: string },
  rows: { at: number; bytes: number; newFlows?: number }[],
) {
  const values = rows.map((_, i) => `($1, $2, $3, 'service', $4, $${5 + 3 * i}, 1, $${6 + 3 * i}, $${7 + 3 * i}, 0)`);
  await q.query(
    `INSERT INTO "CounterSample" ("organizationId", replica, batch, kind, "seriesKey", at, packets, bytes, "newFlows", drops) VALUES ${values.join(', ')}`,
    [flush.organizationId, flush.replica, flush.batch, flush.serviceId, ...rows.flatMap((r) => [new Date(r.at), r.bytes, r.newFlows ?? 1])],
  );
}

/** A live stream's samples, tracked or not. */
const samplesOf = (ev: unknown) => (isTrackedEnvelope(ev) ? ev[1] : ev) as LiveSample[];

/**
 * A live stream (from `lastEventId`, or afresh) read until the caller's signal ends it: every sample,
 * and its tracked events (the second each says is complete, and its samples).
 */
function readStream(api: Caller, lastEventId?: string | null) {
  const samples: LiveSample[] = [];
  const events: { complete: number | null | undefined; samples: LiveSample[] }[] = [];
  const done = (async () => {
    for await (const ev of await api.live.counters(lastEventId === undefined ? undefined : { lastEventId })) {
      samples.push(...samplesOf(ev));
      if (isTrackedEnvelope(ev)) events.push({ complete: completeThroughOf(ev[0]), samples: ev[1] as LiveSample[] });
    }
  })();
  return { samples, events, done };
}

it('history and the stream subscribed from its cursor count every stored second once', async () => {
  const { db } = counters;
  const { here, elsewhere, signal, api, organizationId, service } = await twoReplicaOrg('Join');
  const nodes = [await balancerNode(db, organizationId, 'lb1', '10.30.0.1'), await balancerNode(db, organizationId, 'lb2', '10.30.0.2')];
  const boots = nodes.map(() => randomBytes(8).toString('hex'));
  let seq = 0;
  const round = async () => {
    seq++;
    for (const [i, writer] of [here, elsewhere].entries()) {
      const report: CountersReport = {
        type: 'counters',
        boot: boots[i]!,
        seq,
        at: Date.now(),
        services: [{ name: 'web', packets: 1, bytes: 1000 * (i + 1) + seq, newFlows: 1, drops: 0, backends: [] }],
        vips: [],
      };
      writer.push({ nodeId: nodes[i]!.id, organizationId, report, done: () => {} });
      await writer.flush();
    }
  };
  const settle = () => new Promise((r) => setTimeout(r, 300));

  for (let i = 0; i < 3; i++) await round();
  const history = await api.stats.series({ range: 'live', serviceId: service.id });
  // Stored while the browser had the history and had not subscribed yet.
  for (let i = 0; i < 2; i++) await round();

  const { samples, done: reading } = readStream(api, history.liveCursor);
  await settle();
  for (let i = 0; i < 2; i++) await round();
  // The stream catches up with the other replica within its 5 s idle wake at the latest.
  await new Promise((r) => setTimeout(r, 5500));
  signal.abort();
  await reading;
  await here.close();
  await elsewhere.close();

  const seeded = new Map<number, ChartPoint>(history.points.map((p) => [p.t, p]));
  const chart = addLiveSamples(seeded, samples, { serviceId: service.id, vip: service.vip });
  const stored = await db.pool.query<{ t: Date; bytes: string }>(
    `SELECT at AS t, sum(bytes)::text AS bytes FROM "CounterSample" WHERE "organizationId" = $1 AND kind = 'service' GROUP BY at ORDER BY at`,
    [organizationId],
  );
  const perSecond = (m: Map<number, ChartPoint>) => Object.fromEntries([...m.values()].map((p) => [p.t, p.inbound]));
  expect(perSecond(chart)).toEqual(Object.fromEntries(stored.rows.map((r) => [r.t.getTime(), Number(r.bytes)])));
});

it("a replica's first flush, begun before the cursor is read and stored after, reaches the chart and a new stream once", async () => {
  const { db } = counters;
  const { bus, signal, api, organizationId, service } = await orgWithService('Edge');
  // A replica that has stored nothing yet (so no cursor lists it) starts a flush as its writer
  // does: the batch id is the flush's start, the rows are committed in one transaction later.
  const replica = randomBytes(6).toString('hex');
  const flush = await db.pool.connect();
  await flush.query('BEGIN');
  const batch = Date.now();
  const second = Math.floor(batch / 1000) * 1000;
  await insertServiceSamples(flush, { organizationId, replica, batch, serviceId: service.id }, [
    { at: second - 1000, bytes: 4321, newFlows: 2 },
    { at: second, bytes: 1234 },
  ]);
  await new Promise((r) => setTimeout(r, 20)); // the cursors are read strictly after the batch id

  const history = await api.stats.series({ range: 'live', serviceId: service.id });
  expect(JSON.parse(history.liveCursor!).r, 'the replica has nothing stored yet').not.toHaveProperty(replica);
  // The panel's stream, from the history's cursor; and a stream started afresh, from its own.
  const joined = readStream(api, history.liveCursor);
  const fresh = readStream(api);
  await new Promise((r) => setTimeout(r, 300));

  await flush.query('COMMIT');
  flush.release();
  await bus.publish({ kind: 'counters', organizationId, at: Date.now(), replica, batch });
  await new Promise((r) => setTimeout(r, 500));
  signal.abort();
  await Promise.all([joined.done, fresh.done]);

  const chart = addLiveSamples(new Map(history.points.map((p) => [p.t, p])), joined.samples, { serviceId: service.id, vip: service.vip });
  const perSecond = Object.fromEntries([...chart.values()].map((p) => [p.t, p.inbound]));
  expect(perSecond, 'the chart (history, then the stream from its cursor)').toEqual({ [second - 1000]: 4321, [second]: 1234 });
  expect(
    fresh.samples.map((s) => s.bytes),
    'a stream started while the flush was in flight',
  ).toEqual([4321, 1234]);
});

it("a replica's flush stored before a stream subscribed to the bus (its signal missed) reaches the stream at its first wake", async () => {
  const { db } = counters;
  const { bus, signal, api, organizationId, service } = await orgWithService('Missed');
  // Each stores once: the first between the history and the panel's subscription, the second between a fresh stream's start and its subscription.
  const [first, second] = [randomBytes(6).toString('hex'), randomBytes(6).toString('hex')];
  const at = Math.floor(Date.now() / 1000) * 1000;
  // A replica's only flush, stored and signalled while the stream is not listening.
  const storeOnce = async (replica: string, bytes: number) => {
    const batch = Date.now();
    await insertServiceSamples(db.pool, { organizationId, replica, batch, serviceId: service.id }, [{ at, bytes }]);
    await bus.publish({ kind: 'counters', organizationId, at: Date.now(), replica, batch });
  };
  const history = await api.stats.series({ range: 'live', serviceId: service.id });
  await storeOnce(first, 4321);
  const { samples: joined, done: reading } = readStream(api, history.liveCursor);
  // A stream started afresh yields its starting cursor and subscribes only when asked for more: stored in between.
  const fresh = (await api.live.counters())[Symbol.asyncIterator]();
  const start = await fresh.next();
  expect(start.done).toBe(false);
  await new Promise((r) => setTimeout(r, 20));
  await storeOnce(second, 1234);
  const freshSamples: LiveSample[] = [];
  const readingFresh = (async () => {
    for (let ev = await fresh.next(); !ev.done; ev = await fresh.next()) freshSamples.push(...samplesOf(ev.value));
  })();
  // Neither replica stores again; each stream wakes within its 5 s idle wait at the latest.
  await new Promise((r) => setTimeout(r, 5500));
  signal.abort();
  await Promise.all([reading, readingFresh]);

  expect(
    joined.map((s) => s.bytes).sort((a, b) => a - b),
    'the stream from the history cursor (in either order)',
  ).toEqual([1234, 4321]);
  expect(
    freshSamples.map((s) => s.bytes),
    'the stream started afresh',
  ).toEqual([1234]);
});

// Issue 15: on a loaded machine a second's backend reports may be stored well after its balancer report.
// The chart draws a second only once every connected agent's counters are stored through it (each replica
// writes its agents' watermark; readers take the oldest), not after a fixed wait.
it("a second one agent has not reported yet is not offered as complete, on another replica's agent too", async () => {
  const { db } = counters;
  const { here, elsewhere, signal, api, organizationId, service } = await twoReplicaOrg('Watermark');
  const [lb, backend] = [
    await balancerNode(db, organizationId, 'lb1', '10.30.0.1'),
    await balancerNode(db, organizationId, 'b1', '10.30.0.2'),
  ];
  const boots = [randomBytes(8).toString('hex'), randomBytes(8).toString('hex')];
  // Five seconds ago: long enough that a fixed 3 s wait would draw it.
  const s = Math.floor(Date.now() / 1000) * 1000 - 5000;
  const report = (i: number, seq: number, from: number, at: number): CountersReport => ({
    type: 'counters',
    boot: boots[i]!,
    seq,
    from,
    at,
    services: i === 0 ? [{ name: 'web', packets: 2, bytes: 2000, newFlows: 2, drops: 0, backends: [] }] : [],
    vips: i === 1 ? [{ vip: service.vip, packets: 2, bytes: 600_000 }] : [],
  });
  // The balancer (this replica) has reported seconds s-1 and s; the backend (another replica) only s-2 and s-1.
  here.push({ nodeId: lb.id, organizationId, report: report(0, 1, s - 1000, s + 1000), done: () => {} });
  elsewhere.push({ nodeId: backend.id, organizationId, report: report(1, 1, s - 2000, s), done: () => {} });
  await here.flush();
  await elsewhere.flush();

  const history = await api.stats.series({ range: 'live', serviceId: service.id });
  expect(history.completeThrough, 'complete through second s-1 (the backend has not reported s)').toBe(s - 1000);
  const seeded = new Map<number, ChartPoint>(history.points.map((p) => [p.t, p]));
  const drawn = chartSteps(seeded, 1000, s - 3000, Date.now(), history.completeThrough);
  expect(
    drawn.slice(-2).map((p) => [p.t - s, p.inbound, p.returnPath]),
    'the drawn right edge: s-2 (no balancer report), s-1 (both), and not s (balancer only)',
  ).toEqual([
    [-2000, null, 300_000],
    [-1000, 1000, 300_000],
  ]);

  const { events, done: reading } = readStream(api, history.liveCursor);
  await new Promise((r) => setTimeout(r, 300));
  // The backend's late report of second s arrives: s is complete.
  elsewhere.push({ nodeId: backend.id, organizationId, report: report(1, 2, s, s + 1000), done: () => {} });
  await elsewhere.flush();
  await new Promise((r) => setTimeout(r, 500));
  expect(events.at(-1)?.complete, 'after the late report').toBe(s);
  // The backend goes offline (its replica deletes its watermark at its next flush): only the balancer holds it back.
  elsewhere.disconnected(backend.id);
  await elsewhere.flush();
  here.push({ nodeId: lb.id, organizationId, report: report(0, 2, s + 1000, s + 2000), done: () => {} });
  await here.flush();
  await new Promise((r) => setTimeout(r, 500));
  expect(events.at(-1)?.complete, 'after the backend went offline').toBe(s + 1000);
  signal.abort();
  await reading;
  await here.close();
  await elsewhere.close();

  const chart = addLiveSamples(
    seeded,
    events.flatMap((e) => e.samples),
    { serviceId: service.id, vip: service.vip },
  );
  const edge = chartSteps(chart, 1000, s - 3000, Date.now(), events.at(-1)!.complete!);
  expect(edge.slice(-2).map((p) => [p.t - s, p.inbound, p.returnPath])).toEqual([
    [0, 1000, 600_000],
    [1000, 2000, null],
  ]);
});

it('an agent stuck behind holds the watermark back at most WATERMARK_BOUND_MS', async () => {
  const { db } = counters;
  const bus = new LocalBus();
  const here = manualCounterWriter(db, bus);
  const { api, organizationId } = await orgWithService('Stuck', bus, here);
  const lb = await balancerNode(db, organizationId, 'lb1', '10.30.0.1');
  const now = Date.now();
  // Connected, but its newest report is a minute old.
  const report: CountersReport = { type: 'counters', boot: 'b', seq: 1, from: now - 61_000, at: now - 60_000, services: [], vips: [] };
  here.push({ nodeId: lb.id, organizationId, report, done: () => {} });
  await here.flush();
  const bound = Math.floor((Date.now() - WATERMARK_BOUND_MS) / 1000) * 1000;
  const { completeThrough } = await api.stats.series({ range: 'live' });
  await here.close();
  // The chart then draws up to about 15 s ago, the stuck agent's part missing from those seconds until its reports arrive.
  expect(completeThrough).toBeGreaterThanOrEqual(Math.floor((now - WATERMARK_BOUND_MS) / 1000) * 1000);
  expect(completeThrough).toBeLessThanOrEqual(bound);
});

it('a stream offers a second as complete only once it has delivered the rows of the flush whose watermark says so', async () => {
  const { db } = counters;
  const { bus, signal, api, organizationId, service } = await orgWithService('Delivered');
  const [x, y] = [randomBytes(6).toString('hex'), randomBytes(6).toString('hex')];
  const s = Math.floor(Date.now() / 1000) * 1000 - 2000;
  // A replica's flush as its writer commits it: its rows and its watermark in one transaction.
  const flush = async (replica: string, bytes: number, at: number, completeThrough: number) => {
    const batch = Date.now();
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await insertServiceSamples(client, { organizationId, replica, batch, serviceId: service.id }, [{ at, bytes }]);
      await client.query(
        `INSERT INTO "CounterWatermark" ("organizationId", replica, batch, "completeThrough", "writtenAt") VALUES ($1, $2, $3, $4, now())
         ON CONFLICT ("organizationId", replica) DO UPDATE SET batch = EXCLUDED.batch, "completeThrough" = EXCLUDED."completeThrough", "writtenAt" = now()`,
        [organizationId, replica, batch, new Date(completeThrough)],
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    return batch;
  };
  const signalled = (replica: string, batch: number) => bus.publish({ kind: 'counters', organizationId, at: Date.now(), replica, batch });
  await flush(x, 1, s - 1000, s - 1000);
  const { events, done: reading } = readStream(api);
  await new Promise((r) => setTimeout(r, 200));
  await signalled(y, await flush(y, 2, s - 1000, s + 5000)); // the stream's first wake (it catches up with every replica)
  await new Promise((r) => setTimeout(r, 300));
  // Replica x stores second s (complete through s), its signal still on its way; meanwhile y's next flush is signalled.
  const late = await flush(x, 4321, s, s);
  await signalled(y, await flush(y, 3, s, s + 5000));
  await new Promise((r) => setTimeout(r, 300));
  await signalled(x, late);
  await new Promise((r) => setTimeout(r, 300));
  signal.abort();
  await reading;

  const delivered: number[] = [];
  const offered = events.map((e) => {
    delivered.push(...e.samples.map((v) => v.bytes));
    return { complete: e.complete, lateDelivered: delivered.includes(4321) };
  });
  expect(offered[0], 'the starting cursor').toEqual({ complete: s - 1000, lateDelivered: false });
  expect(
    offered.filter((o) => o.complete !== undefined && o.complete !== null && o.complete >= s && !o.lateDelivered),
    'events saying second s is complete before its rows were delivered',
  ).toEqual([]);
  expect(offered.at(-1)).toEqual({ complete: s, lateDelivered: true });
});
