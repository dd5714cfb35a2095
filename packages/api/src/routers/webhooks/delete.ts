import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const DeleteWebhookInput = z.strictObject({ id: z.string().min(1).max(64) });

/** Removes a webhook; its pending deliveries and log go with it. */
export const deleteWebhook = writeProcedure.input(DeleteWebhookInput).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'webhook.delete', targetType: 'webhook', targetId: input.id }, async (tx) => {
    const r = await tx.webhook.deleteMany({ where: { id: input.id, organizationId: ctx.org.id } });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such webhook in this organisation.' });
    return { id: input.id };
  }),
);
