import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';
import { AlertKind, RuleFields, RuleScope } from './schema.ts';

export const CreateAlertRuleInput = z
  .strictObject({
    kind: AlertKind,
    ...RuleScope,
    email: RuleFields.email.default(true),
    seconds: RuleFields.seconds.default(null),
  })
  .refine((r) => (!r.serviceId && !r.backendId) || r.kind === 'backend_down' || (r.kind === 'service_down' && !r.backendId), {
    message: 'Only "backend down" rules watch one backend; "backend down" and "service down" rules may watch one service.',
    path: ['kind'],
  });

/** A further rule, e.g. "backend down" for one backend, or "node offline" after another time. */
export const createAlertRule = writeProcedure.input(CreateAlertRuleInput).mutation(async ({ ctx, input }) =>
  change(
    ctx,
    (r: { id: string }) => ({ action: 'alert_rule.create', targetType: 'alert_rule', targetId: r.id, data: input }),
    async (tx) => {
      if (input.serviceId && !(await tx.service.count({ where: { id: input.serviceId, organizationId: ctx.org.id } })))
        throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
      if (input.backendId) {
        const b = await tx.backend.findFirst({ where: { id: input.backendId, organizationId: ctx.org.id } });
        if (!b || (input.serviceId && b.serviceId !== input.serviceId))
          throw new TRPCError({ code: 'NOT_FOUND', message: 'No such backend in this organisation.' });
      }
      return tx.alertRule.create({ data: { organizationId: ctx.org.id, ...input }, select: { id: true } });
    },
  ),
);
