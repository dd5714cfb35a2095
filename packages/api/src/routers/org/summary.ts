import { orgProcedure } from '../../trpc.ts';
import { fleetCounts } from '../nodes/page.ts';
import { servicesWithHealth } from '../services/list.ts';

/** The organisation, its trial, its limits and how far onboarding got. */
export const orgSummary = orgProcedure.query(async ({ ctx }) => {
  // Every open page asks for this every few seconds: its ten reads go in one tenant transaction, not in one
  // each as on the tenant view (BEGIN, the tenant's settings and COMMIT around every read).
  const [{ org, fleet, services, tokens, traffic }, agentDownloads] = await Promise.all([
    ctx.tenant(async (tx) => {
      const org = await tx.organization.findUniqueOrThrow({ where: { id: ctx.org.id } });
      const [fleet, services, tokens, traffic] = await Promise.all([
        fleetCounts(tx, org.id),
        servicesWithHealth({ db: { prisma: tx } }, org.id),
        tx.enrollmentToken.count({ where: { organizationId: org.id } }),
        tx.counterRollup.findFirst({ where: { organizationId: org.id, bytes: { gt: 0 } }, select: { bucket: true } }),
      ]);
      return { org, fleet, services, tokens, traffic };
    }),
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
