import { z } from 'zod';
import { change } from '../../change.ts';
import { assertNotLastOwner, ownerProcedure } from './owner.ts';

export const RemoveMemberInput = z.strictObject({ membershipId: z.string().min(1).max(64) });

/** An owner removes a member; the last owner cannot be removed. */
export const removeMember = ownerProcedure.input(RemoveMemberInput).mutation(async ({ ctx, input }) =>
  change(
    ctx,
    // The person, so the audit log can name them after the membership row is gone.
    (r: { id: string; userId: string }) => ({
      action: 'member.remove',
      targetType: 'membership',
      targetId: input.membershipId,
      data: { userId: r.userId },
    }),
    async (tx) => {
      const m = await assertNotLastOwner(tx, ctx.org.id, input.membershipId);
      await tx.membership.delete({ where: { id: input.membershipId } });
      return { id: input.membershipId, userId: m.userId };
    },
  ),
);
