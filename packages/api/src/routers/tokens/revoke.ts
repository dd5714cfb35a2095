import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const revokeToken = writeProcedure.input(z.strictObject({ id: z.string().min(1).max(64) })).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'token.revoke', targetType: 'enrollment_token', targetId: input.id }, async (tx) => {
    const r = await tx.enrollmentToken.updateMany({
      where: { id: input.id, organizationId: ctx.org.id, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such token (or it is already revoked).' });
    return { id: input.id };
  }),
);
