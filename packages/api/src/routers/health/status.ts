import { TULA_VERSION } from '@tula/protocol';
import { z } from 'zod';
import { publicProcedure } from '../../trpc.ts';

export const HealthStatus = z.object({
  ok: z.boolean(),
  version: z.string(),
  database: z.object({
    kind: z.enum(['server', 'embedded']),
    reachable: z.boolean(),
    migrationsApplied: z.number().int(),
    error: z.string().optional(),
  }),
  uptimeSeconds: z.number(),
  lab: z.object({ state: z.enum(['off', 'starting', 'ready', 'failed']), detail: z.string() }).optional(),
});

/** Whether the panel can reach its database; public so load balancers and people can check it. */
export const statusProcedure = publicProcedure.output(HealthStatus).query(async ({ ctx }) => {
  const lab = ctx.labState && { state: ctx.labState.state, detail: ctx.labState.detail };
  const base = { version: TULA_VERSION, uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000), lab };
  try {
    const { rows } = await ctx.db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE finished_at IS NOT NULL',
    );
    return { ...base, ok: true, database: { kind: ctx.db.kind, reachable: true, migrationsApplied: rows[0]?.n ?? 0 } };
  } catch (err) {
    return {
      ...base,
      ok: false,
      database: { kind: ctx.db.kind, reachable: false, migrationsApplied: 0, error: (err as Error).message },
    };
  }
});
