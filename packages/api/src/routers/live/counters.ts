import { tracked } from '@trpc/server';
import type { Bus, BusEvent } from '@tula/control';
import type { Database, SampleValues } from '@tula/db';
import { WATERMARK_BOUND_MS } from '@tula/db/samples';
import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';

export type LiveSample = SampleValues;

/**
 * Where a live stream is: per replica, the newest flush (batch id) delivered;
 * replicas not listed have delivered nothing after `t - RESUME_WITHIN_MS`
 * (see unlistedAfter). It is the SSE event id, so a reconnecting browser resumes
 * exactly after what it received. `c`: the organisation's counters are complete
 * through that second (deliveredWatermark) when the event was sent; the chart draws
 * no later second. Not needed to resume (a stream reads it afresh).
 */
const Cursor = z.strictObject({
  t: z.number().int().min(0),
  r: z.record(z.string().regex(/^[0-9a-f]{1,32}$/), z.number().int().min(0)),
  c: z.number().int().min(0).nullable().optional(),
});
type Cursor = z.infer<typeof Cursor>;

/** A resumed cursor older than this starts afresh (the chart reloads its history on reconnect anyway). */
const RESUME_WITHIN_MS = 10 * 60_000;

/**
 * Where a stream reads a replica its cursor does not list from. Not `t`: a batch id is
 * its flush's start, and a flush begun before the cursor was read may be stored after
 * it. storedCursor lists every replica with a batch after this same bound, so nothing
 * after it was counted (no sample twice); and a flush is stored within seconds of its
 * start (its transaction times out after 30 s), far less than RESUME_WITHIN_MS (none missed).
 */
const unlistedAfter = (cursor: Cursor) => cursor.t - RESUME_WITHIN_MS;

const LiveInput = z.strictObject({ lastEventId: z.string().max(8192).nullish() }).optional();

function parseCursor(id: string | null | undefined): Cursor | undefined {
  if (!id) return undefined;
  try {
    const c = Cursor.safeParse(JSON.parse(id));
    return c.success && Date.now() - c.data.t < RESUME_WITHIN_MS ? c.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The start (ms) of the newest second whose counters every agent of the organisation
 * has had stored: the oldest of the watermarks replicas wrote within
 * WATERMARK_BOUND_MS (each one's connected agents; a stuck agent holds its replica's
 * back at most that far). Null when no replica has a counter-reporting agent of the
 * organisation connected: nothing is on its way.
 */
export async function counterWatermark(pool: Database['pool'], orgId: string): Promise<number | null> {
  const { rows } = await pool.query<{ t: Date | null }>(`SELECT min("completeThrough") AS t FROM ${RECENT_WATERMARKS}`, [
    orgId,
    WATERMARK_BOUND_MS,
  ]);
  return rows[0]?.t ? rows[0].t.getTime() : null;
}

/** The watermark rows readers count ($1: organisation, $2: WATERMARK_BOUND_MS), as `w`. */
const RECENT_WATERMARKS = `"CounterWatermark" w WHERE w."organizationId" = $1 AND w."writtenAt" > now() - $2 * interval '1 millisecond'`;

/**
 * The watermark for a stream that has delivered up to `cursor`. A flush commits its
 * rows and its watermark together, but a stream reads them apart (this replica's
 * from memory after the commit, another's when its signal arrives): while some
 * replica's watermark was written by a flush whose rows have not been delivered
 * yet, the stream's watermark does not move on (it may move back: that is safe).
 */
async function deliveredWatermark(pool: Database['pool'], orgId: string, cursor: Cursor): Promise<number | null> {
  const { rows } = await pool.query<{ t: Date | null; behind: boolean | null }>(
    `SELECT min(w."completeThrough") AS t,
            bool_or(EXISTS (SELECT 1 FROM "CounterSample" s WHERE s."organizationId" = $1 AND s.replica = w.replica
                              AND s.batch > coalesce(($3::jsonb ->> w.replica)::bigint, $4) AND s.batch <= w.batch)) AS behind
       FROM ${RECENT_WATERMARKS}`,
    [orgId, WATERMARK_BOUND_MS, JSON.stringify(cursor.r), unlistedAfter(cursor)],
  );
  const t = rows[0]?.t ? rows[0].t.getTime() : null;
  if (!rows[0]?.behind) return t;
  const previous = cursor.c ?? null;
  return previous === null || t === null ? previous : Math.min(t, previous);
}

/**
 * The cursor just after every flush stored so far: per replica, its newest
 * batch (a replica that stored nothing in RESUME_WITHIN_MS is not listed).
 * What is summed up to it and what a stream resumed from it delivers make up
 * every flush exactly once (stats.series hands it to the live chart).
 */
export async function storedCursor(pool: Database['pool'], orgId: string): Promise<Cursor> {
  const cursor: Cursor = { t: Date.now(), r: {} };
  // One statement, one snapshot: the watermark is that of the flushes the cursor covers (written with their rows).
  const { rows } = await pool.query<{ replicas: Record<string, string> | null; t: Date | null }>(
    `SELECT (SELECT json_object_agg(replica, batch::text) FROM (SELECT replica, max(batch) AS batch FROM "CounterSample"
               WHERE "organizationId" = $1 AND batch > $3 GROUP BY replica) b) AS replicas,
            (SELECT min("completeThrough") FROM ${RECENT_WATERMARKS}) AS t`,
    [orgId, WATERMARK_BOUND_MS, unlistedAfter(cursor)],
  );
  for (const [replica, batch] of Object.entries(rows[0]?.replicas ?? {})) cursor.r[replica] = Number(batch);
  cursor.c = rows[0]?.t ? rows[0].t.getTime() : null;
  return cursor;
}

/**
 * Yields each time the bus carries an event `wanted` accepts, and at least every
 * `idleMs` (so a missed signal is only late, never lost), until `signal` aborts.
 * Yields the matching events since the last yield.
 */
export async function* busWake(
  bus: Bus,
  wanted: (e: BusEvent) => boolean,
  signal: AbortSignal | undefined,
  idleMs: number,
  extraWake?: (wake: () => void) => () => void,
): AsyncGenerator<BusEvent[]> {
  let wake: (() => void) | undefined;
  let pending: BusEvent[] = [];
  let poked = false;
  const unsubscribe = bus.subscribe((e) => {
    if (!wanted(e)) return;
    pending.push(e);
    wake?.();
  });
  const unsubscribeExtra = extraWake?.(() => {
    poked = true;
    wake?.();
  });
  const abort = () => wake?.();
  signal?.addEventListener('abort', abort);
  try {
    while (!signal?.aborted) {
      if (pending.length === 0 && !poked) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, idleMs);
        });
        wake = undefined;
      }
      if (signal?.aborted) break;
      const events = pending;
      pending = [];
      poked = false;
      yield events;
    }
  } finally {
    unsubscribe();
    unsubscribeExtra?.();
    signal?.removeEventListener('abort', abort);
  }
}

interface Row {
  batch: string;
  kind: LiveSample['kind'];
  seriesKey: string;
  at: Date;
  packets: string;
  bytes: string;
  newFlows: string;
  drops: string;
}

/**
 * The organisation's counter sums per series and second as they are stored,
 * streamed over SSE. This replica's flushes come from its memory; other
 * replicas' (which hold other agents) from the database when their bus signal
 * names the flush. Each event carries a cursor (`tracked()`), so a reconnect
 * resumes with no gap and nothing twice; a new stream's first event is its
 * starting cursor with no samples.
 */
export const liveCounters = orgProcedure.input(LiveInput).subscription(async function* ({ ctx, input, signal }) {
  const orgId = ctx.org.id;
  const own = ctx.liveCounters;
  const resumed = parseCursor(input?.lastEventId);
  // Flushes already stored are history, not live; this replica's own newest is in its memory.
  const cursor: Cursor = resumed ?? (await storedCursor(ctx.db.pool, orgId));
  if (!resumed) {
    if (own) cursor.r[own.replica] = own.newestBatch;
    // The starting cursor, at once and with no samples: a browser whose connection drops before
    // the first flush reaches it then resumes from here, instead of starting afresh after the gap.
    yield tracked(JSON.stringify(cursor), [] as LiveSample[]);
  }
  // Stored flushes of a replica after what was delivered, up to `upTo`, from the database.
  const fromDatabase = async (replica: string, upTo: number): Promise<{ rows: LiveSample[]; newest: number }> => {
    const after = cursor.r[replica] ?? unlistedAfter(cursor);
    const { rows } = await ctx.db.pool.query<Row>(
      `SELECT batch::text, kind::text AS kind, "seriesKey", at, packets::text, bytes::text, "newFlows"::text, drops::text
         FROM "CounterSample" WHERE "organizationId" = $1 AND batch > $2 AND batch <= $3 AND replica = $4 ORDER BY batch`,
      [orgId, after, upTo, replica],
    );
    return {
      newest: rows.length ? Number(rows[rows.length - 1]!.batch) : after,
      rows: rows.map((r) => ({
        kind: r.kind,
        seriesKey: r.seriesKey,
        at: r.at,
        packets: Number(r.packets),
        bytes: Number(r.bytes),
        newFlows: Number(r.newFlows),
        drops: Number(r.drops),
      })),
    };
  };

  // At its first wake (subscribed to the bus by then) a stream catches up with every replica that stored after its
  // cursor, listed or not: a flush may have been stored, and signalled, while a resumed stream was away or before this
  // stream subscribed. A listed replica's batch is never below unlistedAfter, so this finds every one behind.
  let caughtUp = false;
  for await (const events of busWake(
    ctx.bus,
    (e) => e.kind === 'counters' && e.organizationId === orgId && e.replica !== undefined && e.replica !== own?.replica,
    signal,
    5000,
    own ? (wake) => own.onStored(wake) : undefined,
  )) {
    const out: LiveSample[] = [];
    if (own) {
      const after = cursor.r[own.replica] ?? unlistedAfter(cursor);
      const batches = own.since(after);
      if (batches) {
        for (const b of batches) out.push(...(b.rows.get(orgId) ?? []));
        if (batches.length) cursor.r[own.replica] = batches[batches.length - 1]!.batch;
      } else {
        // Memory no longer reaches back to the cursor: the rest comes from the database.
        const { rows, newest } = await fromDatabase(own.replica, own.newestBatch);
        out.push(...rows);
        cursor.r[own.replica] = Math.max(newest, after);
      }
    }
    const upTo = new Map<string, number>();
    for (const e of events) if (e.kind === 'counters' && e.replica) upTo.set(e.replica, Math.max(upTo.get(e.replica) ?? 0, e.batch ?? 0));
    if (!caughtUp) {
      caughtUp = true;
      const { rows } = await ctx.db.pool.query<{ replica: string }>(
        `SELECT DISTINCT replica FROM "CounterSample" WHERE "organizationId" = $1 AND batch > $2`,
        [orgId, unlistedAfter(cursor)],
      );
      for (const { replica } of rows) if (replica !== own?.replica && !upTo.has(replica)) upTo.set(replica, Number.MAX_SAFE_INTEGER);
    }
    for (const [replica, batch] of upTo) {
      const { rows, newest } = await fromDatabase(replica, batch);
      out.push(...rows);
      cursor.r[replica] = newest;
    }
    const complete = await deliveredWatermark(ctx.db.pool, orgId, cursor);
    if (out.length === 0 && complete === cursor.c) continue;
    cursor.c = complete;
    yield tracked(JSON.stringify(cursor), out);
  }
});
