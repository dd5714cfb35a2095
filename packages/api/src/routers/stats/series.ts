import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';

export const Range = z.enum(['live', '1h', '24h', '7d']);

/** Where each range's points come from, and how wide one point is. */
const SOURCES = {
  live: { table: 'raw', windowS: 300, stepS: 1 },
  '1h': { table: 'minute', windowS: 3600, stepS: 60 },
  '24h': { table: 'minute', windowS: 86_400, stepS: 300 },
  '7d': { table: 'hour', windowS: 7 * 86_400, stepS: 3600 },
} as const;

export interface SeriesPoint {
  /** Start of the point (ms since epoch). */
  t: number;
  /** Bytes per second at the balancers (requests in), and leaving the backends from the VIPs (responses). */
  inbound: number;
  returnPath: number;
  newFlowsPerSecond: number;
  dropsPerSecond: number;
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
      const s = await ctx.db.prisma.service.findFirst({ where: { id: input.serviceId, organizationId: ctx.org.id }, select: { id: true, vip: true } });
      if (!s) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
      serviceKey = s.id;
      vip = s.vip;
    }
    const since = new Date(Date.now() - src.windowS * 1000);
    const source =
      src.table === 'raw'
        ? `SELECT at AS t, kind, "seriesKey", bytes, "newFlows", drops FROM "CounterSample" WHERE "organizationId" = $1 AND at >= $2`
        : `SELECT bucket AS t, kind, "seriesKey", bytes, "newFlows", drops FROM "CounterRollup" WHERE "organizationId" = $1 AND resolution = '${src.table}' AND bucket >= $2`;
    const { rows } = await ctx.db.pool.query<{ t: Date; inbound: string; ret: string; flows: string; drops: string }>(
      `SELECT to_timestamp(floor(extract(epoch FROM t) / $3) * $3) AS t,
              COALESCE(sum(bytes) FILTER (WHERE kind = 'service' AND ($4::text IS NULL OR "seriesKey" = $4)), 0)::text AS inbound,
              COALESCE(sum(bytes) FILTER (WHERE kind = 'vip_return' AND ($5::text IS NULL OR "seriesKey" = $5)), 0)::text AS ret,
              COALESCE(sum("newFlows") FILTER (WHERE kind = 'service' AND ($4::text IS NULL OR "seriesKey" = $4)), 0)::text AS flows,
              COALESCE(sum(drops) FILTER (WHERE kind = 'service' AND ($4::text IS NULL OR "seriesKey" = $4)), 0)::text AS drops
         FROM (${source}) s GROUP BY 1 ORDER BY 1`,
      [ctx.org.id, since, src.stepS, serviceKey, vip],
    );
    const points: SeriesPoint[] = rows.map((r) => ({
      t: r.t.getTime(),
      inbound: Number(r.inbound) / src.stepS,
      returnPath: Number(r.ret) / src.stepS,
      newFlowsPerSecond: Number(r.flows) / src.stepS,
      dropsPerSecond: Number(r.drops) / src.stepS,
    }));
    return { range: input.range, stepSeconds: src.stepS, since: since.getTime(), points };
  });

/** Health changes of a service's backends over a range, as seen by its balancers. */
export const healthTimeline = orgProcedure
  .input(z.strictObject({ serviceId: z.string().min(1).max(64), range: Range }))
  .query(async ({ ctx, input }) => {
    const s = await ctx.db.prisma.service.findFirst({
      where: { id: input.serviceId, organizationId: ctx.org.id },
      select: { backends: { select: { id: true, address: true } } },
    });
    if (!s) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
    const since = new Date(Date.now() - SOURCES[input.range].windowS * 1000);
    const ids = s.backends.map((b) => b.id);
    const [earlier, transitions] = await Promise.all([
      // The state each balancer saw as the range begins, so the bars cover the whole range.
      ctx.db.pool.query<{ backendId: string; nodeId: string; healthy: boolean }>(
        `SELECT DISTINCT ON ("backendId", "nodeId") "backendId", "nodeId", healthy FROM "HealthTransition"
          WHERE "organizationId" = $1 AND "backendId" = ANY($2::text[]) AND at < $3 ORDER BY "backendId", "nodeId", at DESC`,
        [ctx.org.id, ids, since],
      ),
      ctx.db.prisma.healthTransition.findMany({
        where: { organizationId: ctx.org.id, backendId: { in: ids }, at: { gte: since } },
        orderBy: { at: 'asc' },
        select: { backendId: true, healthy: true, at: true, nodeId: true },
      }),
    ]);
    return { since: since.getTime(), backends: s.backends, transitions: [...earlier.rows.map((r) => ({ ...r, at: since })), ...transitions] };
  });
