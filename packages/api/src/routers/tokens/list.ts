import { orgProcedure } from '../../trpc.ts';

/** The organisation's enrollment tokens, newest first, with the nodes each enrolled. */
export const listTokens = orgProcedure.query(async ({ ctx }) => {
  const rows = await ctx.db.prisma.enrollmentToken.findMany({
    where: { organizationId: ctx.org.id },
    orderBy: { createdAt: 'desc' },
    select: {
      id: true,
      prefix: true,
      description: true,
      maxUses: true,
      uses: true,
      expiresAt: true,
      revokedAt: true,
      createdAt: true,
      nodes: { select: { id: true, name: true }, orderBy: { createdAt: 'asc' } },
    },
  });
  const now = Date.now();
  return rows.map((r) => ({
    ...r,
    usesLeft: Math.max(0, r.maxUses - r.uses),
    usable: !r.revokedAt && r.uses < r.maxUses && r.expiresAt.getTime() > now,
  }));
});
