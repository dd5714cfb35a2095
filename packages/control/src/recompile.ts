// Recompiles an organisation's node documents from the database and bumps the
// version of exactly the nodes whose document changed.
import type { Db } from '@tula/db';
import { lockNodesInOrder } from '@tula/db/locks';
import { compileNodes, nodesAffected, type CompiledDocument, type NodeChange, type NodeRow, type ServiceRow } from './compile.ts';
import { revisionForNode, stagedServiceRows } from './rollout.ts';

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/** A node's row as the compiler reads it, with its current document's hash and version. */
interface CompileNode extends NodeRow {
  drainingSince: Date | null;
  desiredHash: string | null;
  desiredVersion: number;
}

/** What the compiler reads: the organisation's live nodes (with their current document's hash) and services. */
export async function loadCompileRows(db: Db | Tx, organizationId: string) {
  const [nodeRows, services, rollouts] = await Promise.all([
    // Every node, as one JSON value: Prisma's rows cost tens of microseconds each, which at thousands of nodes was most
    // of a recompile (and one ran per batch of agents connecting). The same columns and order as findMany's.
    db.$queryRaw<{ nodes: string | null }[]>`
      SELECT json_agg(json_build_object('id', id, 'role', role, 'addresses', addresses, 'announce', announce,
               'drainingSince', "drainingSince", 'desiredHash', "desiredHash", 'desiredVersion', "desiredVersion") ORDER BY id)::text AS nodes
      FROM "Node" WHERE "organizationId" = ${organizationId} AND "revokedAt" IS NULL`,
    db.service.findMany({
      // A draft is carried by no node.
      where: { organizationId, draft: false },
      include: { backends: true, balancers: { select: { nodeId: true } } },
    }),
    db.rollout.findMany({ where: { organizationId, status: { in: ['running', 'paused'] } }, include: { nodes: true } }),
  ]);
  const nodes = (JSON.parse(nodeRows[0]?.nodes ?? '[]') as (Omit<CompileNode, 'drainingSince'> & { drainingSince: string | null })[]).map(
    // timestamp(3) columns hold UTC without a zone (Prisma's convention).
    (n): CompileNode => ({ ...n, drainingSince: n.drainingSince === null ? null : new Date(`${n.drainingSince}Z`) }),
  );
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
  return storeChanged(db, nodes, compileNodes(nodes, services));
}

/**
 * recompileOrganization after changes of these nodes only (new nodes, new
 * addresses): compiles the documents they can have changed (nodesAffected),
 * which for nodes that balance nothing and share no address is their own. The
 * rest of the organisation's documents are current, since every other change
 * recompiles the organisation in its transaction. Run it under the
 * organisation's lock, like recompileOrganization.
 */
export async function recompileNodes(db: Db | Tx, organizationId: string, changes: NodeChange[]): Promise<string[]> {
  const { nodes, services } = await loadCompileRows(db, organizationId);
  return storeChanged(db, nodes, compileNodes(nodes, services, nodesAffected(nodes, services, changes)));
}

/** Writes the compiled documents whose hash changed, each at its node's next version; returns those nodes' ids. */
async function storeChanged(
  db: Db | Tx,
  nodes: { id: string; desiredHash: string | null; desiredVersion: number }[],
  compiled: Map<string, CompiledDocument>,
): Promise<string[]> {
  const updates = nodes.flatMap((node) => {
    const doc = compiled.get(node.id);
    if (!doc || doc.hash === node.desiredHash) return [];
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
