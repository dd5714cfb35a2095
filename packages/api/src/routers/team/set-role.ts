import { z } from 'zod';
import { change } from '../../change.ts';
import { assertNotLastOwner, ownerProcedure } from './owner.ts';

export const SetMemberRoleInput = z.strictObject({ membershipId: z.string().min(1).max(64), role: z.enum(['owner', 'admin', 'viewer']) });

/** An owner changes a member's role; the last owner stays an owner. */
export const setMemberRole = ownerProcedure.input(SetMemberRoleInput).mutation(async ({ ctx, input }) =>
  change(
    ctx,
    { action: 'member.set_role', targetType: 'membership', targetId: input.membershipId, data: { role: input.role } },
    async (tx) => {
      await assertNotLastOwner(tx, ctx.org.id, input.membershipId);
      await tx.membership.update({ where: { id: input.membershipId }, data: { role: input.role } });
      return { id: input.membershipId };
    },
  ),
);
