// The tenant client: a transaction in which PostgreSQL itself keeps the rows of
// one organisation and hides every other's (row-level security, migration
// tenant_row_security). The organisation filters in each query stay; this is
// the guard behind them, so a forgotten filter returns nothing of another tenant.
import type { Database, Db } from './client.ts';
import { poolTransaction } from './pool-sql.ts';

export type TenantTx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/**
 * The organisation and the role, both transaction-local, in one statement: SET LOCAL ROLE is a
 * set_config('role', ...). Every statement of the tenant view runs in a transaction of its own,
 * and a second statement for the role was a fifth of what an open page asked PostgreSQL.
 */
const TENANT_SETTINGS = `SELECT set_config('tula.org', $1, true), set_config('role', 'tula_tenant', true)`;

/**
 * Runs `fn` in one transaction as the role tula_tenant with tula.org set to
 * `organizationId` (both transaction-local: the pooled connection returns clean).
 */
export function withTenant<T>(
  db: Database,
  organizationId: string,
  fn: (tx: TenantTx) => Promise<T>,
  options?: { timeout?: number },
): Promise<T> {
  return ownerOf(db).prisma.$transaction(async (tx) => {
    await tx.$executeRawUnsafe(TENANT_SETTINGS, organizationId);
    return fn(tx);
  }, options);
}

const OWNER = Symbol('tula owner database');

/** The owner database behind a tenant view (or the database itself). */
export function ownerOf(db: Database): Database {
  return (db as Database & { [OWNER]?: Database })[OWNER] ?? db;
}

/**
 * A view of the database in which every query, Prisma's or raw SQL through
 * `pool.query`, runs as tula_tenant with tula.org set to `organizationId`, each
 * in its own short transaction. Procedures get this as `ctx.db`, so a read
 * that forgot its organisation filter still sees one organisation. Several
 * statements that must be atomic use `withTenant` (change()), which takes the
 * owner connection behind this view; `$transaction` on the view is refused
 * because its statements would leave the tenant role.
 */
export function tenantDatabase(db: Database, organizationId: string): Database {
  const owner = ownerOf(db);
  const base = owner.prisma;
  const extended = base.$extends({
    query: {
      async $allOperations({ args, query }) {
        const [, result] = await base.$transaction([base.$executeRawUnsafe(TENANT_SETTINGS, organizationId), query(args) as never]);
        return result;
      },
    },
  });
  const prisma = new Proxy(extended, {
    get(target, key, receiver) {
      if (key === '$transaction') {
        return () => {
          throw new Error('the tenant client runs one statement per transaction: use withTenant (ctx.tenant) for several');
        };
      }
      return Reflect.get(target, key, receiver);
    },
  }) as unknown as Database['prisma'];
  const pool = {
    /** One statement as the tenant, in its own transaction. */
    async query(text: string, values?: unknown[]) {
      return poolTransaction(owner.pool, async (client) => {
        await client.query(TENANT_SETTINGS, [organizationId]);
        return client.query(text, values);
      });
    },
  } as unknown as Database['pool'];
  return {
    ...owner,
    prisma,
    pool,
    close: () => Promise.reject(new Error('close the owner database, not a tenant view')),
    [OWNER]: owner,
  } as Database;
}
