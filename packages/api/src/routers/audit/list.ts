import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';
import { AuditFilter, auditInclude, auditWhere } from './filter.ts';
import { presentAuditEvents } from './present.ts';

/**
 * Who changed what, and when, newest first; pages by cursor; filtered by person,
 * action, target and time range. Each event carries its actor and target by name
 * (with a link while the thing exists) and what changed, line by line.
 */
export const listAudit = orgProcedure
  // Not strict: infinite queries add their own `direction`.
  .input(
    AuditFilter.extend({
      // "<createdAt ISO>|<id>", as nextCursor gives it.
      cursor: z
        .string()
        .max(80)
        .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\|[A-Za-z0-9_-]{1,40}$/, 'must be a nextCursor this procedure returned')
        .nullish(),
      limit: z.int().min(1).max(100).default(50),
    }),
  )
  .query(async ({ ctx, input }) => {
    // The event's key is (id, createdAt): the table is partitioned by time.
    const [at, id] = input.cursor?.split('|') ?? [];
    const cursor = at && id ? { id, createdAt: new Date(at) } : undefined;
    const rows = await ctx.db.prisma.auditEvent.findMany({
      where: auditWhere(ctx.org.id, input),
      include: auditInclude,
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: input.limit + 1,
      ...(cursor ? { cursor: { id_createdAt: cursor }, skip: 1 } : {}),
    });
    const more = rows.length > input.limit;
    const page = rows.slice(0, input.limit);
    const shown = new Map((await presentAuditEvents(ctx.db.prisma, ctx.crossTenantDb.prisma, ctx.org.id, page)).map((p) => [p.id, p]));
    const items = page.map(({ serviceRevision, ...e }) => ({ ...e, revision: serviceRevision, ...shown.get(e.id)! }));
    const last = items[items.length - 1];
    return { items, nextCursor: more && last ? `${last.createdAt.toISOString()}|${last.id}` : null };
  });
