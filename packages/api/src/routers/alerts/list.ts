import { z } from 'zod';
import { orgProcedure } from '../../trpc.ts';

export const ListAlertsInput = z.strictObject({
  /** Only those nobody has acknowledged yet. */
  unacknowledged: z.boolean().default(false),
  limit: z.int().min(1).max(200).default(50),
});

/** Kinds whose subject has a condition that fires and later resolves; the others are events (drift repaired, a rollback, the trial). */
const CONDITION_KINDS = ['backend_down', 'service_down', 'node_offline', 'nack'];

/**
 * Where an alert stands now, not only what it said when raised: `firing` only while
 * it is its subject's newest alert; `resolved` once a recovery followed it (at `endedAt`);
 * `replaced` once a newer firing alert about the same subject did (a NACK with a new
 * error); `ended` once the evaluator ended it because its subject went or no rule
 * watches it (`endReason` says which); `recovery` for a recovery itself, `end` for such
 * an ending itself; `event` for kinds that never resolve.
 */
export type AlertNow = 'firing' | 'resolved' | 'replaced' | 'ended' | 'recovery' | 'end' | 'event';

/** What followed a firing alert on its subject. */
const NEXT: Record<string, AlertNow> = { resolved: 'resolved', ended: 'ended', firing: 'replaced' };

/** The notification list, newest first, with where each alert stands now, how many subjects fire now and how many wait for acknowledgement. */
export const listAlerts = orgProcedure.input(ListAlertsInput.default({ unacknowledged: false, limit: 50 })).query(async ({ ctx, input }) =>
  ctx.tenant(async (tx) => {
    const organizationId = ctx.org.id;
    const where = { organizationId, ...(input.unacknowledged ? { acknowledgedAt: null } : {}) };
    const [items, unacknowledged, [firing]] = await Promise.all([
      tx.alert.findMany({ where, orderBy: { createdAt: 'desc' }, take: input.limit }),
      tx.alert.count({ where: { organizationId, acknowledgedAt: null } }),
      // A subject fires now when its newest alert is a firing one.
      tx.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM (
          SELECT DISTINCT ON (key) state FROM "Alert"
          WHERE "organizationId" = ${organizationId} AND kind::text = ANY(${CONDITION_KINDS})
          ORDER BY key, "createdAt" DESC
        ) newest WHERE state = 'firing'`,
    ]);
    const raisedIds = items.filter((a) => a.state === 'firing' && CONDITION_KINDS.includes(a.kind)).map((a) => a.id);
    // The one alert that followed each firing alert on its subject (on this page or not: the filter may hide it):
    // one probe per row of Alert_organizationId_key_createdAt_idx, however often the subject flapped since.
    const later = raisedIds.length
      ? await tx.$queryRaw<{ id: string; state: string; createdAt: Date; reason: string | null }[]>`
          SELECT raised.id, next.state, next."createdAt", next.data->>'reason' AS reason
          FROM "Alert" raised
          CROSS JOIN LATERAL (
            SELECT state, "createdAt", data FROM "Alert" a
            WHERE a."organizationId" = raised."organizationId" AND a.key = raised.key AND a."createdAt" > raised."createdAt"
            ORDER BY a."createdAt" LIMIT 1
          ) next
          WHERE raised."organizationId" = ${organizationId} AND raised.id = ANY(${raisedIds})`
      : [];
    const nextOf = new Map(later.map((l) => [l.id, l]));
    const stands = (now: AlertNow, next?: { createdAt: Date; reason: string | null }) => ({
      now,
      endedAt: next?.createdAt ?? null,
      endReason: next?.reason ?? null,
    });
    return {
      items: items.map((a) => {
        if (!CONDITION_KINDS.includes(a.kind)) return { ...a, ...stands('event') };
        if (a.state === 'ended') return { ...a, ...stands('end') };
        if (a.state !== 'firing') return { ...a, ...stands('recovery') };
        const next = nextOf.get(a.id);
        return { ...a, ...(next ? stands(NEXT[next.state] ?? 'replaced', next) : stands('firing')) };
      }),
      unacknowledged,
      firingNow: firing?.n ?? 0,
    };
  }),
);
