import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';
import { announceState, drainStatus, redactAnnounce, redactDocument } from './announce-view.ts';
import { nodeSelect, nodeStatus } from './list.ts';
import { vipReachCounts } from './vip-reach.ts';

export const getNode = orgProcedure.input(z.strictObject({ id: z.string().min(1).max(64) })).query(async ({ ctx, input }) => {
  const n = await ctx.db.prisma.node.findFirst({
    where: { id: input.id, organizationId: ctx.org.id },
    select: {
      ...nodeSelect,
      desiredState: true,
      announce: true,
      announceState: true,
      drainingSince: true,
      drainTimeoutS: true,
      balancerOf: { select: { service: { select: { id: true, name: true, mode: true, _count: { select: { balancers: true } } } } } },
    },
  });
  if (!n) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such node in this organisation.' });
  return {
    ...nodeStatus(n),
    // BGP passwords stay on the server.
    desiredState: redactDocument(n.desiredState),
    announce: redactAnnounce(n.announce),
    announceState: announceState(n.announceState),
    drain: drainStatus(n, new Date()),
    /** The VIPs it balances, by how they reach it when it announces nothing (see vip-reach.ts). */
    vipReach: vipReachCounts(n.balancerOf.map((b) => ({ mode: b.service.mode, balancers: b.service._count.balancers }))),
  };
});
