// What the panel says about the fleet is what is true now: presence within
// seconds, each backend's current health per balancer with the last check's
// error, services rolled up from it, and agents' warnings. Real panel process,
// real PostgreSQL, real agent processes (dry-run applier, real health checks).
import { createServer, type Server } from 'node:net';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { PING_MS, SILENT_LIMIT_MS } from '@tula/gateway';
import { PROTOCOL_VERSION } from '@tula/protocol';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { apiClient, signUp, startAgent, waitFor, type AgentProcess, type Api } from './support/control.ts';
import { startPanel, freePort, type PanelProcess } from './support/panel.ts';
import { insertSimulatedNodes } from './support/simulated-agents.ts';

let db: TestDatabase;
let panel: PanelProcess;
let api: Api;
const agents: AgentProcess[] = [];
const servers: Server[] = [];

/** The bound the issue sets for a stopped or unreachable agent to show offline. */
const OFFLINE_WITHIN_MS = 10_000;

beforeAll(async () => {
  db = await createTestDatabase();
  panel = await startPanel({
    DATABASE_URL: db.url,
    TULA_AUTH_SECRET: 'x'.repeat(40),
    TULA_TRIAL_MAX_NODES: '100',
    TULA_ENROLLMENTS_PER_MINUTE: '1000',
  });
  api = apiClient(panel.url, await signUp(panel.url, `truth-${Date.now()}@example.com`));
});
afterAll(async () => {
  for (const a of agents) {
    a.child.kill('SIGCONT');
    await a.stop();
  }
  for (const s of servers) s.close();
  await panel?.stop();
  await db?.drop();
});

async function enrolledAgent(name: string, extra: string[] = []) {
  const { token } = await api.tokens.create.mutate({});
  const agent = startAgent({ server: panel.url, token, name, extra });
  agents.push(agent);
  const node = await waitFor(`node ${name} to connect and apply`, async () => {
    const n = (await api.nodes.list.query()).find((x) => x.name === name);
    return n?.online && n.inSync ? n : undefined;
  });
  return { agent, node };
}

describe('presence', () => {
  it('an agent that stops is offline within 10 s', async () => {
    const { agent, node } = await enrolledAgent('stops');
    const stoppedAt = Date.now();
    await agent.stop();
    await waitFor('the stopped agent to show offline', async () => !(await api.nodes.get.query({ id: node.id })).online, OFFLINE_WITHIN_MS);
    console.log(`presence: a stopped agent showed offline ${Date.now() - stoppedAt} ms after SIGTERM`);
  });

  it('an agent that stops answering (no close, as on a lost link) is offline within 10 s', async () => {
    const { agent, node } = await enrolledAgent('hangs');
    // A stopped process keeps its socket open and silent, like a host whose link went away.
    const stoppedAt = Date.now();
    agent.child.kill('SIGSTOP');
    try {
      await waitFor(
        'the silent agent to show offline',
        async () => !(await api.nodes.get.query({ id: node.id })).online,
        OFFLINE_WITHIN_MS,
      );
      console.log(`presence: a silent agent showed offline ${Date.now() - stoppedAt} ms after SIGSTOP`);
    } finally {
      agent.child.kill('SIGCONT');
    }
    await waitFor('the agent to come back online', async () => (await api.nodes.get.query({ id: node.id })).online, 30_000);
  });

  it('a panel that stalls longer than the silent limit keeps its agents connected', async () => {
    const { agent, node } = await enrolledAgent('outlasts');
    // A stopped panel process: what a long garbage collection, a starved process or a paused VM look like to its
    // agents. On waking, its timers fire before it reads the pongs that arrived meanwhile.
    panel.child.kill('SIGSTOP');
    try {
      await new Promise((r) => setTimeout(r, SILENT_LIMIT_MS + 2_000));
    } finally {
      panel.child.kill('SIGCONT');
    }
    // Three heartbeats after it wakes.
    await new Promise((r) => setTimeout(r, 3 * PING_MS));
    expect(agent.output()).not.toContain('disconnected from the panel');
    expect((await api.nodes.get.query({ id: node.id })).online).toBe(true);
  });

  it('an agent whose panel sends nothing past its hold time drops the connection and connects again', async () => {
    const { agent, node } = await enrolledAgent('holds', ['--panel-hold-time', '5']);
    // The panel's process stops: its socket stays open and silent, as when the panel's host or the path to it is lost
    // (no close arrives, and TCP alone would keep the connection for many minutes).
    const stoppedAt = Date.now();
    panel.child.kill('SIGSTOP');
    try {
      await waitFor('the agent to give the silent connection up', () => agent.output().includes('the panel sent nothing for'), 15_000);
      console.log(`presence: the agent gave a silent panel up ${Date.now() - stoppedAt} ms after it stopped (hold time 5 s)`);
    } finally {
      panel.child.kill('SIGCONT');
    }
    const resumedAt = Date.now();
    // Its own line, printed once the socket has closed: after the line above, not with it (a CI run read the output between the two).
    await waitFor('the agent to report the disconnection', () => agent.output().includes('disconnected from the panel'), 15_000);
    // Heard on a connection made after the panel resumed: the old one was given up.
    await waitFor(
      'the agent to connect again',
      async () => {
        const n = (await api.nodes.list.query()).find((x) => x.id === node.id);
        return n?.online && n.lastSeenAt && n.lastSeenAt.getTime() > resumedAt + PING_MS;
      },
      40_000,
    );
  });
});

describe('current health', () => {
  it('a backend whose server is down shows failing with the reason, and its service degraded', async () => {
    const { node } = await enrolledAgent('checker');
    const port = await freePort();
    const up = createServer((s) => s.destroy());
    servers.push(up);
    await new Promise<void>((r) => up.listen(port, '127.0.0.2', r));
    const { id } = await api.services.create.mutate({
      name: 'half',
      vip: '10.60.0.10',
      ports: String(port),
      protocol: 'tcp',
      mode: 'l2',
      balancerNodeIds: [node.id],
      // 127.0.0.2 answers on the port; nothing listens on 127.0.0.3.
      backends: [{ address: '127.0.0.2' }, { address: '127.0.0.3' }],
      healthCheck: { type: 'tcp', intervalMs: 200, timeoutMs: 150, rise: 1, fall: 1 },
    });
    const svc = await waitFor('the service to show degraded', async () => {
      const s = await api.services.get.query({ id });
      return s.health.state === 'degraded' ? s : undefined;
    });
    const byAddress = Object.fromEntries(svc.backends.map((b) => [b.address, b.health]));
    expect(byAddress['127.0.0.3']).toMatchObject({
      state: 'failing',
      checks: [{ nodeId: node.id, node: 'checker', state: 'failing', error: 'connection refused' }],
    });
    expect(byAddress['127.0.0.3']!.checks[0]!.since).toBeTruthy();
    expect(byAddress['127.0.0.2']).toMatchObject({ state: 'healthy', checks: [{ nodeId: node.id, state: 'healthy' }] });
    // The list and the fleet roll-up say so too.
    expect((await api.services.list.query()).find((s) => s.id === id)?.health.state).toBe('degraded');
    expect((await api.org.summary.query()).counts.degradedServices).toBeGreaterThanOrEqual(1);

    // The server comes back: healthy everywhere.
    const down = createServer((s) => s.destroy());
    servers.push(down);
    await new Promise<void>((r) => down.listen(port, '127.0.0.3', r));
    await waitFor('the service to show healthy', async () => (await api.services.get.query({ id })).health.state === 'healthy');
  });
});

describe('agent warnings', () => {
  it('reach the node, the services they concern and the overview', async () => {
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const org = await api.org.summary.query();
    const [sim] = await insertSimulatedNodes(sql, org.id, 1);
    await sql.query(`UPDATE "Node" SET role = 'both' WHERE id = $1`, [sim!.id]);
    await sql.end();
    const { id } = await api.services.create.mutate({
      name: 'warned',
      vip: '10.60.0.20',
      ports: '80',
      protocol: 'tcp',
      mode: 'l2',
      balancerNodeIds: [sim!.id],
      backends: [{ address: '10.60.0.21' }],
    });
    const ws = new WebSocket(`${panel.url.replace('http', 'ws')}/agent`, { headers: { authorization: `Bearer ${sim!.credential}` } });
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { type: string; version: number; hash: string };
      if (msg.type === 'desired') ws.send(JSON.stringify({ type: 'ack', version: msg.version, hash: msg.hash }));
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        nodeId: sim!.id,
        agentVersion: 'simulated',
        hostname: 'sim',
        addresses: [],
        appliedVersion: null,
        appliedHash: null,
        capabilities: { tunnels: [], nftVersion: null, kernel: 'simulated', canBalance: true, canServe: true },
      }),
    );
    const warning = 'service warned: no MAC known for backend 10.60.0.21 on e0';
    ws.send(
      JSON.stringify({
        type: 'status',
        failing: [{ service: 'warned', address: '10.60.0.21', since: Date.now(), error: 'no MAC known' }],
        warnings: [warning],
      }),
    );
    try {
      const n = await waitFor('the node to show the warning', async () => {
        const x = await api.nodes.get.query({ id: sim!.id });
        return x.warnings.length ? x : undefined;
      });
      expect(n.warnings).toEqual([{ service: 'warned', message: warning }]);
      // Once the node's ACK of its document is recorded, it vouches for the backend.
      const svc = await waitFor('the backend to show failing', async () => {
        const x = await api.services.get.query({ id });
        return x.backends[0]!.health.checks[0]?.state === 'failing' ? x : undefined;
      });
      expect(svc.health.warnings).toEqual([{ nodeId: sim!.id, node: sim!.id, message: warning }]);
      expect(svc.backends[0]!.health.checks[0]).toMatchObject({ state: 'failing', error: 'no MAC known' });
      expect(svc.health.state).toBe('down');
      expect((await api.org.summary.query()).counts.nodesWithWarnings).toBe(1);
      // Malformed status is refused like any other bad message.
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      ws.send(JSON.stringify({ type: 'status', failing: [], warnings: [42] }));
      expect(await closed).toBe(4400);
    } finally {
      ws.terminate();
    }
  });
});

describe('no silent nonsense', () => {
  it('a service needs a balancer and a backend, or is a draft that no node carries', async () => {
    const { node } = await enrolledAgent('drafter');
    const base = { vip: '10.60.0.30', ports: '80', protocol: 'tcp' as const, mode: 'l2' as const };
    await expect(api.services.create.mutate({ ...base, name: 'empty', balancerNodeIds: [node.id], backends: [] })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST' },
      message: expect.stringContaining('add at least one backend, or save it as a draft'),
    });
    const { id } = await api.services.create.mutate({
      ...base,
      name: 'drafty',
      balancerNodeIds: [node.id],
      backends: [{ address: '10.60.0.31' }],
      draft: true,
    });
    const svc = await api.services.get.query({ id });
    expect(svc.health.state).toBe('draft');
    expect(JSON.stringify((await api.nodes.get.query({ id: node.id })).desiredState)).not.toContain('drafty');
    // Out of draft: the node carries it.
    await api.services.update.mutate({
      id,
      service: { ...base, name: 'drafty', balancerNodeIds: [node.id], backends: [{ address: '10.60.0.31' }], draft: false },
    });
    await waitFor('the node to carry the service', async () =>
      JSON.stringify((await api.nodes.get.query({ id: node.id })).desiredState).includes('drafty'),
    );
  });
});

describe('health history', () => {
  it('starts the range with the state each balancer saw before it, not "no report"', async () => {
    const svc = (await api.services.list.query()).find((s) => s.name === 'half')!;
    const backend = svc.backends.find((b) => b.address === '127.0.0.3')!;
    const nodeId = svc.balancers[0]!.node.id;
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const org = await api.org.summary.query();
    // Down since two hours ago, before the one-hour range.
    await sql.query(
      `INSERT INTO "HealthTransition" ("organizationId", "nodeId", "backendId", healthy, at) VALUES ($1, $2, $3, false, now() - interval '2 hours')`,
      [org.id, nodeId, backend.id],
    );
    await sql.end();
    const timeline = await api.stats.health.query({ serviceId: svc.id, range: '1h' });
    const own = timeline.transitions.filter((t) => t.backendId === backend.id);
    expect(own[0]).toMatchObject({ healthy: false, nodeId });
    expect(new Date(own[0]!.at).getTime()).toBe(timeline.since);
  });
});
