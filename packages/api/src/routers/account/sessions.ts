import { personProcedure } from '../../trpc.ts';

/** The signed-in person's active sessions (device, address, last activity), the current one first; never their tokens. */
export const listSessions = personProcedure.query(async ({ ctx }) => {
  const rows = await ctx.crossTenantDb.prisma.session.findMany({
    where: { userId: ctx.user.id, expiresAt: { gt: new Date() } },
    orderBy: [{ lastActiveAt: { sort: 'desc', nulls: 'last' } }, { createdAt: 'desc' }],
    select: { id: true, userAgent: true, ipAddress: true, createdAt: true, lastActiveAt: true },
  });
  return rows.map((r) => ({ ...r, current: r.id === ctx.sessionId })).sort((a, b) => Number(b.current) - Number(a.current));
});
