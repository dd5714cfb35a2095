import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const DrainInput = z.strictObject({
  id: z.string().min(1).max(64),
  /** After this long the node reads as drained even if traffic still arrives (long-lived flows). */
  timeoutS: z.int().min(5).max(86_400).default(300),
});

/** Drains a balancer: it withdraws every announcement (its rules stay for flows still arriving); nodes.get says when it is drained. */
export const drainNode = writeProcedure.input(DrainInput).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'node.drain', targetType: 'node', targetId: input.id, data: { timeoutS: input.timeoutS } }, async (tx) => {
    const r = await tx.node.updateMany({
      where: { id: input.id, organizationId: ctx.org.id, role: { not: 'backend' } },
      data: { drainingSince: new Date(), drainTimeoutS: input.timeoutS },
    });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No balancer with this id in this organisation.' });
    return { id: input.id };
  }),
);
