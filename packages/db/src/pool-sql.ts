// Statements for the gateway's hot paths, run on the pg pool beneath Prisma. Kept
// apart from the package's index, like locks.ts: the gateway imports it without
// the migrator or the embedded database.
import type pg from 'pg';
import { empty, sqltag, type Sql } from '@prisma/client/runtime/client';

export { empty, sqltag as sql };

/**
 * A timestamp(3) column's value from ms since the epoch, in UTC as Prisma stores them, whatever the
 * session's time zone (a Date parameter would be sent in the process's zone).
 */
export function utcTimestamp(ms: number): Sql {
  return sqltag`(to_timestamp(${ms}::float8 / 1000) AT TIME ZONE 'UTC')`;
}

/**
 * Runs `statement` (written with the `sql` tag, so it composes with lockNodesInOrder)
 * on the pool, without Prisma's query compiler: that costs about a millisecond of
 * CPU per query and a few microseconds per parameter, which per agent connection
 * and per heartbeat of thousands of agents was most of the panel's CPU
 * (docs/benchmarks.md, "Panel CPU per report and per connection"). Pass no Date
 * for a timestamp(3) column (pg writes it in the process's time zone, which such a
 * column would keep as is); use now() or to_timestamp(ms / 1000.0) as the
 * statements through Prisma do.
 */
export function poolQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  pool: pg.Pool | pg.PoolClient,
  statement: Sql,
): Promise<pg.QueryResult<R>> {
  return pool.query<R>(statement.text, statement.values);
}

/**
 * Runs `work` in one transaction on a connection of the pool (committed when it resolves, rolled back
 * when it throws). It waits for a free connection as long as it takes, where a Prisma transaction would
 * fail after its maxWait.
 */
export async function poolTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
