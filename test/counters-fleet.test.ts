// The counter path end to end: the real panel process on PostgreSQL and
// simulated agents speaking the real protocol, all reporting the return path of
// one VIP every second. The panel writes about one raw row per second for the
// VIP (one per flush that holds reports of that second), not one per agent, and
// what it stored equals exactly what the agents' acknowledged-or-stored reports
// carried (each report: 1,000,000 bytes; the stored cursors say how many were stored).
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, signUp } from './support/control.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';
import { connectSimulatedAgents, insertSimulatedNodes, type SimulatedFleet } from './support/simulated-agents.ts';

const AGENTS = 20;
const VIP = '10.98.98.98';
let db: TestDatabase;
let panel: PanelProcess;
let sql: pg.Client;
let fleet: SimulatedFleet | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  panel = await startPanel({ DATABASE_URL: db.url, TULA_AUTH_SECRET: 's'.repeat(40), TULA_TRIAL_MAX_NODES: String(AGENTS + 10) }, 120_000);
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
}, 150_000);
afterAll(async () => {
  fleet?.stop();
  await sql?.end();
  await panel?.stop();
  await db?.drop();
});

it('writes rows per VIP and second, not per agent, and stores exactly what the agents reported', async () => {
  const api = apiClient(panel.url, await signUp(panel.url, 'fleet-counters@example.com'));
  const org = (await sql.query<{ id: string }>('SELECT id FROM "Organization" LIMIT 1')).rows[0]!.id;
  const nodes = await insertSimulatedNodes(sql, org, AGENTS);
  await sql.query(`UPDATE "Node" SET role = 'both' WHERE id = $1`, [nodes[0]!.id]);
  await api.services.create.mutate({
    name: 'fleet',
    vip: VIP,
    ports: '443',
    protocol: 'tcp',
    mode: 'l3',
    tunnel: 'vxlan',
    balancerNodeIds: [nodes[0]!.id],
    backends: nodes.map((x) => ({ address: x.address })),
    healthCheck: { type: 'none' },
  });
  fleet = await connectSimulatedAgents(panel.url, nodes, { reportEveryMs: 1000 });
  await new Promise((r) => setTimeout(r, 8000));
  fleet.stop();
  // The last batch is flushed within a second.
  await new Promise((r) => setTimeout(r, 2500));

  expect(fleet.reports.acked).toBeGreaterThanOrEqual(AGENTS * 3);
  const perSecond = await sql.query<{ rows: number }>(
    `SELECT count(*)::int AS rows FROM "CounterSample" WHERE kind = 'vip_return' AND "seriesKey" = $1 GROUP BY date_trunc('second', at)`,
    [VIP],
  );
  expect(perSecond.rows.length).toBeGreaterThan(3);
  // A second's reports arrive over about a second, so they may span two or three flushes; never one row per agent.
  expect(Math.max(...perSecond.rows.map((r) => r.rows))).toBeLessThanOrEqual(3);

  // Each agent's highest stored sequence (one boot each, sequences from 1): the reports stored.
  const stored = await sql.query<{ reports: string }>(
    `SELECT sum(seq)::text AS reports FROM (
       SELECT u.n, max(u.s) AS seq FROM "CounterCursorBatch" c, unnest(c."nodeIds", c.seqs) AS u(n, s) WHERE c."organizationId" = $1 GROUP BY u.n) x`,
    [org],
  );
  const expected = Number(stored.rows[0]!.reports) * 1_000_000;
  expect(Number(stored.rows[0]!.reports)).toBeGreaterThanOrEqual(fleet.reports.acked);
  const raw = await sql.query<{ bytes: string }>(
    `SELECT sum(bytes)::text AS bytes FROM "CounterSample" WHERE kind = 'vip_return' AND "seriesKey" = $1`,
    [VIP],
  );
  const minutes = await sql.query<{ bytes: string }>(
    `SELECT sum(bytes)::text AS bytes FROM "CounterRollup" WHERE resolution = 'minute' AND kind = 'vip_return' AND "seriesKey" = $1`,
    [VIP],
  );
  expect(Number(raw.rows[0]!.bytes)).toBe(expected);
  expect(Number(minutes.rows[0]!.bytes)).toBe(expected);
}, 120_000);
