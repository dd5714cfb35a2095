// Benchmark: a fleet connecting for the first time. One panel process on
// PostgreSQL, an organisation with N nodes that have no document yet (inserted
// with credentials, as bench:counters does) and 10 services balanced by the first
// node; N simulated agents connect over WebSocket (BENCH_SIM_PROCESSES child
// processes, default 4). Measures the time until every socket is open and until
// every node has applied its first document (the agent's ACK recorded), and the
// panel's CPU over that time. Run: npx tsx bench/agent-connect.ts [agents...]
// (needs the local PostgreSQL and a built panel, `npx turbo run build`; BENCH_CPU_PROF=dir
// writes the panel's CPU profile of the connect there).
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import { createTestDatabase } from '@tula/db/testing';
import { apiClient, signUp } from '../test/support/control.ts';
import { startPanel } from '../test/support/panel.ts';
import { cpuSeconds, startProfile } from '../test/support/measure.ts';
import { forkSimulatedAgents, insertSimulatedNodes } from '../test/support/simulated-agents.ts';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
if (sizes.length === 0) sizes.push(1000);
const SIMULATOR_PROCESSES = Number(process.env.BENCH_SIM_PROCESSES ?? 4);
/** Give up waiting for first documents after this long. */
const LIMIT_MS = Number(process.env.BENCH_LIMIT_S ?? 600) * 1000;

async function run(n: number) {
  const db = await createTestDatabase(undefined, 'tula_b_');
  const profDir = process.env.BENCH_CPU_PROF;
  if (profDir) mkdirSync(profDir, { recursive: true });
  const panel = await startPanel(
    {
      DATABASE_URL: db.url,
      TULA_AUTH_SECRET: 'b'.repeat(40),
      TULA_TRIAL_MAX_NODES: String(n + 10),
      ...(profDir && { NODE_OPTIONS: '--inspect=127.0.0.1:0' }),
    },
    120_000,
  );
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  try {
    const api = apiClient(panel.url, await signUp(panel.url, `bench-${n}@example.com`));
    const org = (await sql.query<{ id: string }>('SELECT id FROM "Organization" LIMIT 1')).rows[0]!.id;
    const nodes = await insertSimulatedNodes(sql, org, n);
    await sql.query(`UPDATE "Node" SET role = 'both' WHERE id = $1`, [nodes[0]!.id]);
    // Services whose backends are some of the nodes (by address), so documents are not all alike.
    for (let s = 0; s < 10; s++)
      await api.services.create.mutate({
        name: `bench-${s}`,
        vip: `10.99.0.${s + 1}`,
        ports: '443',
        protocol: 'tcp',
        mode: 'l3',
        tunnel: 'vxlan',
        balancerNodeIds: [nodes[0]!.id],
        backends: nodes.slice(1 + s * 4, 5 + s * 4).map((x) => ({ address: x.address })),
        healthCheck: { type: 'none' },
      });
    const load = loadavg().map((x) => +x.toFixed(1));
    const stopProfile = profDir ? await startProfile(/ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(panel.output())![0]) : undefined;
    const cpu0 = cpuSeconds(panel.child.pid!);
    const t0 = Date.now();
    const fleet = await forkSimulatedAgents(panel.url, nodes, {
      processes: SIMULATOR_PROCESSES,
      reportEveryMs: 0,
      body: { services: [], vips: [] },
    });
    const openS = (Date.now() - t0) / 1000;
    let applied = 0;
    while (Date.now() - t0 < LIMIT_MS) {
      applied = (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Node" WHERE "appliedVersion" >= 1`)).rows[0]!.n;
      if (applied === n) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const appliedS = (Date.now() - t0) / 1000;
    const cpu = cpuSeconds(panel.child.pid!) - cpu0;
    await stopProfile?.(`${profDir}/connect-${n}.cpuprofile`);
    await fleet.stop();
    return {
      agents: n,
      allOpenS: +openS.toFixed(1),
      allAppliedS: applied === n ? +appliedS.toFixed(1) : null,
      applied,
      panelCpuS: +cpu.toFixed(1),
      panelCpuMsPerAgent: +((cpu * 1000) / n).toFixed(2),
      closedByPanel: fleet.closed.length,
      loadAverage: { start: load, end: loadavg().map((x) => +x.toFixed(1)) },
    };
  } finally {
    await sql.end();
    await panel.stop();
    await db.drop();
  }
}

for (const n of sizes) console.log(JSON.stringify(await run(n)));
process.exit(0);
