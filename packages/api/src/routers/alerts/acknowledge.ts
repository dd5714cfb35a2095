import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { orgProcedure } from '../../trpc.ts';

export const AcknowledgeAlertInput = z.strictObject({ id: z.string().min(1).max(64) });

/** Marks an alert seen (viewers too: acknowledging changes nothing of the fleet), with who did it. */
export const acknowledgeAlert = orgProcedure.input(AcknowledgeAlertInput).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'alert.acknowledge', targetType: 'alert', targetId: input.id }, async (tx) => {
    const r = await tx.alert.updateMany({
      where: { id: input.id, organizationId: ctx.org.id, acknowledgedAt: null },
      data: { acknowledgedAt: new Date(), acknowledgedLabel: ctx.actor.label },
    });
    if (r.count === 0)
      throw new TRPCError({ code: 'NOT_FOUND', message: 'No such alert waiting for acknowledgement in this organisation.' });
    return { id: input.id };
  }),
);
