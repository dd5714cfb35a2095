// The long-running agent: holds the current desired state, keeps the host
// converged to it (on change, on health changes, and every few seconds), runs
// health checks and publishes its status. File mode and server mode both feed
// it desired states; there is one convergence path.
import { backendKey, type AnnounceReport, type DesiredState, type FailingBackend } from '@tula/protocol';
import { z } from 'zod';
import { Announcer } from './announce/announcer.ts';
import { Converger, type ConvergeResult, type Drift } from './dataplane/converge.ts';
import { FlowTableFullWatch, readSnapshot, type CounterSnapshot } from './dataplane/counters.ts';
import { BackendHealth, HealthMonitor } from './health/checker.ts';
import { describeError } from './commands/errors.ts';
import { STATUS_FILE, type AgentStatus } from './commands/status.ts';
import { addresses } from './kernel/ip.ts';
import type { StateDir } from './state-dir.ts';

export interface DaemonOptions {
  stateDir: StateDir;
  dryRun: boolean;
  log: (m: string) => void;
  /** How often to re-check the host even when nothing was signalled. */
  resyncMs?: number;
  /** Called after each attempt to apply a state that was given with setDesired. */
  onOutcome?: (outcome: { state: DesiredState; result?: ConvergeResult; error?: string }) => void;
  /** Called when a convergence found the kernel's tables changed outside Tula (and repaired them). */
  onDrift?: (drift: Drift) => void;
  source: string;
}

/** Last known health of each backend, kept across restarts (written on every transition). */
export const HEALTH_FILE = 'health.json';
const SavedHealth = z.record(z.string(), BackendHealth);

export class Daemon {
  private state: DesiredState | undefined;
  private readonly converger: Converger;
  private readonly health: HealthMonitor;
  private readonly announcer: Announcer;
  private lastError: string | undefined;
  private appliedAt: string | undefined;
  private warnings: string[] = [];
  private readonly flowTableFull = new FlowTableFullWatch();
  /** `${service}|${address}` -> since when the backend's MAC is unknown (ms). */
  private unresolvedSince = new Map<string, number>();
  private lastDrift: Drift | undefined;
  /** Convergences that found and repaired drift, since this process started. */
  driftRepairs = 0;
  private pending = false;
  private running: Promise<void> | undefined;
  /** Services whose backends changed health since the last convergence, or 'all'. */
  private healthChanged: Set<string> | 'all' = 'all';
  /** The state whose outcome was not reported yet. */
  private unreported: DesiredState | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private settleFirst!: (outcome: { version: number; error?: string }) => void;
  /** Settles when the first convergence ends, applied or refused (systemd readiness waits for it). */
  readonly firstConvergence = new Promise<{ version: number; error?: string }>((resolve) => (this.settleFirst = resolve));

  /** Whether the newest desired state could not be applied (the previous rules still forward). */
  get applyFailing(): boolean {
    return this.lastError !== undefined;
  }

  constructor(private readonly options: DaemonOptions) {
    this.converger = new Converger({ stateDir: options.stateDir, dryRun: options.dryRun, log: options.log });
    this.announcer = new Announcer({
      stateDir: options.stateDir,
      dryRun: options.dryRun,
      log: options.log,
      interfaceAddresses: async (ifname) => (await addresses()).filter((a) => a.ifname === ifname).map((a) => a.address),
    });
    this.health = new HealthMonitor((key, h) => {
      options.log(`health: ${key} is ${h.healthy ? 'up' : `down (${h.lastError ?? 'failing'})`}`);
      if (!options.dryRun) options.stateDir.write(HEALTH_FILE, this.health.snapshot());
      this.writeStatus();
      if (this.healthChanged !== 'all') this.healthChanged.add(key.split('|')[0]!);
      this.schedule();
    });
    this.health.restore(options.stateDir.read(HEALTH_FILE, SavedHealth, options.log) ?? {});
    this.timers.push(setInterval(() => this.schedule(true), options.resyncMs ?? 5000));
    this.timers.push(setInterval(() => this.writeStatus(), 1000));
  }

  get desired(): DesiredState | undefined {
    return this.state;
  }

  /** A new desired state; applied as soon as the current convergence ends. */
  setDesired(next: DesiredState) {
    if (this.state && JSON.stringify(next) === JSON.stringify(this.state)) {
      // Nothing new to apply; answer for it now, unless its first apply is still under way.
      if (this.unreported !== this.state) this.options.onOutcome?.({ state: next, ...(this.lastError ? { error: this.lastError } : {}) });
      return;
    }
    this.state = next;
    this.unreported = next;
    this.healthChanged = 'all';
    this.health.update(next);
    this.options.log(`desired state version ${next.version} from ${this.options.source}`);
    this.schedule();
  }

  /** Records a problem with the source of desired states (e.g. an invalid file); the data plane is kept. */
  reportSourceError(message: string) {
    this.lastError = message;
    this.writeStatus();
  }

  healthSnapshot(): Record<string, BackendHealth> {
    return this.health.snapshot();
  }

  /** Backends that take no new flows because they fail their checks or cannot be reached; the panel shows them. */
  failingBackends(): FailingBackend[] {
    const out = new Map<string, FailingBackend>();
    for (const [key, since] of this.unresolvedSince) {
      const [service, address] = key.split('|') as [string, string];
      out.set(key, { service, address, since, error: 'no MAC known (the neighbour does not answer ARP/NDP)' });
    }
    for (const [key, h] of Object.entries(this.health.snapshot())) {
      if (h.healthy || out.has(key)) continue;
      const [service, address] = key.split('|') as [string, string];
      out.set(key, { service, address, since: h.since, error: h.lastError ?? null });
    }
    return [...out.values()];
  }

  /** What the routing daemons announce now, for the panel; undefined when the balancer has no announcement settings. */
  announceReport(): AnnounceReport | undefined {
    if (!this.state?.balancer?.announce) return undefined;
    const a = this.announcer.status();
    return {
      vips: a.vips.slice(0, 4096).map((v) => ({ vip: v.vip, via: v.via, fit: v.fit, ...(v.reason ? { reason: v.reason } : {}) })),
      ...(a.bgp && {
        bgp: {
          running: a.bgp.running,
          peers: a.bgp.peers.map((p) => ({
            address: p.address,
            established: p.established,
            state: p.state.slice(0, 64),
            info: p.info.slice(0, 256),
          })),
        },
      }),
      ...(a.vrrp && { vrrp: a.vrrp }),
      errors: a.errors.slice(0, 16).map((e) => e.slice(0, 1024)),
    };
  }

  /** Warnings of the last convergence that applied. */
  currentWarnings(): string[] {
    const full = this.flowTableFull.warnings();
    return full.length ? [...this.warnings, ...full] : this.warnings;
  }

  async counters(): Promise<CounterSnapshot | undefined> {
    const model = this.converger.model;
    if (!model || this.options.dryRun) return undefined;
    const snap = await readSnapshot(model);
    this.flowTableFull.note(snap);
    return snap;
  }

  private async converge(verifyKernel: boolean) {
    const state = this.state;
    if (!state) return;
    const changed = this.healthChanged;
    this.healthChanged = new Set();
    const report = this.unreported === state;
    let applyFailed = false;
    try {
      const r = await this.converger.converge(state, this.health.unhealthy(), {
        verifyKernel,
        ...(changed !== 'all' && !verifyKernel ? { healthChanged: changed } : {}),
      });
      if (r.changed)
        this.options.log(`applied version ${r.version}${r.replacedTables.length ? ` (rebuilt ${r.replacedTables.join(', ')})` : ''}`);
      if (r.drift.length) {
        this.driftRepairs++;
        this.lastDrift = { at: new Date().toISOString(), what: r.drift };
        this.options.onDrift?.(this.lastDrift);
      }
      await this.converger.expireDrains(state);
      this.lastError = undefined;
      this.appliedAt = new Date().toISOString();
      for (const w of r.warnings) if (!this.warnings.includes(w)) this.options.log(`warning: ${w}`);
      this.warnings = r.warnings;
      this.unresolvedSince = new Map(
        r.model.backends
          .filter((b) => b.condition === 'unresolved')
          .map((b) => [backendKey(b.service, b.address), this.unresolvedSince.get(backendKey(b.service, b.address)) ?? Date.now()]),
      );
      if (report) {
        // A newer state may have arrived meanwhile; it is still to be answered for.
        if (this.unreported === state) this.unreported = undefined;
        this.options.onOutcome?.({ state, result: r });
      }
    } catch (err) {
      applyFailed = true;
      this.lastError = describeError(err);
      this.healthChanged = 'all';
      this.options.log(`apply failed, previous rules stay in force: ${this.lastError}`);
      if (report) {
        if (this.unreported === state) this.unreported = undefined;
        this.options.onOutcome?.({ state, error: this.lastError });
      }
    }
    // Announce only what the kernel now holds and can serve; withdraw all after a failed apply.
    await this.announcer.update({ state, model: this.converger.model, applyFailed, stopping: false });
    this.writeStatus();
    this.settleFirst({ version: state.version, ...(this.lastError ? { error: this.lastError } : {}) });
  }

  /** One convergence at a time; signals during one run it again afterwards. */
  private schedule(verifyKernel = false) {
    if (this.running) {
      this.pending = true;
      return;
    }
    this.running = this.converge(verifyKernel).finally(() => {
      this.running = undefined;
      if (this.pending) {
        this.pending = false;
        this.schedule();
      }
    });
  }

  /** Waits until no convergence is running or pending. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private writeStatus() {
    const status: AgentStatus = {
      pid: process.pid,
      updatedAt: new Date().toISOString(),
      stateFile: this.options.source,
      version: this.state?.version,
      appliedAt: this.appliedAt,
      lastError: this.lastError,
      warnings: this.currentWarnings(),
      ...(this.lastDrift ? { lastDrift: this.lastDrift } : {}),
      health: this.health.snapshot(),
      announce: this.announcer.status(),
    };
    this.options.stateDir.write(STATUS_FILE, status);
  }

  async stop() {
    for (const t of this.timers) clearInterval(t);
    this.health.stop();
    this.converger.stop();
    await this.idle();
    // A stopped agent no longer checks the backends: it withdraws its announcements.
    await this.announcer.stop(this.state);
    this.options.stateDir.remove(STATUS_FILE);
  }
}
