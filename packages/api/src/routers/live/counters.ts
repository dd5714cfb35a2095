import type { Bus, BusEvent } from '@tula/control';
import type { SampleValues } from '@tula/db';
import { orgProcedure } from '../../trpc.ts';

export interface LiveSample extends SampleValues {
  id: string;
}

/**
 * Counter samples of the caller's organisation as they are stored, streamed over
 * SSE. The bus only says "new samples"; each replica reads them from the database,
 * so a browser sees agents connected to any replica.
 */
/**
 * Yields each time the bus carries an event `wanted` accepts, and at least every
 * `idleMs` (so a missed signal is only late, never lost), until `signal` aborts.
 * Yields whether a matching event arrived.
 */
async function* busWake(bus: Bus, wanted: (e: BusEvent) => boolean, signal: AbortSignal | undefined, idleMs: number): AsyncGenerator<boolean> {
  let wake: (() => void) | undefined;
  let pending = false;
  const unsubscribe = bus.subscribe((e) => {
    if (!wanted(e)) return;
    pending = true;
    wake?.();
  });
  const abort = () => wake?.();
  signal?.addEventListener('abort', abort);
  try {
    while (!signal?.aborted) {
      if (!pending) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, idleMs);
        });
        wake = undefined;
      }
      if (signal?.aborted) break;
      const changed = pending;
      pending = false;
      yield changed;
    }
  } finally {
    unsubscribe();
    signal?.removeEventListener('abort', abort);
  }
}

export const liveCounters = orgProcedure.subscription(async function* ({ ctx, signal }) {
  const orgId = ctx.org.id;
  const newest = await ctx.db.pool.query<{ id: string }>(
    `SELECT COALESCE(max(id), 0)::text AS id FROM "CounterSample" WHERE "organizationId" = $1`,
    [orgId],
  );
  let cursor = newest.rows[0]?.id ?? '0';
  for await (const _ of busWake(ctx.bus, (e) => e.kind === 'counters' && e.organizationId === orgId, signal, 5000)) {
    const { rows } = await ctx.db.pool.query<{ id: string; kind: LiveSample['kind']; seriesKey: string; at: Date; packets: string; bytes: string; newFlows: string; drops: string }>(
      `SELECT id::text, kind::text AS kind, "seriesKey", at, packets::text, bytes::text, "newFlows"::text, drops::text
         FROM "CounterSample" WHERE "organizationId" = $1 AND id > $2::bigint ORDER BY id LIMIT 5000`,
      [orgId, cursor],
    );
    if (rows.length === 0) continue;
    cursor = rows[rows.length - 1]!.id;
    yield rows.map((r): LiveSample => ({ ...r, packets: Number(r.packets), bytes: Number(r.bytes), newFlows: Number(r.newFlows), drops: Number(r.drops) }));
  }
});

/** A tick whenever the organisation's fleet changed (a node connected, applied, failed): refetch the fleet. */
export const liveFleet = orgProcedure.subscription(async function* ({ ctx, signal }) {
  const orgId = ctx.org.id;
  for await (const changed of busWake(ctx.bus, (e) => e.kind === 'fleet' && e.organizationId === orgId, signal, 15_000)) {
    yield { at: Date.now(), changed };
  }
});
