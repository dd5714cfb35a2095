import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';

/** Who changed what, and when, newest first; pages by cursor. */
export const listAudit = orgProcedure
  // Not strict: infinite queries add their own `direction`.
  .input(z.object({ cursor: z.string().max(64).nullish(), limit: z.int().min(1).max(100).default(50) }))
  .query(async ({ ctx, input }) => {
    const rows = await ctx.db.prisma.auditEvent.findMany({
      where: { organizationId: ctx.org.id },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: input.limit + 1,
      ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
    });
    const more = rows.length > input.limit;
    const items = rows.slice(0, input.limit);
    return { items, nextCursor: more ? items[items.length - 1]!.id : null };
  });
