// The panel's own embedded database (one connection): partition upkeep must not wait on
// a connection it holds itself. It did once, and every panel on PGlite stopped answering.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, readDatabaseEnv, type Database } from '@tula/db';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_RETENTION, ensurePartitions, maintainPartitions } from '../src/retention.ts';

let dataDir: string;
let db: Database;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tula-embedded-upkeep-'));
  db = await openDatabase({ env: readDatabaseEnv({ TULA_DATA_DIR: dataDir }), migrate: true });
}, 180_000);

afterAll(async () => {
  await db?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Rejects when `work` has not settled after `ms` (a deadlock never settles). */
const settles = <T>(work: Promise<T>, ms: number) =>
  Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms))]);

it('creates and expires partitions on the one-connection embedded database', async () => {
  expect(db.kind).toBe('embedded');
  const later = Date.now() + 40 * 86_400_000;
  const created = await settles(ensurePartitions(db, later), 60_000);
  expect(created.length).toBeGreaterThan(0);
  const report = await settles(maintainPartitions(db, DEFAULT_RETENTION, later), 60_000);
  expect(report).toBeDefined();
  // The connection is free again: an ordinary query answers.
  expect((await settles(db.pool.query<{ one: number }>('SELECT 1 AS one'), 10_000)).rows[0]!.one).toBe(1);
}, 180_000);
