// Server mode: the agent's connection to the panel. It says hello, applies the
// desired states it is sent (through the daemon, like file mode), answers ACK or
// NACK, reports counter deltas every second, and reconnects with exponential
// backoff and jitter, resyncing fully each time. The last state that applied is
// kept on disk and reapplied at boot, so a node that cannot reach the panel
// keeps forwarding.
import { AGENT_VERSION } from '../version.ts';
import {
  CloseCode,
  Desired,
  MAX_PANEL_FRAME_BYTES,
  PanelMessage,
  PROTOCOL_VERSION,
  type AgentMessage,
  type StatusReport,
} from '@tula/protocol';
import { WebSocket } from 'ws';
import { Daemon } from '../daemon.ts';
import type { StateDir } from '../state-dir.ts';
import { CounterReports, forPanel } from './counter-reports.ts';
import { saveCredential, type Credential } from './credential.ts';
import { SecondTicker } from './second-ticker.ts';
import { capabilities, hostAddresses, hostName } from './host-info.ts';
import { Upgrader } from './upgrade.ts';

export const LAST_GOOD_FILE = 'last-good.json';
/** A balancer that saw no packet for this long reports itself idle (a drain waits for it). */
const IDLE_AFTER_MS = 5000;
/** How long the panel may send nothing (it pings every 2 s) before the agent takes the connection for lost. */
export const PANEL_HOLD_TIME_MS = 30_000;
const LastGood = Desired.pick({ version: true, hash: true, state: true });

export interface LinkOptions {
  credential: Credential;
  stateDir: StateDir;
  dryRun: boolean;
  log: (m: string) => void;
  /** The single executable this agent runs from (undefined when run from source): what an upgrade replaces. */
  binary?: string;
  /** Stops the agent and starts the upgraded binary (cli.ts). */
  restart?: () => void;
  /** Backoff bounds between reconnects. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A connection on which the panel sent nothing, not even a ping, for this long is dropped and made again. */
  holdTimeMs?: number;
}

export class PanelLink {
  readonly daemon: Daemon;
  private ws: WebSocket | undefined;
  private attempt = 0;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly reports: CounterReports;
  private readonly countersTimer: SecondTicker;
  /** Hash of each desired version received, to answer with. */
  private readonly hashes = new Map<number, string>();
  private applied: { version: number; hash: string } | null = null;
  private credential: Credential;
  private inflightSentOn: WebSocket | undefined;
  /** Whether reports say the interval they cover; off once a panel closed the connection over one that did (an older panel). */
  private sendInterval = true;
  /** The connection a report with its interval last went on. */
  private intervalSentOn: WebSocket | undefined;
  /** The connection whose hello went out: nothing else may go before it. */
  private helloSentOn: WebSocket | undefined;
  /** The status last sent, and on which connection: a new connection gets it again. */
  private statusSent: { ws: WebSocket; text: string } | undefined;
  /** The services' packet total at the last counter read, and when it last moved. */
  private trafficPackets = -1;
  private trafficChangedAt = Date.now();
  private readonly upgrader: Upgrader;
  /** When the panel last sent anything (a ping, a message) on the current connection. */
  private heardAt = 0;
  /** When the last second's tick ran: a tick that runs late finds this process was not running meanwhile. */
  private tickedAt = Date.now();

  constructor(private readonly options: LinkOptions) {
    this.credential = options.credential;
    this.upgrader = new Upgrader({
      server: this.credential.server,
      binary: options.binary,
      log: options.log,
      report: (p) => this.send({ type: 'upgrade-progress', ...p, message: p.message?.slice(0, 1024) ?? null }),
      restart: () => (options.restart ?? (() => options.log('upgraded, but this agent cannot restart itself: restart it')))(),
    });
    this.reports = new CounterReports(options.stateDir);
    this.daemon = new Daemon({
      stateDir: options.stateDir,
      dryRun: options.dryRun,
      log: options.log,
      source: this.credential.server,
      onOutcome: ({ state, error }) => {
        const hash = this.hashes.get(state.version) ?? '';
        if (error) this.send({ type: 'nack', version: state.version, error });
        else {
          this.applied = { version: state.version, hash };
          options.stateDir.write(LAST_GOOD_FILE, { version: state.version, hash, state });
          this.send({ type: 'ack', version: state.version, hash });
        }
      },
      // Lines are capped to the protocol's bounds; the agent's status keeps them whole.
      onDrift: (drift) => this.send({ type: 'drift', what: drift.what.slice(0, 64).map((w) => w.slice(0, 512)) }),
    });
    // The last state that applied comes back first: forwarding does not wait for the panel.
    const lastGood = options.stateDir.read(LAST_GOOD_FILE, LastGood, options.log);
    if (lastGood) {
      options.log(`reapplying the last good state (version ${lastGood.version}) before connecting`);
      this.hashes.set(lastGood.version, lastGood.hash);
      this.applied = { version: lastGood.version, hash: lastGood.hash };
      this.daemon.setDesired(lastGood.state);
    }
    // Counters are read just after each wall-clock second begins, so a report's deltas cover whole seconds.
    this.countersTimer = new SecondTicker(() => {
      this.dropSilentConnection();
      this.reportStatus();
      void this.reportCounters();
    });
  }

  start() {
    this.connect();
  }

  /**
   * Sends on the current connection, where the hello goes first: the panel closes a connection whose
   * first message is another (an ACK or a counters report made while the hello still gathers the
   * host's addresses). What is not sent here, the hello and the resync after it carry.
   */
  private send(message: AgentMessage) {
    const ws = this.ws;
    if (ws?.readyState !== WebSocket.OPEN || (message.type !== 'hello' && this.helloSentOn !== ws)) return;
    ws.send(JSON.stringify(message));
  }

  private connect() {
    if (this.stopped) return;
    const url = new URL('/agent', this.credential.server);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.credential.credential}` },
      maxPayload: MAX_PANEL_FRAME_BYTES,
      handshakeTimeout: 10_000,
    });
    this.ws = ws;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.heardAt = Date.now();
      this.options.log(`connected to the panel at ${url.origin}`);
      void this.hello();
    });
    ws.on('ping', () => (this.heardAt = Date.now()));
    ws.on('message', (data) => {
      this.heardAt = Date.now();
      this.onMessage(data.toString());
    });
    ws.on('unexpected-response', (_req, res) => {
      this.options.log(`the panel refused the connection: HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trim());
      // A refused credential will not work on the next attempt either: wait the longest.
      if (res.statusCode === 401) this.attempt = 100;
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (!opened) this.options.log(`cannot reach the panel at ${url.origin}: ${err.message}`);
    });
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (opened)
        this.options.log(
          `disconnected from the panel (${code}${reason.length ? `: ${reason.toString()}` : ''}); forwarding continues with version ${this.applied?.version ?? 'none'}`,
        );
      if (code === CloseCode.unauthorized) this.attempt = 100;
      if (code === CloseCode.badMessage && this.sendInterval && this.intervalSentOn === ws) {
        this.sendInterval = false;
        this.options.log("the panel refused a counters report's interval (an older panel): reports go without it");
      }
      this.scheduleReconnect();
    });
  }

  /**
   * A lost link or a panel host that went away sends no close: TCP would keep the
   * connection for many minutes while the agent's reports go nowhere and no new
   * desired state arrives. Like a BGP hold timer, the panel's silence past the
   * hold time ends the connection, and the agent connects again (perhaps to
   * another replica behind the same address).
   */
  private dropSilentConnection() {
    const now = Date.now();
    // Time this process did not run (a paused VM, a starved host) is not the panel's silence.
    const stalled = now - this.tickedAt - 1000;
    this.tickedAt = now;
    if (stalled > 1000) this.heardAt += stalled;
    const ws = this.ws;
    const holdTime = this.options.holdTimeMs ?? PANEL_HOLD_TIME_MS;
    if (ws?.readyState !== WebSocket.OPEN || now - this.heardAt <= holdTime) return;
    this.options.log(
      `the panel sent nothing for ${Math.round((now - this.heardAt) / 1000)} s (not even its ping every 2 s): ending the connection (1006 below) and connecting again`,
    );
    ws.terminate();
  }

  private scheduleReconnect() {
    if (this.stopped || this.reconnectTimer) return;
    const min = this.options.minBackoffMs ?? 500;
    const max = this.options.maxBackoffMs ?? 30_000;
    // Exponential backoff with full jitter: a fleet that lost the panel does not return all at once.
    const ceiling = Math.min(max, min * 2 ** Math.min(this.attempt, 20));
    const delay = Math.round(Math.random() * ceiling);
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delay);
  }

  private async hello() {
    const ws = this.ws;
    const message: AgentMessage = {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      nodeId: this.credential.nodeId,
      agentVersion: AGENT_VERSION,
      hostname: hostName(),
      addresses: await hostAddresses(),
      appliedVersion: this.applied?.version ?? null,
      appliedHash: this.applied?.hash ?? null,
      capabilities: await capabilities(this.options.dryRun),
    };
    if (ws !== this.ws) return;
    this.send(message);
    this.helloSentOn = ws;
  }

  private onMessage(text: string) {
    let parsed;
    try {
      parsed = PanelMessage.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      this.options.log('ignoring an unreadable message from the panel');
      return;
    }
    const msg = parsed.data;
    switch (msg.type) {
      case 'desired':
        this.attempt = 0;
        this.hashes.set(msg.version, msg.hash);
        this.daemon.setDesired(msg.state);
        return;
      case 'counters-ack':
        this.reports.acknowledged(msg.boot, msg.seq);
        return;
      case 'rotate':
        this.credential = { ...this.credential, credential: msg.credential };
        saveCredential(this.options.stateDir, this.credential);
        this.options.log("the panel rotated this node's credential; saved the new one");
        this.send({ type: 'rotated' });
        return;
      case 'upgrade':
        void this.upgrader.upgrade(msg);
        return;
    }
  }

  /** Sends what is wrong on this host when it changed since the last report on this connection. */
  private reportStatus() {
    const ws = this.ws;
    if (ws?.readyState !== WebSocket.OPEN || this.helloSentOn !== ws) return;
    const status: StatusReport = {
      type: 'status',
      failing: this.daemon.failingBackends().slice(0, 8192),
      warnings: this.daemon
        .currentWarnings()
        .slice(0, 1000)
        .map((w) => w.slice(0, 1024)),
    };
    const announce = this.daemon.announceReport();
    if (announce) status.announce = { ...announce, idle: Date.now() - this.trafficChangedAt >= IDLE_AFTER_MS };
    const text = JSON.stringify(status);
    if (this.statusSent?.ws === ws && this.statusSent.text === text) return;
    ws.send(text);
    this.statusSent = { ws, text };
  }

  private async reportCounters() {
    const ws = this.ws;
    if (ws?.readyState !== WebSocket.OPEN || this.helloSentOn !== ws) return;
    // An unacknowledged report goes again only on a new connection.
    const waiting = this.reports.waiting && this.inflightSentOn === ws;
    // The counters are read while the balancer announces anyway: whether traffic still arrives tells a drain when it is done.
    if (waiting && !this.daemon.announceReport()) return;
    const snapshot = await this.daemon.counters().catch(() => undefined);
    if (!snapshot) return;
    const packets = Object.values(snapshot.services).reduce((sum, s) => sum + s.packets, 0);
    if (packets !== this.trafficPackets) {
      this.trafficPackets = packets;
      this.trafficChangedAt = Date.now();
    }
    if (waiting) return;
    const report = forPanel(this.reports.next(snapshot, this.daemon.healthSnapshot()), this.sendInterval);
    this.send(report);
    if (report.from !== undefined) this.intervalSentOn = ws;
    this.inflightSentOn = ws;
  }

  async stop() {
    this.stopped = true;
    this.countersTimer.stop();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.ws?.close(1000, 'agent stopping');
    await this.daemon.stop();
  }
}
