// The agent gateway in this process, on a real PostgreSQL database, with agents as
// plain WebSocket clients: what its statements on the pg pool (handshake, hello,
// heartbeat, upgrade claim) record, and that a new node's first document is
// compiled without recompiling the rest of its organisation.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBus, recompileOrganization, sha256 } from '@tula/control';
import type { Database } from '@tula/db';
import { openTestDatabase, type OpenTestDatabase } from '@tula/db/testing';
import { PROTOCOL_VERSION } from '@tula/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AgentGateway } from '../src/gateway.ts';

let testDb: OpenTestDatabase;
let db: Database;
let server: Server;
let gateway: AgentGateway;
let url: string;
let organizationId: string;
const releaseDir = mkdtempSync(join(tmpdir(), 'tula-gateway-release-'));
const sockets: WebSocket[] = [];

beforeAll(async () => {
  testDb = await openTestDatabase();
  db = testDb.db;
  gateway = new AgentGateway(db, new LocalBus(), { pingMs: 200, releaseDir, log: () => undefined });
  server = createServer();
  server.on('upgrade', (req, socket, head) => void gateway.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/agent`;
  organizationId = (await db.prisma.organization.create({ data: { name: 'gw', slug: `gw-${Date.now()}` } })).id;
});
afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await gateway?.close();
  server?.close();
  await testDb?.close();
});

let created = 0;
async function node(data: { role?: 'backend' | 'balancer' | 'both'; addresses?: string[] } = {}) {
  const credential = `tnc_test_${Date.now()}_${++created}_credential`;
  const row = await db.prisma.node.create({
    data: {
      organizationId,
      name: `n${created}`,
      credentialHash: sha256(credential),
      role: data.role ?? 'backend',
      addresses: data.addresses ?? [],
    },
  });
  return { id: row.id, credential };
}

/** Connects as the node and says hello; collects what the panel sends. */
async function connect(n: { id: string; credential: string }, addresses: string[]) {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${n.credential}` } });
  sockets.push(ws);
  // A refused handshake's socket, terminated at the end, reports an error there.
  ws.on('error', () => undefined);
  const received: { type: string; version?: number; [k: string]: unknown }[] = [];
  ws.on('message', (d) => received.push(JSON.parse(d.toString()) as never));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      nodeId: n.id,
      agentVersion: '0.0.1-test',
      hostname: `host-${n.id}`,
      addresses,
      appliedVersion: null,
      appliedHash: null,
      capabilities: { tunnels: ['vxlan'], nftVersion: null, kernel: 'test', canBalance: true, canServe: true },
    }),
  );
  return { ws, received };
}

async function until<T>(f: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the agent gateway', () => {
  it("a new node's first hello compiles its own document and leaves every other node's as it is", async () => {
    const lb = await node({ role: 'balancer', addresses: ['192.0.2.1'] });
    const other = await node({ addresses: ['192.0.2.20'] });
    const service = await db.prisma.service.create({
      data: { organizationId, name: 'web', vip: '198.51.100.10', portStart: 80, portEnd: 80, protocol: 'tcp', mode: 'l3', tunnel: 'vxlan' },
    });
    await db.prisma.serviceBalancer.create({ data: { organizationId, serviceId: service.id, nodeId: lb.id } });
    await db.prisma.backend.create({ data: { organizationId, serviceId: service.id, address: '192.0.2.30' } });
    await recompileOrganization(db.prisma, organizationId);
    // A document another path left behind (as if written by an older compiler): only a change of the
    // organisation, which recompiles everything, may rewrite it; a node connecting must not.
    await db.prisma.node.update({ where: { id: other.id }, data: { desiredHash: 'left-behind', desiredVersion: 7 } });

    const fresh = await node();
    const agent = await connect(fresh, ['192.0.2.30']);
    const desired = await until(() => agent.received.find((m) => m.type === 'desired'));
    expect(desired.version).toBe(1);
    // It serves the service's backend address: its document carries the VIP, with the balancer as tunnel peer.
    expect(JSON.stringify(desired.state)).toContain('"vip":"198.51.100.10"');
    expect(JSON.stringify(desired.state)).toContain('"balancers":["192.0.2.1"]');
    const rows = await db.prisma.node.findMany({
      where: { id: { in: [other.id, fresh.id] } },
      select: { id: true, desiredHash: true, desiredVersion: true },
    });
    expect(rows.find((r) => r.id === other.id)).toMatchObject({ desiredHash: 'left-behind', desiredVersion: 7 });
    expect(rows.find((r) => r.id === fresh.id)!.desiredVersion).toBe(1);
  });

  it('records the hello and heartbeats: addresses, capabilities, connected, last seen now', async () => {
    const n = await node();
    const started = Date.now();
    await connect(n, ['192.0.2.40', '2001:db8::40']);
    const row = await until(async () => {
      const r = await db.prisma.node.findUnique({ where: { id: n.id } });
      // Heartbeats every 200 ms here: a lastSeenAt after the hello's.
      return r?.connected && r.lastSeenAt && r.lastSeenAt.getTime() > started + 300 ? r : undefined;
    });
    expect(row).toMatchObject({ addresses: ['192.0.2.40', '2001:db8::40'], hostname: `host-${n.id}`, agentVersion: '0.0.1-test' });
    expect(row.capabilities).toMatchObject({ kernel: 'test', canServe: true });
    // Stored in UTC like every other timestamp: within a few seconds of this clock.
    expect(Math.abs(row.lastSeenAt!.getTime() - Date.now())).toBeLessThan(5_000);
  });

  it('refuses a revoked credential and accepts a pending (rotated) one, finishing the rotation', async () => {
    const revoked = await node();
    await db.prisma.node.update({ where: { id: revoked.id }, data: { revokedAt: new Date() } });
    await expect(connect(revoked, [])).rejects.toThrow('HTTP 401');

    const rotating = await node();
    const pending = `tnc_pending_${Date.now()}_credential`;
    await db.prisma.node.update({ where: { id: rotating.id }, data: { pendingCredentialHash: sha256(pending) } });
    await connect({ id: rotating.id, credential: pending }, []);
    await until(async () => {
      const r = await db.prisma.node.findUnique({ where: { id: rotating.id } });
      return r?.credentialHash === sha256(pending) && r.pendingCredentialHash === null ? r : undefined;
    });
  });

  it('sends an upgrade asked for once, naming the build with its digest, and clears the request', async () => {
    writeFileSync(join(releaseDir, 'tula-agent-linux-x64'), 'not really an agent');
    const n = await node();
    await db.prisma.node.update({ where: { id: n.id }, data: { upgradeRequestedAt: new Date() } });
    const agent = await connect(n, []);
    const order = await until(() => agent.received.find((m) => m.type === 'upgrade'));
    expect(order.binaries).toEqual([{ arch: 'x64', name: 'tula-agent-linux-x64', size: 19, sha256: sha256('not really an agent') }]);
    const row = await db.prisma.node.findUnique({ where: { id: n.id } });
    expect(row?.upgradeRequestedAt).toBeNull();
    expect(row?.upgradeStatus).toMatchObject({ state: 'sent' });
  });
});
