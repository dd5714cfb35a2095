import { diffServices } from '@tula/validators';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { nameBalancers, revisionDocument } from '../../revisions.ts';
import { orgProcedure } from '../../trpc.ts';

// Not strict: infinite queries add their own `direction`.
export const HistoryInput = z.object({
  id: z.string().min(1).max(64),
  /** Revisions older than this number (the previous page's nextCursor). */
  cursor: z.int().min(1).nullish(),
  limit: z.int().min(1).max(50).default(20),
});

/** A service's revisions, newest first, each with what changed from the one before. */
export const serviceHistory = orgProcedure.input(HistoryInput).query(async ({ ctx, input }) => {
  // One more than the page: the oldest revision on it is compared with the one before.
  const rows = await ctx.db.prisma.serviceRevision.findMany({
    where: { organizationId: ctx.org.id, serviceId: input.id, ...(input.cursor ? { number: { lt: input.cursor } } : {}) },
    orderBy: { number: 'desc' },
    take: input.limit + 1,
  });
  if (rows.length === 0 && !input.cursor) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
  const docs = rows.map((r) => revisionDocument(r.document));
  const page = rows.slice(0, input.limit);
  const items = await Promise.all(
    page.map(async (r, i) => {
      // The revision before this one; the first revision is compared with nothing.
      const previous = r.number === 1 ? null : i + 1 < rows.length ? docs[i + 1]! : undefined;
      const before =
        previous !== undefined
          ? previous
          : revisionDocument(
              (
                await ctx.db.prisma.serviceRevision.findFirstOrThrow({
                  where: { organizationId: ctx.org.id, serviceId: input.id, number: { lt: r.number } },
                  orderBy: { number: 'desc' },
                })
              ).document,
            );
      return {
        number: r.number,
        action: r.action,
        actorUserId: r.actorUserId,
        actorLabel: r.actorLabel,
        createdAt: r.createdAt,
        restoredNumber: r.restoredNumber,
        document: docs[i]!,
        changes: await nameBalancers(ctx.db.prisma, ctx.org.id, diffServices(r.number === 1 ? null : before, docs[i]!)),
      };
    }),
  );
  return { items, nextCursor: rows.length > input.limit ? page[page.length - 1]!.number : null };
});
