import { newSecret, sha256 } from '@tula/control';
import { InviteInput } from '@tula/validators';
import { change } from '../../change.ts';
import { personWriteProcedure } from '../../trpc.ts';
import { assertMayMailInvitation, INVITATION_DAYS, mailInvitation } from './invitations.ts';

/**
 * Invites someone by email with a role; the link in the mail is valid for a week.
 * Only from a verified address, and limited per organisation and per client
 * address (invitations are mail to strangers' inboxes).
 */
export const invite = personWriteProcedure.input(InviteInput).mutation(async ({ ctx, input }) => {
  await assertMayMailInvitation(ctx);
  const token = newSecret('tinv');
  const row = await change(
    ctx,
    (r: { id: string }) => ({
      action: 'member.invite',
      targetType: 'invitation',
      targetId: r.id,
      data: { email: input.email, role: input.role },
    }),
    (tx) =>
      tx.invitation.create({
        data: {
          organizationId: ctx.org.id,
          email: input.email.toLowerCase(),
          role: input.role,
          inviterId: ctx.user.id,
          tokenHash: sha256(token),
          expiresAt: new Date(Date.now() + INVITATION_DAYS * 86_400_000),
        },
      }),
  );
  await mailInvitation(ctx, { email: input.email, role: input.role, token });
  return { id: row.id };
});
