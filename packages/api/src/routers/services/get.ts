import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';
import { loadServices, withRollout } from './list.ts';

export const GetServiceInput = z.strictObject({ id: z.string().min(1).max(64) });

/** One service with its rollout and current health. */
export const getService = orgProcedure.input(GetServiceInput).query(async ({ ctx, input }) => {
  const [s] = await withRollout(ctx, ctx.org.id, await loadServices(ctx, ctx.org.id, input.id));
  if (!s) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
  // Backends count the return path per VIP: the other services on this VIP share its return path series.
  const sharing = await ctx.db.prisma.service.findMany({
    where: { organizationId: ctx.org.id, vip: s.vip, id: { not: s.id } },
    select: { name: true },
    orderBy: { name: 'asc' },
  });
  return { ...s, vipSharedWith: sharing.map((o) => o.name) };
});
