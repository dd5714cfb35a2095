import { orgProcedure } from '../../trpc.ts';

/** A node counts as online while its agent reported within this window. */
export const ONLINE_WINDOW_MS = 30_000;

export const nodeSelect = {
  id: true,
  name: true,
  role: true,
  hostname: true,
  addresses: true,
  agentVersion: true,
  capabilities: true,
  lastSeenAt: true,
  desiredVersion: true,
  desiredHash: true,
  appliedVersion: true,
  appliedHash: true,
  lastError: true,
  lastErrorAt: true,
  lastDriftAt: true,
  lastDrift: true,
  revokedAt: true,
  credentialRotatedAt: true,
  createdAt: true,
} as const;

export function nodeStatus<T extends { lastSeenAt: Date | null; desiredHash: string | null; appliedHash: string | null; revokedAt: Date | null }>(n: T) {
  return {
    ...n,
    online: !n.revokedAt && n.lastSeenAt !== null && Date.now() - n.lastSeenAt.getTime() < ONLINE_WINDOW_MS,
    inSync: n.desiredHash !== null && n.appliedHash === n.desiredHash,
  };
}

export const listNodes = orgProcedure.query(async ({ ctx }) => {
  const rows = await ctx.db.prisma.node.findMany({ where: { organizationId: ctx.org.id }, orderBy: { name: 'asc' }, select: nodeSelect });
  return rows.map(nodeStatus);
});
