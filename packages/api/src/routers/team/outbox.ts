// Mail the panel kept because no mail server is configured, as the organisation's
// owners (and admins, for invitations) read it instead of an inbox.
import { TRPCError } from '@trpc/server';
import { personProcedure } from '../../trpc.ts';

/** The newest this many messages are shown; older ones have been passed on or superseded. */
export const OUTBOX_SHOWN = 50;

export const teamOutbox = personProcedure.query(async ({ ctx }) => {
  if (ctx.org.role === 'viewer') throw new TRPCError({ code: 'FORBIDDEN', message: 'Only owners and admins read the outbox.' });
  // Under row-level security as well as the filter: another organisation's mail is never read here.
  const messages = await ctx.tenant((tx) =>
    tx.outboxMessage.findMany({
      where: { organizationId: ctx.org.id, ...(ctx.org.role !== 'owner' && { ownersOnly: false }) },
      select: { id: true, to: true, subject: true, text: true, createdAt: true },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: OUTBOX_SHOWN,
    }),
  );
  return { kept: ctx.mailer.kind === 'outbox', messages };
});
