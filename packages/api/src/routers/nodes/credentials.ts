import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

const ById = z.strictObject({ id: z.string().min(1).max(64) });

/** Asks the gateway to hand the node a new credential; the old one works until the agent has saved it. */
export const rotateCredential = writeProcedure.input(ById).mutation(async ({ ctx, input }) => {
  const result = await change(ctx, { action: 'node.rotate_credential', targetType: 'node', targetId: input.id }, async (tx) => {
    const r = await tx.node.updateMany({ where: { id: input.id, organizationId: ctx.org.id, revokedAt: null }, data: { rotationRequestedAt: new Date() } });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such active node in this organisation.' });
    return { id: input.id };
  });
  await ctx.bus.publish({ kind: 'nodes', nodeIds: [input.id] });
  return result;
});

/** Revokes the node's credential: its agent is disconnected now and refused from then on. */
export const revokeNode = writeProcedure.input(ById).mutation(async ({ ctx, input }) => {
  const result = await change(ctx, { action: 'node.revoke', targetType: 'node', targetId: input.id }, async (tx) => {
    const r = await tx.node.updateMany({ where: { id: input.id, organizationId: ctx.org.id, revokedAt: null }, data: { revokedAt: new Date() } });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such active node in this organisation.' });
    return { id: input.id };
  });
  await ctx.bus.publish({ kind: 'nodes', nodeIds: [input.id] });
  return result;
});

export const deleteNode = writeProcedure.input(ById).mutation(async ({ ctx, input }) =>
  change(
    ctx,
    (r: { id: string; serviceIds: string[] }) => ({ action: 'node.delete', targetType: 'node', targetId: input.id, alsoServiceIds: r.serviceIds }),
    async (tx) => {
      const n = await tx.node.findFirst({ where: { id: input.id, organizationId: ctx.org.id } });
      if (!n) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such node in this organisation.' });
      if (!n.revokedAt) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'Revoke the node first, so its agent cannot connect again.' });
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

export const setNodeRole = writeProcedure
  .input(z.strictObject({ id: z.string().min(1).max(64), role: z.enum(['balancer', 'backend', 'both']) }))
  .mutation(async ({ ctx, input }) =>
    change(ctx, { action: 'node.set_role', targetType: 'node', targetId: input.id, data: { role: input.role } }, async (tx) => {
      const r = await tx.node.updateMany({ where: { id: input.id, organizationId: ctx.org.id }, data: { role: input.role } });
      if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such node in this organisation.' });
      return { id: input.id };
    }),
  );
