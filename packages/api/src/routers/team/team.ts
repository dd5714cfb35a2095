import { limitKey, newSecret, sha256 } from '@tula/control';
import type { Database } from '@tula/db';
import type { ApiContext } from '../../context.ts';
import { InviteInput } from '@tula/validators';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { orgProcedure, personProcedure, personWriteProcedure, writeProcedure } from '../../trpc.ts';

export const INVITATION_DAYS = 7;

export const listTeam = orgProcedure.query(async ({ ctx }) => {
  const [members, invitations] = await Promise.all([
    ctx.db.prisma.membership.findMany({
      where: { organizationId: ctx.org.id },
      orderBy: { createdAt: 'asc' },
      select: { id: true, role: true, createdAt: true, user: { select: { id: true, email: true, name: true } } },
    }),
    ctx.db.prisma.invitation.findMany({
      where: { organizationId: ctx.org.id, status: 'pending', expiresAt: { gt: new Date() } },
      orderBy: { createdAt: 'desc' },
      select: { id: true, email: true, role: true, expiresAt: true },
    }),
  ]);
  return { members, invitations };
});

/** Whether the user has confirmed their address (better-auth's emailVerified, set by the link mailed at sign-up). */
async function hasVerifiedEmail(db: Database, userId: string) {
  return (await db.prisma.user.findUnique({ where: { id: userId }, select: { emailVerified: true } }))?.emailVerified === true;
}

type PersonContext = ApiContext & { user: NonNullable<ApiContext['user']>; org: NonNullable<ApiContext['org']> };

/** Invitations are mail to strangers' inboxes: only from a verified address, limited per organisation and per client address. */
export async function assertMayMailInvitation(ctx: PersonContext) {
  if (!(await hasVerifiedEmail(ctx.db, ctx.user.id))) {
    throw new TRPCError({ code: 'FORBIDDEN', message: `Confirm your email address first: follow the link we mailed to ${ctx.user.email} when you signed up.` });
  }
  const limited = !(await ctx.inviteAttempts.take(`org:${ctx.org.id}`)) || (ctx.clientAddress !== undefined && !(await ctx.inviteAttempts.take(`addr:${limitKey(ctx.clientAddress)}`)));
  if (limited) {
    throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: `At most ${ctx.inviteAttempts.max} invitations an hour; try again later.` });
  }
}

/** Mails the invitation link carrying `token`. */
export async function mailInvitation(ctx: PersonContext, inv: { email: string; role: string; token: string }) {
  const org = await ctx.db.prisma.organization.findUniqueOrThrow({ where: { id: ctx.org.id }, select: { name: true } });
  await ctx.mailer.send({
    to: inv.email,
    subject: `${ctx.user.name || ctx.user.email} invited you to ${org.name} on Tula`,
    text: `You are invited to join ${org.name} on Tula as ${inv.role}.\n\nAccept within ${INVITATION_DAYS} days: ${ctx.publicUrl}/invite/${inv.token}\n`,
  });
}

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
    (r: { id: string }) => ({ action: 'member.invite', targetType: 'invitation', targetId: r.id, data: { email: input.email, role: input.role } }),
    (tx) =>
      tx.invitation.create({
        data: { organizationId: ctx.org.id, email: input.email.toLowerCase(), role: input.role, inviterId: ctx.user.id, tokenHash: sha256(token), expiresAt: new Date(Date.now() + INVITATION_DAYS * 86_400_000) },
      }),
  );
  await mailInvitation(ctx, { email: input.email, role: input.role, token });
  return { id: row.id };
});

/** Accepts an invitation for the signed-in user: they join the organisation and switch to it. */
export const acceptInvitation = personProcedure.input(z.strictObject({ token: z.string().min(16).max(128) })).mutation(async ({ ctx, input }) => {
  const inv = await ctx.db.prisma.invitation.findUnique({ where: { tokenHash: sha256(input.token) } });
  if (!inv || inv.status !== 'pending' || inv.expiresAt.getTime() < Date.now()) {
    throw new TRPCError({ code: 'NOT_FOUND', message: 'This invitation is unknown, used or expired; ask for a new one.' });
  }
  if (inv.email !== ctx.user.email.toLowerCase()) {
    throw new TRPCError({ code: 'FORBIDDEN', message: `This invitation is for ${inv.email}; sign in with that address to accept it.` });
  }
  if (!(await hasVerifiedEmail(ctx.db, ctx.user.id))) {
    throw new TRPCError({ code: 'FORBIDDEN', message: `Confirm your email address first: follow the link we mailed to ${ctx.user.email} when you signed up, then open this invitation again.` });
  }
  await ctx.db.prisma.$transaction(async (tx) => {
    await tx.membership.upsert({
      where: { organizationId_userId: { organizationId: inv.organizationId, userId: ctx.user.id } },
      create: { organizationId: inv.organizationId, userId: ctx.user.id, role: inv.role },
      update: {},
    });
    await tx.invitation.update({ where: { id: inv.id }, data: { status: 'accepted' } });
    await tx.session.updateMany({ where: { userId: ctx.user.id }, data: { activeOrganizationId: inv.organizationId } });
    await tx.auditEvent.create({
      data: { organizationId: inv.organizationId, actorUserId: ctx.user.id, actorLabel: ctx.user.email, action: 'member.join', targetType: 'membership', data: { role: inv.role } },
    });
  });
  return { organizationId: inv.organizationId };
});

/** Owners change roles and remove members; nobody removes the last owner. */
const ownerProcedure = writeProcedure.use(({ ctx, next }) => {
  if (ctx.org.role !== 'owner') throw new TRPCError({ code: 'FORBIDDEN', message: 'Only an owner of this organisation can do this.' });
  return next();
});

async function assertNotLastOwner(tx: Parameters<Parameters<typeof change>[2]>[0], organizationId: string, membershipId: string) {
  const m = await tx.membership.findFirst({ where: { id: membershipId, organizationId } });
  if (!m) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such member of this organisation.' });
  if (m.role === 'owner' && (await tx.membership.count({ where: { organizationId, role: 'owner' } })) === 1) {
    throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'An organisation keeps at least one owner; make someone else owner first.' });
  }
  return m;
}

export const setMemberRole = ownerProcedure
  .input(z.strictObject({ membershipId: z.string().min(1).max(64), role: z.enum(['owner', 'admin', 'viewer']) }))
  .mutation(async ({ ctx, input }) =>
    change(ctx, { action: 'member.set_role', targetType: 'membership', targetId: input.membershipId, data: { role: input.role } }, async (tx) => {
      await assertNotLastOwner(tx, ctx.org.id, input.membershipId);
      await tx.membership.update({ where: { id: input.membershipId }, data: { role: input.role } });
      return { id: input.membershipId };
    }),
  );

export const removeMember = ownerProcedure.input(z.strictObject({ membershipId: z.string().min(1).max(64) })).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'member.remove', targetType: 'membership', targetId: input.membershipId }, async (tx) => {
    await assertNotLastOwner(tx, ctx.org.id, input.membershipId);
    await tx.membership.delete({ where: { id: input.membershipId } });
    return { id: input.membershipId };
  }),
);
