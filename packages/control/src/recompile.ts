// Recompiles an organisation's node documents from the database and bumps the
// version of exactly the nodes whose document changed.
import type { Db } from '@tula/db';
import { lockNodesInOrder } from '@tula/db/locks';
import { compileNodes, type ServiceRow } from './compile.ts';
import { revisionForNode, stagedServiceRows } from './rollout.ts';

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/** What the compiler reads: the organisation's live nodes (with their current document's hash) and services. */
export async function loadCompileRows(db: Db | Tx, organizationId: string) {
  const [nodes, services, rollouts] = await Promise.all([
    db.node.findMany({
      where: { organizationId, revokedAt: null },
      select: { id: true, role: true, addresses: true, announce: true, drainingSince: true, desiredHash: true, desiredVersion: true },
      orderBy: { id: 'asc' },
    }),
    db.service.findMany({
      // A draft is carried by no node.
      where: { organizationId, draft: false },
      include: { backends: true, balancers: { select: { nodeId: true } } },
    }),
    db.rollout.findMany({ where: { organizationId, status: { in: ['running', 'paused'] } }, include: { nodes: true } }),
  ]);
  const previous = new Map(
    (rollouts.length === 0
      ? []
      : await db.serviceRevision.findMany({
          where: { organizationId, OR: rollouts.map((r) => ({ serviceId: r.serviceId, number: r.fromRevision })) },
          select: { serviceId: true, document: true },
        })
    ).map((r) => [r.serviceId, r.document as unknown as ServiceRow | null]),
  );
  const rows: (ServiceRow & { id: string })[] = services.flatMap((s) => {
    const row: ServiceRow & { id: string } = { ...s, balancerNodeIds: s.balancers.map((b) => b.nodeId) };
    // A service under a staged rollout: the balancers not reached yet keep the previous revision.
    const rollout = rollouts.find((r) => r.serviceId === s.id);
    const before = rollout && previous.get(s.id);
    if (!rollout || !before) return [row];
    const notReached = new Set(
      rollout.nodes.filter((n) => revisionForNode(rollout, n.batch) === rollout.fromRevision).map((n) => n.nodeId),
    );
    return stagedServiceRows<ServiceRow & { id: string }>(row, { ...before, id: s.id }, notReached);
  });
  return { nodes, services: rows };
}

/** Returns the ids of nodes with a new desired version. Run it in the transaction that changed the rows. */
export async function recompileOrganization(db: Db | Tx, organizationId: string): Promise<string[]> {
  const { nodes, services } = await loadCompileRows(db, organizationId);
  const compiled = compileNodes(nodes, services);
  const updates = nodes.flatMap((node) => {
    const doc = compiled.get(node.id)!;
    if (doc.hash === node.desiredHash) return [];
    const version = node.desiredVersion + 1;
    return [{ id: node.id, version, hash: doc.hash, state: JSON.stringify({ ...doc.state, version }) }];
  });
  // One statement, however many nodes changed.
  if (updates.length > 0) {
    await db.$executeRaw`${lockNodesInOrder(updates.map((u) => u.id))}
      UPDATE "Node" AS n SET "desiredVersion" = u.v, "desiredHash" = u.h, "desiredState" = u.s::jsonb
      FROM unnest(${updates.map((u) => u.id)}::text[], ${updates.map((u) => u.version)}::int[], ${updates.map((u) => u.hash)}::text[], ${updates.map((u) => u.state)}::text[]) AS u(id, v, h, s), locked
      WHERE n.id = u.id AND locked.id = n.id`;
  }
  return updates.map((u) => u.id);
}
