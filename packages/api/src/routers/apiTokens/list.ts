import { orgProcedure } from '../../trpc.ts';

/** The organisation's API tokens (never the tokens themselves), newest first, with last use. */
export const listApiTokens = orgProcedure.query(async ({ ctx }) => {
  const rows = await ctx.tenant((tx) =>
    tx.apiToken.findMany({
      where: { organizationId: ctx.org.id },
      orderBy: { createdAt: 'desc' },
      select: { id: true, name: true, role: true, prefix: true, expiresAt: true, revokedAt: true, lastUsedAt: true, createdAt: true },
    }),
  );
  const now = Date.now();
  return rows.map((r) => ({ ...r, usable: !r.revokedAt && (!r.expiresAt || r.expiresAt.getTime() > now) }));
});
