import { TRPCError } from '@trpc/server';
import { change } from '../../change.ts';
import { activeRollout, restorePrevious, serviceRollout } from '../../rollouts.ts';
import { writeProcedure } from '../../trpc.ts';
import { RolloutTarget } from './schema.ts';

export const AbortInput = RolloutTarget;

/** Stops the rollout and restores the previous revision on every node, as a new revision (audited, pushed). */
export const abortRollout = writeProcedure.input(AbortInput).mutation(async ({ ctx, input }) => {
  const r = await serviceRollout(ctx.db.prisma, ctx.org.id, input.serviceId);
  if (!r) throw new TRPCError({ code: 'BAD_REQUEST', message: 'This service has no staged rollout in progress to abort.' });
  return change(
    ctx,
    {
      action: 'rollout.abort',
      targetType: 'service',
      targetId: input.serviceId,
      data: { toRevision: r.toRevision, restoredNumber: r.fromRevision },
      restoredNumber: r.fromRevision,
    },
    async (tx) => {
      // Re-read under the lock: the ticker may have finished it meanwhile.
      const locked = await activeRollout(tx, ctx.org.id, input.serviceId);
      if (locked?.id !== r.id)
        throw new TRPCError({
          code: 'CONFLICT',
          message: 'The rollout finished while you asked to abort it; see its outcome on the service page.',
        });
      await restorePrevious(tx, locked, 'aborted', `aborted by ${ctx.actor.label}`);
      return { status: 'aborted' as const };
    },
  );
});
