import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';
import { readDatabaseEnv, type DatabaseEnv } from './env.ts';
import { PrismaClient } from './generated/prisma/client.ts';
import { migrate, type MigrationReport } from './migrate.ts';

export type Db = PrismaClient;

/**
 * An open database: Prisma for queries, the pg pool beneath it for what Prisma
 * does not do (migrations, LISTEN/NOTIFY), and which kind of server it is.
 */
export interface Database {
  prisma: PrismaClient;
  pool: pg.Pool;
  /** `server` for DATABASE_URL, `embedded` for PGlite in the data directory. */
  kind: 'server' | 'embedded';
  url: string;
  migrations?: MigrationReport;
  close(): Promise<void>;
}

/**
 * How long a Prisma transaction may wait for the embedded database's one
 * connection. Prisma's default, 2 s, guards a server's pool against exhaustion;
 * here every statement of the tenant view is a transaction, and queueing for the
 * one connection is the design: a page's reads behind a counters flush or a
 * change's recompile waited over 2 s on a loaded machine and failed ("Unable to
 * start a transaction in the given time"). Still bounded, so a connection held
 * far too long is reported as an error, not waited out.
 */
export const EMBEDDED_MAX_WAIT_MS = 15_000;
/**
 * How long a transaction on the embedded database may run. PGlite runs inside the
 * panel's own process, so on a busy machine a change's transaction (a few dozen
 * statements and a recompile) shares the CPU with the pages it serves; Prisma's
 * 5 s default aborted a saved edit at load average 20 ("expired transaction").
 */
export const EMBEDDED_TRANSACTION_TIMEOUT_MS = 30_000;

export interface OpenOptions {
  env?: DatabaseEnv;
  /** Apply pending migrations before returning (the panel does; tests choose). */
  migrate?: boolean;
}

export async function openDatabase(options: OpenOptions = {}): Promise<Database> {
  const env = options.env ?? readDatabaseEnv();
  let embedded: EmbeddedPostgres | undefined;
  let url = env.DATABASE_URL;
  if (!url) {
    embedded = await startEmbeddedPostgres(env.TULA_DATA_DIR);
    url = embedded.url;
  }
  // PGlite is one session: its socket server interleaves the extended-protocol
  // messages of concurrent connections, so the embedded database gets one
  // connection and queries queue for it.
  const pool = new pg.Pool({ connectionString: url, max: embedded ? 1 : env.DATABASE_POOL_SIZE });
  // An idle client losing its server (restart) must not crash the process.
  pool.on('error', (err) => console.error(`database pool: ${err.message}`));
  try {
    const report = options.migrate ? await migrate(pool) : undefined;
    const prisma = new PrismaClient({
      adapter: new PrismaPg(pool),
      ...(embedded ? { transactionOptions: { maxWait: EMBEDDED_MAX_WAIT_MS, timeout: EMBEDDED_TRANSACTION_TIMEOUT_MS } } : {}),
    });
    return {
      prisma,
      pool,
      kind: embedded ? 'embedded' : 'server',
      url,
      ...(report ? { migrations: report } : {}),
      async close() {
        await prisma.$disconnect();
        await pool.end();
        await embedded?.stop();
      },
    };
  } catch (err) {
    await pool.end().catch(() => undefined);
    await embedded?.stop();
    throw err;
  }
}
