// Statements for the gateway's hot paths, run on the pg pool beneath Prisma. Kept
// apart from the package's index, like locks.ts: the gateway imports it without
// the migrator or the embedded database.
import type pg from 'pg';
import { sqltag, type Sql } from '@prisma/client/runtime/client';

export { sqltag as sql };

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
export function poolQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(pool: pg.Pool, statement: Sql): Promise<pg.QueryResult<R>> {
  return pool.query<R>(statement.text, statement.values);
}
