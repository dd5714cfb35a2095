// Soak: one panel process on PostgreSQL under a sustained load for a bounded
// time: 1,000 connected agents (simulated, speaking the real protocol) each
// reporting return-path counters every second, and concurrent tRPC reads of the
// pages people keep open. Fails (exit 1) on any failed request, any agent the
// panel disconnected, unacknowledged counter reports, or heap growth after
// warm-up beyond the bound below. Run: npm run test:soak
// (SOAK_MINUTES, default 3; SOAK_AGENTS, default 1000; SOAK_READERS, default 16).
import pg from 'pg';
import { createTestDatabase } from '@tula/db/testing';
import { apiClient, signUp } from '../support/control.ts';
import { startPanel } from '../support/panel.ts';
import { cpuSeconds } from '../support/measure.ts';
import { connectSimulatedAgents, insertSimulatedNodes, settledMemory } from '../support/simulated-agents.ts';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 3);
const AGENTS = Number(process.env.SOAK_AGENTS ?? 1000);
const READERS = Number(process.env.SOAK_READERS ?? 16);
/** Heap (after GC) may end at most this much above its level after warm-up. */
const HEAP_BOUND = { factor: 1.25, slackMb: 16 };

const db = await createTestDatabase();
const panel = await startPanel(
  {
    DATABASE_URL: db.url,
    TULA_AUTH_SECRET: 's'.repeat(40),
    NODE_OPTIONS: '--inspect=127.0.0.1:0',
    TULA_TRIAL_MAX_NODES: String(AGENTS + 10),
  },
  120_000,
);
const failures: string[] = [];
try {
  const inspectorUrl = /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(panel.output())![0];
  const cookie = await signUp(panel.url, 'soak@example.com');
  const api = apiClient(panel.url, cookie);
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const org = (await sql.query<{ id: string }>('SELECT id FROM "Organization" LIMIT 1')).rows[0]!.id;
  const nodes = await insertSimulatedNodes(sql, org, AGENTS);
  // A service needs a balancer: the first node balances too.
  await sql.query(`UPDATE "Node" SET role = 'both' WHERE id = $1`, [nodes[0]!.id]);
  await sql.end();
  // One service over every node: each node's document gets a VIP, whose return path it reports.
  await api.services.create.mutate({
    name: 'soak',
    vip: '10.99.99.99',
    ports: '443',
    protocol: 'tcp',
    mode: 'l3',
    tunnel: 'vxlan',
    balancerNodeIds: [nodes[0]!.id],
    backends: nodes.map((x) => ({ address: x.address })),
    healthCheck: { type: 'none' },
  });
  console.log(`soak: connecting ${AGENTS} agents`);
  const fleet = await connectSimulatedAgents(panel.url, nodes, { reportEveryMs: 1000 });

  // Readers: what the overview, fleet and services pages read (the fleet page a page of
  // 50 nodes), as one batched tRPC GET, back to back.
  const reads = { ok: 0, failed: 0 };
  const url = `${panel.url}/api/trpc/org.summary,nodes.page,services.list,stats.series?batch=1&input=${encodeURIComponent(JSON.stringify({ 3: { json: { range: '1h' } } }))}`;
  let reading = true;
  const readers = Array.from({ length: READERS }, async () => {
    while (reading) {
      try {
        const res = await fetch(url, { headers: { cookie, origin: panel.url } });
        await res.arrayBuffer();
        if (res.ok) reads.ok++;
        else {
          reads.failed++;
          if (failures.length < 10) failures.push(`read answered ${res.status}`);
        }
      } catch (err) {
        reads.failed++;
        if (failures.length < 10) failures.push(`read failed: ${(err as Error).message}`);
      }
    }
  });

  const mb = (x: number) => x / 1024 / 1024;
  const samples: { minute: number; heapMb: number; rssMb: number; readsPerSecond: number; reportsAcked: number }[] = [];
  const started = Date.now();
  const cpuStart = cpuSeconds(panel.child.pid!);
  let lastReads = 0;
  let lastAt = started;
  while (Date.now() - started < MINUTES * 60_000) {
    await new Promise((r) => setTimeout(r, 30_000));
    const m = await settledMemory(inspectorUrl);
    const now = Date.now();
    samples.push({
      minute: (now - started) / 60_000,
      heapMb: mb(m.heap + m.external),
      rssMb: mb(m.rss),
      readsPerSecond: ((reads.ok - lastReads) * 1000) / (now - lastAt),
      reportsAcked: fleet.reports.acked,
    });
    lastReads = reads.ok;
    lastAt = now;
    const s = samples.at(-1)!;
    console.log(
      `soak: ${s.minute.toFixed(1)} min: heap+external ${s.heapMb.toFixed(1)} MB, RSS ${s.rssMb.toFixed(1)} MB, ${s.readsPerSecond.toFixed(0)} reads/s, ${fleet.reports.acked} of ${fleet.reports.sent} counter reports acknowledged`,
    );
  }
  reading = false;
  await Promise.all(readers);
  const cpu = cpuSeconds(panel.child.pid!) - cpuStart;
  await new Promise((r) => setTimeout(r, 3000));
  fleet.stop();

  const warm = samples[0]!;
  const end = samples.at(-1)!;
  const bound = warm.heapMb * HEAP_BOUND.factor + HEAP_BOUND.slackMb;
  console.log(
    `soak: ${MINUTES} min, ${AGENTS} agents, ${READERS} readers: ${reads.ok} reads (${reads.failed} failed), ` +
      `${fleet.reports.sent} counter reports (${fleet.reports.acked} acknowledged, ${fleet.reports.resent} resent), ${fleet.closed.length} agents disconnected by the panel, ` +
      `heap+external ${warm.heapMb.toFixed(1)} -> ${end.heapMb.toFixed(1)} MB (bound ${bound.toFixed(1)}), panel CPU ${cpu.toFixed(0)} s`,
  );
  if (reads.failed > 0) failures.push(`${reads.failed} reads failed`);
  if (fleet.closed.length > 0)
    failures.push(`the panel disconnected ${fleet.closed.length} agents, e.g. ${fleet.closed.slice(0, 3).join('; ')}`);
  // At the end each agent may have one report in flight.
  if (fleet.reports.sent - fleet.reports.acked > AGENTS)
    failures.push(`${fleet.reports.sent - fleet.reports.acked} counter reports were not acknowledged`);
  if (end.heapMb > bound) failures.push(`heap grew from ${warm.heapMb.toFixed(1)} to ${end.heapMb.toFixed(1)} MB`);
  // Reports must keep being stored: acknowledgements grow in every interval.
  samples.forEach((x, i) => {
    const before = i === 0 ? 0 : samples[i - 1]!.reportsAcked;
    if (x.reportsAcked - before < AGENTS)
      failures.push(
        `only ${x.reportsAcked - before} counter reports were acknowledged in the interval ending at ${x.minute.toFixed(1)} min`,
      );
  });
} finally {
  await panel.stop();
  await db.drop();
}
if (failures.length) {
  console.error(`soak FAILED:\n  ${failures.join('\n  ')}\npanel log (end):\n${panel.output().slice(-4000)}`);
  process.exit(1);
}
console.log('soak passed');
process.exit(0);
