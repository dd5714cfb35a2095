// The Fleet page's data on a fleet too large to send whole: nodes.page pages,
// searches and filters in PostgreSQL, and must agree with the per-node status
// that nodes.list computes in JavaScript (online, inSync), and with the counts
// on the overview.
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, signUp, type Api } from './support/control.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';
import { insertSimulatedNodes } from './support/simulated-agents.ts';

const NODES = 130;
let db: TestDatabase;
let panel: PanelProcess;
let api: Api;

beforeAll(async () => {
  db = await createTestDatabase();
  panel = await startPanel({ DATABASE_URL: db.url, TULA_AUTH_SECRET: 'f'.repeat(40), TULA_TRIAL_MAX_NODES: String(NODES) });
  api = apiClient(panel.url, await signUp(panel.url, 'fleet@example.com'));
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const org = (await sql.query<{ id: string }>('SELECT id FROM "Organization" LIMIT 1')).rows[0]!.id;
  await insertSimulatedNodes(sql, org, NODES);
  // A mix of every state, by the node's number i: connected and seen now, seen an
  // hour ago or never; applied its document, another one or none; failing; with
  // warnings; drift repaired an hour or two days ago; revoked. "Now" is dated a minute ahead so those nodes stay within
  // the online window however long the test takes.
  await sql.query(`
    UPDATE "Node" SET
      hostname = 'host-' || id,
      addresses = ARRAY['10.200.0.' || i],
      "lastSeenAt" = CASE WHEN i % 10 = 0 THEN NULL WHEN i % 2 = 0 THEN now() + interval '1 minute' ELSE now() - interval '1 hour' END,
      connected = i % 2 = 0 AND i % 10 <> 0,
      warnings = CASE WHEN i % 3 = 0 THEN ARRAY['service web: no MAC known for backend 10.0.0.1 on e0'] ELSE ARRAY[]::text[] END,
      "desiredHash" = CASE WHEN i % 17 = 0 THEN NULL ELSE 'h1' END,
      "appliedHash" = CASE WHEN i % 7 = 0 THEN NULL WHEN i % 3 = 0 THEN 'h0' ELSE 'h1' END,
      "lastError" = CASE WHEN i % 11 = 0 THEN 'nft: syntax error' END,
      "revokedAt" = CASE WHEN i % 13 = 0 THEN now() END,
      "lastDriftAt" = CASE WHEN i % 4 = 0 THEN now() - interval '1 hour' WHEN i % 9 = 0 THEN now() - interval '2 days' END
    FROM (SELECT id AS node, substr(id, 4)::int AS i FROM "Node") AS n
    WHERE n.node = "Node".id`);
  await sql.end();
}, 120_000);
afterAll(async () => {
  await panel?.stop();
  await db?.drop();
});

describe('nodes.page', () => {
  it('selects with each filter exactly the nodes whose status says so, and the overview counts agree', async () => {
    const all = await api.nodes.list.query();
    expect(all).toHaveLength(NODES);
    const live = all.filter((n) => !n.revokedAt);
    const expected = {
      all: all.length,
      online: live.filter((n) => n.online).length,
      offline: live.filter((n) => !n.online).length,
      'out-of-sync': live.filter((n) => !n.inSync).length,
      errors: live.filter((n) => n.lastError).length,
      // An offline node's warnings are from its last report (stale): it counts as offline, not as "with warnings".
      warnings: live.filter((n) => n.online && n.warnings.length > 0).length,
      // Drift repaired within the last day; an older repair is history.
      drifted: live.filter((n) => n.lastDriftAt && Date.now() - new Date(n.lastDriftAt).getTime() < 86_400_000).length,
      revoked: all.length - live.length,
    };
    // Every filter selects something and leaves something out, so each comparison can fail.
    for (const [filter, n] of Object.entries(expected)) {
      if (filter === 'all') continue;
      expect(n, filter).toBeGreaterThan(0);
      expect(n, filter).toBeLessThan(NODES);
    }
    for (const filter of Object.keys(expected) as (keyof typeof expected)[]) {
      const page = await api.nodes.page.query({ filter, limit: 200 });
      expect({ filter, matching: page.matching }).toEqual({ filter, matching: expected[filter] });
      expect(page.items).toHaveLength(expected[filter]);
    }
    expect(live.filter((n) => n.warningsStale)).toEqual(live.filter((n) => !n.online && n.warnings.length > 0));
    expect(live.some((n) => n.warningsStale)).toBe(true);
    const { counts } = await api.org.summary.query();
    expect(counts).toMatchObject({
      nodes: live.length,
      online: expected.online,
      outOfSync: expected['out-of-sync'],
      withErrors: expected.errors,
      nodesWithWarnings: expected.warnings,
    });
  });

  it('walks the fleet page by page in name order, and a page past the end is the last page', async () => {
    const names = (await api.nodes.list.query()).map((n) => n.name);
    const seen: string[] = [];
    for (let offset = 0; offset < NODES; offset += 50) {
      const page = await api.nodes.page.query({ offset, limit: 50 });
      expect(page).toMatchObject({ matching: NODES, offset, limit: 50 });
      seen.push(...page.items.map((n) => n.name));
    }
    expect(seen).toEqual(names);
    const past = await api.nodes.page.query({ offset: 10_000, limit: 50 });
    expect(past.offset).toBe(100);
    expect(past.items.map((n) => n.name)).toEqual(names.slice(100));
  });

  it('finds nodes by part of a name or hostname (any case) and by a whole address', async () => {
    const names = async (search: string) => (await api.nodes.page.query({ search, limit: 200 })).items.map((n) => n.name);
    expect(await names('SIM00001')).toEqual(Array.from({ length: 10 }, (_, i) => `sim00001${i}`));
    expect(await names('host-sim000042')).toEqual(['sim000042']);
    expect(await names('10.200.0.42')).toEqual(['sim000042']);
    expect(await names('10.200.0')).toEqual([]);
    // Search and filter together: of sim000010..19, the online ones are the even, seen-now, unrevoked ones.
    expect((await api.nodes.page.query({ search: 'sim00001', filter: 'online' })).items.map((n) => n.name)).toEqual([
      'sim000012',
      'sim000014',
      'sim000016',
      'sim000018',
    ]);
  });

  it('refuses a page too large or an unknown filter, saying which field', async () => {
    await expect(api.nodes.page.query({ limit: 1000 })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
      message: expect.stringContaining('limit'),
    });
    await expect(api.nodes.page.query({ filter: 'asleep' as 'all' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
      message: expect.stringContaining('filter'),
    });
  });
});
