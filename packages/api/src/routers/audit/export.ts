import { orgProcedure } from '../../trpc.ts';
import { toCsv } from '../../csv.ts';
import { AuditFilter, auditInclude, auditWhere } from './filter.ts';
import { presentAuditEvents } from './present.ts';

/** Labels that end in a preposition ("drained a backend of") need their target to read alone in a column. */
function whatAlone(what: string, target: string | undefined): string {
  if (!/ (of|to|for|from|on|in)$/.test(what)) return what;
  return target ? `${what} ${target}` : what.replace(/ \w+$/, '');
}

/** The actor's stable identity; for an agent named by its node, the hostname it called itself by too. */
function actorColumn(label: string, actor: { kind: string; name: string }): string {
  if (actor.kind !== 'agent' || actor.name === label) return label;
  const host = label.startsWith('agent on ') ? label.slice('agent on '.length) : null;
  return host ? `${actor.name} (hostname ${host})` : actor.name;
}

/** Beyond this many events an export says it was cut short; narrow the time range. */
export const AUDIT_EXPORT_MAX = 50_000;
/** Events named per round of look-ups (each round reads the names its events mention, one query a kind). */
const PRESENT_CHUNK = 500;

/**
 * The filtered audit log as CSV, newest first like the audit page. Its first
 * columns say what the page says, in the same words (who, what, target,
 * changes); `what` reads on its own ("drained a backend of web", not a dangling
 * "of"). The codes and ids after them are for machines (action code, actor,
 * target type and id, the stored details as JSON); an agent's actor is named by
 * its node as `who` is, with the hostname it enrolled from kept in brackets.
 */
export const exportAudit = orgProcedure.input(AuditFilter.strict()).query(async ({ ctx, input }) => {
  const rows = await ctx.db.prisma.auditEvent.findMany({
    where: auditWhere(ctx.org.id, input),
    include: auditInclude,
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: AUDIT_EXPORT_MAX + 1,
  });
  const truncated = rows.length > AUDIT_EXPORT_MAX;
  const events = rows.slice(0, AUDIT_EXPORT_MAX);
  const lines = [];
  for (let i = 0; i < events.length; i += PRESENT_CHUNK) {
    const chunk = events.slice(i, i + PRESENT_CHUNK);
    const shown = await presentAuditEvents(ctx.db.prisma, ctx.crossTenantDb.prisma, ctx.org.id, chunk);
    lines.push(
      ...chunk.map((e, j) => {
        const p = shown[j]!;
        return [
          e.createdAt.toISOString(),
          p.actor.name,
          whatAlone(p.what, p.target?.name),
          p.target?.name,
          p.changes.join('; '),
          e.serviceRevision?.number,
          e.action,
          actorColumn(e.actorLabel, p.actor),
          e.targetType,
          e.targetId,
          JSON.stringify(e.data),
        ];
      }),
    );
  }
  const csv = toCsv(
    ['time', 'who', 'what', 'target', 'changes', 'revision', 'action_code', 'actor', 'target_type', 'target_id', 'details'],
    lines,
  );
  return { csv, rows: events.length, truncated };
});
