import { canonicalIp } from '@tula/protocol';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';
import { serviceHealth } from './health.ts';

const include = {
  backends: { orderBy: { address: 'asc' as const } },
  balancers: {
    select: {
      node: {
        select: { id: true, name: true, desiredHash: true, appliedHash: true, lastError: true, lastSeenAt: true, connected: true, revokedAt: true, statusAt: true, failingBackends: true, warnings: true },
      },
    },
  },
};

type Row = Awaited<ReturnType<typeof loadServices>>[number];

function loadServices(ctx: { db: { prisma: import('@tula/db').Db } }, organizationId: string, id?: string) {
  return ctx.db.prisma.service.findMany({ where: { organizationId, ...(id ? { id } : {}) }, include, orderBy: { name: 'asc' } });
}

/** How far the service's latest change has reached: nodes that carry it and applied their current document. */
function rollout(s: Row, backendNodes: { id: string; name: string; desiredHash: string | null; appliedHash: string | null; lastError: string | null }[]) {
  const nodes = [...s.balancers.map((b) => b.node), ...backendNodes];
  return {
    nodes: nodes.length,
    applied: nodes.filter((n) => n.desiredHash !== null && n.appliedHash === n.desiredHash).length,
    errors: nodes.filter((n) => n.lastError).map((n) => ({ nodeId: n.id, node: n.name, error: n.lastError! })),
  };
}

async function withRollout(ctx: { db: { prisma: import('@tula/db').Db } }, organizationId: string, rows: Row[]) {
  // Backend hosts are linked explicitly or by an address their agent reported.
  const nodes = await ctx.db.prisma.node.findMany({
    where: { organizationId, revokedAt: null },
    select: { id: true, name: true, addresses: true, desiredHash: true, appliedHash: true, lastError: true },
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const byAddress = new Map(nodes.flatMap((n) => n.addresses.map((a) => [canonicalIp(a), n] as const)));
  return rows.map((s) => {
    const backendNodes = new Map<string, (typeof nodes)[number]>();
    for (const b of s.backends) {
      const n = b.nodeId ? byId.get(b.nodeId) : byAddress.get(b.address);
      if (n && s.mode !== 'nat') backendNodes.set(n.id, n);
    }
    const { backends, ...health } = serviceHealth(s, s.balancers.map((b) => b.node));
    return {
      ...s,
      balancers: s.balancers.map(({ node: { failingBackends: _f, warnings: _w, ...node } }) => ({ node })),
      backends: s.backends.map((b, i) => ({ ...b, health: backends[i]!.health })),
      health,
      rollout: rollout(s, [...backendNodes.values()].filter((n) => !s.balancers.some((b) => b.node.id === n.id))),
    };
  });
}

/** Every service of the organisation with its rollout and current health. */
export async function servicesWithHealth(ctx: { db: { prisma: import('@tula/db').Db } }, organizationId: string) {
  return withRollout(ctx, organizationId, await loadServices(ctx, organizationId));
}

export const listServices = orgProcedure.query(async ({ ctx }) => servicesWithHealth(ctx, ctx.org.id));

export const getService = orgProcedure.input(z.strictObject({ id: z.string().min(1).max(64) })).query(async ({ ctx, input }) => {
  const [s] = await withRollout(ctx, ctx.org.id, await loadServices(ctx, ctx.org.id, input.id));
  if (!s) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
  return s;
});
