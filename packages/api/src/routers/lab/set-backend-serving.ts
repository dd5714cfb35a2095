import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { writeProcedure } from '../../trpc.ts';

export const SetBackendServingInput = z.strictObject({ backend: z.string().regex(/^b[1-9]$/), serving: z.boolean() });

/** Stops or restarts a lab backend's server, to watch health checks and failover. */
export const setBackendServing = writeProcedure.input(SetBackendServingInput).mutation(async ({ ctx, input }) => {
  if (!ctx.lab || ctx.lab.organizationId !== ctx.org.id)
    throw new TRPCError({ code: 'NOT_FOUND', message: 'No lab runs for this organisation.' });
  await ctx.lab.setBackendServing(input.backend, input.serving);
  return ctx.lab.status();
});
