export { EMBEDDED_MAX_WAIT_MS, openDatabase, type Database, type Db, type OpenOptions } from './client.ts';
export { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';
export { readDatabaseEnv, DatabaseEnv } from './env.ts';
export { migrate, readMigrations, MigrationError, MIGRATIONS_DIR, type Migration, type MigrationReport } from './migrate.ts';
export * from './generated/prisma/client.ts';
export type { SampleValues } from './samples.ts';
