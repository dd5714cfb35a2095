import { orgProcedure } from '../../trpc.ts';

/** Everyone who appears in the organisation's audit log (former members too), for the person filter. */
export const auditActors = orgProcedure.query(async ({ ctx }) => {
  const rows = await ctx.db.prisma.auditEvent.groupBy({
    by: ['actorUserId', 'actorLabel'],
    where: { organizationId: ctx.org.id, actorUserId: { not: null } },
    orderBy: { actorLabel: 'asc' },
  });
  return rows.map((r) => ({ userId: r.actorUserId!, label: r.actorLabel }));
});
