import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { ZodError } from 'zod';
import type { ApiContext } from './context.ts';

const t = initTRPC.context<ApiContext>().create({
  transformer: superjson,
  errorFormatter: ({ shape, error }) => ({
    ...shape,
    // Input problems read as "field: problem; ..." rather than raw validation output.
    message: error.cause instanceof ZodError ? error.cause.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ') : shape.message,
    data: {
      ...shape.data,
      // Field problems for forms: path -> message.
      fields: error.cause instanceof ZodError ? Object.fromEntries(error.cause.issues.map((i) => [i.path.join('.'), i.message])) : undefined,
    },
  }),
});

export const router = t.router;
export const publicProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;

/** Signed in, with an active organisation: every query below is scoped to ctx.org.id. */
export const orgProcedure = t.procedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in to continue.' });
  if (!ctx.org) throw new TRPCError({ code: 'FORBIDDEN', message: 'You are not a member of an organisation.' });
  return next({ ctx: { ...ctx, user: ctx.user, org: ctx.org } });
});

/** Changes: owners and admins only, and not after the trial ended (the panel turns read-only; agents keep their state). */
export const writeProcedure = orgProcedure.use(({ ctx, next }) => {
  if (ctx.org.role === 'viewer') throw new TRPCError({ code: 'FORBIDDEN', message: 'Viewers cannot change anything; ask an admin of this organisation.' });
  if (ctx.org.trialEndsAt.getTime() < Date.now()) {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'The free trial has ended: the panel is read-only. Your balancers keep forwarding with their last state.' });
  }
  return next();
});
