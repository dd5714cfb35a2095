import { canonicalIp } from '@tula/protocol';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { assertNoActiveRollout } from '../../rollouts.ts';
import { writeProcedure } from '../../trpc.ts';

/** Drain, disable or re-activate one backend. */
export const SetBackendStateInput = z.strictObject({
  serviceId: z.string().min(1).max(64),
  address: z.union([z.ipv4(), z.ipv6()]),
  state: z.enum(['active', 'draining', 'disabled']),
});

export const setBackendState = writeProcedure.input(SetBackendStateInput).mutation(async ({ ctx, input }) =>
  change(
    ctx,
    {
      action: `backend.${input.state === 'active' ? 'activate' : input.state === 'draining' ? 'drain' : 'disable'}`,
      targetType: 'service',
      targetId: input.serviceId,
      data: { address: input.address },
    },
    async (tx) => {
      await assertNoActiveRollout(tx, ctx.org.id, input.serviceId);
      const r = await tx.backend.updateMany({
        where: { serviceId: input.serviceId, organizationId: ctx.org.id, address: canonicalIp(input.address) },
        data: { state: input.state },
      });
      if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such backend in this organisation.' });
      return { serviceId: input.serviceId, address: input.address, state: input.state };
    },
  ),
);
