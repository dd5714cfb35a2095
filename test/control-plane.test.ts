// The control plane end to end with real panel processes on a real PostgreSQL
// database and real agent processes (dry-run applier: same code and renderer,
// no kernel calls). The kernel side is in control-plane-lab.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { CloseCode } from '@tula/protocol';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { apiClient, signUp, startAgent, waitFor, type AgentProcess, type Api } from './support/control.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';

let db: TestDatabase;
let panelA: PanelProcess;
let panelB: PanelProcess;
let api: Api;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  // Every agent here enrolls from 127.0.0.1; the brute-force limit has its own test below.
  const env = {
    DATABASE_URL: db.url,
    TULA_AUTH_SECRET: 'x'.repeat(40),
    TULA_TRIAL_MAX_NODES: '100',
    TULA_ENROLLMENTS_PER_MINUTE: '1000',
    TULA_METRICS_TOKEN: 'm'.repeat(32),
  };
  panelA = await startPanel(env);
  panelB = await startPanel(env);
  api = apiClient(panelA.url, await signUp(panelA.url, `cp-${Date.now()}@example.com`));
});
afterAll(async () => {
  for (const a of agents) await a.stop();
  await panelA?.stop();
  await panelB?.stop();
  await db?.drop();
});

async function enrolledAgent(name: string, panel = panelA, extra: Partial<Parameters<typeof startAgent>[0]> = {}) {
  const { token } = await api.tokens.create.mutate({});
  const agent = startAgent({ server: panel.url, token, name, ...extra });
  agents.push(agent);
  const node = await waitFor(`node ${name} to connect and apply`, async () => {
    const n = (await api.nodes.list.query()).find((x) => x.name === name);
    return n?.online && n.inSync ? n : undefined;
  });
  return { agent, node };
}

let nextPort = 8000;
const serviceInput = (name: string, balancerNodeIds: string[], extra: Record<string, unknown> = {}) => ({
  name,
  vip: '10.50.0.10',
  ports: String(nextPort++),
  protocol: 'tcp' as const,
  mode: 'l2' as const,
  balancerNodeIds,
  backends: [{ address: '10.50.0.11' }, { address: '10.50.0.12', weight: 2 }],
  ...extra,
});

describe('agents and the panel', () => {
  it('happy path: enroll, create a service through the API, the agent ACKs the version', async () => {
    const { agent, node } = await enrolledAgent('edge-1');
    expect(node.desiredVersion).toBe(1);
    expect(node.capabilities).toMatchObject({ canBalance: true });
    const { id } = await api.services.create.mutate(serviceInput('web', [node.id]));
    const synced = await waitFor('the new version to be applied', async () => {
      const n = await api.nodes.get.query({ id: node.id });
      return n.desiredVersion === 2 && n.inSync ? n : undefined;
    });
    expect(synced.appliedVersion).toBe(2);
    expect(JSON.stringify(synced.desiredState)).toContain('"name":"web"');
    const svc = await api.services.get.query({ id });
    expect(svc.rollout).toEqual({ nodes: 1, applied: 1, offline: 0, errors: [] });
    // The agent keeps the credential in a file only its user can read.
    const { statSync } = await import('node:fs');
    expect(statSync(join(agent.stateDir, 'credential.json')).mode & 0o777).toBe(0o600);
  });

  it('a change bumps versions only for the nodes it affects', async () => {
    const a = (await enrolledAgent('edge-2')).node;
    const b = (await enrolledAgent('edge-3')).node;
    await api.services.create.mutate(serviceInput('only-a', [a.id]));
    await waitFor('node a at version 2', async () => (await api.nodes.get.query({ id: a.id })).desiredVersion === 2);
    expect((await api.nodes.get.query({ id: b.id })).desiredVersion).toBe(1);
  });

  it('a change made on one replica reaches an agent connected to the other', async () => {
    const { node } = await enrolledAgent('edge-b', panelB);
    await api.services.create.mutate(serviceInput('via-a', [node.id]));
    await waitFor('the agent on replica B to apply the change made on A', async () => {
      const n = await api.nodes.get.query({ id: node.id });
      return n.desiredVersion === 2 && n.inSync;
    });
  });

  it('an agent that cannot reach the panel reapplies its last good state at boot', async () => {
    const { agent, node } = await enrolledAgent('edge-lkg');
    await agent.stop();
    // Same host, same state directory, a panel that does not answer: forwarding state comes back anyway.
    panelA.child.kill('SIGSTOP');
    const restartedAt = Date.now();
    const offline = startAgent({ server: panelA.url, name: 'edge-lkg', stateDir: agent.stateDir, extra: [] });
    agents.push(offline);
    try {
      await waitFor('the last good state to be applied', () => {
        const status = JSON.parse(readFileSync(join(agent.stateDir, 'status.json'), 'utf8')) as { version?: number; appliedAt?: string };
        return (
          offline.output().includes(`reapplying the last good state (version ${node.desiredVersion})`) &&
          status.version === node.desiredVersion &&
          Date.parse(status.appliedAt ?? '') >= restartedAt
        );
      });
    } finally {
      panelA.child.kill('SIGCONT');
    }
    await waitFor(
      'the agent to reconnect',
      async () => (await api.nodes.get.query({ id: node.id })).online && offline.output().includes('desired state'),
    );
  });

  it('serves Prometheus metrics on the panel and on the agent', async () => {
    const text = await (await fetch(`${panelA.url}/metrics`, { headers: { authorization: `Bearer ${'m'.repeat(32)}` } })).text();
    expect(text).toMatch(/^tula_gateway_connections \d+$/m);
    expect(text).toMatch(/^tula_gateway_acks_total \d+$/m);
    const { token } = await api.tokens.create.mutate({});
    const port = 19000 + Math.floor(Math.random() * 1000);
    const agent = startAgent({ server: panelA.url, token, name: 'edge-metrics', extra: ['--metrics-port', String(port)] });
    agents.push(agent);
    const metrics = await waitFor('agent metrics', async () => {
      const t = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /tula_agent_desired_version [1-9]/.test(t) ? t : undefined;
    });
    expect(metrics).toContain('# TYPE tula_service_bytes_total counter');
  });

  it('a restarted panel: agents reconnect and resync without reapplying anything', async () => {
    const { agent, node } = await enrolledAgent('edge-r', panelB);
    const before = agent.output().match(/applied version/g)?.length ?? 0;
    await panelB.stop('SIGKILL');
    panelB = await startPanel(
      { DATABASE_URL: db.url, TULA_AUTH_SECRET: 'x'.repeat(40), TULA_TRIAL_MAX_NODES: '100', TULA_ENROLLMENTS_PER_MINUTE: '1000' },
      90_000,
      { port: panelB.port },
    );
    await waitFor(
      'the agent to reconnect',
      () => agent.output().includes('disconnected from the panel') && agent.output().split('desired state version').length > 1,
    );
    await waitFor('the node to be online again', async () => (await api.nodes.get.query({ id: node.id })).online);
    await new Promise((r) => setTimeout(r, 1500));
    expect(agent.output().match(/applied version/g)?.length ?? 0).toBe(before);
    // The panel's start alone may take up to 90 s (above), then two waits of up to 20 s each.
  }, 180_000);
});

describe('credentials and tokens', () => {
  it('a revoked credential is disconnected at once and refused on reconnect', async () => {
    const { agent, node } = await enrolledAgent('edge-x');
    await api.nodes.revoke.mutate({ id: node.id });
    await waitFor('the agent to be disconnected', () => agent.output().includes(`(${CloseCode.unauthorized}`));
    await waitFor('the reconnect to be refused', () => agent.output().includes('HTTP 401'), 40_000);
  });

  it('a used-up token and an expired token are refused', async () => {
    const { token, id } = await api.tokens.create.mutate({ maxUses: 1 });
    const enroll = (t: string, name: string) =>
      fetch(`${panelA.url}/api/agent/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: t, name, hostname: 'h' }),
      });
    expect((await enroll(token, 'once-1')).status).toBe(201);
    const second = await enroll(token, 'once-2');
    expect(second.status).toBe(401);
    expect((await second.json()).error).toMatch(/used up/);
    const { token: expiring, id: expiringId } = await api.tokens.create.mutate({ maxUses: 5 });
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    await sql.query(`UPDATE "EnrollmentToken" SET "expiresAt" = now() - interval '1 second' WHERE id = $1`, [expiringId]);
    await sql.end();
    expect((await enroll(expiring, 'late')).status).toBe(401);
    expect((await api.tokens.list.query()).find((t) => t.id === id)?.usable).toBe(false);
  });

  it('a rotated credential replaces the old one, which stops working', async () => {
    const { agent, node } = await enrolledAgent('edge-rot');
    const old = JSON.parse(readFileSync(join(agent.stateDir, 'credential.json'), 'utf8')).credential as string;
    await api.nodes.rotateCredential.mutate({ id: node.id });
    const fresh = await waitFor('the agent to save a new credential', () => {
      const c = JSON.parse(readFileSync(join(agent.stateDir, 'credential.json'), 'utf8')).credential as string;
      return c !== old ? c : undefined;
    });
    await waitFor(
      'the rotation to complete',
      async () => (await api.nodes.get.query({ id: node.id })).credentialRotatedAt > node.credentialRotatedAt,
    );
    const tryConnect = (credential: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${panelA.url.replace('http', 'ws')}/agent`, { headers: { authorization: `Bearer ${credential}` } });
        ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
      });
    expect(await tryConnect(old)).toBe(401);
    expect(await tryConnect(fresh)).toBe(101);
  });
});

describe('bad input on the agent socket', () => {
  async function socketFor(name: string) {
    const { token } = await api.tokens.create.mutate({});
    const res = await fetch(`${panelA.url}/api/agent/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, name, hostname: 'h' }),
    });
    expect(res.status).toBe(201);
    const { credential } = (await res.json()) as { credential: string };
    const ws = new WebSocket(`${panelA.url.replace('http', 'ws')}/agent`, { headers: { authorization: `Bearer ${credential}` } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return ws;
  }
  const closed = (ws: WebSocket) =>
    new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));

  it('closes on a malformed message with a reason, on an oversized one, and keeps serving', async () => {
    const a = await socketFor('bad-1');
    const c1 = closed(a);
    a.send('{not json');
    expect(await c1).toEqual({ code: CloseCode.badMessage, reason: 'not JSON' });

    const b = await socketFor('bad-2');
    const c2 = closed(b);
    b.send(JSON.stringify({ type: 'ack', version: 1, hash: 'x' }));
    expect((await c2).reason).toBe('the first message must be hello');

    const c = await socketFor('bad-3');
    const c3 = closed(c);
    c.send('x'.repeat(2 * 1024 * 1024));
    expect((await c3).code).toBe(1009);

    expect((await fetch(`${panelA.url}/api/health`)).status).toBe(200);
  });

  it("never gives a node another node's state: a hello naming another node is refused", async () => {
    const ws = await socketFor('bad-4');
    const c = closed(ws);
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocol: 1,
        nodeId: 'someone-else',
        agentVersion: 't',
        hostname: 'h',
        addresses: [],
        appliedVersion: null,
        appliedHash: null,
        capabilities: { tunnels: [], nftVersion: null, kernel: 'k', canBalance: true, canServe: true },
      }),
    );
    expect(await c).toEqual({ code: CloseCode.badMessage, reason: 'the hello names another node than the credential' });
  });

  it('limits enrollment attempts per address: guessing tokens gets 429 with Retry-After', async () => {
    // A database of its own: attempts are counted in the database, and this file's
    // earlier enrollments from 127.0.0.1 count against the same address there.
    const strictDb = await createTestDatabase();
    const strict = await startPanel({ DATABASE_URL: strictDb.url, TULA_AUTH_SECRET: 'x'.repeat(40), TULA_ENROLLMENTS_PER_MINUTE: '3' });
    try {
      const guess = () =>
        fetch(`${strict.url}/api/agent/enroll`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token: `tet_guess${Math.random()}`, name: 'g', hostname: 'h' }),
        });
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await guess()).status);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      expect((await guess()).headers.get('retry-after')).toBe('60');
    } finally {
      await strict.stop();
      await strictDb.drop();
    }
  });

  it('rate-limits a reconnect storm from one address', async () => {
    const { token } = await api.tokens.create.mutate({});
    const res = await fetch(`${panelA.url}/api/agent/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, name: 'storm', hostname: 'h' }),
    });
    const { credential } = (await res.json()) as { credential: string };
    const statuses = await Promise.all(
      Array.from(
        { length: 120 },
        () =>
          new Promise<number>((resolve) => {
            const ws = new WebSocket(`${panelA.url.replace('http', 'ws')}/agent`, { headers: { authorization: `Bearer ${credential}` } });
            ws.on('unexpected-response', (_q, r) => resolve(r.statusCode ?? 0));
            ws.on('open', () => {
              ws.terminate();
              resolve(101);
            });
            ws.on('error', () => resolve(-1));
          }),
      ),
    );
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 101).length).toBeGreaterThan(0);
  });
});

describe('with the embedded database (one process, in-process bus)', () => {
  it('enrolls an agent and pushes a change to it', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dataDir = mkdtempSync(join(tmpdir(), 'tula-embedded-cp-'));
    const panel = await startPanel({ DATABASE_URL: '', TULA_DATA_DIR: dataDir });
    try {
      const local = apiClient(panel.url, await signUp(panel.url, 'embedded@example.com'));
      const { token } = await local.tokens.create.mutate({});
      const agent = startAgent({ server: panel.url, token, name: 'solo' });
      agents.push(agent);
      const node = await waitFor('the node to apply its first document', async () =>
        (await local.nodes.list.query()).find((n) => n.inSync),
      );
      await local.services.create.mutate(serviceInput('embedded', [node.id]));
      await waitFor('the change to be applied', async () => {
        const n = await local.nodes.get.query({ id: node.id });
        return n.desiredVersion === 2 && n.inSync;
      });
      await agent.stop();
    } finally {
      await panel.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
    // A fresh embedded database is created and migrated first: slow on a busy machine, not a measure.
  }, 180_000);
});
