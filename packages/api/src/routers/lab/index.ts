import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { orgProcedure, router, writeProcedure } from '../../trpc.ts';

/** The local lab's status, for members of its demo organisation; null elsewhere. */
const status = orgProcedure.query(({ ctx }) => (ctx.lab && ctx.lab.organizationId === ctx.org.id ? ctx.lab.status() : null));

/** Stops or restarts a lab backend's server, to watch health checks and failover. */
const setBackendServing = writeProcedure
  .input(z.strictObject({ backend: z.string().regex(/^b[1-9]$/), serving: z.boolean() }))
  .mutation(async ({ ctx, input }) => {
    if (!ctx.lab || ctx.lab.organizationId !== ctx.org.id) throw new TRPCError({ code: 'NOT_FOUND', message: 'No lab runs for this organisation.' });
    await ctx.lab.setBackendServing(input.backend, input.serving);
    return ctx.lab.status();
  });

export const labRouter = router({ status, setBackendServing });
