// `npm run db:migrate`: applies pending migrations to DATABASE_URL, or to the
// embedded database in TULA_DATA_DIR when DATABASE_URL is unset.
import { openDatabase } from '../client.ts';
import { MigrationError } from '../migrate.ts';

try {
  const db = await openDatabase({ migrate: true });
  const r = db.migrations!;
  await db.close();
  const where = db.kind === 'embedded' ? `embedded database` : 'DATABASE_URL';
  if (r.applied.length === 0) console.log(`${where}: up to date (${r.alreadyApplied.length} migrations applied earlier)`);
  for (const name of r.applied) console.log(`${where}: applied ${name}`);
  for (const name of r.modified) console.warn(`warning: ${name} changed after it was applied; it was not re-run`);
} catch (err) {
  console.error(err instanceof MigrationError ? err.message : `db:migrate failed: ${(err as Error).message}`);
  process.exit(1);
}
