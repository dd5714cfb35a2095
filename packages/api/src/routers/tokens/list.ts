import { orgProcedure } from '../../trpc.ts';

export const listTokens = orgProcedure.query(async ({ ctx }) => {
  const rows = await ctx.db.prisma.enrollmentToken.findMany({
    where: { organizationId: ctx.org.id },
    orderBy: { createdAt: 'desc' },
    select: { id: true, prefix: true, description: true, maxUses: true, uses: true, expiresAt: true, revokedAt: true, createdAt: true },
  });
  const now = Date.now();
  return rows.map((r) => ({
    ...r,
    usable: !r.revokedAt && r.uses < r.maxUses && r.expiresAt.getTime() > now,
  }));
});
