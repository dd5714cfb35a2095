// Recompiles an organisation's node documents from the database and bumps the
// version of exactly the nodes whose document changed.
import type { Db } from '@tula/db';
import { lockNodesInOrder } from '@tula/db/locks';
import { compileNodes, type ServiceRow } from './compile.ts';

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/** What the compiler reads: the organisation's live nodes (with their current document's hash) and services. */
export async function loadCompileRows(db: Db | Tx, organizationId: string) {
  const [nodes, services] = await Promise.all([
    db.node.findMany({
      where: { organizationId, revokedAt: null },
      select: { id: true, role: true, addresses: true, desiredHash: true, desiredVersion: true },
      orderBy: { id: 'asc' },
    }),
    db.service.findMany({
      // A draft is carried by no node.
      where: { organizationId, draft: false },
      include: { backends: true, balancers: { select: { nodeId: true } } },
    }),
  ]);
  const rows: (ServiceRow & { id: string })[] = services.map((s) => ({ ...s, balancerNodeIds: s.balancers.map((b) => b.nodeId) }));
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
