// Many agents without many hosts: lightweight clients that speak the real agent
// protocol (hello, ACK every document, counter reports), for the control-plane
// benchmark and the soak test. Nodes are inserted directly, because enrollment
// is rate-limited per address by design.
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { WebSocket } from 'ws';
import { PROTOCOL_VERSION } from '@tula/protocol';

export interface SimulatedNode {
  id: string;
  credential: string;
  address: string;
}

export async function insertSimulatedNodes(sql: pg.Client, organizationId: string, n: number): Promise<SimulatedNode[]> {
  const nodes = Array.from({ length: n }, (_, i) => ({
    id: `sim${String(i).padStart(6, '0')}`,
    credential: `tnc_${randomBytes(24).toString('base64url')}`,
    address: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
  }));
  await sql.query(
    `INSERT INTO "Node" (id, "organizationId", name, role, "credentialHash")
     SELECT id, $1, id, 'backend', h FROM unnest($2::text[], $3::text[]) AS t(id, h)`,
    [organizationId, nodes.map((x) => x.id), nodes.map((x) => createHash('sha256').update(x.credential).digest('hex'))],
  );
  return nodes;
}

export interface SimulatedFleet {
  sockets: WebSocket[];
  /** Counter reports sent (new ones), resent (unacknowledged after 5 intervals), and acknowledged. */
  reports: { sent: number; resent: number; acked: number };
  /** Sockets the panel closed, with the reason. */
  closed: string[];
  stop(): void;
}

/**
 * Connects every node (from many loopback addresses: the gateway limits
 * handshakes per address), ACKs every document, and with `reportEveryMs` sends
 * a return-path counter report for each VIP of its document at that interval.
 */
export async function connectSimulatedAgents(
  panelUrl: string,
  nodes: SimulatedNode[],
  options: { onDesired?: (node: SimulatedNode, version: number) => void; reportEveryMs?: number } = {},
): Promise<SimulatedFleet> {
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  const fleet: SimulatedFleet = {
    sockets: [],
    reports: { sent: 0, resent: 0, acked: 0 },
    closed: [],
    stop() {
      stopping = true;
      timers.forEach(clearInterval);
      for (const ws of fleet.sockets) ws.terminate();
    },
  };
  await Promise.all(
    nodes.map(
      (node, i) =>
        new Promise<void>((resolve, reject) => {
          const connect = (attempt: number) => {
            const ws = new WebSocket(`${panelUrl.replace('http', 'ws')}/agent`, {
              headers: { authorization: `Bearer ${node.credential}` },
              localAddress: `127.0.${1 + (i % 250)}.${1 + Math.floor(i / 250)}`,
            });
            let retried = false;
            const retry = (why: string) => {
              if (retried) return;
              retried = true;
              ws.terminate();
              if (attempt > 50) reject(new Error(`node ${i}: gave up connecting (${why})`));
              else setTimeout(() => connect(attempt + 1), 200 + Math.random() * 500);
            };
            ws.on('unexpected-response', (_q, res) => retry(`HTTP ${res.statusCode}`));
            ws.on('error', (err) => retry(err.message));
            ws.on('open', () => {
              fleet.sockets.push(ws);
              ws.on('close', (code, reason) => {
                if (!stopping) fleet.closed.push(`${node.id}: ${code} ${reason.toString()}`);
              });
              ws.send(JSON.stringify({
                type: 'hello', protocol: PROTOCOL_VERSION, nodeId: node.id, agentVersion: 'simulated', hostname: node.id,
                addresses: [node.address], appliedVersion: null, appliedHash: null,
                capabilities: { tunnels: ['vxlan'], nftVersion: 'simulated', kernel: 'simulated', canBalance: false, canServe: true },
              }));
              resolve();
            });
            let vips: string[] = [];
            const boot = randomBytes(8).toString('hex');
            let seq = 0;
            // As the real agent: one report in flight, resent unchanged until acknowledged.
            let inFlight: { text: string; sentAt: number } | undefined;
            ws.on('message', (data) => {
              const msg = JSON.parse(data.toString()) as { type: string; version: number; hash: string; seq?: number; state?: { backend?: { vips: { vip: string }[] } } };
              if (msg.type === 'counters-ack') {
                if (inFlight && msg.seq === seq) {
                  fleet.reports.acked++;
                  inFlight = undefined;
                }
                return;
              }
              if (msg.type !== 'desired') return;
              vips = msg.state?.backend?.vips.map((v) => v.vip) ?? [];
              ws.send(JSON.stringify({ type: 'ack', version: msg.version, hash: msg.hash }));
              options.onDesired?.(node, msg.version);
            });
            if (options.reportEveryMs) {
              const every = options.reportEveryMs;
              timers.push(
                setInterval(() => {
                  if (ws.readyState !== WebSocket.OPEN || vips.length === 0) return;
                  if (inFlight) {
                    if (Date.now() - inFlight.sentAt > 5 * every) {
                      fleet.reports.resent++;
                      inFlight.sentAt = Date.now();
                      ws.send(inFlight.text);
                    }
                    return;
                  }
                  fleet.reports.sent++;
                  inFlight = { sentAt: Date.now(), text: JSON.stringify({ type: 'counters', boot, seq: ++seq, at: Date.now(), services: [], vips: vips.map((vip) => ({ vip, packets: 700, bytes: 1_000_000 })) }) };
                  ws.send(inFlight.text);
                }, every),
              );
            }
          };
          setTimeout(() => connect(0), Math.floor(i / 150) * 1000);
        }),
    ),
  );
  return fleet;
}

/** Collects garbage in a process started with --inspect, then reads its memory. */
export async function settledMemory(inspectorUrl: string): Promise<{ heap: number; external: number; rss: number }> {
  const ws = new WebSocket(inspectorUrl);
  await new Promise((r) => ws.once('open', r));
  let id = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<{ result?: { result?: { value?: string } } }>((resolve) => {
      const mine = ++id;
      const onMessage = (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { id?: number };
        if (msg.id === mine) {
          ws.off('message', onMessage);
          resolve(msg as never);
        }
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: mine, method, params }));
    });
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())' });
  ws.close();
  const m = JSON.parse(r.result!.result!.value!) as { heapUsed: number; external: number; rss: number };
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
}
