import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';
import { counterWatermark, storedCursor } from '../live/counters.ts';

export const Range = z.enum(['live', '1h', '24h', '7d']);

/** Where each range's points come from, and how wide one point is. */
export const SOURCES = {
  live: { table: 'raw', windowS: 300, stepS: 1 },
  '1h': { table: 'minute', windowS: 3600, stepS: 60 },
  '24h': { table: 'minute', windowS: 86_400, stepS: 300 },
  '7d': { table: 'hour', windowS: 7 * 86_400, stepS: 3600 },
} as const;

export interface SeriesPoint {
  /** Start of the point (ms since epoch). */
  t: number;
  /**
   * Bytes per second at the balancers (requests in), and leaving the backends from the VIPs (responses).
   * Null where no counters of that series were stored for the point (a gap, not a zero: the balancer's
   * report for a second may be stored after the backends').
   */
  inbound: number | null;
  returnPath: number | null;
  newFlowsPerSecond: number | null;
  dropsPerSecond: number | null;
}

/**
 * The DSR picture over time: inbound at the balancers beside the return path at
 * the backends, fleet-wide or for one service. Live from raw samples, longer
 * ranges from the minute and hour rollups.
 */
export const series = orgProcedure
  .input(z.strictObject({ range: Range, serviceId: z.string().min(1).max(64).optional() }))
  .query(async ({ ctx, input }) => {
    const src = SOURCES[input.range];
    let serviceKey: string | null = null;
    let vip: string | null = null;
    if (input.serviceId) {
      const s = await ctx.db.prisma.service.findFirst({
        where: { id: input.serviceId, organizationId: ctx.org.id },
        select: { id: true, vip: true },
      });
      if (!s) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
      serviceKey = s.id;
      vip = s.vip;
    }
    // Raw seconds are summed up to the live stream's cursor, and the chart subscribes from it: a flush
    // stored meanwhile comes once, through the stream (not in both, nor in neither).
    const cursor = src.table === 'raw' ? await storedCursor(ctx.db.pool, ctx.org.id) : null;
    const since = new Date(Date.now() - src.windowS * 1000);
    const source = cursor
      ? `SELECT at AS t, kind, "seriesKey", bytes, "newFlows", drops FROM "CounterSample"
          WHERE "organizationId" = $1 AND at >= $2 AND batch <= ($6::jsonb ->> replica)::bigint`
      : `SELECT bucket AS t, kind, "seriesKey", bytes, "newFlows", drops FROM "CounterRollup" WHERE "organizationId" = $1 AND resolution = '${src.table}' AND bucket >= $2`;
    const { rows } = await ctx.db.pool.query<{
      t: Date;
      inbound: string | null;
      ret: string | null;
      flows: string | null;
      drops: string | null;
    }>(
      `SELECT to_timestamp(floor(extract(epoch FROM t) / $3) * $3) AS t,
              (sum(bytes) FILTER (WHERE kind = 'service' AND ($4::text IS NULL OR "seriesKey" = $4)))::text AS inbound,
              (sum(bytes) FILTER (WHERE kind = 'vip_return' AND ($5::text IS NULL OR "seriesKey" = $5)))::text AS ret,
              (sum("newFlows") FILTER (WHERE kind = 'service' AND ($4::text IS NULL OR "seriesKey" = $4)))::text AS flows,
              (sum(drops) FILTER (WHERE kind = 'service' AND ($4::text IS NULL OR "seriesKey" = $4)))::text AS drops
         FROM (${source}) s GROUP BY 1 ORDER BY 1`,
      [ctx.org.id, since, src.stepS, serviceKey, vip, ...(cursor ? [JSON.stringify(cursor.r)] : [])],
    );
    // The source rows of other services and VIPs make a point whose own series are all null: left out.
    const rate = (v: string | null) => (v === null ? null : Number(v) / src.stepS);
    const points: SeriesPoint[] = rows
      .map((r) => ({
        t: r.t.getTime(),
        inbound: rate(r.inbound),
        returnPath: rate(r.ret),
        newFlowsPerSecond: rate(r.flows),
        dropsPerSecond: rate(r.drops),
      }))
      .filter((p) => p.inbound !== null || p.returnPath !== null);
    return {
      range: input.range,
      stepSeconds: src.stepS,
      since: since.getTime(),
      points,
      /** For the live range: the live stream's event id to subscribe from, just after the flushes these points sum. */
      liveCursor: cursor ? JSON.stringify(cursor) : null,
      /**
       * The start (ms) of the newest second every connected agent's counters are stored through; the chart
       * draws no later step (a later one may lack some agents' reports). Null: no agent is reporting.
       */
      completeThrough: cursor ? (cursor.c ?? null) : await counterWatermark(ctx.db.pool, ctx.org.id),
    };
  });
