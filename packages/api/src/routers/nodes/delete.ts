import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const DeleteNodeInput = z.strictObject({ id: z.string().min(1).max(64) });

/** Deletes a revoked node; the services that name it get a revision. */
export const deleteNode = writeProcedure.input(DeleteNodeInput).mutation(async ({ ctx, input }) =>
  change(
    ctx,
    (r: { id: string; serviceIds: string[] }) => ({
      action: 'node.delete',
      targetType: 'node',
      targetId: input.id,
      alsoServiceIds: r.serviceIds,
    }),
    async (tx) => {
      const n = await tx.node.findFirst({ where: { id: input.id, organizationId: ctx.org.id } });
      if (!n) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such node in this organisation.' });
      if (!n.revokedAt)
        throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'Revoke the node first, so its agent cannot connect again.' });
      // Services that name the node (as balancer or backend host) change with it: each gets a revision.
      const linked = await tx.service.findMany({
        where: { organizationId: ctx.org.id, OR: [{ balancers: { some: { nodeId: n.id } } }, { backends: { some: { nodeId: n.id } } }] },
        select: { id: true },
      });
      await tx.node.delete({ where: { id: n.id } });
      return { id: n.id, serviceIds: linked.map((s) => s.id) };
    },
  ),
);
