// The audit log's filters, shared by the list and the CSV export.
import { z } from 'zod';
import { AUDIT_ACTIONS, AUDIT_TARGET_TYPES, type AuditAction } from '@tula/validators';

export const AuditFilter = z.object({
  /** Changes to this service (its edits, rollbacks and backend state changes). */
  serviceId: z.string().min(1).max(64).optional(),
  /** Changes made by this person. */
  actorUserId: z.string().min(1).max(64).optional(),
  /** One kind of action ("what"). */
  action: z.enum(Object.keys(AUDIT_ACTIONS) as [AuditAction, ...AuditAction[]]).optional(),
  /** Events about this kind of thing, or (with targetId) this one thing. */
  targetType: z.enum(AUDIT_TARGET_TYPES).optional(),
  targetId: z.string().min(1).max(64).optional(),
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
});
export type AuditFilter = z.infer<typeof AuditFilter>;

export function auditWhere(organizationId: string, f: AuditFilter) {
  return {
    organizationId,
    ...(f.targetType && { targetType: f.targetType }),
    ...(f.targetId && { targetId: f.targetId }),
    ...(f.serviceId && { targetType: 'service', targetId: f.serviceId }),
    ...(f.actorUserId && { actorUserId: f.actorUserId }),
    ...(f.action && { action: f.action }),
    ...((f.from || f.to) && { createdAt: { ...(f.from && { gte: f.from }), ...(f.to && { lt: f.to }) } }),
  };
}

/** What each event shows besides its own columns: the revision it made, and the actor's name. */
export const auditInclude = { serviceRevision: { select: { number: true, serviceId: true } } } as const;
