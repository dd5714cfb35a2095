// What creating, editing and rolling back a service share: the checks that need the
// database, and writing the service's rows (backends matched by address).
import { canonicalIp } from '@tula/protocol';
import { TRPCError } from '@trpc/server';
import { type ServiceInput, serviceColumns } from '@tula/validators';
import { z } from 'zod';
import type { Tx } from '../../change.ts';

/** A problem with one field; NOT_FOUND for ids that are not of the caller's organisation. */
function fieldError(path: string, message: string, code: 'BAD_REQUEST' | 'NOT_FOUND' = 'BAD_REQUEST'): never {
  throw new TRPCError({ code, message, cause: new z.ZodError([{ code: 'custom', path: path.split('.'), message, input: undefined }]) });
}

/** Checks what needs the database: names and listeners unique in the organisation, nodes of the organisation. */
export async function checkAgainstOrganisation(tx: Tx, organizationId: string, input: ServiceInput, id?: string) {
  const cols = serviceColumns(input);
  const others = await tx.service.findMany({
    where: { organizationId, ...(id ? { id: { not: id } } : {}), OR: [{ name: cols.name }, { vip: cols.vip, protocol: cols.protocol }] },
    select: { name: true, vip: true, portStart: true, portEnd: true },
  });
  if (others.some((o) => o.name === cols.name)) fieldError('name', `A service named "${cols.name}" already exists; pick another name.`);
  const clash = others.find((o) => o.vip === cols.vip && cols.portStart <= o.portEnd && o.portStart <= cols.portEnd);
  if (clash)
    fieldError('ports', `${cols.vip} ${cols.protocol} ${clash.portStart}-${clash.portEnd} is already used by service "${clash.name}".`);
  const nodeIds = [...new Set([...input.balancerNodeIds, ...input.backends.flatMap((b) => (b.nodeId ? [b.nodeId] : []))])];
  const nodes = await tx.node.findMany({ where: { organizationId, id: { in: nodeIds } }, select: { id: true, role: true } });
  for (const nid of input.balancerNodeIds) {
    const n = nodes.find((x) => x.id === nid);
    if (!n) fieldError('balancerNodeIds', 'A chosen balancer is not a node of this organisation.', 'NOT_FOUND');
    if (n.role === 'backend')
      fieldError('balancerNodeIds', 'A chosen balancer node has the backend role only; change its role to balance.');
  }
  input.backends.forEach((b, i) => {
    if (b.nodeId && !nodes.some((n) => n.id === b.nodeId))
      fieldError(`backends.${i}.nodeId`, 'Not a node of this organisation.', 'NOT_FOUND');
  });
}

/**
 * Writes a service's backends and balancers. Backends are matched by address, so
 * one an edit leaves in place keeps its id (its counter and health history are
 * keyed by it): changed fields are updated, removed backends deleted, new ones inserted.
 */
export async function writeChildren(tx: Tx, organizationId: string, serviceId: string, input: ServiceInput) {
  const b = input.backends;
  const addresses = b.map((x) => canonicalIp(x.address));
  await tx.backend.deleteMany({ where: { serviceId, address: { notIn: addresses } } });
  await tx.serviceBalancer.deleteMany({ where: { serviceId } });
  // One statement for any number of backends (thousands per service are allowed).
  if (b.length > 0) {
    await tx.$executeRaw`
      INSERT INTO "Backend" (id, "organizationId", "serviceId", address, port, weight, state, "nodeId", "updatedAt")
      SELECT gen_random_uuid()::text, ${organizationId}, ${serviceId}, a, p, w, s::"BackendState", n, now()
      FROM unnest(${addresses}::text[], ${b.map((x) => x.port)}::int[], ${b.map((x) => x.weight)}::int[],
                  ${b.map((x) => x.state)}::text[], ${b.map((x) => x.nodeId)}::text[]) AS t(a, p, w, s, n)
      ON CONFLICT ("serviceId", address) DO UPDATE SET port = EXCLUDED.port, weight = EXCLUDED.weight, state = EXCLUDED.state, "nodeId" = EXCLUDED."nodeId", "updatedAt" = now()
        WHERE ("Backend".port, "Backend".weight, "Backend".state, "Backend"."nodeId") IS DISTINCT FROM (EXCLUDED.port, EXCLUDED.weight, EXCLUDED.state, EXCLUDED."nodeId")`;
  }
  await tx.serviceBalancer.createMany({ data: input.balancerNodeIds.map((nodeId) => ({ organizationId, serviceId, nodeId })) });
}

/** Replaces a service's rows with `input` (an edit, or a rollback to an earlier revision). */
export async function replaceService(tx: Tx, organizationId: string, id: string, input: ServiceInput) {
  const existing = await tx.service.findFirst({ where: { id, organizationId } });
  if (!existing) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
  await checkAgainstOrganisation(tx, organizationId, input, id);
  await tx.service.update({ where: { id }, data: serviceColumns(input) });
  await writeChildren(tx, organizationId, id, input);
}
