import { orgProcedure } from '../../trpc.ts';
import { toCsv } from '../../csv.ts';
import { AuditFilter, auditInclude, auditWhere } from './filter.ts';

/** Beyond this many events an export says it was cut short; narrow the time range. */
export const AUDIT_EXPORT_MAX = 50_000;

/** The filtered audit log as CSV, oldest first. */
export const exportAudit = orgProcedure.input(AuditFilter.strict()).query(async ({ ctx, input }) => {
  const rows = await ctx.db.prisma.auditEvent.findMany({
    where: auditWhere(ctx.org.id, input),
    include: auditInclude,
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    take: AUDIT_EXPORT_MAX + 1,
  });
  const truncated = rows.length > AUDIT_EXPORT_MAX;
  const events = rows.slice(0, AUDIT_EXPORT_MAX);
  const ids = [...new Set(events.flatMap((e) => (e.actorUserId ? [e.actorUserId] : [])))];
  const names = new Map((await ctx.db.prisma.user.findMany({ where: { id: { in: ids } }, select: { id: true, name: true } })).map((u) => [u.id, u.name]));
  const csv = toCsv(
    ['time', 'actor_name', 'actor', 'action', 'target_type', 'target_id', 'revision', 'details'],
    events.map((e) => [
      e.createdAt.toISOString(),
      e.actorUserId ? names.get(e.actorUserId) ?? '' : '',
      e.actorLabel,
      e.action,
      e.targetType,
      e.targetId,
      e.serviceRevision?.number,
      JSON.stringify(e.data),
    ]),
  );
  return { csv, rows: events.length, truncated };
});
