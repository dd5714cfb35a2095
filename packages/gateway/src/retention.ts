// Retention for every table that grows with time: raw counter seconds, per-node
// 10 s detail, minute and hour rollups, health transitions and audit events.
// Rows go in batches of BATCH by their time index, each batch its own statement,
// so a large backlog never holds one long transaction or lock. (Native time
// partitioning would drop whole partitions instead; it needs the partition key
// in every primary key and partitions created ahead of time, which the counter
// path's id cursor and Prisma's model of the tables do not have yet.)
import type { Database } from '@tula/db';

export interface RetentionPolicy {
  rawHours: number;
  minuteDays: number;
  hourDays: number;
  /** Health transitions and audit events. */
  historyDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { rawHours: 24, minuteDays: 30, hourDays: 400, historyDays: 400 };

const BATCH = 10_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Each table's rows older than its cutoff, as [table, time column, extra condition, age in ms]. */
function targets(p: RetentionPolicy): [string, string, string, number][] {
  return [
    ['CounterSample', 'at', '', p.rawHours * HOUR_MS],
    // Per-node detail is kept as long as the raw seconds.
    ['CounterNodeSample', 'at', '', p.rawHours * HOUR_MS],
    ['CounterRollup', 'bucket', `AND resolution = 'minute'`, p.minuteDays * DAY_MS],
    ['CounterRollup', 'bucket', `AND resolution = 'hour'`, p.hourDays * DAY_MS],
    // A backend's newest transition on each node is its current state: kept, or a backend healthy for longer than the retention would show "no report".
    ['HealthTransition', 'at', `AND EXISTS (SELECT 1 FROM "HealthTransition" n WHERE n."backendId" = "HealthTransition"."backendId" AND n."nodeId" = "HealthTransition"."nodeId" AND n.at > "HealthTransition".at)`, p.historyDays * DAY_MS],
    ['AuditEvent', '"createdAt"', '', p.historyDays * DAY_MS],
  ];
}

/** Deletes what the policy no longer keeps; returns the rows deleted per table. */
export async function expireHistory(db: Database, policy: RetentionPolicy, now = Date.now()): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {};
  // Fixed table and column names only: nothing here comes from input.
  for (const [table, column, extra, ageMs] of targets(policy)) {
    const cutoff = new Date(now - ageMs);
    for (;;) {
      const r = await db.pool.query(
        `DELETE FROM "${table}" WHERE ctid IN (SELECT ctid FROM "${table}" WHERE ${column} < $1 ${extra} LIMIT ${BATCH})`,
        [cutoff],
      );
      deleted[table] = (deleted[table] ?? 0) + (r.rowCount ?? 0);
      if ((r.rowCount ?? 0) < BATCH) break;
    }
  }
  return deleted;
}
