import { diffServices } from '@tula/validators';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { nameBalancers, revisionDocument } from '../../revisions.ts';
import { orgProcedure } from '../../trpc.ts';

export const DiffInput = z.strictObject({ id: z.string().min(1).max(64), from: z.int().min(1), to: z.int().min(1) });

/** What changed between any two revisions of a service. */
export const diffRevisions = orgProcedure.input(DiffInput).query(async ({ ctx, input }) => {
  const rows = await ctx.db.prisma.serviceRevision.findMany({
    where: { organizationId: ctx.org.id, serviceId: input.id, number: { in: [input.from, input.to] } },
  });
  const doc = (n: number) => {
    const r = rows.find((x) => x.number === n);
    if (!r) throw new TRPCError({ code: 'NOT_FOUND', message: `This service has no revision ${n}.` });
    return revisionDocument(r.document);
  };
  return {
    from: input.from,
    to: input.to,
    changes: await nameBalancers(ctx.db.prisma, ctx.org.id, diffServices(doc(input.from), doc(input.to))),
  };
});
