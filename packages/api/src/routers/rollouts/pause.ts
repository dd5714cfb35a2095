import { advanceRollout } from '@tula/control';
import { TRPCError } from '@trpc/server';
import { change } from '../../change.ts';
import { serviceRollout } from '../../rollouts.ts';
import { writeProcedure } from '../../trpc.ts';
import { RolloutTarget } from './schema.ts';

export const PauseInput = RolloutTarget;

/** Holds the rollout where it is: no further batch takes the revision until it is resumed. */
export const pauseRollout = writeProcedure.input(PauseInput).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'rollout.pause', targetType: 'service', targetId: input.serviceId }, async (tx) => {
    const r = await serviceRollout(tx, ctx.org.id, input.serviceId);
    if (!r || r.status !== 'running')
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'This service has no running staged rollout to pause.' });
    const next = advanceRollout(r, { kind: 'pause' }, { batches: 0, holdSeconds: r.holdSeconds });
    await tx.rollout.update({ where: { id: r.id }, data: { status: next.status } });
    return { status: next.status };
  }),
);
