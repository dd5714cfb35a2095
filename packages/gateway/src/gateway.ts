// The agent gateway: WebSocket connections from agents at /agent on the panel's
// port. It authenticates each agent by its node credential, sends the node's
// desired state, records ACK/NACK, stores counters, and follows changes made on
// any panel replica through the bus (re-reading the database on each signal).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { limitKey, newSecret, openDocumentPasswords, recompileNodes, sha256, type Bus, type BusEvent, type SecretBox } from '@tula/control';
import type { Database } from '@tula/db';
import { DbNull } from '@tula/db/json';
import { lockNodesInOrder, lockOrganization } from '@tula/db/locks';
import { poolQuery, sql } from '@tula/db/pool-sql';
import {
  AgentMessage,
  CloseCode,
  MAX_AGENT_FRAME_BYTES,
  PROTOCOL_VERSION,
  UpgradeStatus,
  type PanelMessage,
  type UpgradeOrder,
} from '@tula/protocol';
import { WebSocket, WebSocketServer } from 'ws';
import { CounterWriter } from './counters.ts';
import { releaseManifest } from './downloads.ts';
import { DEFAULT_RETENTION, type RetentionPolicy } from './retention.ts';
import { KeyedLimiter, TokenBucket } from './rate-limit.ts';

/** Heartbeats: how often each agent is pinged, and how long one may stay silent before its socket is closed. */
export const PING_MS = 2_000;
export const SILENT_LIMIT_MS = 7_000;

export interface GatewayOptions {
  /** How often sockets are pinged (and connected nodes marked seen). */
  pingMs?: number;
  /** An agent silent for this long (no pong, no message) is disconnected. */
  silentLimitMs?: number;
  /** How often connected nodes are compared with the database (the fallback to the bus). */
  reconcileMs?: number;
  /** Time an agent has to say hello after connecting. */
  helloTimeoutMs?: number;
  /** How long counters and history are kept (default: DEFAULT_RETENTION). */
  retention?: RetentionPolicy;
  /** The agent's release files (what /download serves): upgrade orders carry their digests. */
  releaseDir?: string;
  /** Opens the BGP peer passwords sealed in stored documents (bgpPasswordBox of the panel's auth secret). */
  peerPasswords?: SecretBox;
  log?: (m: string) => void;
}

/** The release's agent binaries, as `tula-agent-linux-<arch>`. */
const AGENT_BINARY = /^tula-agent-linux-(x64|arm64)$/;

interface Connection {
  ws: WebSocket;
  nodeId: string;
  organizationId: string;
  /** Authenticated with the pending (rotated) credential rather than the current one. */
  usedPending: boolean;
  hello: boolean;
  /** When anything last arrived from the agent (a pong or a message). */
  heardAt: number;
  sentVersion: number;
  rotating: boolean;
}

/** A node's row as the gateway acts on it (AgentGateway.readNodes). */
interface NodeState {
  id: string;
  revoked: boolean;
  desiredVersion: number;
  desiredHash: string | null;
  desiredState: unknown;
  rotationRequested: boolean;
  upgradeRequestedAt: string | null;
}

export interface GatewayStats {
  connected: number;
  messages: number;
  rejectedHandshakes: number;
  closedForBadMessages: number;
  acks: number;
  nacks: number;
}

export class AgentGateway {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_AGENT_FRAME_BYTES });
  private readonly connections = new Map<string, Connection>();
  private readonly counters: CounterWriter;
  private readonly unsubscribe: () => void;
  private readonly timers: NodeJS.Timeout[] = [];
  // Reconnect storms: at most 200 handshakes a second per replica, 20 per client address
  // (load shedding for this process, so kept in memory; the credential check is the guard).
  private readonly handshakes = new TokenBucket(200, 400);
  private readonly perAddress = new KeyedLimiter(20, 40);
  private readonly log: (m: string) => void;
  /** ACK/NACK outcomes waiting to be written, one per node (the latest wins). */
  private outcomes = new Map<string, { organizationId: string; ack: boolean; version: number; hash?: string; error?: string }>();
  private outcomesWrite: Promise<void> | undefined;
  /** Organisations whose fleet view changed since the last signal. */
  private fleetChanged = new Set<string>();
  /**
   * Per organisation, nodes to compile because they are new or reported new addresses, with every address each had
   * or has (coalesced: a fleet connecting recompiles once per batch, and only what those nodes change).
   */
  private toRecompile = new Map<string, Map<string, Set<string>>>();
  readonly stats: GatewayStats = { connected: 0, messages: 0, rejectedHandshakes: 0, closedForBadMessages: 0, acks: 0, nacks: 0 };

  constructor(
    private readonly db: Database,
    private readonly bus: Bus,
    options: GatewayOptions = {},
  ) {
    this.log = options.log ?? ((m) => console.log(`gateway: ${m}`));
    this.counters = new CounterWriter(db, bus, { retention: options.retention ?? DEFAULT_RETENTION, log: this.log });
    this.unsubscribe = bus.subscribe((e) => void this.onBus(e));
    this.silentLimitMs = options.silentLimitMs ?? SILENT_LIMIT_MS;
    this.pingMs = options.pingMs ?? PING_MS;
    this.timers.push(setInterval(() => void this.heartbeat(), this.pingMs));
    this.timers.push(setInterval(() => void this.reconcile(), options.reconcileMs ?? 10_000));
    this.timers.push(setInterval(() => void this.flushOutcomes(), 250));
    this.timers.push(setInterval(() => void this.signalFleet(), 1000));
    this.timers.push(setInterval(() => void this.recompilePending(), 300));
    this.helloTimeoutMs = options.helloTimeoutMs ?? 10_000;
    this.releaseDir = options.releaseDir;
    this.peerPasswords = options.peerPasswords;
  }
  private readonly releaseDir: string | undefined;
  private readonly peerPasswords: SecretBox | undefined;
  private readonly helloTimeoutMs: number;
  private readonly silentLimitMs: number;
  private readonly pingMs: number;
  /** When the last heartbeat ran: one that runs late finds this process was not listening meanwhile. */
  private lastHeartbeat = Date.now();

  /** Bytes and packets this process has stored, by series kind. */
  get trafficTotals(): ReadonlyMap<string, { bytes: number; packets: number }> {
    return this.counters.totals;
  }

  /** This replica's stored counter flushes, for the live stream. */
  get liveCounters(): CounterWriter {
    return this.counters;
  }

  /** Counter rows this process wrote by table, and counter reports by outcome. */
  get counterStats(): { written: Readonly<Record<string, number>>; reports: Readonly<Record<string, number>> } {
    return { written: this.counters.written, reports: this.counters.reports };
  }

  /**
   * Handles an HTTP upgrade on /agent: authenticates before accepting the WebSocket.
   * `clientAddress`: the connection's client address (client-address.ts); the socket's peer by default.
   */
  async handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    clientAddress = req.socket.remoteAddress ?? 'unknown',
  ): Promise<void> {
    const refuse = (status: number, reason: string, extra = '') => {
      this.stats.rejectedHandshakes++;
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n${extra}\r\n${reason}\n`);
    };
    if (!this.handshakes.take() || !this.perAddress.take(limitKey(clientAddress)))
      return refuse(503, 'Too many agent connections right now; retry later', 'Retry-After: 5\r\n');
    const credential = /^Bearer (\S{16,256})$/.exec(req.headers.authorization ?? '')?.[1];
    if (!credential) return refuse(401, 'Unauthorized: no node credential');
    const hash = sha256(credential);
    // On the pool: every agent's connect passes here (a fleet reconnecting, thousands at once).
    const node = await poolQuery<{ id: string; organizationId: string; revoked: boolean; pending: boolean }>(
      this.db.pool,
      sql`SELECT id, "organizationId", "revokedAt" IS NOT NULL AS revoked, "credentialHash" <> ${hash} AS pending
          FROM "Node" WHERE "credentialHash" = ${hash} OR "pendingCredentialHash" = ${hash} LIMIT 1`,
    ).then(
      (r) => r.rows[0] ?? null,
      () => undefined,
    );
    if (node === undefined) return refuse(503, 'The panel cannot reach its database; retry later', 'Retry-After: 5\r\n');
    if (!node || node.revoked) return refuse(401, 'Unauthorized: unknown or revoked node credential');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, node.id, node.organizationId, node.pending));
  }

  private accept(ws: WebSocket, nodeId: string, organizationId: string, usedPending: boolean) {
    const previous = this.connections.get(nodeId);
    if (previous) previous.ws.close(CloseCode.replaced, 'another connection of this node took over');
    const conn: Connection = {
      ws,
      nodeId,
      organizationId,
      usedPending,
      hello: false,
      heardAt: Date.now(),
      sentVersion: -1,
      rotating: false,
    };
    this.connections.set(nodeId, conn);
    // The agent may have reported to another replica since its last connection here.
    this.counters.connected(nodeId);
    this.stats.connected = this.connections.size;
    const helloTimer = setTimeout(() => {
      if (!conn.hello) this.badMessage(conn, 'no hello within the time allowed');
    }, this.helloTimeoutMs);
    ws.on('pong', () => (conn.heardAt = Date.now()));
    ws.on('message', (data, isBinary) => {
      this.stats.messages++;
      conn.heardAt = Date.now();
      void this.onMessage(conn, data, isBinary).catch((err: Error) => this.log(`node ${nodeId}: ${err.message}`));
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      if (this.connections.get(nodeId) === conn) {
        this.connections.delete(nodeId);
        this.counters.disconnected(nodeId);
        // Offline at once, not when lastSeenAt ages out; a connection that took over marks it connected again.
        if (conn.hello) void this.markDisconnected(conn);
      }
      this.stats.connected = this.connections.size;
      this.fleetChanged.add(organizationId);
    });
    ws.on('error', () => undefined);
  }

  private badMessage(conn: Connection, reason: string) {
    this.stats.closedForBadMessages++;
    conn.ws.close(CloseCode.badMessage, reason.slice(0, 120));
  }

  private send(conn: Connection, message: PanelMessage) {
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(JSON.stringify(message));
  }

  private async onMessage(conn: Connection, data: WebSocket.RawData, isBinary: boolean) {
    if (isBinary) return this.badMessage(conn, 'binary frames are not part of the protocol');
    let json: unknown;
    try {
      json = JSON.parse(data.toString());
    } catch {
      return this.badMessage(conn, 'not JSON');
    }
    const parsed = AgentMessage.safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      return this.badMessage(conn, `invalid message: ${first ? `${first.path.join('.')} ${first.message}` : 'unknown'}`);
    }
    const msg = parsed.data;
    if (!conn.hello && msg.type !== 'hello') return this.badMessage(conn, 'the first message must be hello');
    const db = this.db.prisma;
    switch (msg.type) {
      case 'hello': {
        if (msg.protocol !== PROTOCOL_VERSION)
          return this.badMessage(conn, `protocol ${msg.protocol} is not supported; this panel speaks ${PROTOCOL_VERSION}`);
        if (msg.nodeId !== conn.nodeId) return this.badMessage(conn, 'the hello names another node than the credential');
        conn.hello = true;
        if (conn.usedPending) {
          // The agent saved a rotated credential but its confirmation was lost: finish the rotation.
          const n = await db.node.findUniqueOrThrow({ where: { id: conn.nodeId }, select: { pendingCredentialHash: true } });
          if (n.pendingCredentialHash) {
            await db.node.update({
              where: { id: conn.nodeId },
              data: { credentialHash: n.pendingCredentialHash, pendingCredentialHash: null, credentialRotatedAt: new Date() },
            });
          }
        }
        // On the pool, as the handshake: a hello opens every connection.
        const before = (
          await poolQuery<{ addresses: string[]; desiredHash: string | null; upgradeStatus: unknown }>(
            this.db.pool,
            sql`SELECT addresses, "desiredHash", "upgradeStatus" FROM "Node" WHERE id = ${conn.nodeId}`,
          )
        ).rows[0];
        if (!before) throw new Error('its node is gone');
        const { upgradeStatus } = upgradeOutcome(before.upgradeStatus, msg.agentVersion);
        const applied = msg.appliedVersion !== null;
        await poolQuery(
          this.db.pool,
          sql`UPDATE "Node" SET "agentVersion" = ${msg.agentVersion}, hostname = ${msg.hostname}, addresses = ${msg.addresses}::text[],
                capabilities = ${JSON.stringify(msg.capabilities)}::jsonb, "lastSeenAt" = now(), connected = true,
                "appliedVersion" = CASE WHEN ${applied} THEN ${msg.appliedVersion}::int ELSE "appliedVersion" END,
                "appliedHash" = CASE WHEN ${applied} THEN ${msg.appliedHash}::text ELSE "appliedHash" END,
                "upgradeStatus" = CASE WHEN ${upgradeStatus !== undefined} THEN ${JSON.stringify(upgradeStatus ?? null)}::jsonb ELSE "upgradeStatus" END
              WHERE id = ${conn.nodeId}`,
        );
        // Addresses decide which backends this node serves; a first hello may also need a first document.
        if (before.addresses.join() !== msg.addresses.join() || before.desiredHash === null)
          this.recompileLater(conn.organizationId, conn.nodeId, [...before.addresses, ...msg.addresses]);
        this.fleetChanged.add(conn.organizationId);
        // Every (re)connect is a full resync.
        conn.sentVersion = -1;
        await this.refresh(conn);
        return;
      }
      case 'ack':
        // The fleet signal follows once it is written (flushOutcomes): a browser that
        // re-reads on the signal must find it.
        this.outcomes.set(conn.nodeId, { organizationId: conn.organizationId, ack: true, version: msg.version, hash: msg.hash });
        this.stats.acks++;
        return;
      case 'nack':
        this.outcomes.set(conn.nodeId, {
          organizationId: conn.organizationId,
          ack: false,
          version: msg.version,
          error: `version ${msg.version}: ${msg.error}`,
        });
        this.stats.nacks++;
        return;
      case 'counters': {
        this.counters.push({
          nodeId: conn.nodeId,
          organizationId: conn.organizationId,
          report: msg,
          done: (stored) => {
            if (stored) this.send(conn, { type: 'counters-ack', boot: msg.boot, seq: msg.seq });
          },
        });
        return;
      }
      case 'status': {
        await db.node.update({
          where: { id: conn.nodeId },
          data: {
            failingBackends: msg.failing,
            warnings: msg.warnings,
            statusAt: new Date(),
            announceState: msg.announce ?? DbNull,
          },
        });
        this.fleetChanged.add(conn.organizationId);
        return;
      }
      case 'drift': {
        // The agent already repaired it; the node and the audit log keep what it found.
        await db.$transaction([
          db.node.update({ where: { id: conn.nodeId }, data: { lastDriftAt: new Date(), lastDrift: msg.what } }),
          db.auditEvent.create({
            data: {
              organizationId: conn.organizationId,
              actorLabel: 'agent',
              action: 'node.drift_repaired',
              targetType: 'node',
              targetId: conn.nodeId,
              data: { what: msg.what },
            },
          }),
        ]);
        this.fleetChanged.add(conn.organizationId);
        return;
      }
      case 'upgrade-progress': {
        const status: UpgradeStatus = { state: msg.state, target: msg.version, message: msg.message, at: new Date().toISOString() };
        await db.$transaction([
          db.node.update({ where: { id: conn.nodeId }, data: { upgradeStatus: status } }),
          ...(msg.state === 'failed'
            ? [
                db.auditEvent.create({
                  data: {
                    organizationId: conn.organizationId,
                    actorLabel: 'agent',
                    action: 'node.upgrade_failed',
                    targetType: 'node',
                    targetId: conn.nodeId,
                    data: { version: msg.version, message: msg.message },
                  },
                }),
              ]
            : []),
        ]);
        this.fleetChanged.add(conn.organizationId);
        return;
      }
      case 'rotated': {
        // The agent saved the new credential: it becomes the only valid one.
        const node = await db.node.findUnique({ where: { id: conn.nodeId }, select: { pendingCredentialHash: true } });
        if (!node?.pendingCredentialHash) return;
        await db.node.update({
          where: { id: conn.nodeId },
          data: { credentialHash: node.pendingCredentialHash, pendingCredentialHash: null, credentialRotatedAt: new Date() },
        });
        conn.rotating = false;
        return;
      }
    }
  }

  /**
   * Writes the ACKs and NACKs received since the last flush. One write at a time:
   * two in flight could commit out of order and put a node's older outcome over its newer one.
   */
  private flushOutcomes(): Promise<void> {
    this.outcomesWrite ??= this.writeOutcomes().finally(() => {
      this.outcomesWrite = undefined;
    });
    return this.outcomesWrite;
  }

  /** The outcomes waiting, in one statement each for ACKs and NACKs. */
  private async writeOutcomes() {
    if (this.outcomes.size === 0) return;
    const batch = [...this.outcomes];
    this.outcomes = new Map();
    const acks = batch.filter(([, o]) => o.ack);
    const nacks = batch.filter(([, o]) => !o.ack);
    try {
      if (acks.length) {
        // An ACK of the current document clears the node's last error.
        await poolQuery(
          this.db.pool,
          sql`${lockNodesInOrder(acks.map(([id]) => id))}
          UPDATE "Node" AS n SET "appliedVersion" = u.v, "appliedHash" = u.h, "lastSeenAt" = now(),
            "lastError" = CASE WHEN u.h = n."desiredHash" THEN NULL ELSE n."lastError" END,
            "lastErrorAt" = CASE WHEN u.h = n."desiredHash" THEN NULL ELSE n."lastErrorAt" END
          FROM unnest(${acks.map(([id]) => id)}::text[], ${acks.map(([, o]) => o.version)}::int[], ${acks.map(([, o]) => o.hash!)}::text[]) AS u(id, v, h), locked
          WHERE n.id = u.id AND locked.id = n.id`,
        );
      }
      if (nacks.length) {
        await poolQuery(
          this.db.pool,
          sql`${lockNodesInOrder(nacks.map(([id]) => id))}
          UPDATE "Node" AS n SET "lastError" = u.e, "lastErrorAt" = now(), "lastSeenAt" = now()
          FROM unnest(${nacks.map(([id]) => id)}::text[], ${nacks.map(([, o]) => o.error!)}::text[]) AS u(id, e), locked
          WHERE n.id = u.id AND locked.id = n.id`,
        );
      }
      for (const [, o] of batch) this.fleetChanged.add(o.organizationId);
    } catch (err) {
      // Put them back unless newer outcomes arrived meanwhile; the next flush retries.
      for (const [id, o] of batch) if (!this.outcomes.has(id)) this.outcomes.set(id, o);
      this.log(`recording ACK/NACK failed: ${(err as Error).message}`);
    }
  }

  private recompileLater(organizationId: string, nodeId: string, addresses: Iterable<string>) {
    let nodes = this.toRecompile.get(organizationId);
    if (!nodes) this.toRecompile.set(organizationId, (nodes = new Map()));
    let known = nodes.get(nodeId);
    if (!known) nodes.set(nodeId, (known = new Set()));
    for (const a of addresses) known.add(a);
  }

  private async recompilePending() {
    const orgs = [...this.toRecompile];
    this.toRecompile.clear();
    for (const [organizationId, nodes] of orgs) {
      try {
        const changes = [...nodes].map(([nodeId, addresses]) => ({ nodeId, addresses: [...addresses] }));
        const changed = await this.db.prisma.$transaction(async (tx) => {
          await tx.$executeRaw(lockOrganization(organizationId));
          return recompileNodes(tx, organizationId, changes);
        });
        if (changed.length) await this.bus.publish({ kind: 'nodes', nodeIds: changed });
      } catch (err) {
        for (const [nodeId, addresses] of nodes) this.recompileLater(organizationId, nodeId, addresses);
        this.log(`recompiling after new node addresses failed: ${(err as Error).message}`);
      }
    }
  }

  /** At most one fleet signal per organisation per second, however many agents changed. */
  private async signalFleet() {
    const orgs = [...this.fleetChanged];
    this.fleetChanged.clear();
    for (const organizationId of orgs) await this.bus.publish({ kind: 'fleet', organizationId }).catch(() => undefined);
  }

  /**
   * What the gateway acts on in nodes' rows, read on the pool (every hello, every signal of changed nodes).
   * The upgrade request's time as the column's text, so the claim compares it exactly.
   */
  private async readNodes(ids: string[]): Promise<NodeState[]> {
    const { rows } = await poolQuery<NodeState>(
      this.db.pool,
      sql`SELECT id, "revokedAt" IS NOT NULL AS revoked, "desiredVersion", "desiredHash", "desiredState",
                 "rotationRequestedAt" IS NOT NULL AS "rotationRequested", "upgradeRequestedAt"::text AS "upgradeRequestedAt"
          FROM "Node" WHERE id = ANY(${ids}::text[])`,
    );
    return rows;
  }

  /** Re-reads these connections' nodes in one query and acts on each. */
  private async refreshMany(conns: Connection[]) {
    if (conns.length === 0) return;
    const rows = await this.readNodes(conns.map((c) => c.nodeId));
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const conn of conns) await this.refresh(conn, byId.get(conn.nodeId) ?? null);
  }

  /** Does what the node's row asks: disconnect, rotate, or send a newer desired state. */
  private async refresh(conn: Connection, row?: NodeState | null) {
    const node = row === undefined ? ((await this.readNodes([conn.nodeId]))[0] ?? null) : row;
    if (!node || node.revoked) {
      conn.ws.close(CloseCode.unauthorized, 'this node was revoked');
      return;
    }
    if (!conn.hello) return;
    if (node.rotationRequested && !conn.rotating) {
      conn.rotating = true;
      const credential = newSecret('tnc');
      await this.db.prisma.node.update({
        where: { id: conn.nodeId },
        data: { pendingCredentialHash: sha256(credential), rotationRequestedAt: null },
      });
      this.send(conn, { type: 'rotate', credential });
    }
    if (node.upgradeRequestedAt) await this.sendUpgrade(conn, node.upgradeRequestedAt);
    if (node.desiredState && node.desiredHash && node.desiredVersion !== conn.sentVersion) {
      conn.sentVersion = node.desiredVersion;
      // The stored document holds BGP peer passwords sealed; the agent needs them open to configure bird.
      let state: unknown = node.desiredState;
      try {
        if (this.peerPasswords) state = openDocumentPasswords(state, this.peerPasswords);
      } catch {
        this.log(
          `node ${conn.nodeId}: a BGP peer password in its document does not open (was TULA_AUTH_SECRET changed?); document ${node.desiredVersion} not sent: set the password again on the node page`,
        );
        return;
      }
      this.send(conn, { type: 'desired', version: node.desiredVersion, hash: node.desiredHash, state: state as never });
    }
  }

  /**
   * Sends the upgrade a person asked for, once: the replica that clears the request
   * sends it. The order names the release's binaries with their SHA-256.
   */
  private async sendUpgrade(conn: Connection, requestedAt: string) {
    const manifest = this.releaseDir ? await releaseManifest(this.releaseDir) : undefined;
    const binaries = (manifest?.files ?? []).flatMap((f) => {
      const arch = AGENT_BINARY.exec(f.name)?.[1] as 'x64' | 'arm64' | undefined;
      return arch ? [{ arch, name: f.name, size: f.size, sha256: f.sha256 }] : [];
    });
    const status: UpgradeStatus = binaries.length
      ? { state: 'sent', target: manifest!.version, message: null, at: new Date().toISOString() }
      : {
          state: 'failed',
          target: manifest?.version ?? '',
          message:
            'this panel has no agent build to send: run `npm run build:agent-binary` where the panel is built (the Docker image does)',
          at: new Date().toISOString(),
        };
    const claimed = await poolQuery(
      this.db.pool,
      sql`UPDATE "Node" SET "upgradeRequestedAt" = NULL, "upgradeStatus" = ${JSON.stringify(status)}::jsonb
          WHERE id = ${conn.nodeId} AND "upgradeRequestedAt" = ${requestedAt}::timestamp`,
    );
    if (claimed.rowCount === 0 || !binaries.length) return;
    const order: UpgradeOrder = { type: 'upgrade', version: manifest!.version, binaries: binaries.slice(0, 8) };
    this.send(conn, order);
    this.fleetChanged.add(conn.organizationId);
  }

  private async onBus(e: BusEvent) {
    if (e.kind === 'nodes') {
      const conns = e.nodeIds.flatMap((id) => this.connections.get(id) ?? []);
      await this.refreshMany(conns).catch((err: Error) => this.log(`refreshing nodes: ${err.message}`));
      // By the signal's nodes, not every connection against every node (thousands by thousands in a fleet's change).
      for (const org of new Set(conns.map((c) => c.organizationId))) this.counters.invalidate(org);
    }
  }

  /**
   * Pings every agent, disconnects the silent ones (a lost link sends no close;
   * the close marks the node offline), and records when each live one was last
   * heard from (see @tula/control presence.ts).
   */
  private async heartbeat() {
    const now = Date.now();
    // Time this process did not run (a long garbage collection, a stopped or starved process, a paused VM) is not
    // the agents' silence: on waking, timers fire before the pongs that arrived meanwhile are read, and every agent
    // of the fleet looked silent and was closed at once (seen with 5,000 agents in bench:counters).
    const stalled = now - this.lastHeartbeat - this.pingMs;
    this.lastHeartbeat = now;
    if (stalled > this.pingMs) {
      this.log(`this process did not run for ${(stalled / 1000).toFixed(1)} s; agents are not counted silent for that time`);
      for (const conn of this.connections.values()) conn.heardAt += stalled;
    }
    const heard: Connection[] = [];
    for (const conn of this.connections.values()) {
      if (now - conn.heardAt > this.silentLimitMs) {
        conn.ws.terminate();
        continue;
      }
      conn.ws.ping();
      if (conn.hello) heard.push(conn);
    }
    if (heard.length === 0) return;
    try {
      await poolQuery(
        this.db.pool,
        sql`${lockNodesInOrder(heard.map((c) => c.nodeId))}
        UPDATE "Node" AS n SET "lastSeenAt" = to_timestamp(u.t / 1000.0), "connected" = true
        FROM unnest(${heard.map((c) => c.nodeId)}::text[], ${heard.map((c) => c.heardAt)}::float8[]) AS u(id, t), locked
        WHERE n.id = u.id AND locked.id = n.id`,
      );
    } catch (err) {
      this.log(`recording heartbeats: ${(err as Error).message}`);
    }
  }

  private async markDisconnected(conn: Connection) {
    try {
      // A newer connection of the node on another replica marks it connected again at its next heartbeat (2 s).
      await this.db.prisma.node.update({ where: { id: conn.nodeId }, data: { connected: false, lastSeenAt: new Date(conn.heardAt) } });
      this.fleetChanged.add(conn.organizationId);
    } catch (err) {
      this.log(`node ${conn.nodeId}: recording the disconnect: ${(err as Error).message}`);
    }
  }

  /** The fallback to the bus: compare every local connection with the database. */
  private async reconcile() {
    const ids = [...this.connections.keys()];
    if (ids.length === 0) return;
    try {
      const { rows } = await poolQuery<{ id: string; desiredVersion: number; asks: boolean }>(
        this.db.pool,
        sql`SELECT id, "desiredVersion", ("revokedAt" IS NOT NULL OR "rotationRequestedAt" IS NOT NULL OR "upgradeRequestedAt" IS NOT NULL) AS asks
            FROM "Node" WHERE id = ANY(${ids}::text[])`,
      );
      const stale = rows.flatMap((row) => {
        const conn = this.connections.get(row.id);
        return conn && (row.asks || row.desiredVersion !== conn.sentVersion) ? [conn] : [];
      });
      await this.refreshMany(stale);
    } catch (err) {
      this.log(`reconcile: ${(err as Error).message}`);
    }
  }

  /** Nodes connected to this replica. */
  connectedNodeIds(): string[] {
    return [...this.connections.keys()];
  }

  async close() {
    for (const t of this.timers) clearInterval(t);
    // The write under way, then what arrived during it.
    await this.outcomesWrite;
    await this.flushOutcomes();
    this.unsubscribe();
    for (const conn of this.connections.values()) conn.ws.close(1001, 'panel shutting down');
    await this.counters.close();
    this.wss.close();
  }
}

/**
 * What an agent's hello says about an upgrade under way: done when it runs the
 * version asked for, failed when it restarted into another one.
 */
function upgradeOutcome(recorded: unknown, agentVersion: string): { upgradeStatus?: UpgradeStatus } {
  const status = UpgradeStatus.safeParse(recorded);
  if (!status.success || status.data.state === 'done' || status.data.state === 'failed') return {};
  const at = new Date().toISOString();
  if (agentVersion === status.data.target) return { upgradeStatus: { state: 'done', target: status.data.target, message: null, at } };
  // Not sent yet: the gateway sends it after this hello.
  if (status.data.state === 'requested') return {};
  const message =
    status.data.state === 'restarting'
      ? `the agent restarted but runs ${agentVersion}: see its log (journalctl -u tula-agent); tula-agent.previous holds the binary it ran before`
      : // A hello opens every connection: the order went out on an earlier one, which closed before the agent finished.
        `the agent reconnected still at ${agentVersion} before it finished (its connection closed); upgrade again`;
  return { upgradeStatus: { state: 'failed', target: status.data.target, message, at } };
}
