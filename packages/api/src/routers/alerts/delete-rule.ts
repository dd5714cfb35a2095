import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const DeleteAlertRuleInput = z.strictObject({ id: z.string().min(1).max(64) });

export const deleteAlertRule = writeProcedure.input(DeleteAlertRuleInput).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'alert_rule.delete', targetType: 'alert_rule', targetId: input.id }, async (tx) => {
    const r = await tx.alertRule.deleteMany({ where: { id: input.id, organizationId: ctx.org.id } });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such alert rule in this organisation.' });
    return { id: input.id };
  }),
);
