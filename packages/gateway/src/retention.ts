// Time partitions and retention for every table that grows with time: raw
// counter seconds, per-node 10 s detail and counter cursors (daily partitions), minute rollups
// (daily) and hour rollups (monthly), health transitions and audit events
// (monthly), and the alert tables by bounded deletes (see TRIMMED). The panel creates partitions ahead of time and drops the ones past
// their retention, so expiring a day of counters is one DROP TABLE, not millions
// of deleted rows. Each table also has a DEFAULT partition for rows outside the
// created ranges (rows older than the first partition); retention deletes from
// it row by row in small batches. A partition goes once its whole range is past
// the cutoff, so rows are kept for their retention plus at most one partition
// width. One replica at a time runs this (an advisory lock).
// Table, column and partition names are fixed here or built from dates: nothing
// in these statements comes from input.
import type { Database } from '@tula/db';
import { poolTransaction } from '@tula/db/pool-sql';
import type pg from 'pg';

export interface RetentionPolicy {
  rawHours: number;
  minuteDays: number;
  hourDays: number;
  /** Health transitions and audit events. */
  historyDays: number;
  /** Alerts (the notification list: one row per firing or resolved transition). */
  alertDays: number;
  /** Webhook and mail deliveries of alerts, with their attempt log. */
  deliveryDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  rawHours: 24,
  minuteDays: 30,
  hourDays: 400,
  historyDays: 400,
  alertDays: 400,
  // A delivery is retried for about two hours at most (8 attempts, doubling from 30 s); its log
  // explains a failing endpoint, which matters for days, while the alert itself stays in Alert.
  deliveryDays: 30,
};

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const BATCH = 10_000;
/** Partitions are created this many widths ahead of now. */
const AHEAD = 3;
// Any constant works; it only has to be the same for every replica.
const MAINTENANCE_LOCK_KEY = 7_243_017;
/** The longest a maintenance statement waits for a table lock: under PostgreSQL's deadlock_timeout (1 s by default). */
const LOCK_WAIT = '500ms';
/** PostgreSQL's lock_not_available, what a statement past its lock_timeout fails with. */
const LOCK_NOT_AVAILABLE = '55P03';

type Width = 'day' | 'month';

interface PartitionedTable {
  /** The table holding the range partitions (CounterRollup's are per resolution). */
  parent: string;
  /** The table retention reports rows under. */
  table: string;
  column: string;
  width: Width;
  keepMs: (p: RetentionPolicy) => number;
  /** Rows of an expired range that must outlive it; moved to the default partition before the range is dropped. */
  survivors?: string;
  /**
   * What must outlive expired rows in another form: SQL that writes it into new rows, reading the expired rows
   * from `source` (the detached partition, or the default partition's expired rows). $1: rows at or after it are
   * newer than every expired row; $2: now; $3: a batch id for the new rows (one per call: ids are part of the key).
   */
  carry?: (source: string) => string;
}

// A backend's newest transition on each node is its current state: kept, or a
// backend healthy for longer than the retention would show "no report".
const NEWER_TRANSITION = `EXISTS (SELECT 1 FROM "HealthTransition" n WHERE n."backendId" = t."backendId" AND n."nodeId" = t."nodeId" AND n.at > t.at)`;

// A node's newest counter cursors (per boot, the highest sequence) outlive their day: its agent resends its
// in-flight report whenever it comes back, days later if so, and that report must not be counted twice. The
// nodes of the expired rows that no newer row holds are carried into one new row per organisation, dated now;
// a deleted node's are not (arrays cannot cascade; nothing looks a deleted node up, its credential is gone).
// Anti-joins, not NOT IN: a hashed NOT IN needs the newer nodes in work_mem, and without it rescans them per row.
const CARRY_CURSORS = (source: string) => `
  WITH newer AS (SELECT DISTINCT unnest(c."nodeIds") AS n FROM "CounterCursorBatch" c WHERE c."at" >= $1::timestamp),
  expired AS (
    SELECT t."organizationId" AS o, u.n, u.b, max(u.s) AS s
    FROM ${source} t, unnest(t."nodeIds", t."boots", t."seqs") AS u(n, b, s)
    GROUP BY 1, 2, 3
  )
  INSERT INTO "CounterCursorBatch" ("organizationId", "replica", "batch", "at", "nodeIds", "boots", "seqs")
  SELECT o, 'retention', $3::bigint, $2::timestamp,
         array_agg(n ORDER BY n, b), array_agg(b ORDER BY n, b), array_agg(s ORDER BY n, b)
  FROM expired e
  WHERE EXISTS (SELECT 1 FROM "Node" WHERE "Node".id = e.n) AND NOT EXISTS (SELECT 1 FROM newer WHERE newer.n = e.n)
  GROUP BY o`;

export const PARTITIONED: PartitionedTable[] = [
  { parent: 'CounterSample', table: 'CounterSample', column: 'at', width: 'day', keepMs: (p) => p.rawHours * HOUR_MS },
  // Per-node detail is kept as long as the raw seconds.
  { parent: 'CounterNodeSample', table: 'CounterNodeSample', column: 'at', width: 'day', keepMs: (p) => p.rawHours * HOUR_MS },
  // Only each node's newest cursors matter, and they are carried: a day goes as soon as it has ended.
  { parent: 'CounterCursorBatch', table: 'CounterCursorBatch', column: 'at', width: 'day', keepMs: () => 0, carry: CARRY_CURSORS },
  { parent: 'CounterRollup_minute', table: 'CounterRollup', column: 'bucket', width: 'day', keepMs: (p) => p.minuteDays * DAY_MS },
  { parent: 'CounterRollup_hour', table: 'CounterRollup', column: 'bucket', width: 'month', keepMs: (p) => p.hourDays * DAY_MS },
  {
    parent: 'HealthTransition',
    table: 'HealthTransition',
    column: 'at',
    width: 'month',
    keepMs: (p) => p.historyDays * DAY_MS,
    survivors: `NOT ${NEWER_TRANSITION}`,
  },
  { parent: 'AuditEvent', table: 'AuditEvent', column: '"createdAt"', width: 'month', keepMs: (p) => p.historyDays * DAY_MS },
];

/**
 * Tables expired by bounded deletes rather than partitions. They grow with alerts, not with
 * traffic (one row per transition and per recipient), so their deletes stay small; and
 * partitioning them would need the time column in their keys, which AlertDeliveryAttempt's
 * foreign key to AlertDelivery (cascading) does not carry.
 */
interface TrimmedTable {
  table: string;
  column: string;
  keepMs: (p: RetentionPolicy) => number;
  /** Rows past the cutoff that stay (a condition on alias t). */
  keep: string;
  /** Rows per delete. */
  batch: number;
  /** A child table whose rows go with each deleted row (deleted first, so they are counted). */
  child?: { table: string; column: string };
}

export const TRIMMED: TrimmedTable[] = [
  {
    table: 'Alert',
    column: '"createdAt"',
    keepMs: (p) => p.alertDays * DAY_MS,
    // A subject's newest alert, while firing, is a condition that still holds: kept, however old.
    keep: `t.state = 'firing' AND NOT EXISTS (SELECT 1 FROM "Alert" n WHERE n."organizationId" = t."organizationId" AND n.key = t.key AND n."createdAt" > t."createdAt")`,
    batch: BATCH,
  },
  {
    table: 'AlertDelivery',
    column: '"createdAt"',
    keepMs: (p) => p.deliveryDays * DAY_MS,
    // Still being retried.
    keep: `t.status = 'pending'`,
    // At most 8 attempts each.
    batch: 1_000,
    child: { table: 'AlertDeliveryAttempt', column: '"deliveryId"' },
  },
];

/** Start of the day or month holding t (UTC, as the timestamp columns are). */
function floorTo(width: Width, t: number): Date {
  const d = new Date(t);
  return width === 'day'
    ? new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()))
    : new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth()));
}

function next(width: Width, d: Date): Date {
  return width === 'day'
    ? new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1))
    : new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1));
}

/** The partition of `parent` starting at `from`: CounterSample_p20261204, AuditEvent_p202612. */
export function partitionName(parent: string, width: Width, from: Date): string {
  const ymd = from.toISOString().slice(0, 10).replaceAll('-', '');
  return `${parent}_p${width === 'day' ? ymd : ymd.slice(0, 6)}`;
}

/** Where a partition's range starts, read back from its name (null for the default partition). */
function partitionStart(parent: string, name: string): Date | null {
  const m = new RegExp(`^${parent}_p(\\d{4})(\\d{2})(\\d{2})?$`).exec(name);
  return m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, m[3] ? Number(m[3]) : 1)) : null;
}

/** A timestamp as PostgreSQL reads it (UTC, as the timestamp columns are). */
const pgTime = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');
const sqlTime = (d: Date) => `'${pgTime(d)}'`;

/**
 * Runs `fn` holding the maintenance lock (one replica at a time: two expiring
 * the same partition would deadlock upgrading their locks). With `wait` false,
 * returns undefined at once when another holds it.
 */
async function withMaintenanceLock<T>(db: Database, wait: boolean, fn: () => Promise<T>): Promise<T | undefined> {
  // The embedded database serves one process over one connection: holding that connection
  // for the lock would leave `fn` none (a deadlock), and there is no other replica to exclude.
  if (db.kind === 'embedded') return fn();
  const client = await db.pool.connect();
  try {
    if (wait) await client.query('SELECT pg_advisory_lock($1)', [MAINTENANCE_LOCK_KEY]);
    else {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [MAINTENANCE_LOCK_KEY]);
      if (!rows[0]?.ok) return undefined;
    }
    try {
      return await fn();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MAINTENANCE_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}

/** Creates the partitions from the one holding `now` to AHEAD widths ahead; returns the names created. */
export async function ensurePartitions(db: Database, now = Date.now()): Promise<string[]> {
  return (await withMaintenanceLock(db, true, () => createPartitions(db, now)))!;
}

async function createPartitions(db: Database, now: number): Promise<string[]> {
  const created: string[] = [];
  for (const t of PARTITIONED) {
    let from = floorTo(t.width, now);
    for (let i = 0; i <= AHEAD; i++) {
      const to = next(t.width, from);
      const name = partitionName(t.parent, t.width, from);
      const exists = await db.pool.query('SELECT 1 FROM pg_class WHERE relname = $1', [name]);
      // A partition the writers' locks keep from being created now is made in a later round (the
      // next maintenance, ten minutes on); rows of its range land in the default partition meanwhile.
      const made =
        exists.rowCount === 0 &&
        (await givingWayToWriters(db, (client) =>
          client.query(
            `CREATE TABLE IF NOT EXISTS "${name}" PARTITION OF "${t.parent}" FOR VALUES FROM (${sqlTime(from)}) TO (${sqlTime(to)})`,
          ),
        ));
      if (made) created.push(name);
      from = to;
    }
  }
  return created;
}

/**
 * Runs `work` in a transaction that waits at most LOCK_WAIT for any lock, and gives up (rolls back,
 * answers false) rather than wait longer. Creating or dropping a partition of a table with foreign
 * keys locks the parent, then the referenced tables (Organization, for AuditEvent); a transaction
 * that wrote a referenced table and then inserts into the parent takes them the other way round.
 * Waiting for each other, PostgreSQL would break the cycle after its deadlock_timeout (1 s by
 * default) by failing either one, the writer's too: giving way first leaves the writer waiting a
 * moment only, and maintenance tries again in its next round.
 */
async function givingWayToWriters(db: Database, work: (client: pg.PoolClient) => Promise<unknown>): Promise<boolean> {
  try {
    await poolTransaction(db.pool, async (client) => {
      await client.query(`SET LOCAL lock_timeout = '${LOCK_WAIT}'`);
      await work(client);
    });
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) return false;
    throw err;
  }
}

export interface RetentionReport {
  /** Range partitions dropped, by name. */
  dropped: string[];
  /** Rows removed per table: those of dropped partitions plus those deleted from default partitions. */
  rows: Record<string, number>;
}

/** Drops range partitions wholly past their retention and deletes expired rows from the default partitions. */
export async function expireHistory(db: Database, policy: RetentionPolicy, now = Date.now()): Promise<RetentionReport> {
  return (await withMaintenanceLock(db, true, () => expire(db, policy, now)))!;
}

async function expire(db: Database, policy: RetentionPolicy, now: number): Promise<RetentionReport> {
  const report: RetentionReport = { dropped: [], rows: {} };
  const count = (table: string, n: number) => (report.rows[table] = (report.rows[table] ?? 0) + n);
  // Each carry's rows get their own batch id (several days may expire in one run).
  let carries = 0;
  const carryArgs = (newer: Date) => [pgTime(newer), pgTime(new Date(now)), now + carries++];
  for (const t of PARTITIONED) {
    const cutoff = now - t.keepMs(policy);
    const { rows: parts } = await db.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1`,
      [t.parent],
    );
    for (const { name } of parts) {
      const start = partitionStart(t.parent, name);
      if (!start || next(t.width, start).getTime() > cutoff) continue;
      // Counted before the transaction, which holds the parent's lock only briefly.
      const n = await db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${name}"`);
      let kept = 0;
      const dropped = await givingWayToWriters(db, async (client) => {
        // Survivors are chosen while the partition is still part of the table (a newer row may be in it too).
        if (t.survivors) await client.query(`CREATE TEMP TABLE survivors ON COMMIT DROP AS SELECT * FROM "${name}" t WHERE ${t.survivors}`);
        await client.query(`ALTER TABLE "${t.parent}" DETACH PARTITION "${name}"`);
        // Detached (its lock waited for flushes writing into it), the partition is no longer part of the newer rows.
        if (t.carry) await client.query(t.carry(`"${name}"`), carryArgs(next(t.width, start)));
        if (t.survivors) {
          // Detached, the range is no longer covered: the survivors land in the default partition.
          const moved = await client.query(`INSERT INTO "${t.parent}" SELECT * FROM survivors`);
          kept = moved.rowCount ?? 0;
        }
        await client.query(`DROP TABLE "${name}"`);
      });
      // Not dropped this round (writers held its locks): it goes in a later one.
      if (!dropped) continue;
      report.dropped.push(name);
      count(t.table, Number(n.rows[0]!.n) - kept);
    }
    // The default partition holds few rows (older than the first range): deleted in small batches.
    const defaultPart = `${t.parent}_default`;
    if (t.carry)
      await db.pool.query(t.carry(`(SELECT * FROM "${defaultPart}" WHERE ${t.column} < $1::timestamp)`), carryArgs(new Date(cutoff)));
    for (;;) {
      const r = await db.pool.query(
        `DELETE FROM "${defaultPart}" WHERE ctid IN (SELECT ctid FROM "${defaultPart}" t WHERE ${t.column} < $1 ${t.survivors ? `AND NOT (${t.survivors})` : ''} LIMIT ${BATCH})`,
        [new Date(cutoff)],
      );
      count(t.table, r.rowCount ?? 0);
      if ((r.rowCount ?? 0) < BATCH) break;
    }
  }
  for (const t of TRIMMED) {
    const cutoff = new Date(now - t.keepMs(policy));
    for (;;) {
      const client = await db.pool.connect();
      let n: number;
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<{ id: string }>(
          `SELECT id FROM "${t.table}" t WHERE ${t.column} < $1 AND NOT (${t.keep}) ORDER BY ${t.column} LIMIT ${t.batch} FOR UPDATE SKIP LOCKED`,
          [cutoff],
        );
        const ids = rows.map((r) => r.id);
        if (t.child && ids.length > 0) {
          const c = await client.query(`DELETE FROM "${t.child.table}" WHERE ${t.child.column} = ANY($1)`, [ids]);
          count(t.child.table, c.rowCount ?? 0);
        }
        const r = ids.length > 0 ? await client.query(`DELETE FROM "${t.table}" WHERE id = ANY($1)`, [ids]) : { rowCount: 0 };
        await client.query('COMMIT');
        n = r.rowCount ?? 0;
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      } finally {
        client.release();
      }
      count(t.table, n);
      if (n < t.batch) break;
    }
  }
  return report;
}

/**
 * Creates partitions ahead and expires old ones, in one replica at a time (the
 * others find the lock taken and skip this round).
 */
export async function maintainPartitions(db: Database, policy: RetentionPolicy, now = Date.now()): Promise<RetentionReport | undefined> {
  return withMaintenanceLock(db, false, async () => {
    await createPartitions(db, now);
    return expire(db, policy, now);
  });
}
