import { isOnline } from '@tula/control';
import { TULA_VERSION, UpgradeStatus } from '@tula/protocol';
import { orgProcedure } from '../../trpc.ts';

export const nodeSelect = {
  id: true,
  name: true,
  role: true,
  hostname: true,
  addresses: true,
  agentVersion: true,
  upgradeStatus: true,
  capabilities: true,
  lastSeenAt: true,
  connected: true,
  warnings: true,
  statusAt: true,
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

/** An agent's warning, with the service it concerns (the agent starts those with "service <name>:"). */
export function agentWarning(message: string): { service: string | null; message: string } {
  return { service: /^service ([^:\s]+):/.exec(message)?.[1] ?? null, message };
}

export function nodeStatus<
  T extends {
    connected: boolean;
    lastSeenAt: Date | null;
    desiredHash: string | null;
    appliedHash: string | null;
    revokedAt: Date | null;
    warnings: string[];
    agentVersion: string | null;
    upgradeStatus: unknown;
  },
>(n: T) {
  const { warnings, upgradeStatus, ...rest } = n;
  const upgrade = UpgradeStatus.safeParse(upgradeStatus);
  return {
    ...rest,
    online: isOnline(n),
    inSync: n.desiredHash !== null && n.appliedHash === n.desiredHash,
    warnings: warnings.map(agentWarning),
    /** The warnings are from the last report of a node offline now: what was wrong then, not now. */
    warningsStale: warnings.length > 0 && !isOnline(n),
    /** The panel's own version: what an upgrade installs. */
    panelVersion: TULA_VERSION,
    agentOutdated: n.agentVersion !== null && n.agentVersion !== TULA_VERSION,
    /** The last upgrade asked for, and where it stands. */
    upgrade: upgrade.success ? upgrade.data : null,
  };
}

export const listNodes = orgProcedure.query(async ({ ctx }) => {
  const rows = await ctx.db.prisma.node.findMany({ where: { organizationId: ctx.org.id }, orderBy: { name: 'asc' }, select: nodeSelect });
  return rows.map(nodeStatus);
});
