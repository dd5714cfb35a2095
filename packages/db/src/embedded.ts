import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * An embedded PostgreSQL (PGlite) persisted in a data directory and served on a
 * Unix socket inside it, so the rest of the code talks to it with the same `pg`
 * driver it uses for a real server.
 */
export interface EmbeddedPostgres {
  /** A connection string for `pg` and Prisma. */
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

// PGlite serves one session; the socket server queues statements from several
// connections and keeps a transaction's statements together.
const MAX_CONNECTIONS = 8;
const SOCKET_PORT = 5432;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startEmbeddedPostgres(dataDirArg: string): Promise<EmbeddedPostgres> {
  const dataDir = resolve(dataDirArg);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lockFile = join(dataDir, 'embedded-postgres.pid');
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) {
      throw new Error(
        `The embedded database in ${dataDir} is in use by process ${pid}. ` +
          'Stop that process, or set TULA_DATA_DIR to another directory, or set DATABASE_URL to use a PostgreSQL server.',
      );
    }
  }
  writeFileSync(lockFile, `${process.pid}\n`, { mode: 0o600 });

  const socketPath = join(dataDir, `.s.PGSQL.${SOCKET_PORT}`);
  // A socket file left by a process that died would make listen() fail.
  rmSync(socketPath, { force: true });

  const db = await PGlite.create({ dataDir: join(dataDir, 'pgdata') });
  const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: MAX_CONNECTIONS });
  await server.start();

  return {
    url: `postgresql://postgres@localhost:${SOCKET_PORT}/postgres?host=${encodeURIComponent(dataDir)}`,
    dataDir,
    async stop() {
      await server.stop();
      await db.close();
      rmSync(lockFile, { force: true });
    },
  };
}
