import { isOnline } from '@tula/control';
import type { TenantTx } from '@tula/db/tenant';
import { canonicalIp } from '@tula/protocol';
import { orgProcedure } from '../../trpc.ts';
import { announceState, drainStatus } from '../nodes/announce-view.ts';
import { vipReach } from '../nodes/vip-reach.ts';
import { serviceHealth } from './health.ts';

/** Where the reads go: the tenant view, one tenant transaction (ctx.tenant) or the owner database. */
type Reader = { db: { prisma: TenantTx } };

/**
 * Whether a balancer announces the service's VIP now, from its agent's last report:
 * null when the balancer has no announcement settings (or its agent reports none).
 */
function vipAnnouncement(stored: unknown, vip: string) {
  const report = announceState(stored);
  const v = report?.vips.find((x) => canonicalIp(x.vip) === canonicalIp(vip));
  if (!report || !v) return null;
  return {
    via: v.via,
    announced: v.fit,
    reason: v.reason ?? null,
    // VRRP: this balancer holds the VIP now (MASTER).
    owner: v.via === 'vrrp' ? (report.vrrp?.owner ?? false) : null,
    peersEstablished: report.bgp ? report.bgp.peers.filter((p) => p.established).length : null,
    peers: report.bgp ? report.bgp.peers.length : null,
  };
}

const include = {
  backends: { orderBy: { address: 'asc' as const } },
  balancers: {
    select: {
      node: {
        select: {
          id: true,
          name: true,
          desiredHash: true,
          appliedHash: true,
          lastError: true,
          lastSeenAt: true,
          connected: true,
          revokedAt: true,
          statusAt: true,
          failingBackends: true,
          warnings: true,
          announceState: true,
          drainingSince: true,
          drainTimeoutS: true,
        },
      },
    },
  },
};

type Row = Awaited<ReturnType<typeof loadServices>>[number];

export function loadServices(ctx: Reader, organizationId: string, id?: string) {
  return ctx.db.prisma.service.findMany({ where: { organizationId, ...(id ? { id } : {}) }, include, orderBy: { name: 'asc' } });
}

type RolloutNode = {
  id: string;
  name: string;
  desiredHash: string | null;
  appliedHash: string | null;
  lastError: string | null;
  connected: boolean;
  lastSeenAt: Date | null;
  revokedAt: Date | null;
};

/**
 * How far the service's latest change has reached: nodes online that applied their current document.
 * An offline node's appliedHash is from its last report, so it is counted as `offline`, not as applied.
 */
function rollout(s: Row, backendNodes: RolloutNode[], now: number) {
  const nodes = [...s.balancers.map((b) => b.node), ...backendNodes];
  const online = nodes.filter((n) => isOnline(n, now));
  return {
    nodes: nodes.length,
    applied: online.filter((n) => n.desiredHash !== null && n.appliedHash === n.desiredHash).length,
    offline: nodes.length - online.length,
    errors: nodes.filter((n) => n.lastError).map((n) => ({ nodeId: n.id, node: n.name, error: n.lastError! })),
  };
}

/** A service's backends and the service with their current health, as the balancers' last reports say. */
function withHealth(s: Row) {
  const { backends, ...health } = serviceHealth(
    s,
    s.balancers.map((b) => b.node),
  );
  return { backends: s.backends.map((b, i) => ({ ...b, health: backends[i]!.health })), health };
}

/** The services of several organisations with their health, in one read (the alert evaluator's, every tick). */
export async function servicesHealthIn(ctx: Reader, organizationIds: string[]) {
  const rows = await ctx.db.prisma.service.findMany({
    where: { organizationId: { in: organizationIds } },
    include,
    orderBy: { name: 'asc' },
  });
  return rows.map((s) => ({ id: s.id, organizationId: s.organizationId, name: s.name, draft: s.draft, ...withHealth(s) }));
}

export async function withRollout(ctx: Reader, organizationId: string, rows: Row[]) {
  // Backend hosts are linked explicitly or by an address their agent reported.
  const nodes = await ctx.db.prisma.node.findMany({
    where: { organizationId, revokedAt: null },
    select: {
      id: true,
      name: true,
      addresses: true,
      desiredHash: true,
      appliedHash: true,
      lastError: true,
      connected: true,
      lastSeenAt: true,
      revokedAt: true,
    },
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const byAddress = new Map(nodes.flatMap((n) => n.addresses.map((a) => [canonicalIp(a), n] as const)));
  const now = new Date();
  return rows.map((s) => {
    const backendNodes = new Map<string, (typeof nodes)[number]>();
    for (const b of s.backends) {
      const n = b.nodeId ? byId.get(b.nodeId) : byAddress.get(b.address);
      if (n && s.mode !== 'nat') backendNodes.set(n.id, n);
    }
    const { backends, health } = withHealth(s);
    return {
      ...s,
      balancers: s.balancers.map(({ node: { failingBackends: _f, warnings: _w, announceState: state, ...node } }) => ({
        node: { ...node, drain: drainStatus({ ...node, announceState: state }, now), online: isOnline(node, now.getTime()) },
        /** From the agent's last report: stale when the node is offline (a dead host announces nothing, whatever it said last). */
        announce: vipAnnouncement(state, s.vip),
        /** Without BGP or VRRP: whether it answers ARP for the VIP alone, shares it, or needs a route. */
        reach: vipReach(s.mode, s.balancers.length),
      })),
      backends,
      health,
      rollout: rollout(
        s,
        [...backendNodes.values()].filter((n) => !s.balancers.some((b) => b.node.id === n.id)),
        now.getTime(),
      ),
    };
  });
}

/** Every service of the organisation with its rollout and current health. */
export async function servicesWithHealth(ctx: Reader, organizationId: string) {
  return withRollout(ctx, organizationId, await loadServices(ctx, organizationId));
}

export const listServices = orgProcedure.query(async ({ ctx }) => servicesWithHealth(ctx, ctx.org.id));
