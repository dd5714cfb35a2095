// The panel process serves tRPC through Next's route handler, against a real
// PostgreSQL server (DATABASE_URL) and against the embedded default.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppRouter } from '@tula/api';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { createTestDatabase } from '@tula/db/testing';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { startPanel } from '../../../test/support/panel.ts';

function client(url: string) {
  return createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: `${url}/api/trpc`, transformer: superjson })] });
}

describe('control panel process', () => {
  it('answers health.status over tRPC with a PostgreSQL server, migrating it on start', async () => {
    const db = await createTestDatabase();
    const panel = await startPanel({ DATABASE_URL: db.url });
    try {
      const status = await client(panel.url).health.status.query();
      expect(status).toMatchObject({ ok: true, database: { kind: 'server', reachable: true } });
      expect(status.database.migrationsApplied).toBeGreaterThan(0);

      const plain = await fetch(`${panel.url}/api/health`);
      expect(plain.status).toBe(200);
      expect(await plain.json()).toMatchObject({ ok: true });
    } finally {
      await panel.stop();
      await db.drop();
    }
  });

  it('uses the embedded database in TULA_DATA_DIR when DATABASE_URL is unset', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tula-panel-'));
    const panel = await startPanel({ DATABASE_URL: '', TULA_DATA_DIR: dataDir });
    try {
      const status = await client(panel.url).health.status.query();
      expect(status).toMatchObject({ ok: true, database: { kind: 'embedded', reachable: true } });
      expect(panel.output()).toContain(`embedded PostgreSQL in ${dataDir}`);
    } finally {
      expect(await panel.stop()).toBe(0);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses to start with a malformed DATABASE_URL and says why', async () => {
    await expect(startPanel({ DATABASE_URL: 'mysql://nope' }, 30_000)).rejects.toThrow(/DATABASE_URL must be a postgresql:\/\/ URL/);
  });
});
