import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const RevokeNodeInput = z.strictObject({ id: z.string().min(1).max(64) });

/** Revokes the node's credential: its agent is disconnected now and refused from then on. */
export const revokeNode = writeProcedure.input(RevokeNodeInput).mutation(async ({ ctx, input }) => {
  const result = await change(ctx, { action: 'node.revoke', targetType: 'node', targetId: input.id }, async (tx) => {
    const r = await tx.node.updateMany({
      where: { id: input.id, organizationId: ctx.org.id, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such active node in this organisation.' });
    return { id: input.id };
  });
  await ctx.bus.publish({ kind: 'nodes', nodeIds: [input.id] });
  return result;
});
