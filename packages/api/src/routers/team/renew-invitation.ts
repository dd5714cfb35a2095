// A pending invitation gets a new link, valid for another week: mailed again
// ("resend") or handed to the person inviting to pass on ("copy link"). The
// link's secret is stored only hashed, so the old link cannot be shown again;
// it stops working.
import { newSecret, sha256 } from '@tula/control';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { personWriteProcedure } from '../../trpc.ts';
import { assertMayMailInvitation, INVITATION_DAYS, mailInvitation } from './invitations.ts';

export const RenewInvitationInput = z.strictObject({ id: z.string().min(1).max(64), deliver: z.enum(['mail', 'link']) });

export const renewInvitation = personWriteProcedure.input(RenewInvitationInput).mutation(async ({ ctx, input }) => {
  if (input.deliver === 'mail') await assertMayMailInvitation(ctx);
  const token = newSecret('tinv');
  const inv = await change(
    ctx,
    { action: input.deliver === 'mail' ? 'member.invite_resend' : 'member.invite_link', targetType: 'invitation', targetId: input.id },
    async (tx) => {
      const found = await tx.invitation.findFirst({ where: { id: input.id, organizationId: ctx.org.id, status: 'pending' } });
      if (!found)
        throw new TRPCError({
          code: 'NOT_FOUND',
          message:
            'No pending invitation with this id in this organisation; it may have been accepted or revoked. Invite the person again.',
        });
      return tx.invitation.update({
        where: { id: found.id },
        data: { tokenHash: sha256(token), expiresAt: new Date(Date.now() + INVITATION_DAYS * 86_400_000) },
      });
    },
  );
  if (input.deliver === 'mail') {
    await mailInvitation(ctx, { email: inv.email, role: inv.role, token });
    return { id: inv.id, link: null };
  }
  return { id: inv.id, link: `${ctx.publicUrl}/invite/${token}` };
});
