import { orgProcedure } from '../../trpc.ts';

/** The organisation's webhooks (never their secrets) with their last delivery. */
export const listWebhooks = orgProcedure.query(async ({ ctx }) =>
  ctx.tenant(async (tx) => {
    const hooks = await tx.webhook.findMany({
      where: { organizationId: ctx.org.id },
      orderBy: { createdAt: 'asc' },
      select: { id: true, name: true, url: true, format: true, secretPrefix: true, createdAt: true },
    });
    const last = await Promise.all(
      hooks.map((h) =>
        tx.alertDelivery.findFirst({
          where: { organizationId: ctx.org.id, webhookId: h.id },
          orderBy: { createdAt: 'desc' },
          select: {
            status: true,
            createdAt: true,
            log: { orderBy: { attempt: 'desc' }, take: 1, select: { statusCode: true, error: true } },
          },
        }),
      ),
    );
    return hooks.map((h, i) => ({
      ...h,
      lastDelivery: last[i] ? { status: last[i].status, at: last[i].createdAt, ...last[i].log[0] } : null,
    }));
  }),
);
