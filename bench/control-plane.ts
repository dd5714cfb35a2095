// Benchmark: N simulated agents (lightweight clients speaking the real protocol)
// against one control-panel process on PostgreSQL. Measures the time from an API
// change that affects every node to each node's ACK (p50, p99, last), the panel's
// memory per connection, and its CPU time. Run: npm run bench:control (needs the
// local PostgreSQL that `npm test` uses, and a built panel).
import pg from 'pg';
import { createTestDatabase } from '@tula/db/testing';
import { apiClient, signUp } from '../test/support/control.ts';
import { startPanel } from '../test/support/panel.ts';
import { cpuSeconds, quantile } from '../test/support/measure.ts';
import { connectSimulatedAgents, insertSimulatedNodes, settledMemory } from '../test/support/simulated-agents.ts';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
if (sizes.length === 0) sizes.push(1000, 5000);

async function run(n: number) {
  const db = await createTestDatabase(undefined, 'tula_b_');
  const panel = await startPanel(
    { DATABASE_URL: db.url, TULA_AUTH_SECRET: 'b'.repeat(40), NODE_OPTIONS: '--inspect=127.0.0.1:0' },
    120_000,
  );
  const inspectorUrl = /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(panel.output())![0];
  const api = apiClient(panel.url, await signUp(panel.url, `bench-${n}@example.com`));
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const org = (await sql.query<{ id: string }>('SELECT id FROM "Organization" LIMIT 1')).rows[0]!.id;

  const nodes = await insertSimulatedNodes(sql, org, n);
  // A service needs a balancer: the first node balances too.
  await sql.query(`UPDATE "Node" SET role = 'both' WHERE id = $1`, [nodes[0]!.id]);
  const before = await settledMemory(inspectorUrl);
  const acked = new Map<string, number>();
  let watch: { version: number; since: number } | undefined;
  const fleet = await connectSimulatedAgents(panel.url, nodes, {
    onDesired: (node, version) => {
      if (watch && version >= watch.version && !acked.has(node.id)) acked.set(node.id, Date.now() - watch.since);
    },
  });
  // Wait for the first documents to settle (every node got version 1 and answered).
  for (let i = 0; ; i++) {
    const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Node" WHERE "appliedVersion" = 1`);
    if (rows[0]!.n === n) break;
    if (i % 20 === 0) process.stderr.write(`${n} agents: ${rows[0]!.n} have applied their first document\n`);
    await new Promise((r) => setTimeout(r, 500));
  }
  await new Promise((r) => setTimeout(r, 3000));
  const connected = await settledMemory(inspectorUrl);

  // The change: one service whose backends are every node; it gives every node a new document.
  const service = {
    name: 'everywhere',
    vip: '10.99.99.99',
    ports: '443',
    protocol: 'tcp' as const,
    mode: 'l3' as const,
    tunnel: 'vxlan' as const,
    balancerNodeIds: [nodes[0]!.id],
    mss: 1400,
    backends: nodes.map((x) => ({ address: x.address })),
    healthCheck: { type: 'none' as const },
  };
  watch = { version: 2, since: Date.now() };
  const cpuBefore = cpuSeconds(panel.child.pid!);
  await api.services.create.mutate(service);
  const apiMs = Date.now() - watch.since;
  for (let i = 0; acked.size < n && i < 1200; i++) await new Promise((r) => setTimeout(r, 100));
  const cpu = cpuSeconds(panel.child.pid!) - cpuBefore;
  const times = [...acked.values()];

  const result = {
    agents: n,
    apiMs,
    acked: times.length,
    p50: quantile(times, 0.5),
    p99: quantile(times, 0.99),
    last: Math.max(...times),
    kbPerConnection: (connected.heap + connected.external - before.heap - before.external) / 1024 / n,
    rssKbPerConnection: (connected.rss - before.rss) / 1024 / n,
    panelCpuSeconds: cpu,
  };
  fleet.stop();
  await sql.end();
  await panel.stop();
  await db.drop();
  return result;
}

console.log(
  '| agents | change to last ACK: p50 | p99 | last | API call | panel memory per connection (heap + external, after GC) | RSS growth per connection | panel CPU for the change |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const n of sizes) {
  const r = await run(n);
  console.log(
    `| ${r.agents} | ${r.p50} ms | ${r.p99} ms | ${r.last} ms | ${r.apiMs} ms | ${r.kbPerConnection.toFixed(1)} KB | ${r.rssKbPerConnection.toFixed(1)} KB | ${r.panelCpuSeconds.toFixed(2)} s |` +
      (r.acked < r.agents ? ` (only ${r.acked} acked)` : ''),
  );
}
process.exit(0);
