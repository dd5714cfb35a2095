import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const RevokeApiTokenInput = z.strictObject({ id: z.string().min(1).max(64) });

/** Revokes an API token at once: its next request is refused. An admin token may revoke any token, itself included. */
export const revokeApiToken = writeProcedure.input(RevokeApiTokenInput).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'api_token.revoke', targetType: 'api_token', targetId: input.id }, async (tx) => {
    const r = await tx.apiToken.updateMany({
      where: { id: input.id, organizationId: ctx.org.id, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such API token (or it is already revoked).' });
    return { id: input.id };
  }),
);
