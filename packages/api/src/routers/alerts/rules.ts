import { orgProcedure } from '../../trpc.ts';

/** The organisation's alert rules, with the names of the service or backend a scoped rule watches. */
export const listAlertRules = orgProcedure.query(async ({ ctx }) =>
  ctx.tenant(async (tx) => {
    const rules = await tx.alertRule.findMany({ where: { organizationId: ctx.org.id }, orderBy: [{ kind: 'asc' }, { createdAt: 'asc' }] });
    const services = await tx.service.findMany({
      where: { organizationId: ctx.org.id, id: { in: rules.flatMap((r) => (r.serviceId ? [r.serviceId] : [])) } },
      select: { id: true, name: true },
    });
    const backends = await tx.backend.findMany({
      where: { organizationId: ctx.org.id, id: { in: rules.flatMap((r) => (r.backendId ? [r.backendId] : [])) } },
      select: { id: true, address: true },
    });
    return rules.map((r) => ({
      ...r,
      service: services.find((s) => s.id === r.serviceId)?.name ?? null,
      backend: backends.find((b) => b.id === r.backendId)?.address ?? null,
    }));
  }),
);
