import { revisionForNode } from '@tula/control';
import { orgProcedure } from '../../trpc.ts';
import { RolloutTarget } from './schema.ts';

export const GetRolloutInput = RolloutTarget;

/**
 * The service's latest staged rollout, or null: its status, why it stopped, the
 * end of the current hold, and per balancer the revision it should run and
 * whether it applied it.
 */
export const getRollout = orgProcedure.input(GetRolloutInput).query(async ({ ctx, input }) => {
  const r = await ctx.db.prisma.rollout.findFirst({
    where: { organizationId: ctx.org.id, serviceId: input.serviceId },
    orderBy: { createdAt: 'desc' },
    include: { nodes: { orderBy: [{ batch: 'asc' }, { nodeId: 'asc' }] } },
  });
  if (!r) return null;
  const nodes = await ctx.db.prisma.node.findMany({
    where: { organizationId: ctx.org.id, id: { in: r.nodes.map((n) => n.nodeId) } },
    select: { id: true, name: true, desiredHash: true, appliedHash: true, lastError: true },
  });
  return {
    status: r.status,
    reason: r.reason,
    fromRevision: r.fromRevision,
    toRevision: r.toRevision,
    batch: r.batch,
    batches: Math.max(...r.nodes.map((n) => n.batch)) + 1,
    holdSeconds: r.holdSeconds,
    holdUntil: r.holdUntil,
    startedAt: r.createdAt,
    nodes: r.nodes.map((m) => {
      const n = nodes.find((x) => x.id === m.nodeId);
      return {
        nodeId: m.nodeId,
        name: n?.name ?? 'deleted node',
        batch: m.batch,
        revision: revisionForNode(r, m.batch),
        applied: !!n?.desiredHash && n.appliedHash === n.desiredHash,
        error: n?.lastError ?? null,
      };
    }),
  };
});
