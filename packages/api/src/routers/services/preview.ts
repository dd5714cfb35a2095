import { compileNodes, loadCompileRows } from '@tula/control';
import { lookupChange, serviceLookupTable, type LookupBackend } from '@tula/nft';
import { diffServices, documentFromInput, ServiceInput, type ServiceDocument } from '@tula/validators';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { latestRevision, loadServiceDocument, nameBalancers } from '../../revisions.ts';
import { orgProcedure } from '../../trpc.ts';
import { checkAgainstOrganisation } from './write.ts';

export const PreviewInput = z.strictObject({
  /** The service being edited; absent for a new one. */
  id: z.string().min(1).max(64).optional(),
  service: ServiceInput,
});

/** The Maglev table the balancers build from the configured states (health is each balancer's own, so all active backends count as up). */
function lookupTable(d: ServiceDocument) {
  return serviceLookupTable(d.backends.map((b): LookupBackend => ({ key: b.address, weight: b.weight, usable: b.state === 'active' })));
}

/**
 * What saving `service` would do, without writing anything: the fields that
 * change, the nodes whose document changes (compiled before and after, hashes
 * compared) and the share of the service's Maglev lookup entries that change
 * backend. A mutation only because the input (up to 8192 backends) is too large
 * for a GET; it runs in a read-only transaction.
 */
export const previewService = orgProcedure.input(PreviewInput).mutation(async ({ ctx, input }) =>
  ctx.tenant(async (tx) => {
    await tx.$executeRaw`SET TRANSACTION READ ONLY`;
    const current = input.id ? await loadServiceDocument(tx, ctx.org.id, input.id) : null;
    if (input.id && !current) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
    // The same checks the save makes, so the review shows what the save would refuse.
    await checkAgainstOrganisation(tx, ctx.org.id, input.service, input.id);
    const proposed = documentFromInput(input.service);

    const { nodes, services } = await loadCompileRows(tx, ctx.org.id);
    const after = input.id
      ? services.map((s) => (s.id === input.id ? { ...proposed, id: s.id } : s))
      : [...services, { ...proposed, id: '' }];
    const [docsBefore, docsAfter] = [compileNodes(nodes, services), compileNodes(nodes, after)];
    const changedIds = nodes.filter((n) => docsBefore.get(n.id)!.hash !== docsAfter.get(n.id)!.hash).map((n) => n.id);
    const named = await tx.node.findMany({
      where: { organizationId: ctx.org.id, id: { in: changedIds } },
      select: { id: true, name: true, role: true, lastSeenAt: true },
      orderBy: { id: 'asc' },
    });

    const latest = input.id ? await latestRevision(tx, ctx.org.id, input.id) : null;
    const listenerChanged =
      current !== null &&
      (current.vip !== proposed.vip ||
        current.portStart !== proposed.portStart ||
        current.portEnd !== proposed.portEnd ||
        current.protocol !== proposed.protocol);
    return {
      /** Pass it back as baseRevision when applying: the save is refused if the service has moved on. */
      currentRevision: latest?.number ?? null,
      changes: await nameBalancers(tx, ctx.org.id, diffServices(current, proposed)),
      nodes: named,
      flows: current ? lookupChange(lookupTable(current), lookupTable(proposed)) : null,
      /** A new VIP, port or protocol: connections to the old listener end whatever the table says. */
      listenerChanged,
    };
  }),
);
