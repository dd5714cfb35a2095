import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const SetBalancerAliveInput = z.strictObject({ balancer: z.string().regex(/^lb[1-9]$/), alive: z.boolean() });

/**
 * Kills a lab balancer as a host dies (its link down, its agent and bird killed
 * with SIGKILL) or brings it back, to watch the router move its flows to the
 * other balancer and back. Audited on the balancer's node.
 */
export const setBalancerAlive = writeProcedure.input(SetBalancerAliveInput).mutation(async ({ ctx, input }) => {
  const lab = ctx.lab;
  if (!lab || lab.organizationId !== ctx.org.id) throw new TRPCError({ code: 'NOT_FOUND', message: 'No lab runs for this organisation.' });
  if (!lab.status().balancers.some((b) => b.name === input.balancer))
    throw new TRPCError({ code: 'NOT_FOUND', message: `The lab has no balancer ${input.balancer}.` });
  const node = await ctx.db.prisma.node.findFirst({ where: { organizationId: ctx.org.id, name: input.balancer }, select: { id: true } });
  await lab.setBalancerAlive(input.balancer, input.alive);
  await change(
    ctx,
    { action: input.alive ? 'lab.restore_balancer' : 'lab.kill_balancer', targetType: 'node', targetId: node?.id ?? null },
    async () => undefined,
  );
  return lab.status();
});
