// Every change to an organisation's configuration goes through here: one
// transaction that writes the rows, records who did what, and recompiles the
// nodes' documents; then the panels are told which nodes to push to.
import { recompileOrganization } from '@tula/control';
import type { Db } from '@tula/db';
import type { ApiContext } from './context.ts';
import { recordRevision } from './revisions.ts';

export type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId?: string | null;
  data?: Record<string, unknown>;
  /** For a rollback of a service: the revision it restores. */
  restoredNumber?: number;
  /** Other services the change altered (a deleted node's); each gets a revision too. */
  alsoServiceIds?: string[];
}

type OrgContext = ApiContext & { user: NonNullable<ApiContext['user']>; org: NonNullable<ApiContext['org']> };

export async function change<T>(ctx: OrgContext, audit: AuditEntry | ((result: T) => AuditEntry), fn: (tx: Tx) => Promise<T>): Promise<T> {
  const { result, changed } = await ctx.db.prisma.$transaction(async (tx) => {
    // One change at a time per organisation, so versions are bumped in order.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${ctx.org.id}))`;
    const result = await fn(tx);
    const entry = typeof audit === 'function' ? audit(result) : audit;
    // Every change to a service becomes its next revision, in this transaction.
    const revision =
      entry.targetType === 'service' && entry.targetId
        ? await recordRevision(tx, {
            organizationId: ctx.org.id,
            serviceId: entry.targetId,
            action: entry.action,
            actorUserId: ctx.user.id,
            actorLabel: ctx.user.email,
            ...(entry.restoredNumber !== undefined && { restoredNumber: entry.restoredNumber }),
          })
        : null;
    for (const serviceId of entry.alsoServiceIds ?? []) {
      await recordRevision(tx, { organizationId: ctx.org.id, serviceId, action: entry.action, actorUserId: ctx.user.id, actorLabel: ctx.user.email });
    }
    await tx.auditEvent.create({
      data: {
        organizationId: ctx.org.id,
        actorUserId: ctx.user.id,
        actorLabel: ctx.user.email,
        action: entry.action,
        targetType: entry.targetType,
        targetId: entry.targetId ?? null,
        data: (entry.data ?? {}) as object,
        serviceRevisionId: revision?.id ?? null,
      },
    });
    const changed = await recompileOrganization(tx, ctx.org.id);
    return { result, changed };
  });
  if (changed.length > 0) await ctx.bus.publish({ kind: 'nodes', nodeIds: changed });
  return result;
}
