// The long-running agent: holds the current desired state, keeps the host
// converged to it (on change, on health changes, and every few seconds), runs
// health checks and publishes its status. File mode and server mode both feed
// it desired states; there is one convergence path.
import type { DesiredState } from '@tula/protocol';
import { Converger, type ConvergeResult } from './dataplane/converge.ts';
import { readSnapshot, type CounterSnapshot } from './dataplane/counters.ts';
import { HealthMonitor, type BackendHealth } from './health/checker.ts';
import { describeError } from './commands/errors.ts';
import { STATUS_FILE, type AgentStatus } from './commands/status.ts';
import type { StateDir } from './state-dir.ts';

export interface DaemonOptions {
  stateDir: StateDir;
  dryRun: boolean;
  log: (m: string) => void;
  /** How often to re-check the host even when nothing was signalled. */
  resyncMs?: number;
  /** Called after each attempt to apply a state that was given with setDesired. */
  onOutcome?: (outcome: { state: DesiredState; result?: ConvergeResult; error?: string }) => void;
  source: string;
}

export class Daemon {
  private state: DesiredState | undefined;
  private readonly converger: Converger;
  private readonly health: HealthMonitor;
  private lastError: string | undefined;
  private appliedAt: string | undefined;
  private warnings: string[] = [];
  private pending = false;
  private running: Promise<void> | undefined;
  /** Services whose backends changed health since the last convergence, or 'all'. */
  private healthChanged: Set<string> | 'all' = 'all';
  /** The state whose outcome was not reported yet. */
  private unreported: DesiredState | undefined;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly options: DaemonOptions) {
    this.converger = new Converger({ stateDir: options.stateDir, dryRun: options.dryRun, log: options.log });
    this.health = new HealthMonitor((key, h) => {
      options.log(`health: ${key} is ${h.healthy ? 'up' : `down (${h.lastError ?? 'failing'})`}`);
      this.writeStatus();
      if (this.healthChanged !== 'all') this.healthChanged.add(key.split('|')[0]!);
      this.schedule();
    });
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

  async counters(): Promise<CounterSnapshot | undefined> {
    const model = this.converger.model;
    if (!model || this.options.dryRun) return undefined;
    return readSnapshot(model);
  }

  private async converge(verifyKernel: boolean) {
    const state = this.state;
    if (!state) return;
    const changed = this.healthChanged;
    this.healthChanged = new Set();
    const report = this.unreported === state;
    try {
      const r = await this.converger.converge(state, this.health.unhealthy(), {
        verifyKernel,
        ...(changed !== 'all' && !verifyKernel ? { healthChanged: changed } : {}),
      });
      if (r.changed) this.options.log(`applied version ${r.version}${r.replacedTables.length ? ` (rebuilt ${r.replacedTables.join(', ')})` : ''}`);
      await this.converger.expireDrains(state);
      this.lastError = undefined;
      this.appliedAt = new Date().toISOString();
      this.warnings = r.warnings;
      if (report) {
        // A newer state may have arrived meanwhile; it is still to be answered for.
        if (this.unreported === state) this.unreported = undefined;
        this.options.onOutcome?.({ state, result: r });
      }
    } catch (err) {
      this.lastError = describeError(err);
      this.healthChanged = 'all';
      this.options.log(`apply failed, previous rules stay in force: ${this.lastError}`);
      if (report) {
        if (this.unreported === state) this.unreported = undefined;
        this.options.onOutcome?.({ state, error: this.lastError });
      }
    }
    this.writeStatus();
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
      warnings: this.warnings,
      health: this.health.snapshot(),
    };
    this.options.stateDir.write(STATUS_FILE, status);
  }

  async stop() {
    for (const t of this.timers) clearInterval(t);
    this.health.stop();
    this.converger.stop();
    await this.idle();
    this.options.stateDir.remove(STATUS_FILE);
  }
}
