// What inviting needs besides the procedures: who may mail an invitation, and the mail itself.
import { limitKey } from '@tula/control';
import type { Database } from '@tula/db';
import { TRPCError } from '@trpc/server';
import type { ApiContext } from '../../context.ts';

export const INVITATION_DAYS = 7;

/** Whether the user has confirmed their address (better-auth's emailVerified, set by the link mailed at sign-up). */
export async function hasVerifiedEmail(db: Database, userId: string) {
  return (await db.prisma.user.findUnique({ where: { id: userId }, select: { emailVerified: true } }))?.emailVerified === true;
}

type PersonContext = ApiContext & {
  user: NonNullable<ApiContext['user']>;
  org: NonNullable<ApiContext['org']>;
  crossTenantDb: ApiContext['db'];
};

/** Where the sign-up's confirmation link is: in the mailbox, or (no mail server) in the panel's outbox. */
export function confirmationLinkHint(ctx: ApiContext & { user: { email: string } }): string {
  return ctx.mailer.kind === 'smtp'
    ? `follow the link we mailed to ${ctx.user.email} when you signed up`
    : `no mail server is set up, so the link for ${ctx.user.email} was not mailed: it is under Team → Outbox for the owners of your organisation (you, if you signed up on your own)`;
}

/** Invitations are mail to strangers' inboxes: only from a verified address, limited per organisation and per client address. */
export async function assertMayMailInvitation(ctx: PersonContext) {
  if (!(await hasVerifiedEmail(ctx.crossTenantDb, ctx.user.id))) {
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: `Confirm your email address first: ${confirmationLinkHint(ctx)}.`,
    });
  }
  const limited =
    !(await ctx.inviteAttempts.take(`org:${ctx.org.id}`)) ||
    (ctx.clientAddress !== undefined && !(await ctx.inviteAttempts.take(`addr:${limitKey(ctx.clientAddress)}`)));
  if (limited) {
    throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: `At most ${ctx.inviteAttempts.max} invitations an hour; try again later.` });
  }
}

/** Mails the invitation link carrying `token`. */
export async function mailInvitation(ctx: PersonContext, inv: { email: string; role: string; token: string }) {
  const org = await ctx.crossTenantDb.prisma.organization.findUniqueOrThrow({ where: { id: ctx.org.id }, select: { name: true } });
  await ctx.mailer.send({
    organizationId: ctx.org.id,
    to: inv.email,
    subject: `${ctx.user.name || ctx.user.email} invited you to ${org.name} on Tula`,
    text: `You are invited to join ${org.name} on Tula as ${inv.role}.\n\nAccept within ${INVITATION_DAYS} days: ${ctx.publicUrl}/invite/${inv.token}\n`,
  });
}
