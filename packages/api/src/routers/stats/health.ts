import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';
import { Range, SOURCES } from './series.ts';

/** Health changes of a service's backends over a range, as seen by its balancers. */
export const HealthTimelineInput = z.strictObject({ serviceId: z.string().min(1).max(64), range: Range });

export const healthTimeline = orgProcedure.input(HealthTimelineInput).query(async ({ ctx, input }) => {
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
  return {
    since: since.getTime(),
    backends: s.backends,
    transitions: [...earlier.rows.map((r) => ({ ...r, at: since })), ...transitions],
  };
});
