// Many agents without many hosts: lightweight clients that speak the real agent
// protocol (hello, ACK every document, counter reports), for the control-plane
// benchmark and the soak test. Nodes are inserted directly, because enrollment
// is rate-limited per address by design.
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { WebSocket } from 'ws';
import { PROTOCOL_VERSION, type CountersReport } from '@tula/protocol';
import { cpuSeconds, inspectorSession } from './measure.ts';

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

/** Report bodies already serialised: a fleet reporting the same body sends it without stringifying it again. */
const serialisedBodies = new WeakMap<object, string>();

/** A counters frame: the body serialised once, only `seq` and `at` written per report. */
function countersFrame(boot: string, seq: number, body: { services: CountersReport['services']; vips: CountersReport['vips'] }): string {
  let rest = serialisedBodies.get(body);
  if (rest === undefined) {
    rest = JSON.stringify(body).slice(1);
    serialisedBodies.set(body, rest);
  }
  return `{"type":"counters","boot":"${boot}","seq":${seq},"at":${Date.now()},${rest}`;
}

/** Handshakes in progress at once: enough to connect thousands in seconds, few enough not to swamp the panel. */
const CONNECTING_AT_ONCE = 50;

/**
 * Connects every node (from many loopback addresses: the gateway limits
 * handshakes per address; `firstIndex` numbers them when several processes
 * share a fleet), at most CONNECTING_AT_ONCE handshakes at a time, ACKs every
 * document, and with `reportEveryMs` sends a return-path counter report for
 * each VIP of its document at that interval.
 */
export async function connectSimulatedAgents(
  panelUrl: string,
  nodes: SimulatedNode[],
  options: {
    onDesired?: (node: SimulatedNode, version: number) => void;
    reportEveryMs?: number;
    /** What each report carries; by default return-path counters for the document's VIPs. Return the same object to send it pre-serialised. */
    counters?: (node: SimulatedNode, vips: string[]) => { services: CountersReport['services']; vips: CountersReport['vips'] };
    /** Called with each acknowledged report's time from sending to its acknowledgement (stored), ms. */
    onAck?: (ms: number) => void;
    firstIndex?: number;
  } = {},
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
  const connectOne = (node: SimulatedNode, i: number) =>
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
          ws.send(
            JSON.stringify({
              type: 'hello',
              protocol: PROTOCOL_VERSION,
              nodeId: node.id,
              agentVersion: 'simulated',
              hostname: node.id,
              addresses: [node.address],
              appliedVersion: null,
              appliedHash: null,
              capabilities: { tunnels: ['vxlan'], nftVersion: 'simulated', kernel: 'simulated', canBalance: false, canServe: true },
            }),
          );
          resolve();
        });
        let vips: string[] = [];
        const boot = randomBytes(8).toString('hex');
        let seq = 0;
        // As the real agent: one report in flight, resent unchanged until acknowledged.
        let inFlight: { text: string; sentAt: number; firstSentAt: number } | undefined;
        ws.on('message', (data) => {
          const msg = JSON.parse(data.toString()) as {
            type: string;
            version: number;
            hash: string;
            seq?: number;
            state?: { backend?: { vips: { vip: string }[] } };
          };
          if (msg.type === 'counters-ack') {
            if (inFlight && msg.seq === seq) {
              fleet.reports.acked++;
              options.onAck?.(Date.now() - inFlight.firstSentAt);
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
              if (ws.readyState !== WebSocket.OPEN || (!options.counters && vips.length === 0)) return;
              if (inFlight) {
                if (Date.now() - inFlight.sentAt > 5 * every) {
                  fleet.reports.resent++;
                  inFlight.sentAt = Date.now();
                  ws.send(inFlight.text);
                }
                return;
              }
              fleet.reports.sent++;
              const body = options.counters?.(node, vips) ?? {
                services: [],
                vips: vips.map((vip) => ({ vip, packets: 700, bytes: 1_000_000 })),
              };
              inFlight = { sentAt: Date.now(), firstSentAt: Date.now(), text: countersFrame(boot, ++seq, body) };
              ws.send(inFlight.text);
            }, every),
          );
        }
      };
      connect(0);
    });
  // A ramp: CONNECTING_AT_ONCE lanes, each connecting its next node once the previous one is open.
  let next = 0;
  const firstIndex = options.firstIndex ?? 0;
  await Promise.all(
    Array.from({ length: Math.min(CONNECTING_AT_ONCE, nodes.length) }, async () => {
      while (next < nodes.length) {
        const k = next++;
        await connectOne(nodes[k]!, firstIndex + k);
      }
    }),
  );
  return fleet;
}

/** Collects garbage in a process started with --inspect, then reads its memory. */
export async function settledMemory(inspectorUrl: string): Promise<{ heap: number; external: number; rss: number }> {
  const session = await inspectorSession(inspectorUrl);
  await session.call('HeapProfiler.collectGarbage');
  await session.call('HeapProfiler.collectGarbage');
  const r = await session.call<{ result?: { value?: string } }>('Runtime.evaluate', {
    expression: 'JSON.stringify(process.memoryUsage())',
  });
  session.close();
  const m = JSON.parse(r.result!.result!.value!) as { heapUsed: number; external: number; rss: number };
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
}

/** What a process of a forked fleet is given (simulated-agents-process.ts). */
export interface FleetShare {
  panelUrl: string;
  nodes: SimulatedNode[];
  firstIndex: number;
  reportEveryMs: number;
  body: { services: CountersReport['services']; vips: CountersReport['vips'] };
}

/** What a process of a forked fleet reports, every second: its totals so far, and what is new since its last message. */
export type FleetShareStats =
  | { type: 'stats'; reports: SimulatedFleet['reports']; closed: string[]; ackMs: number[] }
  | { type: 'connected' };

export interface ForkedFleet {
  reports: SimulatedFleet['reports'];
  closed: string[];
  /** CPU seconds the fleet's processes have used. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * The same simulated agents spread over `processes` child processes, each holding
 * its share of the sockets: one process would fall behind at thousands of agents
 * (reports late, pings answered late, sockets closed as silent) and measure itself,
 * not the panel. Every agent sends `body` (serialised once) every `reportEveryMs`.
 */
export async function forkSimulatedAgents(
  panelUrl: string,
  nodes: SimulatedNode[],
  options: { processes: number; reportEveryMs: number; body: FleetShare['body']; onAck?: (ms: number) => void },
): Promise<ForkedFleet> {
  const per = Math.ceil(nodes.length / options.processes);
  const totals = new Map<ChildProcess, SimulatedFleet['reports']>();
  const fleet: ForkedFleet = {
    reports: { sent: 0, resent: 0, acked: 0 },
    closed: [],
    cpuSeconds: () => [...totals.keys()].reduce((a, c) => a + cpuSeconds(c.pid!), 0),
    async stop() {
      await Promise.all(
        [...totals.keys()].map((c) => {
          const exited = new Promise((r) => c.once('exit', r));
          c.kill();
          return exited;
        }),
      );
    },
  };
  const children = Array.from({ length: Math.ceil(nodes.length / per) }, (_, p) => {
    // Under tsx, its loader in execArgv lets the child run TypeScript too.
    const child = fork(fileURLToPath(new URL('./simulated-agents-process.ts', import.meta.url)), [], { execArgv: process.execArgv });
    totals.set(child, { sent: 0, resent: 0, acked: 0 });
    const share: FleetShare = {
      panelUrl,
      nodes: nodes.slice(p * per, (p + 1) * per),
      firstIndex: p * per,
      reportEveryMs: options.reportEveryMs,
      body: options.body,
    };
    child.send(share);
    return new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`simulated agents process ${p} exited (${code})`)));
      child.on('message', (m: FleetShareStats) => {
        if (m.type === 'connected') return resolve();
        totals.set(child, m.reports);
        fleet.closed.push(...m.closed);
        for (const ms of m.ackMs) options.onAck?.(ms);
        fleet.reports = [...totals.values()].reduce((a, r) => ({
          sent: a.sent + r.sent,
          resent: a.resent + r.resent,
          acked: a.acked + r.acked,
        }));
      });
    });
  });
  await Promise.all(children);
  return fleet;
}
