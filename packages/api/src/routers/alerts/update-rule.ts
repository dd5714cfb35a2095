import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';
import { RuleFields } from './schema.ts';

export const UpdateAlertRuleInput = z
  .strictObject({ id: z.string().min(1).max(64), ...RuleFields })
  .partial({ enabled: true, email: true, seconds: true });

/** Turns a rule on or off, or changes its mail or its time. */
export const updateAlertRule = writeProcedure.input(UpdateAlertRuleInput).mutation(async ({ ctx, input }) => {
  const { id, ...data } = input;
  return change(ctx, { action: 'alert_rule.update', targetType: 'alert_rule', targetId: id, data }, async (tx) => {
    const rule = await tx.alertRule.findFirst({ where: { id, organizationId: ctx.org.id } });
    if (!rule) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such alert rule in this organisation.' });
    if (data.seconds !== undefined && data.seconds !== null && rule.kind !== 'node_offline' && rule.kind !== 'trial_ending')
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'Only "node offline" and "trial ending" rules have a time.' });
    return tx.alertRule.update({ where: { id }, data });
  });
});
