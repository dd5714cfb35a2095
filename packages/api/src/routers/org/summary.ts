import { orgProcedure } from '../../trpc.ts';
import { fleetCounts } from '../nodes/page.ts';
import { servicesWithHealth } from '../services/list.ts';

/** The organisation, its trial, its limits and how far onboarding got. */
export const orgSummary = orgProcedure.query(async ({ ctx }) => {
  const db = ctx.db.prisma;
  const org = await db.organization.findUniqueOrThrow({ where: { id: ctx.org.id } });
  const [fleet, services, tokens, traffic, agentDownloads] = await Promise.all([
    fleetCounts(db, org.id),
    servicesWithHealth(ctx, org.id),
    db.enrollmentToken.count({ where: { organizationId: org.id } }),
    db.counterRollup.findFirst({ where: { organizationId: org.id, bytes: { gt: 0 } }, select: { bucket: true } }),
    ctx.agentDownloads ? ctx.agentDownloads() : null,
  ]);
  const msLeft = org.trialEndsAt.getTime() - Date.now();
  return {
    id: org.id,
    name: org.name,
    role: ctx.org.role,
    user: ctx.user,
    trial: {
      startsAt: org.trialStartsAt,
      endsAt: org.trialEndsAt,
      daysLeft: Math.max(0, Math.ceil(msLeft / 86_400_000)),
      ended: msLeft <= 0,
    },
    /** Whether "Add a node"'s install line can work: false when the panel has no agent build to serve; null: not known. */
    agentDownloads,
    readOnly: msLeft <= 0 || ctx.org.role === 'viewer',
    limits: ctx.limits,
    counts: {
      ...fleet,
      services: services.length,
      /** Services with a failing backend or a warning (degraded), or none serving (down). */
      degradedServices: services.filter((s) => s.health.state === 'degraded' || s.health.state === 'down').length,
      /** Services whose health nobody can vouch for now: no balancer of theirs is online and reporting. */
      unknownServices: services.filter((s) => s.health.state === 'unknown').length,
    },
    onboarding: {
      tokenCreated: tokens > 0,
      nodeEnrolled: fleet.nodes > 0,
      nodeOnline: fleet.online > 0,
      serviceCreated: services.length > 0,
      trafficSeen: traffic !== null,
    },
  };
});
