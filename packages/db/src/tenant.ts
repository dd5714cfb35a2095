// The tenant client: a transaction in which PostgreSQL itself keeps the rows of
// one organisation and hides every other's (row-level security, migration
// tenant_row_security). The organisation filters in each query stay; this is
// the guard behind them, so a forgotten filter returns nothing of another tenant.
import type { Database, Db } from './client.ts';

export type TenantTx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/**
 * Runs `fn` in one transaction as the role tula_tenant with tula.org set to
 * `organizationId` (both transaction-local: the pooled connection returns clean).
 */
export function withTenant<T>(db: Database, organizationId: string, fn: (tx: TenantTx) => Promise<T>, options?: { timeout?: number }): Promise<T> {
  return db.prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT set_config('tula.org', ${organizationId}, true)`;
    await tx.$executeRaw`SET LOCAL ROLE tula_tenant`;
    return fn(tx);
  }, options);
}
