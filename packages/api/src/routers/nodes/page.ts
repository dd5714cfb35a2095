import type { Prisma } from '@tula/db';
import type { TenantTx } from '@tula/db/tenant';
import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';
import { ONLINE_WINDOW_MS, onlineWhere } from '@tula/control';
import { nodeSelect, nodeStatus } from './list.ts';

export const NODE_FILTERS = ['all', 'online', 'offline', 'out-of-sync', 'errors', 'warnings', 'drifted', 'revoked'] as const;
/** "Drifted": the agent found its kernel tables changed outside Tula (and repaired them) this recently. */
export const DRIFT_RECENT_MS = 24 * 3_600_000;
export type NodeFilter = (typeof NODE_FILTERS)[number];

/** The rows each filter selects; the same rules as `nodeStatus` (online, inSync), in SQL. */
function filterWhere(db: TenantTx, filter: NodeFilter, now: Date): Prisma.NodeWhereInput {
  const seenSince = new Date(now.getTime() - ONLINE_WINDOW_MS);
  const live = { revokedAt: null };
  switch (filter) {
    case 'all':
      return {};
    case 'online':
      return onlineWhere(now.getTime());
    case 'offline':
      return { ...live, OR: [{ connected: false }, { lastSeenAt: null }, { lastSeenAt: { lt: seenSince } }] };
    case 'out-of-sync':
      // Not applied what it should: no document yet, none applied, or another one applied.
      return {
        ...live,
        OR: [{ desiredHash: null }, { appliedHash: null }, { appliedHash: { not: { equals: db.node.fields.desiredHash } } }],
      };
    case 'errors':
      return { ...live, lastError: { not: null } };
    case 'warnings':
      // Online only: an offline node's warnings are from its last report, stale (nodeStatus: warningsStale).
      return { ...onlineWhere(now.getTime()), NOT: { warnings: { isEmpty: true } } };
    case 'drifted':
      return { ...live, lastDriftAt: { gte: new Date(now.getTime() - DRIFT_RECENT_MS) } };
    case 'revoked':
      return { revokedAt: { not: null } };
  }
}

/** How many of the organisation's (unrevoked) nodes are online, out of sync and failing: the fleet at a glance. */
export async function fleetCounts(db: TenantTx, organizationId: string, now = new Date()) {
  const count = (filter: NodeFilter) => db.node.count({ where: { organizationId, ...filterWhere(db, filter, now) } });
  const [nodes, online, outOfSync, withErrors, nodesWithWarnings] = await Promise.all([
    db.node.count({ where: { organizationId, revokedAt: null } }),
    count('online'),
    count('out-of-sync'),
    count('errors'),
    count('warnings'),
  ]);
  return { nodes, online, outOfSync, withErrors, nodesWithWarnings };
}

const pageInput = z
  .strictObject({
    /** Part of a node's name or hostname, or one of its addresses. */
    search: z.string().trim().max(100).default(''),
    filter: z.enum(NODE_FILTERS).default('all'),
    offset: z.int().min(0).max(1_000_000).default(0),
    limit: z.int().min(1).max(200).default(50),
  })
  .default({ search: '', filter: 'all', offset: 0, limit: 50 });

/**
 * One page of the fleet table, with the number of matching nodes. A fleet of
 * thousands would otherwise send every row to every open Fleet page, every refresh.
 */
export const pageNodes = orgProcedure.input(pageInput).query(async ({ ctx, input }) => {
  const db = ctx.db.prisma;
  const now = new Date();
  const where: Prisma.NodeWhereInput = {
    organizationId: ctx.org.id,
    ...filterWhere(db, input.filter, now),
    ...(input.search && {
      AND: [
        {
          OR: [
            { name: { contains: input.search, mode: 'insensitive' } },
            { hostname: { contains: input.search, mode: 'insensitive' } },
            { addresses: { has: input.search } },
          ],
        },
      ],
    }),
  };
  const matching = await db.node.count({ where });
  // Past the end (nodes went away since the last page was read): the last page.
  const offset = input.offset < matching ? input.offset : Math.max(0, Math.ceil(matching / input.limit) - 1) * input.limit;
  const rows = await db.node.findMany({
    where,
    orderBy: [{ name: 'asc' }, { id: 'asc' }],
    skip: offset,
    take: input.limit,
    select: nodeSelect,
  });
  return { items: rows.map(nodeStatus), matching, offset, limit: input.limit };
});
