import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const SetNodeRoleInput = z.strictObject({ id: z.string().min(1).max(64), role: z.enum(['balancer', 'backend', 'both']) });

/** Whether the node balances, serves as a backend, or both. */
export const setNodeRole = writeProcedure.input(SetNodeRoleInput).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'node.set_role', targetType: 'node', targetId: input.id, data: { role: input.role } }, async (tx) => {
    const r = await tx.node.updateMany({ where: { id: input.id, organizationId: ctx.org.id }, data: { role: input.role } });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such node in this organisation.' });
    return { id: input.id };
  }),
);
