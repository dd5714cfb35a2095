import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

/** Ends a drain: the balancer announces its fit VIPs again. */
export const undrainNode = writeProcedure.input(z.strictObject({ id: z.string().min(1).max(64) })).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'node.undrain', targetType: 'node', targetId: input.id }, async (tx) => {
    const r = await tx.node.updateMany({ where: { id: input.id, organizationId: ctx.org.id }, data: { drainingSince: null } });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such node in this organisation.' });
    return { id: input.id };
  }),
);
