import { newSecret, sha256 } from '@tula/control';
import { z } from 'zod';
import { API_TOKEN_PREFIX } from '../../api-token.ts';
import { change } from '../../change.ts';
import { personWriteProcedure } from '../../trpc.ts';

export const CreateApiTokenInput = z.strictObject({
  name: z.string().trim().min(1, 'Name the token after what uses it.').max(80),
  role: z.enum(['viewer', 'admin']),
  /** Days until it stops working; absent or null: until revoked. */
  expiresInDays: z.int().min(1).max(3650).nullish(),
});

/**
 * A new API token, returned only here (the database keeps its hash). Made by a
 * signed-in admin or owner only: a token never mints tokens, so revoking a
 * leaked one leaves nothing of it behind.
 */
export const createApiToken = personWriteProcedure.input(CreateApiTokenInput).mutation(async ({ ctx, input }) => {
  const token = newSecret(API_TOKEN_PREFIX);
  const expiresAt = input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null;
  const row = await change(
    ctx,
    (r: { id: string }) => ({
      action: 'api_token.create',
      targetType: 'api_token',
      targetId: r.id,
      data: { name: input.name, role: input.role, expiresAt },
    }),
    (tx) =>
      tx.apiToken.create({
        data: {
          organizationId: ctx.org.id,
          name: input.name,
          role: input.role,
          tokenHash: sha256(token),
          prefix: token.slice(0, 9),
          expiresAt,
          createdById: ctx.user.id,
        },
        select: { id: true },
      }),
  );
  return { id: row.id, token, expiresAt };
});
