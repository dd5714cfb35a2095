import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { testPayload } from '../../alerts/payload.ts';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const SendTestInput = z.strictObject({ id: z.string().min(1).max(64) });

/** Queues a test alert to one webhook; it is sent, signed and retried like any alert, and shows in the delivery log. */
export const sendTestWebhook = writeProcedure.input(SendTestInput).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'webhook.test', targetType: 'webhook', targetId: input.id }, async (tx) => {
    const hook = await tx.webhook.findFirst({ where: { id: input.id, organizationId: ctx.org.id }, select: { id: true } });
    if (!hook) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such webhook in this organisation.' });
    const org = await tx.organization.findUniqueOrThrow({ where: { id: ctx.org.id }, select: { id: true, name: true } });
    return tx.alertDelivery.create({
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- needed where the root tsconfig's program (the tests) checks this file: there Prisma's JSON input type does not take a Record<string, unknown>
      data: { organizationId: ctx.org.id, webhookId: hook.id, test: true, payload: testPayload(org, ctx.publicUrl) as object },
      select: { id: true },
    });
  }),
);
