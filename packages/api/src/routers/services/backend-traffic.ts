import type { Database } from '@tula/db';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';

/** How far back the shares look: the live chart's window. */
const WINDOW_S = 300;
/**
 * How far back "now" looks: the per-second sums (CounterSample), so a backend
 * taken out of rotation reads 0 within this long of its last new flow, where the
 * five-minute share only fades.
 */
const NOW_S = 15;

export interface BackendTraffic {
  backendId: string;
  address: string;
  /** New flows the balancers sent to this backend in the window, and its share of the service's. */
  newFlows: number;
  newFlowShare: number | null;
  /** The same over the last `nowSeconds`: its share of new flows right now (null: no new flows to the service just now). */
  newFlowsNow: number;
  newFlowShareNow: number | null;
  /** Return-path bytes its host sent from the service's VIP (null: no agent on that host reports them, or a NAT service), and its share. */
  returnBytes: number | null;
  returnShare: number | null;
  /** Per balancer: new flows it sent to this backend. */
  byBalancer: { nodeId: string; name: string; newFlows: number }[];
}

/**
 * Each backend's share of a service's new flows (counted at the balancers, per
 * balancer) and of its return-path bytes (counted on the backend's own host),
 * over the last five minutes, and its share of new flows right now (the last
 * few seconds, summed over balancers), for the service page.
 */
export const backendTraffic = orgProcedure
  .input(z.strictObject({ serviceId: z.string().min(1).max(64) }))
  .query(async ({ ctx, input }): Promise<{ windowSeconds: number; nowSeconds: number; dsr: boolean; backends: BackendTraffic[] }> => {
    const orgId = ctx.org.id;
    const service = await ctx.db.prisma.service.findFirst({
      where: { id: input.serviceId, organizationId: orgId },
      select: { vip: true, mode: true, backends: { select: { id: true, address: true, nodeId: true }, orderBy: { address: 'asc' } } },
    });
    if (!service) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
    const since = new Date(Date.now() - WINDOW_S * 1000);
    const ids = service.backends.map((b) => b.id);
    // New flows per backend and balancer: the balancers' per-node detail (10 s steps, each row every node's part;
    // rows of several replicas or flushes add up).
    const { rows: flows } = await ctx.db.pool.query<{ backendId: string; nodeId: string; name: string; flows: string }>(
      `SELECT s."seriesKey" AS "backendId", u."nodeId", n.name, sum(u.flows)::text AS flows
         FROM "CounterNodeSample" s CROSS JOIN LATERAL unnest(s."nodeIds", s."newFlows") AS u("nodeId", flows)
         JOIN "Node" n ON n.id = u."nodeId"
        WHERE s."organizationId" = $1 AND s.kind = 'backend' AND s."seriesKey" = ANY($2) AND s.at >= $3
        GROUP BY 1, 2, 3 ORDER BY 3`,
      [orgId, ids, since],
    );
    // New flows per backend right now: the per-second sums every replica writes (summed over replicas).
    const { rows: recent } = await ctx.db.pool.query<{ backendId: string; flows: string }>(
      `SELECT "seriesKey" AS "backendId", sum("newFlows")::text AS flows FROM "CounterSample"
        WHERE "organizationId" = $1 AND kind = 'backend' AND "seriesKey" = ANY($2) AND at >= $3 GROUP BY 1`,
      [orgId, ids, new Date(Date.now() - NOW_S * 1000)],
    );
    const nowOf = new Map(recent.map((r) => [r.backendId, Number(r.flows)]));
    // A NAT service's backends answer the balancer, not the client: the VIP's return path is other services'.
    const dsr = service.mode !== 'nat';
    const returnBytesOf = dsr ? await returnPathBytes(ctx.db.pool, orgId, service.vip, ids, since) : () => null;
    const backends = service.backends.map((b) => {
      const mine = flows.filter((f) => f.backendId === b.id);
      return {
        backendId: b.id,
        address: b.address,
        newFlows: mine.reduce((a, f) => a + Number(f.flows), 0),
        newFlowsNow: nowOf.get(b.id) ?? 0,
        returnBytes: returnBytesOf(b.id),
        byBalancer: mine.map((f) => ({ nodeId: f.nodeId, name: f.name, newFlows: Number(f.flows) })),
      };
    });
    const totalFlows = backends.reduce((a, b) => a + b.newFlows, 0);
    const totalNow = backends.reduce((a, b) => a + b.newFlowsNow, 0);
    const totalReturn = backends.reduce((a, b) => a + (b.returnBytes ?? 0), 0);
    return {
      windowSeconds: WINDOW_S,
      nowSeconds: NOW_S,
      dsr,
      backends: backends.map((b) => ({
        ...b,
        newFlowShare: totalFlows > 0 ? b.newFlows / totalFlows : null,
        newFlowShareNow: totalNow > 0 ? b.newFlowsNow / totalNow : null,
        returnShare: totalReturn > 0 && b.returnBytes !== null ? b.returnBytes / totalReturn : null,
      })),
    };
  });

/**
 * Return-path bytes each backend's host sent from `vip` since `since`, by backend id: null where no agent on
 * that host reported in the window (not measured), 0 where one did and sent nothing.
 */
async function returnPathBytes(
  pool: Database['pool'],
  orgId: string,
  vip: string,
  backendIds: string[],
  since: Date,
): Promise<(backendId: string) => number | null> {
  // The host serving each backend: its linked node, or the node holding its address.
  const { rows: hosts } = await pool.query<{ backendId: string; nodeId: string }>(
    `SELECT b.id AS "backendId", coalesce(b."nodeId", n.id) AS "nodeId"
       FROM "Backend" b LEFT JOIN "Node" n ON b."nodeId" IS NULL AND n."organizationId" = b."organizationId" AND b.address = ANY(n.addresses)
      WHERE b."organizationId" = $1 AND b.id = ANY($2)`,
    [orgId, backendIds],
  );
  const hostOf = new Map(hosts.filter((h) => h.nodeId).map((h) => [h.backendId, h.nodeId]));
  const { rows: returns } = await pool.query<{ nodeId: string; bytes: string }>(
    `SELECT u."nodeId", sum(u.bytes)::text AS bytes
       FROM "CounterNodeSample" s CROSS JOIN LATERAL unnest(s."nodeIds", s.bytes) AS u("nodeId", bytes)
      WHERE s."organizationId" = $1 AND s.kind = 'vip_return' AND s."seriesKey" = $2 AND s.at >= $4 AND u."nodeId" = ANY($3) GROUP BY 1`,
    [orgId, vip, [...hostOf.values()], since],
  );
  // A host whose agent reported anything in the window measures its return path, even if it was 0.
  const { rows: reporting } = await pool.query<{ nodeId: string }>(
    `SELECT id AS "nodeId" FROM "Node" WHERE "organizationId" = $1 AND id = ANY($2) AND "lastSeenAt" >= $3`,
    [orgId, [...hostOf.values()], since],
  );
  const measured = new Set(reporting.map((r) => r.nodeId));
  const returnOf = new Map(returns.map((r) => [r.nodeId, Number(r.bytes)]));
  return (backendId) => {
    const host = hostOf.get(backendId);
    return host && measured.has(host) ? (returnOf.get(host) ?? 0) : null;
  };
}
