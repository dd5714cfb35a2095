import { orgProcedure } from '../../trpc.ts';

/** Members and pending, unexpired invitations of the organisation (the owner client: the tenant role cannot read accounts). */
export const listTeam = orgProcedure.query(async ({ ctx }) => {
  const [members, invitations] = await Promise.all([
    ctx.crossTenantDb.prisma.membership.findMany({
      where: { organizationId: ctx.org.id },
      orderBy: { createdAt: 'asc' },
      select: { id: true, role: true, createdAt: true, user: { select: { id: true, email: true, name: true } } },
    }),
    ctx.crossTenantDb.prisma.invitation.findMany({
      where: { organizationId: ctx.org.id, status: 'pending', expiresAt: { gt: new Date() } },
      orderBy: { createdAt: 'desc' },
      select: { id: true, email: true, role: true, expiresAt: true },
    }),
  ]);
  return { members, invitations };
});
