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
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
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
