import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';
import { nodeSelect, nodeStatus } from './list.ts';

export const getNode = orgProcedure.input(z.strictObject({ id: z.string().min(1).max(64) })).query(async ({ ctx, input }) => {
  const n = await ctx.db.prisma.node.findFirst({
    where: { id: input.id, organizationId: ctx.org.id },
    select: { ...nodeSelect, desiredState: true, balancerOf: { select: { service: { select: { id: true, name: true } } } } },
  });
  if (!n) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such node in this organisation.' });
  return nodeStatus(n);
});
