// Withdraws a pending invitation: its link stops working at once.
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const RevokeInvitationInput = z.strictObject({ id: z.string().min(1).max(64) });

export const revokeInvitation = writeProcedure.input(RevokeInvitationInput).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'member.invite_revoke', targetType: 'invitation', targetId: input.id }, async (tx) => {
    const { count } = await tx.invitation.updateMany({
      where: { id: input.id, organizationId: ctx.org.id, status: 'pending' },
      data: { status: 'revoked', tokenHash: null },
    });
    if (count === 0)
      throw new TRPCError({
        code: 'NOT_FOUND',
        message: 'No pending invitation with this id in this organisation; it may have been accepted or revoked already.',
      });
    return { id: input.id };
  }),
);
