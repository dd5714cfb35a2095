import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';
import { AuditFilter, auditInclude, auditWhere } from './filter.ts';

/** Who changed what, and when, newest first; pages by cursor; filtered by service, person and time range. */
export const listAudit = orgProcedure
  // Not strict: infinite queries add their own `direction`.
  .input(AuditFilter.extend({ cursor: z.string().max(64).nullish(), limit: z.int().min(1).max(100).default(50) }))
  .query(async ({ ctx, input }) => {
    const rows = await ctx.db.prisma.auditEvent.findMany({
      where: auditWhere(ctx.org.id, input),
      include: auditInclude,
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: input.limit + 1,
      ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
    });
    const more = rows.length > input.limit;
    const items = rows.slice(0, input.limit).map(({ serviceRevision, ...e }) => ({ ...e, revision: serviceRevision }));
    return { items, nextCursor: more ? items[items.length - 1]!.id : null };
  });
