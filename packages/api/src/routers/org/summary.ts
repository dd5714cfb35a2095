import { orgProcedure } from '../../trpc.ts';

/** The organisation, its trial, its limits and how far onboarding got. */
export const orgSummary = orgProcedure.query(async ({ ctx }) => {
  const db = ctx.db.prisma;
  const org = await db.organization.findUniqueOrThrow({ where: { id: ctx.org.id } });
  const [nodes, services, tokens, online, traffic] = await Promise.all([
    db.node.count({ where: { organizationId: org.id, revokedAt: null } }),
    db.service.count({ where: { organizationId: org.id } }),
    db.enrollmentToken.count({ where: { organizationId: org.id } }),
    db.node.count({ where: { organizationId: org.id, revokedAt: null, lastSeenAt: { gte: new Date(Date.now() - 30_000) } } }),
    db.counterRollup.findFirst({ where: { organizationId: org.id, bytes: { gt: 0 } }, select: { bucket: true } }),
  ]);
  const msLeft = org.trialEndsAt.getTime() - Date.now();
  return {
    id: org.id,
    name: org.name,
    role: ctx.org.role,
    user: ctx.user,
    trial: { startsAt: org.trialStartsAt, endsAt: org.trialEndsAt, daysLeft: Math.max(0, Math.ceil(msLeft / 86_400_000)), ended: msLeft <= 0 },
    readOnly: msLeft <= 0 || ctx.org.role === 'viewer',
    limits: ctx.limits,
    counts: { nodes, services },
    onboarding: { tokenCreated: tokens > 0, nodeEnrolled: nodes > 0, nodeOnline: online > 0, serviceCreated: services > 0, trafficSeen: traffic !== null },
  };
});
