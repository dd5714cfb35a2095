import { canonicalIp } from '@tula/protocol';
import { BackendInput } from '@tula/validators';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

export const SetBackendWeightInput = z.strictObject({
  serviceId: z.string().min(1).max(64),
  address: BackendInput.shape.address,
  weight: BackendInput.shape.weight.unwrap(),
});

/** Changes one backend's weight (its share of the Maglev table), leaving the rest of the service as it is. */
export const setBackendWeight = writeProcedure.input(SetBackendWeightInput).mutation(async ({ ctx, input }) =>
  change(
    ctx,
    { action: 'backend.weight', targetType: 'service', targetId: input.serviceId, data: { address: input.address, weight: input.weight } },
    async (tx) => {
      const r = await tx.backend.updateMany({
        where: { serviceId: input.serviceId, organizationId: ctx.org.id, address: canonicalIp(input.address) },
        data: { weight: input.weight },
      });
      if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such backend in this organisation.' });
      return { serviceId: input.serviceId, address: input.address, weight: input.weight };
    },
  ),
);
