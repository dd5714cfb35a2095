import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';

export const WebhookDeliveriesInput = z.strictObject({ id: z.string().min(1).max(64), limit: z.int().min(1).max(200).default(50) });

/** The delivery log of one webhook: newest first, each delivery with every attempt's response code or error. */
export const webhookDeliveries = orgProcedure.input(WebhookDeliveriesInput).query(async ({ ctx, input }) =>
  ctx.tenant(async (tx) => {
    const hook = await tx.webhook.findFirst({ where: { id: input.id, organizationId: ctx.org.id }, select: { id: true } });
    if (!hook) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such webhook in this organisation.' });
    const rows = await tx.alertDelivery.findMany({
      where: { organizationId: ctx.org.id, webhookId: hook.id },
      orderBy: { createdAt: 'desc' },
      take: input.limit,
      include: { log: { orderBy: { attempt: 'asc' } } },
    });
    return rows.map(({ payload, log, ...d }) => ({
      ...d,
      title: (payload as { title?: string }).title ?? '',
      state: (payload as { state?: string }).state ?? 'firing',
      log: log.map(({ id: _id, ...a }) => a),
    }));
  }),
);
