// Kept apart from the package's index: the control plane's code that Next
// bundles imports it, and must not pull in the migrator or the embedded database.
import { sqltag, type Sql } from '@prisma/client/runtime/client';

/**
 * Takes the organisation's lock until the transaction ends. Everything that writes
 * an organisation's configuration or compiles its desired state takes it first, so
 * changes, enrollments and recompiles run one at a time and versions go up in order.
 */
export function lockOrganization(organizationId: string): Sql {
  return sqltag`SELECT pg_advisory_xact_lock(hashtext(${organizationId}))`;
}

/**
 * A WITH clause that locks these nodes' rows in id order, as "locked". Every
 * statement that updates many nodes joins it: concurrent ones (ACKs, last seen,
 * recompiles) then wait for each other instead of deadlocking.
 */
export function lockNodesInOrder(ids: string[]): Sql {
  return sqltag`WITH locked AS (SELECT id FROM "Node" WHERE id = ANY(${ids}::text[]) ORDER BY id FOR NO KEY UPDATE)`;
}
