// Service revisions: the whole service as each change left it, numbered per
// service. change() records one in the transaction of every change to a
// service, so a revision exists exactly when its change committed.
import { canonicalJson } from '@tula/control';
import { ServiceDocument, serviceDocument, type ServiceChange } from '@tula/validators';
import { TRPCError } from '@trpc/server';
import type { Tx } from './change.ts';

/** The service as its rows hold it now, or null when there is no such service in the organisation. */
export async function loadServiceDocument(tx: Tx, organizationId: string, serviceId: string): Promise<ServiceDocument | null> {
  const s = await tx.service.findFirst({
    where: { id: serviceId, organizationId },
    include: { backends: true, balancers: { select: { nodeId: true } } },
  });
  return s && serviceDocument({ ...s, balancerNodeIds: s.balancers.map((b) => b.nodeId) });
}

/** A stored revision's document (validated: it is JSON from the database), or null for a deletion. */
export function revisionDocument(document: unknown): ServiceDocument | null {
  return document === null ? null : ServiceDocument.parse(document);
}

export async function latestRevision(tx: Tx, organizationId: string, serviceId: string) {
  return tx.serviceRevision.findFirst({ where: { organizationId, serviceId }, orderBy: { number: 'desc' } });
}

/**
 * Records the service's current rows as its next revision, unless they equal the
 * latest one (a save that changed nothing). Run under the organisation's change
 * lock, which also serialises the numbering.
 */
export async function recordRevision(
  tx: Tx,
  r: { organizationId: string; serviceId: string; action: string; actorUserId: string | null; actorLabel: string; restoredNumber?: number },
): Promise<{ id: string; number: number } | null> {
  const [document, latest] = await Promise.all([
    loadServiceDocument(tx, r.organizationId, r.serviceId),
    latestRevision(tx, r.organizationId, r.serviceId),
  ]);
  if (latest && canonicalJson(latest.document) === canonicalJson(document)) return null;
  if (!latest && !document) return null;
  return tx.serviceRevision.create({
    data: {
      organizationId: r.organizationId,
      serviceId: r.serviceId,
      number: (latest?.number ?? 0) + 1,
      action: r.action,
      actorUserId: r.actorUserId,
      actorLabel: r.actorLabel,
      document: document ?? undefined,
      restoredNumber: r.restoredNumber ?? null,
    },
    select: { id: true, number: true },
  });
}

/** A change reviewed against revision `base` must not overwrite a newer one. */
export async function assertBaseRevision(tx: Tx, organizationId: string, serviceId: string, base: number | undefined) {
  if (base === undefined) return;
  const latest = await latestRevision(tx, organizationId, serviceId);
  if (latest && latest.number !== base) {
    throw new TRPCError({
      code: 'CONFLICT',
      message: `The service changed since your review: it is at revision ${latest.number} (by ${latest.actorLabel}), you reviewed revision ${base}. Review the change again.`,
    });
  }
}

/** Fills in the names of the balancer nodes a list of changes mentions (ids of nodes since deleted stay ids). */
export async function nameBalancers(db: Tx, organizationId: string, changes: ServiceChange[]): Promise<ServiceChange[]> {
  const ids = [...new Set(changes.flatMap((c) => (c.kind === 'balancer-added' || c.kind === 'balancer-removed' ? [c.nodeId] : [])))];
  if (ids.length === 0) return changes;
  const names = new Map(
    (await db.node.findMany({ where: { organizationId, id: { in: ids } }, select: { id: true, name: true } })).map((n) => [n.id, n.name]),
  );
  return changes.map((c) =>
    (c.kind === 'balancer-added' || c.kind === 'balancer-removed') && names.has(c.nodeId) ? { ...c, node: names.get(c.nodeId)! } : c,
  );
}
