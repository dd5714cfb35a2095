// Every change to an organisation's configuration goes through here: one
// transaction that writes the rows, records who did what, and recompiles the
// nodes' documents; then the panels are told which nodes to push to. The
// transaction is the tenant client's: PostgreSQL's row-level security keeps it
// to the caller's organisation even where a query forgot to say so.
import { recompileOrganization } from '@tula/control';
import { lockOrganization } from '@tula/db/locks';
import { withTenant, type TenantTx } from '@tula/db/tenant';
import type { ApiContext } from './context.ts';
import type { Actor } from './trpc.ts';
import { recordRevision } from './revisions.ts';

/** A transaction's client (the tenant client's, in a change). */
export type Tx = TenantTx;

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

type OrgContext = ApiContext & { actor: Actor; org: NonNullable<ApiContext['org']> };

export async function change<T>(ctx: OrgContext, audit: AuditEntry | ((result: T) => AuditEntry), fn: (tx: Tx) => Promise<T>): Promise<T> {
  const { result, changed } = await withTenant(ctx.db, ctx.org.id, async (tx) => {
    await tx.$executeRaw(lockOrganization(ctx.org.id));
    const result = await fn(tx);
    const entry = typeof audit === 'function' ? audit(result) : audit;
    // Every change to a service becomes its next revision, in this transaction.
    const revision =
      entry.targetType === 'service' && entry.targetId
        ? await recordRevision(tx, {
            organizationId: ctx.org.id,
            serviceId: entry.targetId,
            action: entry.action,
            actorUserId: ctx.actor.userId,
            actorLabel: ctx.actor.label,
            ...(entry.restoredNumber !== undefined && { restoredNumber: entry.restoredNumber }),
          })
        : null;
    for (const serviceId of entry.alsoServiceIds ?? []) {
      await recordRevision(tx, {
        organizationId: ctx.org.id,
        serviceId,
        action: entry.action,
        actorUserId: ctx.actor.userId,
        actorLabel: ctx.actor.label,
      });
    }
    await tx.auditEvent.create({
      data: {
        organizationId: ctx.org.id,
        actorUserId: ctx.actor.userId,
        actorTokenId: ctx.actor.tokenId,
        actorLabel: ctx.actor.label,
        action: entry.action,
        targetType: entry.targetType,
        targetId: entry.targetId ?? null,
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- needed where the root tsconfig's program (the tests) checks this file: there Prisma's JSON input type does not take a Record<string, unknown>
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
