// Drives one keepalived (VRRP only) per host or network namespace: config and
// pid files in the agent's state directory, run in the foreground
// (`keepalived -n -l -D -P -f CONF -p PID -r VRRP_PID`) but detached from the
// agent, so an agent restart does not move the VIPs. SIGHUP reloads it;
// SIGTERM makes it release the VIPs and send a priority-0 advert, so a standby
// takes over at once rather than after three missed adverts.
import { closeSync, openSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { ipFamily } from '@tula/protocol';
import { run } from '../exec.ts';
import type { StateDir } from '../state-dir.ts';
import { applyConfig, livePid, terminate } from './process.ts';

export class Keepalived {
  readonly config: string;
  readonly pidFile: string;
  private readonly vrrpPidFile: string;
  private readonly logFile: string;

  constructor(stateDir: StateDir) {
    this.config = stateDir.file('keepalived.conf');
    this.pidFile = stateDir.file('keepalived.pid');
    this.vrrpPidFile = stateDir.file('keepalived-vrrp.pid');
    this.logFile = stateDir.file('keepalived.log');
  }

  pid(): number | undefined {
    return livePid(this.pidFile, this.config);
  }

  apply(text: string): Promise<'started' | 'reloaded' | 'unchanged'> {
    return applyConfig(
      {
        config: this.config,
        pid: () => this.pid(),
        check: async (candidate) => {
          // keepalived -t exits non-zero on a config it would not run.
          const check = await run(['keepalived', '-t', '-f', candidate], { allowFailure: true });
          if (check.code !== 0) {
            throw new Error(
              `keepalived refused its configuration: ${(check.stderr || check.stdout).trim().split('\n').slice(-3).join(' ')}`,
            );
          }
        },
        start: () => this.start(),
        reload: (pid) => {
          process.kill(pid, 'SIGHUP');
          return Promise.resolve();
        },
      },
      text,
    );
  }

  private async start(): Promise<void> {
    const log = openSync(this.logFile, 'a', 0o600);
    try {
      const child = spawn('keepalived', ['-n', '-l', '-D', '-P', '-f', this.config, '-p', this.pidFile, '-r', this.vrrpPidFile], {
        detached: true,
        stdio: ['ignore', log, log],
      });
      child.unref();
      await new Promise<void>((resolve, reject) => {
        child.once('error', (e) => reject(new Error(`cannot run keepalived: ${e.message}`)));
        child.once('spawn', () => resolve());
      });
    } finally {
      closeSync(log);
    }
    // The pid file appears once keepalived has read its configuration.
    for (let i = 0; i < 100 && !this.pid(); i++) await new Promise((r) => setTimeout(r, 20));
    if (!this.pid()) throw new Error(`keepalived did not start; see ${this.logFile}`);
  }

  /**
   * Removes VIPs a killed keepalived left on the interface (SIGKILL gives it no
   * chance to): a balancer whose keepalived is not running must not answer for
   * them, or the segment would have two owners once the other one takes over.
   */
  async releaseStale(ifname: string, vips: string[]): Promise<void> {
    if (this.pid()) return;
    for (const vip of vips) {
      await run(['ip', 'addr', 'del', `${vip}/${ipFamily(vip) === 4 ? 32 : 128}`, 'dev', ifname], { allowFailure: true });
    }
  }

  async stop(): Promise<void> {
    const pid = this.pid();
    if (pid) await terminate(pid);
  }
}
