import { TRPCError } from '@trpc/server';
import { personProcedure } from '../../trpc.ts';

/** Ends every session of the signed-in person but this one (their next request finds no session). */
export const signOutOtherSessions = personProcedure.mutation(async ({ ctx }) => {
  if (!ctx.sessionId) throw new TRPCError({ code: 'FORBIDDEN', message: 'Only a signed-in browser session can sign out the others.' });
  const r = await ctx.crossTenantDb.prisma.session.deleteMany({ where: { userId: ctx.user.id, id: { not: ctx.sessionId } } });
  return { signedOut: r.count };
});
