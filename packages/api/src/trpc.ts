import { tenantDatabase, withTenant, type TenantTx } from '@tula/db/tenant';
import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { ZodError } from 'zod';
import type { ApiContext } from './context.ts';

const t = initTRPC.context<ApiContext>().create({
  transformer: superjson,
  errorFormatter: ({ shape, error }) => ({
    ...shape,
    // Input problems read as "field: problem; ..." rather than raw validation output.
    message:
      error.cause instanceof ZodError
        ? error.cause.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')
        : shape.message,
    data: {
      ...shape.data,
      // Field problems for forms: path -> message.
      fields:
        error.cause instanceof ZodError ? Object.fromEntries(error.cause.issues.map((i) => [i.path.join('.'), i.message])) : undefined,
    },
  }),
});

export const router = t.router;
export const publicProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;

/** Who an audit event names: a person, or an API token (never the person who made it). */
export interface Actor {
  userId: string | null;
  tokenId: string | null;
  label: string;
}

/**
 * Signed in (or an API token), with an active organisation: every query below is
 * scoped to ctx.org.id, and PostgreSQL enforces it: `ctx.db` is the tenant view
 * (every statement under row-level security for ctx.org.id), and
 * `ctx.tenant(fn)` runs several statements in one such transaction. The owner
 * client is `ctx.crossTenantDb`, for the few reads that are not one
 * organisation's (accounts, sessions, an invitation of another organisation);
 * test/tenant-reads.test.ts lists the files allowed to use it.
 */
export const orgProcedure = t.procedure.use(({ ctx, next }) => {
  if (ctx.credentialProblem) throw new TRPCError({ code: 'UNAUTHORIZED', message: ctx.credentialProblem });
  if (!ctx.user && !ctx.apiToken) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in to continue.' });
  if (!ctx.org) throw new TRPCError({ code: 'FORBIDDEN', message: 'You are not a member of an organisation.' });
  const org = ctx.org;
  const actor: Actor = ctx.apiToken
    ? { userId: null, tokenId: ctx.apiToken.id, label: `API token "${ctx.apiToken.name}" (${ctx.apiToken.prefix}…)` }
    : { userId: ctx.user!.id, tokenId: null, label: ctx.user!.email };
  const tenant = <T>(fn: (tx: TenantTx) => Promise<T>, options?: { timeout?: number }) => withTenant(ctx.db, org.id, fn, options);
  return next({ ctx: { ...ctx, org, actor, tenant, db: tenantDatabase(ctx.db, org.id), crossTenantDb: ctx.db } });
});

/** A person only (team membership and invitations are not for API tokens). */
export const personProcedure = orgProcedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: 'FORBIDDEN', message: 'API tokens cannot do this; sign in to the panel as a member.' });
  return next({ ctx: { ...ctx, user: ctx.user } });
});

/** Changes: owners and admins only, and not after the trial ended (the panel turns read-only; agents keep their state). */
const writable = <C extends { org: { role: string; trialEndsAt: Date }; apiToken?: unknown }>(ctx: C) => {
  if (ctx.org.role === 'viewer') {
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: ctx.apiToken
        ? 'This API token has the viewer role and cannot change anything; use an admin token.'
        : 'Viewers cannot change anything; ask an admin of this organisation.',
    });
  }
  if (ctx.org.trialEndsAt.getTime() < Date.now()) {
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: 'The free trial has ended: the panel is read-only. Your balancers keep forwarding with their last state.',
    });
  }
};
export const writeProcedure = orgProcedure.use(({ ctx, next }) => {
  writable(ctx);
  return next();
});
/** Changes by a person only. */
export const personWriteProcedure = personProcedure.use(({ ctx, next }) => {
  writable(ctx);
  return next();
});
