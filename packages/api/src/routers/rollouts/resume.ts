import { advanceRollout } from '@tula/control';
import { TRPCError } from '@trpc/server';
import { change } from '../../change.ts';
import { serviceRollout } from '../../rollouts.ts';
import { writeProcedure } from '../../trpc.ts';
import { RolloutTarget } from './schema.ts';

export const ResumeInput = RolloutTarget;

/** Resumes a paused rollout; the batch it stopped at is held for a full hold again. */
export const resumeRollout = writeProcedure.input(ResumeInput).mutation(async ({ ctx, input }) =>
  change(ctx, { action: 'rollout.resume', targetType: 'service', targetId: input.serviceId }, async (tx) => {
    const r = await serviceRollout(tx, ctx.org.id, input.serviceId);
    if (!r || r.status !== 'paused')
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'This service has no paused staged rollout to resume.' });
    const next = advanceRollout(r, { kind: 'resume' }, { batches: 0, holdSeconds: r.holdSeconds });
    await tx.rollout.update({ where: { id: r.id }, data: { status: next.status, holdUntil: next.holdUntil } });
    return { status: next.status };
  }),
);
