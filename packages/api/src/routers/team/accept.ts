import { sha256 } from '@tula/control';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { personProcedure } from '../../trpc.ts';
import { confirmationLinkHint, hasVerifiedEmail } from './invitations.ts';

export const AcceptInvitationInput = z.strictObject({ token: z.string().min(16).max(128) });

/** Accepts an invitation for the signed-in user: they join the organisation and switch to it. */
export const acceptInvitation = personProcedure.input(AcceptInvitationInput).mutation(async ({ ctx, input }) => {
  const inv = await ctx.crossTenantDb.prisma.invitation.findUnique({ where: { tokenHash: sha256(input.token) } });
  if (!inv || inv.status !== 'pending' || inv.expiresAt.getTime() < Date.now()) {
    throw new TRPCError({ code: 'NOT_FOUND', message: 'This invitation is unknown, used or expired; ask for a new one.' });
  }
  if (inv.email !== ctx.user.email.toLowerCase()) {
    throw new TRPCError({ code: 'FORBIDDEN', message: `This invitation is for ${inv.email}; sign in with that address to accept it.` });
  }
  if (!(await hasVerifiedEmail(ctx.crossTenantDb, ctx.user.id))) {
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: `Confirm your email address first: ${confirmationLinkHint(ctx)}, then open this invitation again.`,
    });
  }
  await ctx.crossTenantDb.prisma.$transaction(async (tx) => {
    await tx.membership.upsert({
      where: { organizationId_userId: { organizationId: inv.organizationId, userId: ctx.user.id } },
      create: { organizationId: inv.organizationId, userId: ctx.user.id, role: inv.role },
      update: {},
    });
    await tx.invitation.update({ where: { id: inv.id }, data: { status: 'accepted' } });
    await tx.session.updateMany({ where: { userId: ctx.user.id }, data: { activeOrganizationId: inv.organizationId } });
    await tx.auditEvent.create({
      data: {
        organizationId: inv.organizationId,
        actorUserId: ctx.user.id,
        actorLabel: ctx.user.email,
        action: 'member.join',
        targetType: 'membership',
        data: { role: inv.role },
      },
    });
  });
  return { organizationId: inv.organizationId };
});
