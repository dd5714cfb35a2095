import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { assertNoActiveRollout } from '../../rollouts.ts';
import { writeProcedure } from '../../trpc.ts';

export const DeleteServiceInput = z.strictObject({ id: z.string().min(1).max(64) });

/** Deletes a service (not while a staged rollout of it runs). */
export const deleteService = writeProcedure.input(DeleteServiceInput).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'service.delete', targetType: 'service', targetId: input.id }, async (tx) => {
    await assertNoActiveRollout(tx, ctx.org.id, input.id);
    const r = await tx.service.deleteMany({ where: { id: input.id, organizationId: ctx.org.id } });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
    return { id: input.id };
  }),
);
