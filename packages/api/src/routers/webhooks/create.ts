import { newSecret } from '@tula/control';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const WEBHOOK_SECRET_PREFIX = 'whsec';

export const CreateWebhookInput = z.strictObject({
  name: z.string().trim().min(1, 'Name the webhook after where it goes.').max(80),
  url: z.url({ protocol: /^https?$/, error: 'Give an http:// or https:// address.' }).max(2000),
  format: z.enum(['json', 'slack']).default('json'),
});

/**
 * A webhook and its signing secret, returned only here. The database keeps the
 * secret sealed (it must be readable to sign each delivery).
 */
export const createWebhook = writeProcedure.input(CreateWebhookInput).mutation(async ({ ctx, input }) => {
  const secret = newSecret(WEBHOOK_SECRET_PREFIX);
  const row = await change(
    ctx,
    (r: { id: string }) => ({ action: 'webhook.create', targetType: 'webhook', targetId: r.id, data: input }),
    (tx) =>
      tx.webhook.create({
        data: { organizationId: ctx.org.id, ...input, secretSealed: ctx.secrets.seal(secret), secretPrefix: secret.slice(0, 10) },
        select: { id: true },
      }),
  );
  return { id: row.id, secret };
});
