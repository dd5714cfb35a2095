import { TRPCError } from '@trpc/server';
import { TULA_VERSION, type UpgradeStatus } from '@tula/protocol';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const UpgradeNodeInput = z.strictObject({ id: z.string().min(1).max(64) });

/**
 * Asks the node's agent to upgrade itself to the panel's version: the gateway sends
 * it an `upgrade` message now or when it next connects, and records its progress.
 */
export const upgradeNode = writeProcedure.input(UpgradeNodeInput).mutation(async ({ ctx, input }) => {
  const result = await change(
    ctx,
    (r: { from: string | null }) => ({
      action: 'node.upgrade',
      targetType: 'node',
      targetId: input.id,
      data: { from: r.from, to: TULA_VERSION },
    }),
    async (tx) => {
      const n = await tx.node.findFirst({
        where: { id: input.id, organizationId: ctx.org.id },
        select: { agentVersion: true, revokedAt: true },
      });
      if (!n) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such node in this organisation.' });
      if (n.revokedAt)
        throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'This node is revoked: its agent cannot connect to be upgraded.' });
      if (n.agentVersion === TULA_VERSION)
        throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `The agent already runs ${TULA_VERSION}, the panel's version.` });
      const status: UpgradeStatus = { state: 'requested', target: TULA_VERSION, message: null, at: new Date().toISOString() };
      await tx.node.update({ where: { id: input.id }, data: { upgradeRequestedAt: new Date(), upgradeStatus: status } });
      return { from: n.agentVersion };
    },
  );
  await ctx.bus.publish({ kind: 'nodes', nodeIds: [input.id] });
  return { id: input.id, from: result.from, to: TULA_VERSION };
});
