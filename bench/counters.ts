// Benchmark: counters at fleet scale. One panel process on PostgreSQL; N simulated
// agents enrolled through the real enrollment endpoint (enrollment tokens, node
// credentials) and connected over WebSocket, each reporting every second for 50
// series (10 services with 4 backends each). Measures, after a warm-up:
//   - database rows written per second (inserts + updates in the counter tables),
//   - ingest lag: a report sent to its acknowledgement, which the panel sends
//     once the report's sums are committed (p50, p99), and whether a backlog grows,
//   - live-stream lag: a second's sums reaching a live.counters subscriber after
//     that second ended (p99),
//   - panel CPU per 1,000 agents (and the simulator's own, spread over
//     BENCH_SIM_PROCESSES child processes, default 4), database size growth per hour.
// Run: npm run bench:counters [-- agents...] (BENCH_SECONDS, default 180 per size;
// BENCH_CPU_PROF=dir writes the panel's CPU profile there).
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import { createTestDatabase } from '@tula/db/testing';
import { apiClient, signUp } from '../test/support/control.ts';
import { startPanel } from '../test/support/panel.ts';
import { cpuSeconds, quantile, startProfile } from '../test/support/measure.ts';
import { forkSimulatedAgents, insertSimulatedNodes, type SimulatedNode } from '../test/support/simulated-agents.ts';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
if (sizes.length === 0) sizes.push(1000, 5000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 180);
const WARMUP_S = 20;
/** Agents enrolled through the enrollment endpoint (the rest are inserted with credentials). */
const ENROLLED = Number(process.env.BENCH_ENROLLED ?? 50);
/** Processes the simulated agents are spread over (each holds its share of the sockets). */
const SIMULATOR_PROCESSES = Number(process.env.BENCH_SIM_PROCESSES ?? 4);
const SERVICES = 10;
const BACKENDS = 4;
const COUNTER_TABLES = ['CounterSample', 'CounterRollup', 'CounterNodeSample', 'CounterCursorBatch', 'HealthTransition'];

async function enroll(panelUrl: string, tokens: string[], n: number): Promise<SimulatedNode[]> {
  const nodes: SimulatedNode[] = [];
  const one = async (i: number) => {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${panelUrl}/api/agent/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: tokens[Math.floor(i / 1000)], name: `sim${i}`, hostname: `sim${i}` }),
      });
      if (res.ok) {
        const r = (await res.json()) as { nodeId: string; credential: string };
        nodes[i] = { id: r.nodeId, credential: r.credential, address: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` };
        return;
      }
      if (attempt > 20) throw new Error(`enrolling agent ${i}: ${res.status} ${await res.text()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  // A few at a time: each enrollment recompiles the organisation.
  for (let i = 0; i < n; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, k) => one(i + k)));
    if (i % 1000 === 0) process.stderr.write(`${n} agents: ${i} enrolled\n`);
  }
  return nodes;
}

/** Rows inserted or updated so far in each counter table (its partitions included). */
async function tableWrites(sql: pg.Client): Promise<Record<string, number>> {
  const { rows } = await sql.query<{ relname: string; n: string }>(
    `SELECT relname, (n_tup_ins + n_tup_upd)::text AS n FROM pg_stat_user_tables WHERE relname = ANY($1) OR relname LIKE ANY($2)`,
    [COUNTER_TABLES, COUNTER_TABLES.map((t) => `${t}_%`)],
  );
  const byTable: Record<string, number> = Object.fromEntries(COUNTER_TABLES.map((t) => [t, 0]));
  for (const r of rows) {
    const table = COUNTER_TABLES.find((t) => r.relname === t || r.relname.startsWith(`${t}_`))!;
    byTable[table]! += Number(r.n);
  }
  return byTable;
}

/** How often each close (code and reason, without the node) occurred, most frequent first. */
function countReasons(closed: string[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const c of closed) {
    const reason = c.replace(/^[^:]*: /, '');
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]);
}

const total = (byTable: Record<string, number>) => Object.values(byTable).reduce((a, b) => a + b, 0);

async function run(n: number) {
  const db = await createTestDatabase(undefined, 'tula_b_');
  const profDir = process.env.BENCH_CPU_PROF;
  if (profDir) mkdirSync(profDir, { recursive: true });
  const panel = await startPanel(
    {
      DATABASE_URL: db.url,
      TULA_AUTH_SECRET: 'b'.repeat(40),
      TULA_TRIAL_MAX_NODES: String(n + 10),
      TULA_ENROLLMENTS_PER_MINUTE: String(n * 10),
      // --cpu-prof is refused in NODE_OPTIONS: the profile is taken over the inspector.
      ...(profDir && { NODE_OPTIONS: '--inspect=127.0.0.1:0' }),
    },
    120_000,
  );
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  try {
    const cookie = await signUp(panel.url, `bench-${n}@example.com`);
    const api = apiClient(panel.url, cookie);
    const tokens: string[] = [];
    for (let i = 0; i < Math.min(n, ENROLLED); i += 1000) tokens.push((await api.tokens.create.mutate({ maxUses: 1000 })).token);
    // ENROLLED agents go through the real enrollment endpoint (token in, credential out); the rest get
    // credentials the same way the endpoint makes them, inserted directly: each enrollment recompiles the
    // organisation, and enrolling 1,000 took minutes on the shared bench machine.
    const t0 = Date.now();
    const enrolled = await enroll(panel.url, tokens, Math.min(n, ENROLLED));
    process.stderr.write(`${enrolled.length} agents enrolled in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    const org = (await sql.query<{ id: string }>('SELECT id FROM "Organization" LIMIT 1')).rows[0]!.id;
    const inserted = n > ENROLLED ? await insertSimulatedNodes(sql, org, n - ENROLLED) : [];
    const nodes = [...enrolled, ...inserted];
    // Services need a balancer: the first agent balances all of them; every agent reports them all
    // (the gateway sums whatever its agents report per service).
    await sql.query(`UPDATE "Node" SET role = 'both' WHERE id = $1`, [nodes[0]!.id]);
    const backendAddress = (s: number, b: number) => `10.200.${s}.${b + 1}`;
    for (let s = 0; s < SERVICES; s++)
      await api.services.create.mutate({
        name: `bench-${s}`,
        vip: `10.99.0.${s + 1}`,
        ports: '443',
        protocol: 'tcp',
        mode: 'l3',
        tunnel: 'vxlan',
        balancerNodeIds: [nodes[0]!.id],
        backends: Array.from({ length: BACKENDS }, (_, b) => ({ address: backendAddress(s, b) })),
        healthCheck: { type: 'none' },
      });
    const services = Array.from({ length: SERVICES }, (_, s) => ({
      name: `bench-${s}`,
      packets: 40,
      bytes: 4000,
      newFlows: 4,
      drops: 0,
      backends: Array.from({ length: BACKENDS }, (_, b) => ({
        address: backendAddress(s, b),
        packets: 10,
        bytes: 1000,
        newFlows: 1,
        healthy: true,
      })),
    }));

    let measuring = false;
    const ingestLags: number[] = [];
    const liveLags: number[] = [];
    // The live lag in two parts: from the second's end to the start of the flush that stored it (the batch id in the
    // event's cursor: when the report arrived and when the flush timer fired), and from there to the event (the flush's
    // transaction, then the stream).
    const untilFlush: number[] = [];
    const afterFlushStart: number[] = [];
    const t1 = Date.now();
    const fleet = await forkSimulatedAgents(panel.url, nodes, {
      processes: SIMULATOR_PROCESSES,
      reportEveryMs: 1000,
      body: { services, vips: [] },
      onAck: (ms) => measuring && ingestLags.push(ms),
    });
    const connectSeconds = Math.round((Date.now() - t1) / 1000);
    process.stderr.write(`${n} agents connected in ${connectSeconds} s\n`);
    // A browser's live chart: each row is one second's sum (per replica) of one series; its lag is
    // when it arrives after that second ended.
    const sub = api.live.counters.subscribe(undefined, {
      onData: ({ id, data: rows }) => {
        if (!measuring) return;
        const now = Date.now();
        // One replica here: its newest batch delivered is the flush that stored these rows.
        const batch = Math.max(...Object.values((JSON.parse(id) as { r: Record<string, number> }).r));
        for (const r of rows) {
          liveLags.push(now - (new Date(r.at).getTime() + 1000));
          untilFlush.push(batch - (new Date(r.at).getTime() + 1000));
        }
        if (rows.length) afterFlushStart.push(now - batch);
      },
    });
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));

    const stopProfile = profDir ? await startProfile(/ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(panel.output())![0]) : undefined;
    measuring = true;
    const start = {
      at: Date.now(),
      cpu: cpuSeconds(panel.child.pid!),
      simulatorCpu: fleet.cpuSeconds(),
      writes: await tableWrites(sql),
      size: 0,
      acked: fleet.reports.acked,
    };
    start.size = Number((await sql.query<{ s: string }>('SELECT pg_database_size(current_database())::text AS s')).rows[0]!.s);
    const backlog: number[] = [];
    while (Date.now() - start.at < SECONDS * 1000) {
      await new Promise((r) => setTimeout(r, 10_000));
      backlog.push(fleet.reports.sent - fleet.reports.acked);
      process.stderr.write(`${n} agents: ${((Date.now() - start.at) / 1000).toFixed(0)} s, ${backlog.at(-1)} reports unacknowledged\n`);
    }
    const end = {
      at: Date.now(),
      cpu: cpuSeconds(panel.child.pid!),
      simulatorCpu: fleet.cpuSeconds(),
      writes: await tableWrites(sql),
      acked: fleet.reports.acked,
    };
    const size = Number((await sql.query<{ s: string }>('SELECT pg_database_size(current_database())::text AS s')).rows[0]!.s);
    measuring = false;
    await stopProfile?.(`${profDir}/panel-${n}.cpuprofile`);
    sub.unsubscribe();
    await fleet.stop();
    const secs = (end.at - start.at) / 1000;
    return {
      agents: n,
      seconds: Math.round(secs),
      reportsPerSecond: Math.round((end.acked - start.acked) / secs),
      rowsPerSecond: Math.round((total(end.writes) - total(start.writes)) / secs),
      rowsPerSecondByTable: Object.fromEntries(COUNTER_TABLES.map((t) => [t, Math.round((end.writes[t]! - start.writes[t]!) / secs)])),
      ingestLagMs: { p50: quantile(ingestLags, 0.5), p99: quantile(ingestLags, 0.99) },
      backlog: { first: backlog[0], last: backlog.at(-1), max: Math.max(...backlog) },
      liveLagMs: { p50: quantile(liveLags, 0.5), p99: quantile(liveLags, 0.99), rows: liveLags.length },
      liveLagPartsMs: {
        untilFlush: { p50: quantile(untilFlush, 0.5), p99: quantile(untilFlush, 0.99) },
        flushStartToEvent: { p50: quantile(afterFlushStart, 0.5), p99: quantile(afterFlushStart, 0.99) },
      },
      panelCpuCores: +((end.cpu - start.cpu) / secs).toFixed(3),
      panelCpuCoresPer1000Agents: +((end.cpu - start.cpu) / secs / (n / 1000)).toFixed(3),
      simulatorCpuCores: +((end.simulatorCpu - start.simulatorCpu) / secs).toFixed(3),
      simulatorProcesses: SIMULATOR_PROCESSES,
      connectSeconds,
      loadAverage: loadavg().map((x) => +x.toFixed(1)),
      dbGrowthMbPerHour: +((((size - start.size) / secs) * 3600) / 1024 / 1024).toFixed(1),
      closedByPanel: fleet.closed.length,
      closeReasons: countReasons(fleet.closed),
    };
  } finally {
    await sql.end();
    await panel.stop();
    await db.drop();
    // The panel's own account of failed counter flushes (or retention), which the figures above cannot explain.
    const logged = panel
      .output()
      .split('\n')
      .filter((l) => /^(gateway: )?(counters|retention):/.test(l));
    if (logged.length)
      process.stderr.write(
        `${n} agents: ${logged.length} counter log lines; first: ${logged.slice(0, 3).join(' | ')}; last: ${logged.at(-1)}\n`,
      );
  }
}

const results = [];
for (const n of sizes) {
  const r = await run(n);
  console.log(JSON.stringify(r));
  results.push(r);
}
if (results.length > 1) {
  const [a, b] = [results[0]!, results.at(-1)!];
  console.log(`rows/s at ${b.agents} agents = ${(b.rowsPerSecond / a.rowsPerSecond).toFixed(2)} x rows/s at ${a.agents} (goal <= 1.2)`);
}
process.exit(0);
