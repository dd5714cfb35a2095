import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const RotateCredentialInput = z.strictObject({ id: z.string().min(1).max(64) });

/** Asks the gateway to hand the node a new credential; the old one works until the agent has saved it. */
export const rotateCredential = writeProcedure.input(RotateCredentialInput).mutation(async ({ ctx, input }) => {
  const result = await change(ctx, { action: 'node.rotate_credential', targetType: 'node', targetId: input.id }, async (tx) => {
    const r = await tx.node.updateMany({
      where: { id: input.id, organizationId: ctx.org.id, revokedAt: null },
      data: { rotationRequestedAt: new Date() },
    });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such active node in this organisation.' });
    return { id: input.id };
  });
  await ctx.bus.publish({ kind: 'nodes', nodeIds: [input.id] });
  return result;
});
